"""Numbers that cannot drift (issue #22): every number a chapter's prose states that one of its
cells computes is glued from that cell's result, never typed by hand.

The guard is tests/prose_numbers.py (its docstring says what counts as prose, as a number and as a
match). Here it runs on every page of the table of contents of the built book, on a chapter spoiled
on purpose (a glued number typed back by hand), and on small cases of its parsing.
"""

import json

import pytest

from prose_numbers import (ALLOWLIST, GLUE_ROLE, Output, check_chapter, executed_notebook,
                           glued_values, matches, numbers_in, pasted, prose_numbers, unglued_numbers)
from rendered import ROOT, toc_pages

# The fixture built_book comes from rendered.py, through conftest.py.

HOW_TO_FIX = """\
Each of these numbers is typed in the prose of {page}.md and shown by a cell's output, so it will
go stale when the code or the checkpoint changes. In the cell that computes it, add

    from myst_nb import glue
    glue("{prefix}_what_it_is", value, display=False)

and write {{glue:text}}`{prefix}_what_it_is:.2f` in the prose (a format spec after the colon: `:,`,
`:.0%`, `:d`, ...). A number that is a definition rather than a result (BERT's 15%, a year, a
section) goes into ALLOWLIST in tests/prose_numbers.py, with the reason.
"""


def _prefix(page: str) -> str:
    stem = page.rsplit("/", 1)[-1]
    return f"ch{int(stem[:2])}" if stem[:2].isdigit() else stem


def unglued_report(page: str, build) -> str:
    """The guard's findings for one page of the built book, as the failure message says them."""
    found = check_chapter(ROOT / f"{page}.md", build)
    if not found:
        return ""
    lines = "\n".join(f"  {item}" for item in found)
    return (f"{len(found)} number(s) typed in {page}.md that a cell computes:\n{lines}\n\n"
            + HOW_TO_FIX.format(page=page, prefix=_prefix(page)))


@pytest.mark.parametrize("page", toc_pages())
def test_no_number_in_the_prose_is_typed_where_a_cell_computes_it(built_book, page):
    report = unglued_report(page, built_book.parent)
    assert not report, report


# ---------------------------------------------------------------------------------------------
# A chapter spoiled on purpose: a glued number typed back in, as the page shows it


def spoil_first_glued_number(markdown: str, notebook: dict):
    """The chapter's source with its first glued number (one the guard counts) replaced by the
    literal text its page shows; with the line and that text. None if no glued number counts."""
    values = glued_values(notebook)
    for match in GLUE_ROLE.finditer(markdown):
        if match["key"] not in values:
            continue
        shown = pasted(values[match["key"]], match["spec"])
        if not any(number.counts() for number in numbers_in(shown)):
            continue  # a single digit or a word: the guard does not look at those
        line = markdown.count("\n", 0, match.start()) + 1
        return markdown[:match.start()] + shown + markdown[match.end():], line, shown
    return None


def check_spoiled(markdown: str, notebook: dict, allow=None):
    spoiled = spoil_first_glued_number(markdown, notebook)
    assert spoiled is not None, "no glued number to spoil"
    text, line, shown = spoiled
    before = {(item.line, item.number) for item in unglued_numbers(markdown, notebook, allow)}
    after = unglued_numbers(text, notebook, allow)
    new = [item for item in after if (item.line, item.number) not in before]
    assert [(item.line, item.number) for item in new] == [(line, shown)], \
        f"typing {shown!r} back on line {line} should be the one new finding, got {new}"


def test_a_glued_number_typed_back_by_hand_is_reported_in_a_built_chapter(built_book):
    """The first chapter of the built book that glues a number, that number typed back as its page
    shows it: the guard reports exactly that number, on that line. No rebuild: the guard reads the
    source text and the executed notebook."""
    build = built_book.parent
    for page in toc_pages():
        source = ROOT / f"{page}.md"
        path = build / "jupyter_execute" / f"{page}.ipynb"
        if not path.exists():
            continue
        markdown = source.read_text(encoding="utf-8")
        notebook = executed_notebook(path, build / ".jupyter_cache")
        spoiled = spoil_first_glued_number(markdown, notebook)
        if spoiled is not None:
            shown = spoiled[2]
            assert shown in (built_book / f"{page}.html").read_text(encoding="utf-8"), \
                f"{page}.html does not show the glued number as {shown!r}"
            check_spoiled(markdown, notebook, ALLOWLIST.get(source.stem, {}))
            return
    pytest.fail("no chapter glues a number of two or more digits: nothing to spoil")


# A chapter in small: a cell that prints a result and glues it, and prose that pastes it.
CHAPTER = """\
---
kernelspec:
  name: python3
---

# A chapter

```{code-cell} ipython3
print(f"perplexity {perplexity:.4f} over 8192 tokens")
glue("ch9_perplexity", perplexity, display=False)
```

The perplexity is {glue:text}`ch9_perplexity:.2f` over the held-out lines.
"""


def _notebook(*outputs) -> dict:
    return {"cells": [{"cell_type": "markdown", "source": "# A chapter", "metadata": {}},
                      {"cell_type": "code", "source": "...", "metadata": {}, "outputs": list(outputs)}]}


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _glue(name: str, value) -> dict:
    # as myst_nb.glue(name, value, display=False) writes it
    prefix = "application/papermill.record/"
    return {"output_type": "display_data", "metadata": {"scrapbook": {"name": name, "mime_prefix": prefix}},
            "data": {prefix + "text/plain": repr(value)}}


