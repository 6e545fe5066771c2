"""The graded exercises, through nbgrader itself.

- `exercises/` is exactly what `nbgrader generate_assignment` makes from `solutions/`.
- `nbgrader validate` passes the solutions; `nbgrader validate --invert` passes the untouched
  student versions (they pass no test).
- `nbgrader validate` on a solution, and on the released notebook filled in with it, prints its
  success line and nothing else.
- A class of synthetic students per assignment goes through the instructor's whole workflow
  (generate, submit, autograde, feedback) in a private course folder: the solution scores full
  marks, the untouched notebook 0, each realistic mistake and each broken rule loses exactly the
  points written in tests/exercise_classes/, with feedback that names it (and `nbgrader validate`
  names a broken rule before the student hands in); each rule dodger loses exactly the tests of the
  part whose rule it breaks, told so by the feedback and by `nbgrader validate`; a student who
  copies what the book shows, with at most one line per part of glue that the notebook's own text
  spells out, earns at most half; correct students who write differently from the solution earn
  full marks. Students who write different cells and lose points in different tests share one
  notebook: its scores must be exactly the union of theirs.
- No feedback page of any of those students shows a piece of a hidden test (tests/leaks.py): no
  30 characters of its code, and none of its inputs, seeds or messages unless that test failed
  (a failing verdict names its case).
"""

from __future__ import annotations

import ast
import html
import json
import re
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

from exercise_classes import Dodger, Mistake, Student, all_assignments
from leaks import feedback_leaks, hidden_source, package_source
from required import require, require_program
from test_rule_dodgers import notebook_rules

require("nbgrader")  # the graded exercises need it (the `course` extra): a skip here, a failure in CI

from bertlab.autograde import fill_in_solutions as solved_notebook  # noqa: E402  (needs nbgrader)


def require_sandbox():
    """Autograding runs each submission in bubblewrap and refuses to run without it: without it the
    grading tests skip, and fail where the whole suite must run (tests/required.py)."""
    require_program("bwrap")

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


def fill_in_solutions(course: Path, assignment: str, student: Mistake | Student | Dodger | list | None = None):
    """An edit for `submit` that writes the solution into every solution cell, as `student` would
    change it: one mistake (a Mistake), whole cells and cells of their own (a Student), a part whose
    rule is dodged (a Dodger); or as several such students would, each in cells of their own (a list:
    one notebook for students who touch different cells, see `share_notebooks`)."""
    students = student if isinstance(student, list) else [student] if student is not None else []
    for one in students:
        assert isinstance(one, (Mistake, Student, Dodger)), one

    def write(grade_id: str, code: str) -> str:
        for one in students:
            if isinstance(one, (Student, Dodger)) and grade_id in one.cells:
                return one.cells[grade_id]
            if isinstance(one, Mistake) and grade_id == one.cell:
                assert code.count(one.replace) == 1, \
                    f"the mistake of {one.student} must replace text that occurs once in {grade_id}"
                return code.replace(one.replace, one.by)
        return code

    def edit(name: str, nb):
        source = nbformat.read(course / "solutions" / assignment / name, as_version=4)
        solved_notebook(nb, source, write)
        for one in students:
            before = one.extra_cells.items() if isinstance(one, Student) else \
                [(one.part, code) for code in one.before] if isinstance(one, Dodger) else []
            after = [(one.part, code) for code in reversed(one.after)] if isinstance(one, Dodger) else []
            for grade_id, code in before:
                nb.cells.insert(cell_index(nb, grade_id), nbformat.v4.new_code_cell(code))
            for grade_id, code in after:
                nb.cells.insert(cell_index(nb, grade_id) + 1, nbformat.v4.new_code_cell(code))
    return edit


