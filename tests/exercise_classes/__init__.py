"""The synthetic class of each graded assignment: what each kind of student earns, exactly.

One module per assignment (named after it without its number) defines `ASSIGNMENT`; the
end-to-end test in tests/test_exercises.py submits, for each, the solution, the untouched notebook,
and one notebook per student below, autogrades them with nbgrader and compares the scores with
these:

- `mistakes`: the solution with one realistic mistake (or one broken rule) in one solution cell;
- `copying`: a student who fills every solution cell with code the rendered book shows (its
  listings and cells, adapted only by renaming), plus at most one line of glue per part that the
  notebook's own text spells out (a formula it writes as code, the selection it names): the
  strongest such student we could write, built from the book's own sources by `book_listing` and
  `book_cell`, so that the student copies what the book shows today;
- `alternatives`: correct solutions in other styles than the instructor's (buffers, einsum,
  float64, helpers in extra cells, prints and plots...): full marks, exactly;
- `dodgers`: students who reach what one part's rule forbids by plain code other than its name
  (an object made in another cell, a lambda, a partial, another module path, a magic...):
  tests/test_rule_dodgers.py shows that exactly that part's rule is broken, in the grader's way.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Mistake:
    """One synthetic student: the solution with one realistic mistake in one solution cell."""

    student: str
    cell: str  # the grade_id of the solution cell the mistake is in
    replace: str  # text of the solution, exactly as written there...
    by: str  # ...and what the student wrote instead
    scores: dict[str, float]  # the test cells that lose points, and the score each gets
    feedback: str  # what the feedback must say
    validate: bool = False  # `nbgrader validate` must say it too (broken rules: before handing in)


@dataclass
class Student:
    """A synthetic student who writes whole solution cells their own way; the other cells hold the
    instructor's solution."""

    student: str
    cells: dict[str, str]  # grade_id of a solution cell -> the student's whole code for it
    scores: dict[str, float] = field(default_factory=dict)  # test cells that lose points; {}: full marks
    feedback: str | None = None  # what the feedback must say, if anything
    # Cells of the student's own, each put just before the solution cell whose grade_id is the key.
    extra_cells: dict[str, str] = field(default_factory=dict)
    validate: bool = False  # `nbgrader validate` must say the feedback too


@dataclass
class Dodger:
    """A student whose notebook is the solution, except that one part reaches a forbidden name by a
    route other than writing it: whole cells of their own in place of solution cells, and cells of
    their own just before or just after the part's solution cell (a try-it cell)."""

    student: str
    part: str  # the grade_id of the solution cell whose rule is broken
    form: str  # how the rule is dodged, in words (for the test's ids and messages)
    cells: dict[str, str] = field(default_factory=dict)  # grade_id -> the student's whole cell
    before: list[str] = field(default_factory=list)  # cells put just before the part's cell
    after: list[str] = field(default_factory=list)  # cells put just after it


@dataclass
class Assignment:
    name: str  # the assignment's folder in solutions/ and exercises/
    points: dict[str, float]  # every graded test cell and its points, in notebook order
    mistakes: list[Mistake | Student] = field(default_factory=list)
    copying: Student | None = None
    alternatives: list[Student] = field(default_factory=list)
    dodgers: list[Dodger] = field(default_factory=list)


def all_assignments() -> dict[str, Assignment]:
    """{"01_input_embeddings": Assignment, ...}: every module's ASSIGNMENT under its `name`."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        assignment = importlib.import_module(f"{__name__}.{module.name}").ASSIGNMENT
        found[assignment.name] = assignment
    return found


# ------------------------------------------------------------------------------------------------
# What the copying student copies: exactly what the book shows
# ------------------------------------------------------------------------------------------------

def book_listing(path: str, name: str, renames: dict[str, str] | None = None) -> str:
    """The source of `name` (a function, a class or `Class.method`) in `path` (relative to the
    repository root) as the book's `literalinclude` with `:pyobject: name` shows it, with the
    identifiers in `renames` renamed. Fails if no chapter shows that listing."""
    shown = any(re.search(rf"```{{literalinclude}} \.\./{re.escape(path)}\s*\n:pyobject: {re.escape(name)}\s*\n",
                          chapter.read_text(encoding="utf-8")) for chapter in (ROOT / "book").glob("*.md"))
    assert shown, f"no chapter of the book shows {path}'s {name}"
    source = (ROOT / path).read_text(encoding="utf-8")
    node = ast.parse(source)
    for part in name.split("."):
        node = next(n for n in ast.iter_child_nodes(node) if getattr(n, "name", None) == part)
    lines = source.splitlines()[(node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1:
                                node.end_lineno]
    indent = len(lines[0]) - len(lines[0].lstrip())
    return _rename("\n".join(line[indent:] for line in lines), renames)


def book_cell(chapter: str, contains: str, renames: dict[str, str] | None = None) -> str:
    """The source of the code cell of book/`chapter` that contains `contains` (exactly one)."""
    text = (ROOT / "book" / chapter).read_text(encoding="utf-8")
    cells = [c for c in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)\n```", text, flags=re.S) if contains in c]
    assert len(cells) == 1, f"{len(cells)} code cells of book/{chapter} contain {contains!r}"
    code = "\n".join(line for line in cells[0].splitlines() if not line.startswith(":"))  # no cell options
    return _rename(code, renames)


def _rename(code: str, renames: dict[str, str] | None) -> str:
    for old, new in (renames or {}).items():
        code = re.sub(rf"\b{re.escape(old)}\b", new, code)
    return code