NOTEBOOK = _notebook(_stream("perplexity 1.2913 over 8192 tokens\n"),
                     _glue("ch9_perplexity", 1.2912873029708862))


def test_a_glued_number_typed_back_by_hand_is_reported():
    assert unglued_numbers(CHAPTER, NOTEBOOK) == []
    text, line, shown = spoil_first_glued_number(CHAPTER, NOTEBOOK)
    assert (line, shown) == (13, "1.29")
    found = unglued_numbers(text, NOTEBOOK)
    assert [(item.line, item.number) for item in found] == [(13, "1.29")]
    check_spoiled(CHAPTER, NOTEBOOK)


def test_the_allowlist_lets_a_definition_through():
    text = CHAPTER + "\nBERT hides 15% of the tokens; here 1.29 is typed.\n"
    notebook = _notebook(_stream("share chosen 0.1500, perplexity 1.2913\n"))
    assert [item.number for item in unglued_numbers(text, notebook)] == ["15%", "1.29"]
    assert [item.number for item in unglued_numbers(text, notebook, {"15%": "the definition"})] == ["1.29"]


# ---------------------------------------------------------------------------------------------
# What is prose


def _prose(markdown: str) -> list[str]:
    return [number.text for _, number in prose_numbers(markdown)]


def test_code_cells_and_fences_are_not_prose():
    assert _prose("Text 12.5 here.\n\n```{code-cell} ipython3\nx = 595\n```\n\n```bash\nrun 42\n```\n") \
        == ["12.5"]


def test_inline_code_math_roles_and_glue_are_not_prose():
    assert _prose("A `595` code, $x = 0.27$ math, $$8192$$, {numref}`fig-12` role, "
                  "{glue:text}`ch3_loss:.2f` glue and 3.14 prose.") == ["3.14"]


def test_a_links_target_is_not_prose_but_its_text_is():
    assert _prose("See [the 2019 paper](https://arxiv.org/abs/1810.04805) and <https://x.org/11>.") \
        == ["2019"]


def test_front_matter_comments_and_directive_options_are_not_prose():
    markdown = ("---\nformat_version: 0.13\n---\n\n<!-- 595 hidden -->\n\n% a comment 42\n\n"
                ":::{note}\n:name: note-12\nA note with 7.5 in it.\n:::\n\n"
                "```{literalinclude} ../bertlab/model.py\n:lines: 10-20\n```\n")
    found = prose_numbers(markdown)
    assert [number.text for _, number in found] == ["7.5"]
    assert found[0][0] == 11  # its line in the source


def test_lines_are_the_sources():
    markdown = "# Title\n\nFirst line 10\nsecond line `x` 20\nthird 30.\n"
    assert [(line, number.text) for line, number in prose_numbers(markdown)] \
        == [(3, "10"), (4, "20"), (5, "30")]


def test_single_digits_and_numbers_inside_words_do_not_count():
    assert _prose("6 layers, 3 heads, MiniLM-L6-v2, fp16, bf16, version 2.13.0, H100 and 5%.") == []


# ---------------------------------------------------------------------------------------------
# What matches


def _matches(prose: str, output: str, glued: bool = False) -> bool:
    [number] = [n for n in numbers_in(prose) if n.counts()]
    return any(matches(number, Output(found, 0, output, glued)) for found in numbers_in(output))


def test_numbers_are_read_as_the_reader_reads_them():
    [thousands] = numbers_in("8,192")
    assert (thousands.value, thousands.is_integer) == (8192, True)
    [percent] = numbers_in("58%")
    assert (percent.value, percent.is_percent) == (58, True)
    [small] = numbers_in("3e-5")
    assert float(small.value) == 3e-05 and small.is_scientific
    assert _matches("8,192", "vocab_size=8192")
    assert _matches("3e-5", "lr 3e-05")


def test_an_integer_matches_only_the_same_value():
    assert _matches("595 tokens", "chosen positions: 595")
    assert _matches("595 tokens", "595.0")
    assert not _matches("595 tokens", "595.3")
    assert not _matches("595 tokens", "5950")


def test_a_decimal_matches_what_rounds_to_it_dropping_at_most_two_digits():
    assert _matches("1.29", "1.2913")
    assert _matches("1.29", "1.2851")
    assert _matches("0.27", "0.2713")
    assert not _matches("1.28", "1.2913")
    # 1.3 drops three of 1.2913's digits: taken as a coincidence (any tensor entry rounds to
    # some one-decimal number), not a copy
    assert not _matches("1.3", "1.2913")
    assert _matches("1.3", "1.29")
    # a glued value is stored in full: any rounding of it is the prose's number
    assert _matches("1.3", "1.2912873029708862", glued=True)
    # the output less precise than the prose: only the same decimal
    assert _matches("1.50", "1.5")
    assert not _matches("1.0", "label 1")


def test_percentages_and_orders_of_magnitude():
    assert _matches("58%", "accuracy 58.3%")
    assert _matches("58%", "accuracy 0.583")
    assert not _matches("58%", "accuracy 0.5")
    assert _matches("6e-5", "smallest normal 6.1e-05")
    assert not _matches("1e-5", "largest difference 5.2e-06")


def test_the_guard_reads_outputs_merged_from_the_cache_when_the_build_wrote_none(tmp_path):
    """MyST-NB 1.4 writes a chapter taken from its cache without outputs; the guard then reads
    them from the cache. A notebook with outputs is read as it is."""
    path = tmp_path / "chapter.ipynb"
    path.write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    assert executed_notebook(path, tmp_path / "no-cache") == NOTEBOOK
