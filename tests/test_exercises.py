"""The graded exercises, through nbgrader itself.

- `exercises/` is exactly what `nbgrader generate_assignment` makes from `solutions/`.
- `nbgrader validate` passes the solutions; `nbgrader validate --invert` passes the untouched
  student versions (they pass no test).
- A class of synthetic students per assignment goes through the instructor's whole workflow
  (generate, submit, autograde, feedback) in a private course folder: the solution scores full
  marks, the untouched notebook 0, and each realistic mistake loses exactly the points written
  below, with feedback that names the mistake.
"""

from __future__ import annotations

import ast
import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from exercise_classes import Mistake, all_assignments

pytest.importorskip("nbgrader", reason="the graded exercises need nbgrader (the `course` extra)")

from bertlab.autograde import fill_in_solutions as solved_notebook  # noqa: E402  (needs nbgrader)


def require_sandbox():
    """Autograding runs each submission in bubblewrap; without it the grading tests skip (CI, which
    installs it, sets BERTLAB_REQUIRE_SANDBOX=1 and fails instead)."""
    if shutil.which("bwrap") is None:
        message = "bubblewrap is not installed (apt-get install bubblewrap): autograding refuses to run without it"
        if os.environ.get("BERTLAB_REQUIRE_SANDBOX") == "1":
            pytest.fail(message)
        pytest.skip(message)

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
CLASS = all_assignments()  # tests/exercise_classes/


# ------------------------------------------------------------------------------------------------
# Running nbgrader
# ------------------------------------------------------------------------------------------------

