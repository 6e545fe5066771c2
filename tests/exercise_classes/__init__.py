"""The synthetic class of each graded assignment: what each realistic mistake costs, exactly.

One module per assignment (named after it without its number) defines `ASSIGNMENT`; the
end-to-end test in tests/test_exercises.py submits the solution, the untouched notebook and one
notebook per mistake, autogrades them with nbgrader and compares the scores with these.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field


@dataclass
class Mistake:
    """One synthetic student: the solution with one realistic mistake in one solution cell."""

    student: str
    cell: str  # the grade_id of the solution cell the mistake is in
    replace: str  # text of the solution, exactly as written there...
    by: str  # ...and what the student wrote instead
    scores: dict[str, float]  # the test cells that lose points, and the score each gets
    feedback: str  # what the feedback must say


@dataclass
class Assignment:
    name: str  # the assignment's folder in solutions/ and exercises/
    points: dict[str, float]  # every graded test cell and its points, in notebook order
    mistakes: list[Mistake] = field(default_factory=list)


def all_assignments() -> dict[str, Assignment]:
    """{"01_input_embeddings": Assignment, ...}: every module's ASSIGNMENT under its `name`."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        assignment = importlib.import_module(f"{__name__}.{module.name}").ASSIGNMENT
        found[assignment.name] = assignment
    return found
