"""`make grades`: the gradebook as grading/grades.csv, safe to open in a spreadsheet.

nbgrader's own CSV export joins the values with commas as they are: a name with a comma shifts
the columns after it, and a value that begins with `=`, `+`, `-` or `@` is a formula to Excel,
LibreOffice and Google Sheets (which may fetch a URL or run a command when the file is opened).
`SafeCsvExport` (set as `c.ExportApp.plugin_class` in nbgrader_config.py) writes the same
columns and rows through Python's csv module instead.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

# nbgrader's columns, in nbgrader's order (nbgrader/plugins/export.py, CsvExportPlugin).
COLUMNS = [
    "assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
    "raw_score", "late_submission_penalty", "score", "max_score",
]  # fmt: skip
# What makes a spreadsheet read a cell as a formula (or, tab and CR, lets it slip past a check).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text_cell(value) -> str:
    """A text value as a spreadsheet may safely read it: one that begins with a formula character
    gets a single quote in front, as OWASP advises against CSV injection ("CSV Injection",
    owasp.org), so that it is shown as the text it is and never evaluated. None is empty."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def as_number_cell(value) -> str:
    """A score as nbgrader writes it (str of a float): a number, never prefixed, even if
    negative; a spreadsheet reads it as the number it is."""
    return str(float(value or 0.0))


def grade_rows(gradebook: Gradebook, assignments=(), students=()):
    """One dict per (assignment, student) of the gradebook (or of those named), as nbgrader's
    export has them: a student without a submission scores 0 with no timestamp."""
    for assignment in gradebook.assignments:
        if assignments and assignment.name not in assignments:
            continue
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                timestamp, raw, penalty = None, 0.0, 0.0
            else:
                timestamp, raw = submission.timestamp, submission.score
                penalty = submission.late_submission_penalty
            yield {
                "assignment": as_text_cell(assignment.name),
                "duedate": as_text_cell(assignment.duedate),
                "timestamp": as_text_cell(timestamp),
                "student_id": as_text_cell(student.id),
                "last_name": as_text_cell(student.last_name),
                "first_name": as_text_cell(student.first_name),
                "email": as_text_cell(student.email),
                "raw_score": as_number_cell(raw),
                "late_submission_penalty": as_number_cell(penalty),
                "score": as_number_cell(max(0.0, (raw or 0.0) - (penalty or 0.0))),
                "max_score": as_number_cell(assignment.max_score),
            }


def write_grades(gradebook: Gradebook, path, assignments=(), students=()) -> int:
    """Write the grades CSV to `path` (whole, or not at all: a reader never sees half a file);
    returns the number of rows. Every field is quoted where CSV needs it (a comma, a quote, a
    line break); text fields are neutralised by `as_text_cell`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    rows = 0
    with open(partial, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS, quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for row in grade_rows(gradebook, assignments, students):
            writer.writerow(row)
            rows += 1
    os.replace(partial, path)
    return rows


class SafeCsvExport(ExportPlugin):
    """nbgrader's export plugin for the course: `nbgrader export --to FILE` writes FILE with
    `write_grades` (the module docstring says why); the same options as nbgrader's CSV export
    (`--assignment`, `--student`)."""

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "grades.csv"
        self.log.info("Exporting grades to %s", dest)
        rows = write_grades(
            gradebook,
            dest,
            assignments=[str(name) for name in self.assignment],
            students=[str(name) for name in self.student],
        )
        self.log.info("Wrote %d rows to %s", rows, dest)
