"""Autograding runs each submission's kernel in its own sandbox (bertlab/autograde.py): a
submission that loops, exits, kills its kernel, forks without end or reaches for files and the
network it must not see is graded in bounded time, with the reason in its feedback, and the
students beside it keep exactly their grades.

One class of assignment 1, graded through nbgrader: an honest student, and one student per attack.
"""

from __future__ import annotations

import pytest

from exercise_classes import Mistake
from test_exercises import (CLASS, feedback_text, fill_in_solutions, nbgrader, new_course, require_sandbox, scores,
                            submit)

ASSIGNMENT = "01_input_embeddings"
SPEC = CLASS[ASSIGNMENT]
FULL = SPEC.points
LOSES_PART_1 = {"test_wordpiece_worked_examples": 0, "test_wordpiece_unknown_words": 0,
                "test_wordpiece_matches_bertlab": 0}
AFTER_PART_1 = {cell: 0 for cell in FULL if not cell.startswith("test_wordpiece")}  # every later test cell


def attack(student: str, code: str) -> Mistake:
    """A submission whose first solution cell (wordpiece) starts with `code`."""
    return Mistake(student, "wordpiece", replace="def wordpiece(", by=code + "\n\n\ndef wordpiece(",
                   scores={}, feedback="")


ATTACKS = {
    # (submission, the scores it must get (cells not named: full marks), what its feedback must say)
    "loops_forever": (attack("loops_forever", "while True:\n    pass"), LOSES_PART_1, "CellTimeoutError"),
    # 16 GiB at once: this machine would hand it out (untouched pages cost nothing) but for the
    # sandbox's address-space limit. (An allocating loop works too, but IPython keeps the failed
    # frame, and with it the hoard, so the student's later parts would starve: their own doing.)
    "allocates_without_bound": (attack("allocates_without_bound", "hoard = bytearray(16 << 30)"),
                                LOSES_PART_1, "MemoryError"),
    # Forks until the process limit stops it, then reaps its children (zombies would still count
    # against the limit and starve the student's own later parts).
    "fork_bomb": (attack("fork_bomb", """\
import os, time
try:
    while True:
        if os.fork() == 0:
            time.sleep(1)
            os._exit(0)
finally:
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break"""), LOSES_PART_1, "Resource temporarily unavailable"),
    "calls_sys_exit": (attack("calls_sys_exit", "import sys\nsys.exit('bye')"), LOSES_PART_1, "SystemExit"),
    "calls_os_exit": (attack("calls_os_exit", "import os\nos._exit(0)"), {**LOSES_PART_1, **AFTER_PART_1},
                      "The kernel stopped in this cell"),
    "kills_its_kernel": (attack("kills_its_kernel", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
                         {**LOSES_PART_1, **AFTER_PART_1}, "The kernel stopped in this cell"),
    # Reaching out: each prints what it found and goes on, so that a leak would show as a full score
    # together with the printed loot; isolation shows as the printed errors.
    "reads_and_writes_course_files": (attack("reads_and_writes_course_files", """\
import glob, os
for pattern in ["/work/**/gradebook.db", "/work/**/solutions/**/*.ipynb", "/tmp/**/gradebook.db",
                "/tmp/**/solutions/**/*.ipynb", "/root/**/*.ipynb"]:
    print(pattern, "->", glob.glob(pattern, recursive=True)[:3])
try:
    open("gradebook.db", "w").write("0 points for everyone")   # its own folder: allowed, harmless
    print("wrote", os.path.abspath("gradebook.db"))
except OSError as error:
    print("cannot write:", error)"""), {}, "-> []"),
    "uses_the_network": (attack("uses_the_network", """\
import socket
try:
    socket.create_connection(("pypi.org", 443), timeout=5)
    print("network: reachable")
except OSError as error:
    print("network: unreachable,", type(error).__name__)"""), {}, "network: unreachable"),
}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    require_sandbox()
    course = new_course(tmp_path_factory.mktemp("isolation"), ASSIGNMENT)
    # Short limits keep the loop and the allocation quick to stop; the rest of the config is the course's.
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.Execute.timeout = 20\nc.SandboxedExecute.memory_bytes = 4 << 30\n")
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    submit(course, ASSIGNMENT, "honest", fill_in_solutions(course, ASSIGNMENT))
    for mistake, _, _ in ATTACKS.values():
        submit(course, ASSIGNMENT, mistake.student, fill_in_solutions(course, ASSIGNMENT, mistake))
    solve = fill_in_solutions(course, ASSIGNMENT)

    def delete_a_test(name, nb):
        solve(name, nb)
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_wordpiece_unknown_words"]

    def edit_a_test(name, nb):
        solve(name, nb)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_pair_layout_tokens":
                cell.source = "pass  # nothing to see here"

    submit(course, ASSIGNMENT, "deletes_a_test_cell", delete_a_test)
    submit(course, ASSIGNMENT, "edits_a_test_cell", edit_a_test)
    nbgrader("autograde", ASSIGNMENT, "--force", cwd=course)
    nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=course)
    return course


def test_the_honest_student_keeps_full_marks(graded_class):
    assert scores(graded_class, ASSIGNMENT, "honest") == FULL


@pytest.mark.parametrize("student", ATTACKS)
def test_an_attack_is_graded_in_bounded_time_with_its_reason(graded_class, student):
    _, expected, reason = ATTACKS[student]
    assert scores(graded_class, ASSIGNMENT, student) == {**FULL, **expected}
    assert reason in feedback_text(graded_class, ASSIGNMENT, student)


def test_a_deleted_test_cell_is_put_back_and_runs(graded_class):
    assert scores(graded_class, ASSIGNMENT, "deletes_a_test_cell") == FULL
    assert "was missing from the submission" in feedback_text(graded_class, ASSIGNMENT, "deletes_a_test_cell")


def test_an_edited_test_cell_is_restored_and_runs(graded_class):
    assert scores(graded_class, ASSIGNMENT, "edits_a_test_cell") == FULL
    assert "nothing to see here" not in feedback_text(graded_class, ASSIGNMENT, "edits_a_test_cell")


def test_grading_again_gives_the_same_grades(graded_class):
    before = {s: scores(graded_class, ASSIGNMENT, s) for s in ["honest", *ATTACKS]}
    nbgrader("autograde", ASSIGNMENT, "--force", "--student", "honest", cwd=graded_class)
    nbgrader("autograde", ASSIGNMENT, "--force", "--student", "calls_os_exit", cwd=graded_class)
    assert {s: scores(graded_class, ASSIGNMENT, s) for s in ["honest", *ATTACKS]} == before