def nbgrader(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run an nbgrader command of this venv (it starts `alembic` from PATH, so the venv's bin goes first)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"nbgrader {' '.join(args)} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                    f"{result.stderr[-3000:]}")
    return result


def new_course(tmp_path: Path, assignment: str) -> Path:
    """A private course folder with the repository's nbgrader config and one assignment's source."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    (course / "grading").mkdir()
    return course


def notebooks(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.ipynb"))


def submit(course: Path, assignment: str, student: str, edit=None) -> None:
    """Hand in the released notebooks of `assignment` as `student`, after `edit(notebook_name, nb)`."""
    released = course / "exercises" / assignment
    folder = course / "grading" / "submitted" / student / assignment
    folder.mkdir(parents=True)
    for path in notebooks(released):
        nb = nbformat.read(path, as_version=4)
        if edit is not None:
            edit(path.name, nb)
        nbformat.write(nb, folder / path.name)


def fill_in_solutions(course: Path, assignment: str, mistake: Mistake | None = None):
    """An edit for `submit` that writes the solution into every solution cell, with one mistake."""
    def with_mistake(grade_id: str, code: str) -> str:
        if mistake is None or grade_id != mistake.cell:
            return code
        assert code.count(mistake.replace) == 1, \
            f"the mistake of {mistake.student} must replace text that occurs once in {grade_id}"
        return code.replace(mistake.replace, mistake.by)

    def edit(name: str, nb):
        source = nbformat.read(course / "solutions" / assignment / name, as_version=4)
        solved_notebook(nb, source, with_mistake)
    return edit


def scores(course: Path, assignment: str, student: str) -> dict[str, float]:
    """The autograded score of every graded test cell of a student's submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades
                if grade.cell.name.startswith("test_")}


def feedback_text(course: Path, assignment: str, student: str) -> str:
    folder = course / "grading" / "feedback" / student / assignment
    pages = sorted(folder.glob("*.html"))
    assert pages, f"no feedback for {student} in {folder}"
    return html.unescape("\n".join(page.read_text(encoding="utf-8") for page in pages))


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------

def test_every_graded_part_has_a_synthetic_student_with_a_mistake():
    assert sorted(CLASS) == ASSIGNMENTS, "each assignment needs its module in tests/exercise_classes/"
    for assignment, spec in CLASS.items():
        parts = {cell.metadata["nbgrader"]["grade_id"] for path in notebooks(ROOT / "solutions" / assignment)
                 for cell in nbformat.read(path, as_version=4).cells
                 if cell.metadata.get("nbgrader", {}).get("solution")}
        assert {mistake.cell for mistake in spec.mistakes} == parts, assignment


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_is_judged_outside_the_students_kernel(assignment):
    """Each test cell has a VERDICT part (bertlab/answers.py), and neither it nor INPUTS uses a name
    the solution cells define: those parts run in the grader's process, where no student code is."""
    from bertlab.answers import split_test_cell

    for path in notebooks(ROOT / "solutions" / assignment):
        cells = nbformat.read(path, as_version=4).cells
        students = {node.name if hasattr(node, "name") else node.id
                    for cell in cells if cell.metadata.get("nbgrader", {}).get("solution")
                    for node in ast.parse(cell.source).body
                    for node in ([node] if hasattr(node, "name") else
                                 [t for t in getattr(node, "targets", []) if isinstance(t, ast.Name)])}
        tests = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
        assert tests, path
        for cell in tests:
            grade_id, parts = cell.metadata["nbgrader"]["grade_id"], split_test_cell(cell.source)
            assert parts.judged, f"{grade_id} has no ### VERDICT part: the student's kernel would decide its verdict"
            used = {node.id for node in ast.walk(ast.parse(parts.judge)) if isinstance(node, ast.Name)}
            assert not used & students, \
                f"{grade_id}: its INPUTS or VERDICT part uses {sorted(used & students)}, which the student defines"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_nbgrader_validate(assignment):
    for path in notebooks(ROOT / "solutions" / assignment):
        result = nbgrader("validate", str(path), cwd=ROOT, check=False)
        assert "Success! Your notebook passes all the tests." in result.stdout, \
            f"{path.relative_to(ROOT)} fails its own tests:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebooks_fail_every_test(assignment):
    for path in notebooks(ROOT / "exercises" / assignment):
        result = nbgrader("validate", "--invert", str(path), cwd=ROOT, check=False)
        assert "Success! The notebook does not pass any tests." in result.stdout, \
            f"{path.relative_to(ROOT)} passes a test before the student wrote anything:\n{result.stdout[-4000:]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_a_class_is_graded_exactly(tmp_path, assignment):
    require_sandbox()
    spec = CLASS[assignment]
    course = new_course(tmp_path, assignment)

    nbgrader("generate_assignment", assignment, "--force", cwd=course)
    for generated in notebooks(course / "exercises" / assignment):
        committed = ROOT / "exercises" / assignment / generated.name
        assert committed.is_file(), f"exercises/{assignment}/{generated.name} is missing: run `make exercises`"
        assert json.loads(committed.read_text()) == json.loads(generated.read_text()), \
            f"exercises/{assignment}/{generated.name} differs from what solutions/ generates: run `make exercises`"

    submit(course, assignment, "solution", fill_in_solutions(course, assignment))
    submit(course, assignment, "untouched")
    for mistake in spec.mistakes:
        submit(course, assignment, mistake.student, fill_in_solutions(course, assignment, mistake))
    nbgrader("autograde", assignment, "--force", cwd=course)
    nbgrader("generate_feedback", assignment, "--force", cwd=course)

    assert scores(course, assignment, "solution") == spec.points
    assert scores(course, assignment, "untouched") == {cell: 0 for cell in spec.points}
    for mistake in spec.mistakes:
        assert set(mistake.scores) <= set(spec.points)
        assert scores(course, assignment, mistake.student) == {**spec.points, **mistake.scores}, mistake.student
        assert mistake.feedback in feedback_text(course, assignment, mistake.student), \
            f"the feedback of {mistake.student} does not name the mistake ({mistake.feedback!r})"


def test_an_lms_zip_export_is_collected_per_student(tmp_path):
    """`make collect`: files named <student_id>_..._<notebook>.ipynb in a zip land in
    grading/submitted/<student_id>/<assignment>/<notebook>.ipynb, unchanged."""
    import zipfile

    assignment = ASSIGNMENTS[0]
    course = new_course(tmp_path, assignment)
    nbgrader("generate_assignment", assignment, "--force", cwd=course)
    released = notebooks(course / "exercises" / assignment)[0]
    archive = course / "grading" / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "export.zip", "w") as zf:
        zf.write(released, f"alice_attempt_2026-11-27_{released.name}")
        zf.write(released, f"bob_{released.name}")
    nbgrader("zip_collect", assignment, "--force", cwd=course)
    for student in ("alice", "bob"):
        collected = course / "grading" / "submitted" / student / assignment / released.name
        assert collected.read_bytes() == released.read_bytes(), student
