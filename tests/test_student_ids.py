"""What `python -m bertlab.autograde screen|autograde|feedback` (make autograde, make regrade, make
feedback) does with the names and dates a student controls, as a specification.

- Every folder of grading/submitted/ whose name is not a student id (bertlab/autograde/ids.py) is
  moved, whole, to grading/rejected/bad-ids/<n>/ with a NOTE.txt naming it (escaped) and saying how
  to grade it, before nbgrader sees it: `*` (nbgrader's pattern for every student), `-rf` (an
  option), `...`, a name with a newline, with a comma, one that is not UTF-8. One line says so for
  each; the honest students are graded, and the exit status is 0.
- nbgrader's autograde is given each student as their id, never a pattern that could match another
  folder: each grading sees that one student's folder; `--student` on the command line is checked by
  the one rule.
- A submission is graded again when its content changed, never because of its dates: files dated
  2099 are not regraded; a changed byte is. The feedback is made again after a new grading only.

The grading is nbgrader's own (the warm grader, bertlab/autograde/warm.py) with no preprocessor, so no
kernel runs: it copies the notebooks to grading/autograded/ and records the submission in a gradebook
that holds the assignment and its notebook only. The course's screen, its pre-convert hook, logs
each grading to nbgrader.log (the student pattern nbgrader was given, and the folder it found). The
feedback's nbgrader is a stand-in (fake_nbgrader.py) that logs its arguments there too and makes
the folders the real one would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bertlab.autograde.ids import shown

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_input_embeddings"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
HONEST = ["alice", "bob.smith@uni.example", "c-3po"]
HOSTILE = [b"*", b"-rf", b"...", b"bob\nsmith", b"smith,john", b"caf\xe9"]

FAKE_NBGRADER = """\
import json, pathlib, sys
grading = pathlib.Path({grading!r})
with open(grading.parent / "nbgrader.log", "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
command, assignment = sys.argv[1], sys.argv[2]
if command == "generate_feedback":  # feedback for every graded submission that has none
    for graded in (grading / "autograded").glob("*/" + assignment):
        (grading / "feedback" / graded.parent.name / assignment).mkdir(parents=True, exist_ok=True)
"""


# Appended to the course's config: nbgrader's autograde with no preprocessor (no kernel), and the
# course's screen, logging what each grading was given before it screens the submission.
NO_KERNEL_LOGGED = """
import json


class LoggedScreen(type(c.Autograde.pre_convert_hook)):
    def __init__(self, screen):
        vars(self).update(vars(screen))

    def __call__(self, *, assignment, student, notebooks):
        with open({log!r}, "a") as log:
            folders = sorted({{os.path.relpath(os.path.dirname(n), {submitted!r}) for n in notebooks}})
            log.write(json.dumps(["autograde", assignment, student, folders]) + "\\n")
        super().__call__(assignment=assignment, student=student, notebooks=notebooks)


c.Autograde.pre_convert_hook = LoggedScreen(c.Autograde.pre_convert_hook)
c.Autograde.sanitize_preprocessors = []
c.Autograde.autograde_preprocessors = []
"""


@pytest.fixture
def course(tmp_path, monkeypatch) -> Path:
    """A course folder with the repository's config (grading without a kernel, logged to
    nbgrader.log), the released assignment 1 in the gradebook, and a stand-in for nbgrader
    (fake_nbgrader.py) that logs each command line to nbgrader.log."""
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(ROOT / "exercises" / ASSIGNMENT, course / "exercises" / ASSIGNMENT)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    grading = course / "grading"
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(NO_KERNEL_LOGGED.format(log=str(course / "nbgrader.log"),
                                             submitted=str(grading / "submitted")))
    (grading / "submitted").mkdir(parents=True)
    # (A new gradebook starts `alembic`: the venv's programs first, as the Makefile has them.)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with Gradebook(f"sqlite:///{grading / 'gradebook.db'}") as gradebook:
        gradebook.update_or_create_assignment(ASSIGNMENT)
        gradebook.update_or_create_notebook(Path(NOTEBOOK).stem, ASSIGNMENT)
    (course / "fake_nbgrader.py").write_text(FAKE_NBGRADER.format(grading=str(grading)))
    return course


def hand_in(course: Path, name: bytes | str) -> Path:
    """The released notebook handed in by the folder `name` (bytes: any name the disk allows)."""
    submitted = os.fsencode(course / "grading" / "submitted")
    folder = os.path.join(submitted, os.fsencode(name), ASSIGNMENT.encode())
    os.makedirs(folder)
    shutil.copy(ROOT / "exercises" / ASSIGNMENT / NOTEBOOK, os.fsdecode(folder) + "/" + NOTEBOOK)
    return Path(os.fsdecode(folder))


def autograde(course: Path, command: str = "autograde", *args: str) -> subprocess.CompletedProcess:
    """One step of make autograde (screen, then autograde) or make feedback, as the Makefile runs it."""
    nbgrader = f"{sys.executable} {course / 'fake_nbgrader.py'}"
    extra = ["--nbgrader", nbgrader] if command != "screen" else []
    # The venv's programs first, as the Makefile has them (nbgrader's gradebook starts `alembic`).
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run([sys.executable, "-m", "bertlab.autograde", command, ASSIGNMENT, *extra, *args],
                          cwd=course, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": path})


def make_autograde(course: Path, *args: str) -> subprocess.CompletedProcess:
    screened = autograde(course, "screen")
    assert screened.returncode == 0, screened.stderr[-3000:]
    graded = autograde(course, "autograde", *args)
    graded.stdout = screened.stdout + graded.stdout
    return graded


def nbgrader_runs(course: Path) -> list[list]:
    """What nbgrader was run for so far, and forget it: each grading, as ["autograde", assignment,
    the student nbgrader was given, [the folders it found]]; each command of the stand-in, as its
    argument list."""
    log = course / "nbgrader.log"
    runs = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    log.write_text("")
    return runs


def graded(student: str) -> list:
    """The log's line for a grading of `student`: nbgrader given their id, finding their folder."""
    return ["autograde", ASSIGNMENT, student, [f"{student}/{ASSIGNMENT}"]]


