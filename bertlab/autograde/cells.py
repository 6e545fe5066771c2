"""Small pieces every stage of grading uses: what a test cell is, and an error output for a cell."""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.utils import is_grade


def error_output(ename: str, message: str) -> NotebookNode:
    """An error output, as a kernel would show it (the whole message in `evalue`, as `str` of the
    exception: the feedback's summary line reads its first sentence there): nbgrader scores a test
    cell with one as failed."""
    return NotebookNode(
        output_type="error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


def is_code_test(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell)
