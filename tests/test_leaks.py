"""The leak search of the grading tests (tests/leaks.py) can fail: it finds a piece of a hidden
test, a hidden input or an instructor's file planted in a page, and only what is hidden.

The grading tests (tests/test_exercises.py, tests/test_instructor_flow.py,
tests/test_attack_class.py) assert that the search finds nothing in real feedback; this module
shows, quickly and without grading anyone, that it would find a leak had there been one.
"""

import html
from pathlib import Path

import pytest

from leaks import (SECRET_PIECE, SECRET_STRIDE, WINDOW, held_pieces, hidden_source,
                   hidden_source_fragments, notebook_text, package_source, secret_pieces,
                   shown_text)

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir()
                     if p.is_dir() and not p.name.startswith((".", "_")))

VISIBLE = '''\
# Your wordpiece against a worked example.
assert wordpiece("hello", vocab) == ["hello"]
'''
HIDDEN = '''\
secret_words = ["quokka", "unbelievably"]
rng = random.Random(2024)  # the seed of the hidden draws
expected = {word: reference_wordpiece(word, vocab) for word in secret_words}
check_equal(wordpiece("quokka", vocab), expected["quokka"], what="wordpiece on a hidden word")
'''
LINE = "expected = {word: reference_wordpiece(word, vocab) for word in secret_words}"


def notebook(*sources):
    """A notebook of one test cell per source, graded as test_0, test_1, ..."""
    return {"cells": [{"cell_type": "code", "source": source, "outputs": [],
                       "metadata": {"nbgrader": {"grade": True, "grade_id": f"test_{i}"}}}
                      for i, source in enumerate(sources)]}


SOLUTION = notebook(VISIBLE + "### BEGIN HIDDEN TESTS\n" + HIDDEN + "### END HIDDEN TESTS\n")
RELEASED = notebook(VISIBLE)


def page_with(text: str) -> str:
    """A feedback page that shows `text` among the released cell, highlighted and escaped as
    nbconvert writes code."""
    highlighted = "".join(f'<span class="n">{html.escape(word)}</span> ' for word in text.split())
    return (f"<html><style>pre {{ color: red; }}</style><body><pre>{html.escape(VISIBLE)}</pre>"
            f"<pre>----&gt; 3 {highlighted}</pre><p>test_0: 1 of 1 points, passed</p></body>"
            "</html>")


def test_a_planted_piece_of_hidden_code_is_found():
    hidden = hidden_source([SOLUTION], [RELEASED])
    piece = LINE[10:10 + WINDOW]
    assert hidden.leaks(shown_text(page_with(piece))) == [piece]
    assert hidden.leaks(shown_text(page_with(LINE)))  # a whole line, numbered as a traceback has it
    # A shorter piece is no leak (it could be anyone's code), and neither is the released cell.
    assert hidden.leaks(shown_text(page_with(piece[:-1]))) == []
    assert hidden.leaks(shown_text(page_with(""))) == []


def test_what_the_released_notebook_shows_is_not_hidden():
    fragments = hidden_source_fragments([SOLUTION], [RELEASED])
    released = notebook_text(RELEASED)
    assert fragments and not [f for f in fragments if f in released]
    assert not [f for f in fragments if "BEGIN HIDDEN" in f or "END HIDDEN" in f]
    # A Markdown cell shows its text without its markup: `code`, **bold**, | tables |.
    text = "Return the table of shape `(num_positions, hidden_size)`: **row p** is position p."
    explained = {"cells": [*RELEASED["cells"], {"cell_type": "markdown", "source": text}]}
    table = "rows = torch.zeros(num_positions, hidden_size)  # (num_positions, hidden_size): row\n"
    solution = notebook(VISIBLE + "### BEGIN HIDDEN TESTS\n" + table + "### END HIDDEN TESTS\n")
    shown = "(num_positions, hidden_size): row p is position p."
    assert hidden_source([solution], [RELEASED]).leaks(shown)
    assert not hidden_source([solution], [explained]).leaks(shown)


def test_hidden_inputs_are_found_unless_the_test_that_holds_them_failed():
    """A failing verdict may name its case ("wordpiece('quokka', vocab)"); a passing one never."""
    hidden = hidden_source([SOLUTION], [RELEASED])
    inputs = {"quokka", "unbelievably", "Random(2024)", "wordpiece on a hidden word",
              "the seed of the hidden draws"}
    assert inputs <= set(hidden.literals)
    assert hidden.literals["quokka"] == {"test_0"}
    page = shown_text("<p>wordpiece(&#x27;quokka&#x27;, vocab) gave [&#x27;q&#x27;]</p>")
    assert hidden.leaks(page) == ["quokka"]
    assert hidden.leaks(page, failed=["test_0"]) == []
    assert hidden.leaks(shown_text("<p>seeded with random.Random(2024)</p>")) == ["Random(2024)"]
    # A failed test's verdict may quote its own inputs, and they may hold another test's.
    quoting = '### BEGIN HIDDEN TESTS\npairs = [("A quokka smiled.", None)]\n### END HIDDEN TESTS\n'
    two = hidden_source([notebook(SOLUTION["cells"][0]["source"], quoting)], [RELEASED])
    quoted = shown_text("<p>pair_layout of &#x27;A quokka smiled.&#x27; / None: tokens</p>")
    assert two.leaks(quoted) == ["A quokka smiled.", "quokka"]
    assert two.leaks(quoted, failed=["test_1"]) == []
    # What the student wrote too is theirs to see.
    assert hidden.leaks(page, theirs=notebook_text(notebook('print("quokka")'))) == []


def test_a_planted_piece_of_a_secret_file_is_found_at_any_offset():
    secret = "".join(f"user{i}:x:{1000 + i}:{1000 + i}:User {i}:/home/user{i}:/bin/bash\n"
                     for i in range(40)).encode()
    public = secret[:400]  # what students may see anyway: never a leak
    pieces = secret_pieces(secret, public)
    assert pieces and not any(piece in public for piece in pieces)
    run = SECRET_PIECE + SECRET_STRIDE - 1
    for start in range(600, 600 + SECRET_STRIDE):  # any run this long holds a piece
        assert held_pieces(b"<pre>" + secret[start:start + run] + b"</pre>", pieces), start
    assert not held_pieces(b"<pre>" + public + b"</pre>", pieces)
    assert secret_pieces(bytes(4096), b"") == set()  # padding is no secret


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_assignments_hidden_tests_give_pieces_that_a_page_shows_when_planted(assignment):
    solutions = sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))
    released = sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))
    hidden = hidden_source(solutions, released, public=package_source(ROOT / "bertlab"))
    assert len(hidden.code) > 1000 and len(hidden.literals) > 10, "no hidden tests found"
    shown = notebook_text(*released)
    assert not [f for f in hidden.fragments if f in shown]  # the released notebook shows none
    planted = sorted(hidden.code)[::97]
    page = shown_text(f"<pre>{html.escape(shown)}</pre>")
    assert hidden.leaks(page) == []
    for piece in planted:
        assert piece in hidden.leaks(page + " " + piece)
