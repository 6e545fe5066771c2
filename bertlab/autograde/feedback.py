"""Stage 5, the feedback, and the hidden tests' two faces.

A test cell's hidden part (between nbgrader's `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`)
is in the gradebook's copy of the cell and not in the released one. Two steps of grading meet
that difference:

- `RestoreHiddenTests` (before nbgrader's OverwriteCells, when a submission is read): a test cell
  handed in exactly as it was released gets its hidden part back from the gradebook. OverwriteCells
  would restore it anyway, but with the warning "Attribute 'checksum' ... has changed!" for every
  hidden test of every honest student; now it warns only about a test cell the student edited.
- `FeedbackWithoutHiddenTests` (in `nbgrader generate_feedback`): nbgrader's feedback shows each
  test cell's whole source, hidden part included (jupyter/nbgrader#917). This shows what the
  released notebook shows of the cell, hides any line of a hidden test that an output quotes (a
  traceback through the test's code), and ends each test cell with its verdict: its name, the
  points earned of those possible, and "passed" or the error that failed it.
- `LimitFeedbackSize` (last in `nbgrader generate_feedback`): a page of bounded size, whatever
  the notebook; the test cells and grading notes are always on it.

The page itself is made safe to open (nothing a student wrote runs) by
`bertlab.autograde.safe_html.SafeFeedbackExporter`.
"""

from __future__ import annotations

import re
import textwrap

import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked
from traitlets import Integer, List, Unicode

from bertlab.autograde.cells import is_code_test

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# How IPython quotes a line of code in a traceback: "----> 12 code" or "     11 code".
_TRACEBACK_LINE = re.compile(r"^(\s*(?:-*>)?\s*\d+\s)(.*)$")


def released_source(source: str, config=None) -> str:
    """What the released notebook shows of a cell: `source` without its hidden test regions, cut
    by nbgrader's own ClearHiddenTests, with the markers the course's config sets, if any."""
    markers = {
        name: value
        for name, value in (config or {}).get("ClearHiddenTests", {}).items()
        if name in ("begin_test_delimeter", "end_test_delimeter")
    }
    cell = NotebookNode(cell_type="code", source=source, metadata={})
    ClearHiddenTests(**markers)._remove_hidden_test_region(cell)
    return cell.source


def _gradebook_tests(resources) -> dict[str, str]:
    """The gradebook's source of every locked graded cell of this notebook, by grade_id."""
    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gradebook:
        notebook = gradebook.find_notebook(info["notebook"], info["assignment"])
        graded = {cell.name for cell in notebook.grade_cells}
        return {
            cell.name: cell.source
            for cell in notebook.source_cells
            if cell.name in graded and cell.locked
        }


class RestoreHiddenTests(NbGraderPreprocessor):
    """A submitted test cell that is exactly what was released gets back the hidden part the
    release removed (see the module docstring); any other test cell is left for OverwriteCells to
    restore, and to report."""

    def preprocess(self, nb, resources):
        tests = _gradebook_tests(resources)
        for cell in nb.cells:
            full = tests.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if (
                full is not None
                and is_grade(cell)
                and is_locked(cell)
                and cell.source != full
                and cell.source == released_source(full, self.config)
            ):
                cell.source = full
        return nb, resources