def cell_index(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def touched_cells(student: Mistake | Student | Dodger) -> set[str]:
    """The solution cells a synthetic student writes differently from the solution (or next to)."""
    if isinstance(student, Mistake):
        return {student.cell}
    if isinstance(student, Dodger):
        return {*student.cells, student.part}
    return {*student.cells, *student.extra_cells}


def lost_tests(assignment: str, student: Mistake | Student | Dodger) -> dict[str, float]:
    """The test cells the student does not get full marks in, and their scores: a dodger loses every
    test of the part whose rule it breaks (each checks the rule first)."""
    if isinstance(student, Dodger):
        return {cell: 0 for cell in graded_tests_of(assignment, student.part)}
    return dict(student.scores)


def graded_tests_of(assignment: str, part: str) -> list[str]:
    """The graded test cells that check the rule of `part` (`rules.check("part")`): the part's tests."""
    return [cell.metadata["nbgrader"]["grade_id"] for path in notebooks(ROOT / "solutions" / assignment)
            for cell in nbformat.read(path, as_version=4).cells
            if cell.metadata.get("nbgrader", {}).get("grade") and f'rules.check("{part}")' in cell.source]


def share_notebooks(assignment: str, students: list) -> list[list]:
    """The synthetic students grouped so that one notebook holds each group: students who write
    different solution cells and lose points in different tests share one (first fit, in order).
    A notebook's expected scores are then the union of its students' losses, so a mistake that cost
    points in another student's part would show; grading a class in fewer notebooks is what keeps
    the suite's time (each notebook is a kernel, a model, the hidden tests)."""
    groups: list[list] = []
    for student in students:
        for group in groups:
            if all(not touched_cells(student) & touched_cells(other)
                   and not set(lost_tests(assignment, student)) & set(lost_tests(assignment, other)) for other in group):
                group.append(student)
                break
        else:
            groups.append([student])
    return groups


def autograde_each(course: Path, assignment: str, students: list[str], jobs: int = 2) -> None:
    """Grade each student as `make autograde JOBS=2` does, forced: a task per submission for the warm
    graders of `jobs` worker processes (bertlab/autograde/cluster.py), into the course's SQLite
    gradebook; fail with nbgrader's log if one of them has no grade."""
    from bertlab.autograde.cluster import Graded, grade_all

    bin_dir = Path(sys.executable).parent  # nbgrader starts `alembic` from PATH
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    db_url = f"sqlite:///{course / 'grading' / 'gradebook.db'}"
    results = grade_all(course.resolve(), db_url, [(assignment, s) for s in students], jobs=jobs, again=True,
                        report=lambda submission, result: None)
    for (_, student), result in results.items():
        if not (isinstance(result, Graded) and result.success):
            pytest.fail(f"autograding {student} failed:\n{getattr(result, 'log', result)[-3000:]}")


def gradebook_of(course: Path) -> str:
    """The URL of the gradebook a course was graded into: grading/gradebook.db, or the PostgreSQL
    server a test graded it on (which that test names in grading/gradebook-url.txt)."""
    from bertlab.autograde.cluster import gradebook_url

    named = course / "grading" / "gradebook-url.txt"
    if named.is_file():
        return gradebook_url(named.read_text().strip())
    return f"sqlite:///{course / 'grading' / 'gradebook.db'}"


def scores(course: Path, assignment: str, student: str) -> dict[str, float]:
    """The autograded score of every graded test cell of a student's submission."""
    from nbgrader.api import Gradebook

    with Gradebook(gradebook_of(course)) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {grade.name: grade.score for notebook in submission.notebooks for grade in notebook.grades
                if grade.cell.name.startswith("test_")}


def hand_graded(course: Path, assignment: str) -> dict[str, dict[str, tuple[float, bool]]]:
    """{student: {written answer: (score, needs a person's grade)}} from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        return {submission.student_id: {grade.name: (grade.score, grade.needs_manual_grade)
                                        for notebook in submission.notebooks for grade in notebook.grades
                                        if grade.cell.name in written_answers(assignment)}
                for submission in gradebook.assignment_submissions(assignment)}


def failed_tests(course: Path, assignment: str, student: str) -> set[str]:
    """The graded test cells in which a student earned less than all the points."""
    points = CLASS[assignment].points
    return {cell for cell, score in scores(course, assignment, student).items() if score < points[cell]}


def assert_no_hidden_test_shown(course: Path, assignment: str, students: list[str]) -> None:
    """No feedback page of `students` shows a piece of the assignment's hidden tests that the
    released notebook (or bertlab's source, which a traceback may quote) does not show
    (tests/leaks.py), beyond what each student wrote themselves."""
    hidden = hidden_source(notebooks(course / "solutions" / assignment), notebooks(course / "exercises" / assignment),
                           public=package_source(ROOT / "bertlab"))
    assert len(hidden.code) > 1000 and hidden.literals, f"the hidden tests of {assignment} were not found"
    for student in students:
        leaked = feedback_leaks(course, assignment, student, hidden, failed_tests(course, assignment, student))
        assert not leaked, f"the feedback of {student} shows pieces of hidden tests: {leaked[:5]}"


def feedback_text(course: Path, assignment: str, student: str) -> str:
    folder = course / "grading" / "feedback" / student / assignment
    pages = sorted(folder.glob("*.html"))
    assert pages, f"no feedback for {student} in {folder}"
    # Words only: messages are wrapped to the width of a terminal, so a phrase may span two lines.
    return " ".join(html.unescape("\n".join(page.read_text(encoding="utf-8") for page in pages)).split())


def code_parts(assignment: str) -> set[str]:
    """The grade_ids of the assignment's code solution cells: the parts the tests grade. (A Markdown
    solution cell is a written answer, graded by hand: tests/test_hand_grading.py.)"""
    return {cell.metadata["nbgrader"]["grade_id"] for path in notebooks(ROOT / "solutions" / assignment)
            for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")}


def written_answers(assignment: str) -> dict[str, float]:
    """The assignment's manually graded answers (Markdown solution cells) and their points."""
    return {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
            for path in notebooks(ROOT / "solutions" / assignment) for cell in nbformat.read(path, as_version=4).cells
            if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("grade")}


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------

def test_every_graded_part_has_a_synthetic_student_with_a_mistake():
    assert sorted(CLASS) == ASSIGNMENTS, "each assignment needs its module in tests/exercise_classes/"
    for assignment, spec in CLASS.items():
        parts = code_parts(assignment)
        with_a_mistake = {m.cell for m in spec.mistakes if isinstance(m, Mistake)} | \
            {cell for m in spec.mistakes if isinstance(m, Student) for cell in m.cells}
        assert with_a_mistake == parts, assignment


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_rule_has_a_student_who_breaks_it(assignment):
    """Each part's rule (bertlab/rules.py, declared in the setup cell) is broken by one synthetic
    student, whom nbgrader validate and the feedback both tell (the test above grades them)."""
    from bertlab.rules import Rule

    setup = next(c.source for path in notebooks(ROOT / "solutions" / assignment)
                 for c in nbformat.read(path, as_version=4).cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")
    declared = {node.args[0].value for node in ast.walk(ast.parse(setup))
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == Rule.__name__}
    breakers = [m for m in CLASS[assignment].mistakes if m.validate and m.feedback.startswith("Rule broken")]
    broken = {m.cell if isinstance(m, Mistake) else next(iter(m.cells)) for m in breakers}
    assert declared, f"{assignment} declares no rule"
    assert broken == declared, f"rules declared {sorted(declared)}, broken by a student {sorted(broken)}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_is_judged_outside_the_students_kernel(assignment):
    """Each test cell has a VERDICT part (bertlab/answers.py), and neither it nor INPUTS uses a name
    the solution cells define: those parts run in the grader's process, where no student code is."""
    from bertlab.answers import split_test_cell

    for path in notebooks(ROOT / "solutions" / assignment):
        cells = nbformat.read(path, as_version=4).cells
        students = {node.name if hasattr(node, "name") else node.id
                    for cell in cells if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
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


QUIET_SUCCESS = "Success! Your notebook passes all the tests.\n"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solutions_pass_nbgrader_validate_and_it_says_nothing_else(assignment, tmp_path):
    """A student's `nbgrader validate` of a right notebook (the released one, filled in with the
    solution) prints the success line alone: no warning, no value dump; the solution itself too."""
    course = new_course(tmp_path, assignment)
    shutil.copytree(ROOT / "exercises" / assignment, course / "exercises" / assignment)
    submit(course, assignment, "solution", fill_in_solutions(course, assignment))
    filled = notebooks(course / "grading" / "submitted" / "solution" / assignment)
    # The solutions from the repository's root; the filled-in notebook from its own folder, the released
    # exercise folder a student downloads (its nbgrader_config.py keeps validate's output to the verdict).
    own_folder = tmp_path / "student" / assignment
    shutil.copytree(ROOT / "exercises" / assignment, own_folder)
    for path in filled:
        shutil.copy(path, own_folder / path.name)
    runs = [(path, str(path), ROOT) for path in notebooks(ROOT / "solutions" / assignment)]
    runs += [(path, path.name, own_folder) for path in notebooks(own_folder)]
    for path, argument, cwd in runs:
        result = nbgrader("validate", argument, cwd=cwd, check=False)
        assert (result.stdout, result.stderr) == (QUIET_SUCCESS, ""), \
            f"nbgrader validate {argument} in {cwd}:\n{result.stdout[-4000:]}{result.stderr[-2000:]}"


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

    students = [*spec.mistakes, *([spec.copying] if spec.copying else []), *spec.alternatives, *spec.dodgers]
    assert len({s.student for s in students}) == len(students), "two synthetic students share a name"
    shared = share_notebooks(assignment, students)  # students who write different cells share a notebook
    handed_in = {f"class_{i:02d}": group for i, group in enumerate(shared)}
    submit(course, assignment, "solution", fill_in_solutions(course, assignment))
    submit(course, assignment, "untouched")
    for name, group in handed_in.items():
        submit(course, assignment, name, fill_in_solutions(course, assignment, group))
    autograde_each(course, assignment, ["solution", "untouched", *handed_in])
    nbgrader("generate_feedback", assignment, "--force", cwd=course)

    assert scores(course, assignment, "solution") == spec.points
    assert scores(course, assignment, "untouched") == {cell: 0 for cell in spec.points}
    # The written answers wait for the instructor, except an untouched one: 0, with no one's time.
    written = hand_graded(course, assignment)
    assert set(written["solution"]) == set(written_answers(assignment)) != set(), assignment
    assert all(needs for _, needs in written["solution"].values()), written["solution"]
    assert written["untouched"] == {cell: (0, False) for cell in written_answers(assignment)}
    rules = notebook_rules(assignment).rules
    told = {}  # what each notebook's students must read, in the feedback and (broken rules) from validate
    for name, group in handed_in.items():
        who = " + ".join(student.student for student in group)
        expected = dict(spec.points)
        for student in group:
            assert set(lost_tests(assignment, student)) <= set(spec.points), student.student
            expected.update(lost_tests(assignment, student))
        assert scores(course, assignment, name) == expected, f"{who} (in one notebook, {name})"
        feedback = feedback_text(course, assignment, name)
        for student in group:
            if isinstance(student, Dodger):  # the part's every test names its rule and where the code breaks it
                says = [f"Rule broken: {'/'.join(rules[student.part].defines)} may not use",
                        "Where your code uses it: -"]
            else:
                says = [" ".join(student.feedback.split())] if student.feedback else []
            for words in says:
                assert words in feedback, f"the feedback of {student.student} (in {name}) does not say {words!r}"
            if isinstance(student, Dodger) or student.validate:  # a broken rule: heard before handing in
                told.setdefault(name, []).append((student.student, says))
    assert_no_hidden_test_shown(course, assignment, ["solution", "untouched", *handed_in])

    def validate(name: str) -> str:
        return " ".join(" ".join(nbgrader("validate", str(path), cwd=ROOT, check=False).stdout.split())
                        for path in notebooks(course / "grading" / "submitted" / name / assignment))

    with ThreadPoolExecutor(2) as pool:
        validated = dict(zip(told, pool.map(validate, told)))
    for name, heard in told.items():
        for student, says in heard:
            for words in says:
                assert words in validated[name], \
                    f"nbgrader validate does not tell {student} (in {name}) {words!r}:\n{validated[name][-3000:]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_copying_the_book_with_the_notebooks_glue_earns_at_most_half(assignment):
    """The copying student's exact scores are in tests/exercise_classes/; this is their total."""
    spec = CLASS[assignment]
    assert spec.copying is not None, f"{assignment} has no copying student"
    earned = sum({**spec.points, **spec.copying.scores}.values())
    assert earned <= 0.5 * sum(spec.points.values()), \
        f"copying the book earns {earned} of {sum(spec.points.values())} points in {assignment}"
    assert set(spec.copying.cells) == code_parts(assignment), "the copying student fills every solution cell"


def test_the_readme_states_what_copying_earns_and_how_many_students_are_graded():
    """The README's points table says what the copying student earns in each assignment, and their total,
    and the README counts the synthetic students and dodgers: the numbers this file's class test holds,
    not numbers typed once and left to drift."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.findall(r"^\| (\d)\. [^|]+\|[^|]+\|[^|]+\| ([\d.]+) of ([\d.]+) \|$", readme, flags=re.M)
    earned = {assignment: sum({**CLASS[assignment].points, **CLASS[assignment].copying.scores}.values())
              for assignment in ASSIGNMENTS}
    assert [(int(n), float(got), float(of)) for n, got, of in stated] == \
        [(i, earned[a], sum(CLASS[a].points.values())) for i, a in enumerate(ASSIGNMENTS, 1)], stated
    words = " ".join(readme.split())
    total = f"{sum(earned.values()):g} of {sum(sum(CLASS[a].points.values()) for a in ASSIGNMENTS):g} points"
    assert total in words, f"the README does not say the copying student's total, {total}"
    students = sum(len(spec.mistakes) + 1 + len(spec.alternatives) for spec in CLASS.values())
    dodgers = sum(len(spec.dodgers) for spec in CLASS.values())
    notebooks_graded = sum(len(share_notebooks(a, [*s.mistakes, s.copying, *s.alternatives, *s.dodgers])) + 2
                           for a, s in CLASS.items())
    for said in (f"class of {dodgers} dodgers", f"{students} students and {dodgers} rule dodgers in all, graded in "
                                                f"{notebooks_graded} notebooks"):
        assert said in words, f"the README does not say {said!r}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_assignment_asks_for_a_written_answer_that_the_release_does_not_answer(assignment):
    """One or two questions per assignment, 1 or 2 points each, answered in a Markdown cell that a person
    grades; the released notebook holds only the question and "YOUR ANSWER HERE", never the model answer
    or its mark scheme (the solution cell's text)."""
    written = written_answers(assignment)
    assert 1 <= len(written) <= 2 and all(1 <= points <= 2 for points in written.values()), written
    released = {cell.metadata["nbgrader"]["grade_id"]: cell.source
                for path in notebooks(ROOT / "exercises" / assignment)
                for cell in nbformat.read(path, as_version=4).cells if "nbgrader" in cell.metadata}
    sources = {cell.metadata["nbgrader"]["grade_id"]: cell.source
               for path in notebooks(ROOT / "solutions" / assignment)
               for cell in nbformat.read(path, as_version=4).cells if "nbgrader" in cell.metadata}
    text = json.dumps([nbformat.read(path, as_version=4) for path in notebooks(ROOT / "exercises" / assignment)])
    for answer in written:
        assert released[answer] == "YOUR ANSWER HERE", released[answer]
        assert "Mark scheme" in sources[answer] and "Mark scheme" not in text
        assert f"{answer}_question" in released, f"{answer} has no question cell of its own"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_at_least_three_correct_students_in_other_styles(assignment):
    spec = CLASS[assignment]
    assert len(spec.alternatives) >= 3
    for student in spec.alternatives:
        assert student.scores == {}, f"{student.student} is correct: full marks, exactly"


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
    from bertlab.autograde.collect import main as collect  # what `make collect` runs
    collect([assignment, str(archive / "export.zip"), "--course", str(course)])
    for student in ("alice", "bob"):
        collected = course / "grading" / "submitted" / student / assignment / released.name
        assert collected.read_bytes() == released.read_bytes(), student
