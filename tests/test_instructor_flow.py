"""What the instructor meets when grading a class with the Makefile.

- `make autograde` grades what needs grading: every submission the first time; then only a student
  added since, or one who handed in again; the release is not redone while solutions/ and the config
  are unchanged. `make regrade STUDENT=...` grades one student again. One student's failing grading
  does not stop the others; `make autograde` then exits non-zero and names that student.
- The output of an honest class's `make autograde`, `make feedback` and `make grades` holds no
  warning, no Python warning and no traceback; a test cell a student edited is still reported.
- The feedback shows each test cell as released, with its points and verdict (the mistake named),
  and no piece of any hidden test (tests/leaks.py), not even in a traceback through the test's
  code: no 30 characters of its code, and none of its inputs, seeds or messages where it passed.

One class of 6 synthetic students of the cheapest assignment to grade, in a private course folder
with the repository's Makefile and config, graded by the Makefile with this venv (nothing installed).
Who was graded is what `make autograde` says, one line per submission graded (`autograde: graded
<student> (<assignment>) ...`), checked against the grader's records (grading/graded/); the release,
feedback and export are nbgrader commands, which a wrapper logs.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from leaks import shown_text
from required import require_program
from test_exercises import (CLASS, ROOT, assert_no_hidden_test_shown, fill_in_solutions, require_sandbox, scores,
                            submit)

from bertlab.autograde.feedback import FeedbackWithoutHiddenTests, released_source  # noqa: E402

ASSIGNMENT = "04_next_sentence"  # the cheapest to grade (README: bench/autograde.py)
SPEC = CLASS[ASSIGNMENT]
MISTAKES = {m.student: m for m in SPEC.mistakes}
# The solution, the untouched notebook, a mistake and the correct students in other styles (prints and
# plots included): each mistake's score and message is tests/test_exercises.py's business.
A_CLASS = ["solution", "untouched", "averages_the_two_losses", *(s.student for s in SPEC.alternatives[:3])]
NOISE = ("WARNING", "Warning", "warn(", "Traceback")


def hand_in(course: Path, student: str) -> None:
    """Hand in as one of the synthetic students (tests/exercise_classes/)."""
    shutil.rmtree(course / "grading" / "submitted" / student, ignore_errors=True)
    if student == "untouched":
        return submit(course, ASSIGNMENT, student)
    who = MISTAKES.get(student) or next((s for s in SPEC.alternatives if s.student == student), None)
    submit(course, ASSIGNMENT, student, fill_in_solutions(course, ASSIGNMENT, who))


def make(course: Path, *args: str) -> subprocess.CompletedProcess:
    """`make` in the course folder with this venv: `-o` keeps make from ever installing it."""
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed",
                           f"NBGRADER={course / 'nbgrader.sh'}", *args],
                          cwd=course, capture_output=True, text=True)


# What `make autograde` prints for each submission it graded, or whose grading failed.
GRADED_LINE = re.compile(r"^autograde: (graded|failed to grade) (\S+) \((\S+)\) in [0-9.]+ s \(", re.MULTILINE)


def graded(result: subprocess.CompletedProcess) -> list[str]:
    """The students a `make autograde` (or regrade) graded, by its output, sorted; one whose
    grading failed as "<student> (failed)"."""
    found = GRADED_LINE.findall(result.stdout)
    assert all(assignment == ASSIGNMENT for _, _, assignment in found), found
    return sorted(student if outcome == "graded" else f"{student} (failed)" for outcome, student, _ in found)


def records(course: Path) -> dict[str, str]:
    """The grader's record of each student's grading (grading/graded/<student>/<assignment>.sha256):
    the submission's digest and a part new with each grading."""
    graded_folder = course / "grading" / "graded"
    return {path.parent.name: path.read_text() for path in graded_folder.glob(f"*/{ASSIGNMENT}.sha256")}


def regraded(before: dict[str, str], course: Path) -> list[str]:
    """The students whose grading record is new or changed since `before`, sorted."""
    return sorted(student for student, record in records(course).items() if before.get(student) != record)


def nbgrader_runs(course: Path) -> list[str]:
    """Every nbgrader command line run so far (the wrapper logs them), and forget them."""
    log = course / "nbgrader.log"
    runs = log.read_text().splitlines() if log.exists() else []
    log.write_text("")
    return runs