class FeedbackWithoutHiddenTests(NbGraderPreprocessor):
    """Feedback that shows a student what the released notebook showed, never a hidden test (see
    the module docstring). Runs after nbgrader's GetGrades, which puts each cell's score in its
    metadata."""

    # nbconvert's exporter hands this option to every preprocessor (nbgrader's GetGrades declares it
    # too).
    display_data_priority = List(config=True)
    hidden_line = Unicode(
        "(a line of the hidden test)",
        help="what an output shows in place of a line of a hidden test",
    ).tag(config=True)
    passed = Unicode("{grade_id}: {score:g} of {points:g} points, passed").tag(config=True)
    failed = Unicode("{grade_id}: {score:g} of {points:g} points, failed: {message}").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        tests = _gradebook_tests(resources)
        released = {
            grade_id: released_source(source, self.config) for grade_id, source in tests.items()
        }
        self._secret = self._hidden_lines(nb, tests, released)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in released and is_grade(cell):
                cell.source = self._as_released(cell.source, released[grade_id])
            for output in cell.get("outputs", []):
                self._redact(output)
            if is_code_test(cell):
                cell.outputs = [*cell.get("outputs", []), self._verdict(cell)]
        return nb, resources

    @staticmethod
    def _hidden_lines(nb, tests, released) -> set[str]:
        """The lines only a hidden test has: in no released test and in no other cell of the
        notebook (a line the student wrote too is the student's to see), and not mere brackets."""
        shown = {line.strip() for source in released.values() for line in source.splitlines()}
        shown |= {
            line.strip()
            for cell in nb.cells
            if cell.metadata.get("nbgrader", {}).get("grade_id") not in tests
            for line in cell.source.splitlines()
        }
        return {
            line.strip()
            for source in tests.values()
            for line in source.splitlines()
            if any(ch.isalnum() for ch in line) and line.strip() not in shown
        }

    @staticmethod
    def _as_released(source: str, released: str) -> str:
        """The released source, keeping the note OverwriteCells puts on a test cell it added
        back."""
        first = source.splitlines()[0] if source else ""
        return f"{first}\n{released}" if "was missing from the submission" in first else released

    def _redact_text(self, text: str) -> str:
        lines = []
        for line in text.splitlines(True):
            plain = _ANSI.sub("", line)
            quoted = _TRACEBACK_LINE.match(plain)
            prefix, code = (quoted.group(1), quoted.group(2)) if quoted else ("", plain)
            if code.strip() in self._secret or plain.strip() in self._secret:
                line = prefix + self.hidden_line + ("\n" if line.endswith("\n") else "")
            lines.append(line)
        return "".join(lines)

    def _redact(self, output) -> None:
        if "text" in output:
            output["text"] = self._redact_text(output["text"])
        if "traceback" in output:
            output["traceback"] = [self._redact_text(entry) for entry in output["traceback"]]
        if "evalue" in output:
            output["evalue"] = self._redact_text(output["evalue"])
        for mime, value in output.get("data", {}).items():
            if isinstance(value, str):
                output["data"][mime] = self._redact_text(value)
            elif isinstance(value, list) and all(isinstance(part, str) for part in value):
                output["data"][mime] = [self._redact_text(part) for part in value]

    def _verdict(self, cell) -> NotebookNode:
        nbgrader = cell.metadata["nbgrader"]
        score, points = float(nbgrader.get("score") or 0), float(nbgrader.get("points") or 0)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors and score == points:
            text = self.passed.format(grade_id=nbgrader["grade_id"], score=score, points=points)
        else:
            error = errors[-1] if errors else None
            message = (
                (error.get("evalue") or error.get("ename"))
                if error
                else "no error, but not every point"
            )
            text = self.failed.format(
                grade_id=nbgrader["grade_id"],
                score=score,
                points=points,
                message=first_statement(message),
            )
        # Wrapped at 80 columns, as bertlab.grading (which imports torch) wraps the messages above
        # it, so that the page needs no sideways scrolling.
        wrapped = textwrap.fill(text, 80, subsequent_indent="  ", break_on_hyphens=False)
        return NotebookNode(output_type="stream", name="stdout", text=wrapped + "\n")


def first_statement(message: str) -> str:
    """The first line of a test's message as written, whole: bertlab.grading wraps messages at 80
    columns for a terminal, continuing a line with an indent of two spaces, so the continuations
    are joined back (the whole message is in the error above the summary)."""
    lines = message.strip().splitlines()
    if not lines:
        return message
    first = [lines[0].strip()]
    for line in lines[1:]:
        if not (line.startswith("  ") and line.strip()):
            break
        first.append(line.strip())
    return " ".join(first)


# What a cell costs on the feedback page, measured on nbconvert's classic template through
# SafeFeedbackExporter, rounded up: an empty code cell 300 bytes (a graded one 680), an output
# 300 to 400; a character of code up to 24 bytes (Pygments gives each token its own <span>), of
# Markdown or text output up to 6 ('"' becomes '&quot;'). Images are base64 already: 1 byte.
CELL_BYTES = 800
OUTPUT_BYTES = 500
CODE_CHAR_BYTES = 25
TEXT_CHAR_BYTES = 6
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
GRADING_NOTE = "**Grading note.**"  # how the screen begins the notes it puts on a notebook


