"""`make book` cannot pass on a stale result or a warning.

A book of one page is built with the repository's own Makefile, `_config.yml` and `book/` support
files (its extensions, kernel profile and CSS), its cell importing a small module that stands for
bertlab (`bertlab_execution_inputs` names it instead of `bertlab/`). Specified:

- a change to what a cell imports executes the page again, though the page did not change (the
  execution cache is keyed by the code cells alone; book/_ext/fresh_results.py adds the rest);
- a cell that writes a warning to stderr fails `make book` (`stderr_output: warn` and `-W`), with
  the cell named;
- a failed build fails again when run a second time, until the cause is gone.
"""

import re
import shutil
from pathlib import Path

import pytest

from test_rendered_book import ROOT, make_book

PAGE = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  name: python3
  display_name: Python 3
---
# A page

```{code-cell} python
import stand_in

print("the stand-in says", stand_in.VALUE)
```
"""


def stand_in(value: int, warn: bool = False) -> str:
    warning = 'import warnings\nwarnings.warn("stand_in is deprecated")\n' if warn else ""
    return f"{warning}VALUE = {value}\n"


@pytest.fixture
def small_book(tmp_path) -> Path:
    book = tmp_path / "book-of-one-page"
    shutil.copytree(ROOT / "book", book / "book",
                    ignore=shutil.ignore_patterns("*.md", "__pycache__"))
    shutil.copy(ROOT / "Makefile", book / "Makefile")
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    config, found = re.subn(r"bertlab_execution_inputs: \[[^\]]*\]",
                            'bertlab_execution_inputs: ["book/stand_in.py"]', config)
    assert found == 1, "_config.yml no longer names bertlab_execution_inputs"
    (book / "_config.yml").write_text(config, encoding="utf-8")
    (book / "_toc.yml").write_text("format: jb-book\nroot: book/page\n", encoding="utf-8")
    (book / "book" / "page.md").write_text(PAGE, encoding="utf-8")
    return book


def shown(book: Path) -> str:
    return (book / "_build" / "html" / "book" / "page.html").read_text(encoding="utf-8")


def test_make_book_executes_again_when_an_import_changes_and_fails_on_a_warning(small_book):
    module = small_book / "book" / "stand_in.py"

    module.write_text(stand_in(1))
    first = make_book(small_book)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "the stand-in says 1" in shown(small_book)

    # The page is unchanged, so its cells' hash is too: only the imported module changed.
    module.write_text(stand_in(2))
    second = make_book(small_book)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "the stand-in says 2" in shown(small_book), "the page shows a result from the cache"

    module.write_text(stand_in(3, warn=True))
    for attempt in ("first", "second"):
        failed = make_book(small_book)
        log = failed.stdout + failed.stderr
        assert failed.returncode != 0, f"the {attempt} build after a cell warned exited 0:\n{log[-3000:]}"
        assert re.search(r"page\.md:\d+: WARNING: stderr was found in the cell outputs", log), log[-3000:]

    module.write_text(stand_in(4))
    mended = make_book(small_book)
    assert mended.returncode == 0, mended.stdout[-3000:] + mended.stderr[-3000:]
    assert "the stand-in says 4" in shown(small_book)
