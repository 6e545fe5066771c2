"""Each chapter downloads as a Jupyter notebook that runs (book/_ext/notebook_downloads.py).

Every page of the built book made from a notebook links its .ipynb twice: in the header's download
menu and in the line under its title. That notebook, copied alone into an empty temporary folder
(so nothing may depend on book/ being the working directory), is executed from top to bottom with
nbclient on the kernel python3 of the venv running these tests, where bertlab is installed. A cell
that fails fails the chapter's test with the cell's error.

Time: the notebooks run what the chapters run at build time, about 4 minutes in all on a laptop's
CPU; each chapter is one test, so `-k 03_masked_lm` runs one.
"""

import html.parser
import shutil
import time
from pathlib import Path

import pytest

from rendered import ROOT, toc_pages

# The fixture built_book comes from rendered.py, through conftest.py.

CELL_TIMEOUT_S = 600
# The pages whose source is a notebook (a chapter that runs code); the others download as .md only.
NOTEBOOK_PAGES = [page for page in toc_pages()
                  if "```{code-cell}" in (ROOT / f"{page}.md").read_text(encoding="utf-8")]


class _Links(html.parser.HTMLParser):
    """The notebook links of a page: the header menu's ".ipynb" entry, and the links of the line
    under the title."""

    def __init__(self):
        super().__init__()
        self.in_menu: list[str] = []
        self.in_line: list[str] = []
        self._in_line = False  # inside <p class="notebook-download">

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "p" and "notebook-download" in classes:
            self._in_line = True
        if tag == "a" and attrs.get("href"):
            if "btn-download-notebook-button" in classes:
                self.in_menu.append(attrs["href"])
            if self._in_line:
                self.in_line.append(attrs["href"])

    def handle_endtag(self, tag):
        if tag == "p":
            self._in_line = False


def notebook_links(html_root: Path, page: str) -> tuple[list[Path], list[Path]]:
    """The .ipynb files a page offers: in its header's download menu, and in the line under its
    title."""
    page_path = html_root / f"{page}.html"
    parser = _Links()
    parser.feed(page_path.read_text(encoding="utf-8"))

    def resolved(hrefs):
        return [(page_path.parent / href.split("#")[0]).resolve() for href in hrefs
                if href.split("#")[0].endswith(".ipynb")]
    return resolved(parser.in_menu), resolved(parser.in_line)


def downloaded_notebook(html_root: Path, page: str) -> Path:
    in_menu, in_line = notebook_links(html_root, page)
    assert in_line, f"{page}.html has no line under its title linking its notebook (.ipynb)"
    assert in_menu == in_line[:1], \
        f"{page}.html's header menu should offer the notebook its line links: {in_menu} {in_line}"
    assert in_line[0].is_file(), f"{page}.html links {in_line[0]}, which the build did not write"
    return in_line[0]


def run_notebook(path: Path, folder: Path) -> float:
    """Execute a copy of the notebook in `folder` (its working directory); seconds taken."""
    import nbclient
    import nbformat

    copy = folder / path.name
    shutil.copy(path, copy)
    notebook = nbformat.read(copy, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []  # what it shows comes from this run, not the build's
    start = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}}).execute()
    return time.perf_counter() - start


def test_every_notebook_page_links_its_notebook(built_book):
    assert NOTEBOOK_PAGES, "no chapter runs code?"
    for page in NOTEBOOK_PAGES:
        downloaded_notebook(built_book, page)


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_the_downloaded_chapter_runs_top_to_bottom_from_any_folder(built_book, page, tmp_path):
    pytest.importorskip("nbclient")
    notebook = downloaded_notebook(built_book, page)
    seconds = run_notebook(notebook, tmp_path)
    print(f"{page}: ran in {seconds:.0f} s")