def assert_quiet(result: subprocess.CompletedProcess, what: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{what} failed (exit {result.returncode}):\n{output[-5000:]}"
    noisy = [line for line in output.splitlines() if any(word in line for word in NOISE)]
    assert not noisy, f"{what} is not quiet for an honest class:\n" + "\n".join(noisy[:20])


def feedback_page(course: Path, student: str) -> str:
    """The text of a student's feedback page, as a browser shows it (tags removed, entities read,
    whitespace collapsed)."""
    page = course / "grading" / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
    return shown_text(page.read_text(encoding="utf-8"))


# Appended to the course's config: its screen (nbgrader's pre-convert hook, still a ScreenSubmission, so
# `python -m bertlab.autograde screen` takes it) fails on the folder of the student `crashing`, inside
# the grading, as a screen that cannot finish does (ScreenFailed: nothing of it is graded).
CRASHES_FOR_ONE_STUDENT = """

class CrashesForOneStudent(type(c.Autograde.pre_convert_hook)):
    def __init__(self, screen):
        vars(self).update(vars(screen))

    def screen(self, folder, notes=()):
        if os.path.basename(os.path.dirname(os.path.abspath(folder))) == "crashing":
            raise RuntimeError("grading crashed (a simulated failure)")
        return super().screen(folder, notes)


c.Autograde.pre_convert_hook = CrashesForOneStudent(c.Autograde.pre_convert_hook)
"""


@pytest.fixture
def course(tmp_path) -> Path:
    """A private course folder: the repository's Makefile and config (whose grading fails for the
    student `crashing`), one assignment's solutions, and an nbgrader wrapper that logs each command
    line."""
    require_sandbox()
    require_program("make")
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(CRASHES_FOR_ONE_STUDENT)
    bin_dir = Path(sys.executable).parent
    wrapper = course / "nbgrader.sh"
    wrapper.write_text(f"""#!/bin/sh
echo "$*" >> {course / 'nbgrader.log'}
PATH="{bin_dir}:$PATH" exec "{bin_dir / 'nbgrader'}" "$@"
""")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return course


def test_make_grades_late_work_regrades_on_request_and_feedback_hides_the_hidden_tests(course):
    # The release: once, and not again while nothing changed.
    released = make(course, "release")
    assert_quiet(released, "make release")
    assert [run.split()[0] for run in nbgrader_runs(course)] == ["generate_assignment"]
    for student in A_CLASS:
        hand_in(course, student)

    # The class: each graded once, quietly (and no nbgrader command run: no release).
    autograde = make(course, "autograde", "JOBS=2")
    assert_quiet(autograde, "make autograde")
    assert graded(autograde) == sorted(A_CLASS), autograde.stdout
    assert regraded({}, course) == sorted(A_CLASS)
    assert nbgrader_runs(course) == []
    assert scores(course, ASSIGNMENT, "solution") == SPEC.points
    mistake = MISTAKES["averages_the_two_losses"]
    assert scores(course, ASSIGNMENT, mistake.student) == {**SPEC.points, **mistake.scores}

    # Feedback and grades, quietly; no one's feedback shows a piece of a hidden test.
    assert_quiet(make(course, "feedback"), "make feedback")
    assert_quiet(make(course, "grades"), "make grades")
    assert [run.split()[0] for run in nbgrader_runs(course)] == ["generate_feedback", "export"]
    assert (course / "grading" / "grades.csv").read_text().count(ASSIGNMENT) == len(A_CLASS)
    assert_no_hidden_test_shown(course, ASSIGNMENT, A_CLASS)
    for student in ("solution", "untouched", mistake.student):
        page = feedback_page(course, student)
        for grade_id, points in SPEC.points.items():
            assert f"{grade_id}: " in page and f" of {points:g} points" in page, (student, grade_id)
    solution = feedback_page(course, "solution")
    assert all(f"{grade_id}: {points:g} of {points:g} points, passed" in solution
               for grade_id, points in SPEC.points.items())
    assert "test_pretraining_loss_matches_bertlab: 0 of 1 points, failed:" in feedback_page(course, mistake.student)
    assert " ".join(mistake.feedback.split()) in " ".join(feedback_page(course, mistake.student).split())
    # The untouched notebook raised inside the hidden tests: its tracebacks are shown, redacted.
    assert "NotImplementedError" in feedback_page(course, "untouched")

    # Late work: one student added, one hands in again. Only they are graded; no release.
    hand_in(course, "loss_with_f_cross_entropy")
    shutil.rmtree(course / "grading" / "submitted" / mistake.student)
    submit(course, ASSIGNMENT, mistake.student, fill_in_solutions(course, ASSIGNMENT))  # now right
    before = records(course)
    late = make(course, "autograde", "JOBS=2")
    assert late.returncode == 0, late.stdout[-3000:] + late.stderr[-3000:]
    late_students = sorted([mistake.student, "loss_with_f_cross_entropy"])
    assert graded(late) == regraded(before, course) == late_students, late.stdout
    assert nbgrader_runs(course) == []
    assert scores(course, ASSIGNMENT, mistake.student) == SPEC.points
    assert make(course, "feedback").returncode == 0
    assert [run.split()[0] for run in nbgrader_runs(course)] == ["generate_feedback"]
    assert "test_pretraining_loss_matches_bertlab: 1 of 1 points, passed" in feedback_page(course, mistake.student)

    # A regrade on request: that student only.
    before = records(course)
    regrade = make(course, "regrade", "STUDENT=solution")
    assert regrade.returncode == 0, regrade.stdout[-3000:] + regrade.stderr[-3000:]
    assert graded(regrade) == regraded(before, course) == ["solution"], regrade.stdout
    assert nbgrader_runs(course) == []

    # A student whose grading fails does not stop the others, and is named; an edited test cell is
    # reported (and restored: full marks).
    submit(course, ASSIGNMENT, "crashing", fill_in_solutions(course, ASSIGNMENT))

    def edit_a_test(name, nb):
        fill_in_solutions(course, ASSIGNMENT)(name, nb)
        test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_nsp_head_matches_bertlab")
        test.source = "pass  # no test here\n"
    submit(course, ASSIGNMENT, "edits_a_test", edit_a_test)
    before = records(course)
    failing = make(course, "autograde", "JOBS=2")
    assert failing.returncode != 0
    assert "no grade for crashing" in failing.stderr, failing.stderr[-3000:]
    assert "grading crashed (a simulated failure)" in failing.stderr, failing.stderr[-3000:]
    assert "Attribute 'checksum' for cell test_nsp_head_matches_bertlab has changed" in failing.stdout + failing.stderr
    assert scores(course, ASSIGNMENT, "edits_a_test") == SPEC.points
    assert graded(failing) == ["crashing (failed)", "edits_a_test"], failing.stdout
    assert regraded(before, course) == ["edits_a_test"]
    assert nbgrader_runs(course) == []


def test_released_source_is_what_nbgrader_releases():
    """The feedback's view of a test cell is exactly the released notebook's cell."""
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    released = nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    tests = [(s, r) for s, r in zip(source.cells, released.cells, strict=True)
             if s.metadata.get("nbgrader", {}).get("grade") and not s.metadata["nbgrader"].get("solution")]
    assert any("BEGIN HIDDEN TESTS" in s.source for s, _ in tests)
    for full, shown in tests:
        assert released_source(full.source) == shown.source


def test_a_traceback_through_a_hidden_test_shows_no_line_of_it():
    """IPython quotes the lines of the failing cell in a traceback (ANSI-coloured, numbered); the
    feedback keeps the frame and the student's own lines, not the hidden test's."""
    feedback = FeedbackWithoutHiddenTests()
    feedback._secret = {"words = secret_inputs(seed=2024)"}
    traceback = ("\x1b[0;32m----> 3\x1b[0m words \x1b[38;5;241m=\x1b[39m secret_inputs(seed\x1b[38;5;241m=\x1b[39m2024)\n"
                 "      4 yours = wordpiece(word, vocab)\n")
    shown = feedback._redact_text(traceback)
    assert "secret_inputs" not in shown and "----> 3 (a line of the hidden test)" in shown
    assert "      4 yours = wordpiece(word, vocab)" in shown