def estimated_bytes(cell) -> int:
    """An upper estimate of what `cell` adds to a feedback page, in bytes (see the constants)."""
    per_char = CODE_CHAR_BYTES if cell.cell_type == "code" else TEXT_CHAR_BYTES
    size = CELL_BYTES + per_char * len(cell.source)
    for output in cell.get("outputs", []):
        size += OUTPUT_BYTES
        for key in ("text", "evalue"):
            size += TEXT_CHAR_BYTES * len(output.get(key) or "")
        size += TEXT_CHAR_BYTES * sum(len(line) for line in output.get("traceback") or [])
        for mime, value in (output.get("data") or {}).items():
            text = value if isinstance(value, str) else "".join(map(str, value))
            size += len(text) * (1 if mime in IMAGE_TYPES else TEXT_CHAR_BYTES)
    return size


def is_grading_note(cell) -> bool:
    return cell.cell_type == "markdown" and cell.source.startswith(GRADING_NOTE)


class LimitFeedbackSize(NbGraderPreprocessor):
    """A feedback page of at most `max_bytes` and `max_cells` (a notebook of 50,000 empty cells
    made a 19 MiB page). The notebook is shown from the top while it fits; after that only its
    test cells (with their verdicts) and the grading notes, which are always shown. Each run of
    cells left out is one Markdown cell saying which, and why. Runs last, after the verdicts are
    added (FeedbackWithoutHiddenTests)."""

    display_data_priority = List(config=True)  # as in FeedbackWithoutHiddenTests
    max_bytes = Integer(8 << 20, help="the largest feedback page, in bytes").tag(config=True)
    max_cells = Integer(2000, help="the most cells a feedback page shows").tag(config=True)
    # The template's head (nbconvert's and Bootstrap's CSS, 125 KB measured) and the page around
    # the cells.
    page_bytes = Integer(256 << 10).tag(config=True)
    note = Unicode(
        "**Not shown here: {count} {cells} ({which} of your notebook).** A feedback page shows "
        "at most {max_cells} cells and {max_mib:g} MiB, and these would have made it larger. "
        "Nothing of your grade is left out: every test cell and its result is on this page.",
        help="the Markdown cell in place of a run of cells left out",
    ).tag(config=True)

    def preprocess(self, nb, resources):
        always = [is_grade(cell) or is_grading_note(cell) for cell in nb.cells]
        sizes = [estimated_bytes(cell) for cell in nb.cells]
        notes = sum(always) + 1  # runs left out lie between cells always shown: at most this many
        room_bytes = (
            self.max_bytes
            - self.page_bytes
            - sum(size for size, shown in zip(sizes, always) if shown)
            - notes * (CELL_BYTES + TEXT_CHAR_BYTES * len(self.note) * 2)
        )
        room_cells = self.max_cells - sum(always) - notes
        cells, run, full = [], [], False
        for number, (cell, shown, size) in enumerate(zip(nb.cells, always, sizes), start=1):
            if not shown and not full and size <= room_bytes and room_cells > 0:
                room_bytes, room_cells = room_bytes - size, room_cells - 1
                shown = True
            elif not shown:
                full = True  # from here on, only what is always shown
            if shown:
                if run:
                    cells.append(self._note(run))
                cells.append(cell)
                run = []
            else:
                run.append(number)
        if run:
            cells.append(self._note(run))
        nb.cells = cells
        return nb, resources

    def _note(self, run: list[int]) -> NotebookNode:
        which = f"cell {run[0]:,}" if len(run) == 1 else f"cells {run[0]:,} to {run[-1]:,}"
        text = self.note.format(
            count=f"{len(run):,}",
            cells="cell" if len(run) == 1 else "cells",
            which=which,
            max_cells=f"{self.max_cells:,}",
            max_mib=self.max_bytes / (1 << 20),
        )
        return nbformat.v4.new_markdown_cell(text)
