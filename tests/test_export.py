"""`make grades` writes grading/grades.csv that a spreadsheet reads as the gradebook says, whatever
names the students have (bertlab/autograde/export.py, nbgrader_config.py's ExportApp.plugin_class).

A class with a comma, a quote, a line break or a formula in their names and ids: nbgrader's own
export shifts their columns and hands their formulas to the spreadsheet (the test of the test);
the course's keeps every field whole, and no cell begins with a formula character.
"""

from __future__ import annotations

import csv
import datetime
import os
import sys
from pathlib import Path

import pytest
from required import require

require("nbgrader")

from nbgrader.api import Gradebook  # noqa: E402
from nbgrader.plugins import CsvExportPlugin  # noqa: E402

from bertlab.autograde.export import COLUMNS, FORMULA_STARTS, SafeCsvExport, as_text_cell  # noqa: E402

# nbgrader's gradebook warns about its own session when a submission is added (nbgrader_config.py).
pytestmark = pytest.mark.filterwarnings("ignore:Object of type <Submitted")
ROOT = Path(__file__).resolve().parents[1]

# (id, first name, last name, email, points of 10 the grader gave)
STUDENTS = [
    ("plain", "Ann", "Lee", "ann@example.org", 7.0),
    ("comma,id", "Bob, Jr.", "Smith, PhD", "bob@example.org", 5.5),
    ('quote"id', 'Cy "the quote"', "O'Neil", None, 10.0),
    ("line\nbreak", "Di\nna", "Two\r\nLines", "di@example.org", 0.0),
    ("=HYPERLINK(\"http://x\")", "=1+1", "+SUM(A1:A9)", "@cmd|' /C calc'!A0", 3.0),
    ("-2+3", "-cmd", "\tTab", "\rCR", -1.5),  # a negative grade (a penalty given by hand) stays a number
]
MISSING = ("no-submission", "Eve", "Absent", "eve@example.org", None)


@pytest.fixture
def gradebook(tmp_path, monkeypatch):
    # A new gradebook runs `alembic` from PATH: this venv's, as `make` would.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        gradebook.add_assignment("01_input_embeddings", duedate=datetime.datetime(2026, 1, 1, 12))
        gradebook.add_notebook("01", "01_input_embeddings")
        gradebook.add_grade_cell("q1", "01", "01_input_embeddings", max_score=10, cell_type="code")
        for student_id, first, last, email, points in [*STUDENTS, MISSING]:
            gradebook.add_student(student_id, first_name=first, last_name=last, email=email)
            if points is not None:
                gradebook.add_submission("01_input_embeddings", student_id,
                                         timestamp=datetime.datetime(2026, 1, 1, 11))
                grade = gradebook.find_grade("q1", "01", "01_input_embeddings", student_id)
                grade.manual_score = points
                gradebook.db.commit()
        yield gradebook


def exported(plugin_class, gradebook, path) -> list[list[str]]:
    plugin_class(to=str(path)).export(gradebook)
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_every_field_reads_back_as_the_gradebook_has_it(gradebook, tmp_path):
    rows = exported(SafeCsvExport, gradebook, tmp_path / "grades.csv")
    assert rows[0] == COLUMNS
    by_id = {}
    for row in rows[1:]:
        assert len(row) == len(COLUMNS), row
        by_id[row[COLUMNS.index("student_id")]] = dict(zip(COLUMNS, row))
    assert len(by_id) == len(STUDENTS) + 1
    for student_id, first, last, email, points in [*STUDENTS, MISSING]:
        row = by_id[as_text_cell(student_id)]
        assert row["first_name"] == as_text_cell(first)
        assert row["last_name"] == as_text_cell(last)
        assert row["email"] == as_text_cell(email)
        assert row["assignment"] == "01_input_embeddings"
        assert row["duedate"] == "2026-01-01 12:00:00"
        assert row["timestamp"] == ("" if points is None else "2026-01-01 11:00:00")
        assert float(row["raw_score"]) == (points or 0.0)
        assert float(row["score"]) == max(0.0, points or 0.0)
        assert float(row["max_score"]) == 10.0


def test_a_text_field_that_would_be_a_formula_is_quoted_and_a_negative_score_stays_a_number(gradebook,
                                                                                            tmp_path):
    rows = exported(SafeCsvExport, gradebook, tmp_path / "grades.csv")
    text_columns = [COLUMNS.index(name) for name in ("assignment", "student_id", "last_name", "first_name",
                                                     "email")]
    for row in rows[1:]:
        for column in text_columns:
            assert not row[column].startswith(FORMULA_STARTS), row
    formula_row = next(row for row in rows if row[COLUMNS.index("first_name")] == "'=1+1")
    assert formula_row[COLUMNS.index("last_name")] == "'+SUM(A1:A9)"
    negative = next(row for row in rows if row[COLUMNS.index("student_id")] == "'-2+3")
    assert negative[COLUMNS.index("raw_score")] == "-1.5"  # a number a spreadsheet can add up
    assert (negative[COLUMNS.index("last_name")], negative[COLUMNS.index("email")]) == ("'\tTab", "'\rCR")


def test_nbgraders_own_export_breaks_on_this_class(gradebook, tmp_path):
    """The test of the test: these names are what broke nbgrader's plain CSV."""
    rows = exported(CsvExportPlugin, gradebook, tmp_path / "grades.csv")
    assert any(len(row) != len(COLUMNS) for row in rows[1:])
    assert any(field.startswith("=") for row in rows[1:] for field in row)


def test_only_the_students_and_assignments_asked_for(gradebook, tmp_path):
    path = tmp_path / "some.csv"
    SafeCsvExport(to=str(path), student=["plain", "comma,id"]).export(gradebook)
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert sorted(row[COLUMNS.index("student_id")] for row in rows[1:]) == ["comma,id", "plain"]


def test_the_course_exports_with_this_plugin():
    import runpy

    from traitlets.config import Config

    config = Config()
    runpy.run_path(str(ROOT / "nbgrader_config.py"), init_globals={"get_config": lambda: config})
    assert config.ExportApp.plugin_class is SafeCsvExport