def test_folders_that_are_no_student_ids_are_set_aside_with_a_note_and_the_class_is_graded(course):
    for name in [*HONEST, *HOSTILE]:
        hand_in(course, name)
    result = make_autograde(course)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    submitted = course / "grading" / "submitted"
    assert sorted(os.listdir(submitted)) == sorted(HONEST)
    set_aside = [line for line in result.stdout.splitlines() if line.startswith("set aside")]
    assert len(set_aside) == len(HOSTILE), result.stdout
    bad_ids = course / "grading" / "rejected" / "bad-ids"
    notes = {(folder / "NOTE.txt").read_bytes().decode("utf-8"): folder for folder in bad_ids.iterdir()}
    for name in HOSTILE:
        note = next(note for note in notes if f"This was the folder {shown(name)} " in note)
        assert f"{shown(name)} of {submitted}" in "\n".join(set_aside)
        kept = notes[note] / "submission" / ASSIGNMENT / NOTEBOOK  # moved whole, untouched
        assert kept.read_bytes() == (ROOT / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes()
        assert "rename it to the student's id" in note and "run make autograde again" in note
    # Each honest student graded once, nbgrader given their id, which found their folder alone.
    runs = nbgrader_runs(course)
    assert sorted(runs) == sorted(graded(s) for s in HONEST), runs
    assert all(f"autograde: graded {s} ({ASSIGNMENT})" in result.stdout for s in HONEST), result.stdout


def test_regrade_passes_the_student_as_one_argument(course):
    hand_in(course, "alice")
    assert make_autograde(course).returncode == 0
    nbgrader_runs(course)
    again = make_autograde(course, "--student", "alice", "--again")
    assert again.returncode == 0, again.stderr[-3000:]
    assert nbgrader_runs(course) == [graded("alice")]


@pytest.mark.parametrize("student", ["*", "-rf", "alice,bob", "a\nb"])
def test_a_student_option_that_is_no_student_id_is_one_line_and_nothing_is_graded(course, student):
    hand_in(course, "alice")
    result = autograde(course, "autograde", f"--student={student}")  # "-rf" alone is taken for an option
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert f"--student {shown(student)} is not a student id: a student id is 1 to 64" in result.stderr
    assert nbgrader_runs(course) == [] and (course / "grading" / "submitted" / "alice").is_dir()


def test_files_dated_2099_are_not_graded_again_and_a_changed_file_is(course):
    folder = hand_in(course, "alice")
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "timestamp.txt").write_text("2099-01-01 00:00:00.000000 UTC\n")
    assert make_autograde(course).returncode == 0
    assert nbgrader_runs(course) == [graded("alice")]

    far = 4_070_908_800  # 2099-01-01
    for path in [folder, *folder.iterdir()]:
        os.utime(path, (far, far))
    unchanged = make_autograde(course)
    assert unchanged.returncode == 0, unchanged.stdout[-3000:] + unchanged.stderr[-3000:]
    assert nbgrader_runs(course) == []
    assert "0 graded now, 1 already graded and unchanged" in unchanged.stdout

    (folder / "notes.txt").write_text("my notes, changed\n")  # same size, older date: still a change
    os.utime(folder / "notes.txt", (0, 0))
    changed = make_autograde(course)
    assert changed.returncode == 0
    assert nbgrader_runs(course) == [graded("alice")]


def test_feedback_is_made_again_only_after_a_new_grading(course):
    hand_in(course, "alice")
    hand_in(course, "bob")
    assert make_autograde(course).returncode == 0
    nbgrader_runs(course)
    assert "feedback: 2 made" in autograde(course, "feedback").stdout
    for path in (course / "grading" / "feedback").rglob("*"):
        os.utime(path, (0, 0))  # dates say nothing
    assert "feedback: 0 made" in autograde(course, "feedback").stdout
    assert make_autograde(course, "--student", "bob", "--again").returncode == 0
    assert "feedback: 1 made" in autograde(course, "feedback").stdout
    runs = [run[0] for run in nbgrader_runs(course)]
    assert runs == ["generate_feedback", "autograde", "generate_feedback"]
