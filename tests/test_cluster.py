"""A large class graded on a cluster (bertlab/autograde/cluster.py, warm.py; README "Grading a large
class"), the way the README tells an instructor to: a PostgreSQL server, `dask scheduler` and two
`dask worker` processes on 127.0.0.1, then `make release DB=...` and
`make autograde SCHEDULER=... DB=...` in the course folder.

One class of 22 students of one of the cheapest assignments to grade (04_next_sentence): the solution, the
untouched exercise, every synthetic mistake, the copier, the correct students in other styles and
five rule dodgers of tests/exercise_classes/, and two students who test the warm grader: the first
leaves the solution of a part behind in every place a kernel could reach (a file in /tmp, the
environment, a module attribute), the second hands in that part as code that uses what it finds.

- While the class is graded, a worker is killed (SIGKILL) in the middle of a notebook, and later
  the scheduler: the command then exits non-zero. Run again on a new scheduler and workers, it
  grades only the submissions that have no grade yet; a third run grades nothing.
- The PostgreSQL gradebook equals the gradebook of the same class graded one after another on one
  machine (`make autograde JOBS=1`, SQLite): every student's score of every test cell, and each
  student's submission exactly once, with one grade per graded cell.
- One warm worker grades student after student with nothing left over: the second of the two
  students above, graded right after the first by the same process, finds nothing of it.
- A worker whose course folder differs from the coordinator's refuses the task.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services import dask_cluster, postgres_server, require_postgres
from test_exercises import CLASS, ROOT, fill_in_solutions, require_sandbox, submit

ASSIGNMENT = "04_next_sentence"
SPEC = CLASS[ASSIGNMENT]
NSP_HEAD_TESTS = [name for name in SPEC.points if name.startswith("test_nsp_head")]

# The first leaves part 2's solution wherever a later kernel might find it; the second's part 2 is
# only code that looks for it (and is the released stub, NotImplementedError, when it finds none).
LEAVES = "a_leaves_its_work_behind"
TAKES = "b_uses_what_was_left"
LEAVE_BEHIND = '''\
import builtins, os, sys, types
_code = {code!r}
open("/tmp/left_behind.py", "w").write(_code)
os.environ["LEFT_BEHIND"] = _code
builtins.left_behind = _code
sys.modules["left_behind"] = types.ModuleType("left_behind")
sys.modules["left_behind"].code = _code
'''
TAKE_WHAT_IS_LEFT = '''\
import builtins, os, sys
_found = (getattr(builtins, "left_behind", None) or os.environ.get("LEFT_BEHIND")
          or getattr(sys.modules.get("left_behind"), "code", None)
          or (open("/tmp/left_behind.py").read() if os.path.exists("/tmp/left_behind.py") else None))
if _found is None:
    raise NotImplementedError()
exec(_found)
'''


def make(course: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "--no-print-directory", *args, f"VENV={venv}"], cwd=course,
                          capture_output=True, text=True, timeout=timeout)


def graded_lines(output: str) -> list[tuple[str, int]]:
    """(student, process) of each `autograde: graded <student> (...) in ... (host, process N)` line."""
    return [(m.group(1), int(m.group(2))) for m in
            re.finditer(r"^autograde: graded (\S+) \(\S+\) in [\d.]+ s \(.*, process (\d+)\)$", output, re.M)]


def gradebook(db_url: str) -> dict[str, dict[str, float]]:
    """{student: {graded cell: score}} of the assignment, and a check that each student has exactly
    one submission with exactly one grade per graded cell."""
    from nbgrader.api import Gradebook

    from bertlab.autograde.cluster import gradebook_url

    with Gradebook(gradebook_url(db_url)) as book:
        assignment = book.find_assignment(ASSIGNMENT)
        graded_cells = sorted(cell.name for notebook in assignment.notebooks for cell in notebook.grade_cells)
        found = {}
        for submission in assignment.submissions:
            student = submission.student.id
            assert student not in found, f"{student} has two submissions"
            names = [grade.name for notebook in submission.notebooks for grade in notebook.grades]
            assert sorted(names) == graded_cells, f"{student}: grades {sorted(names)}"
            found[student] = {grade.name: grade.score for notebook in submission.notebooks
                              for grade in notebook.grades}
        return found


def autograded(scores: dict[str, float]) -> dict[str, float]:
    """The autograded test cells' scores (the written answers wait for a person)."""
    return {name: score for name, score in scores.items() if name.startswith("test_")}


def records(course: Path) -> set[str]:
    return {path.parent.name for path in (course / "grading" / "graded").glob(f"*/{ASSIGNMENT}.sha256")}


def hand_in_the_class(course: Path) -> list[str]:
    submit(course, ASSIGNMENT, "solution", fill_in_solutions(course, ASSIGNMENT))
    submit(course, ASSIGNMENT, "untouched")
    students = [*SPEC.mistakes, SPEC.copying, *SPEC.alternatives, *SPEC.dodgers[:5]]
    for student in students:
        submit(course, ASSIGNMENT, student.student, fill_in_solutions(course, ASSIGNMENT, student))
    solved = fill_in_solutions(course, ASSIGNMENT)

    def leaves(name, nb):
        solved(name, nb)
        import nbformat

        code = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "nsp_head")
        nb.cells.append(nbformat.v4.new_code_cell(LEAVE_BEHIND.format(code=code)))

    def takes(name, nb):
        solved(name, nb)
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "nsp_head")
        cell.source = TAKE_WHAT_IS_LEFT

    submit(course, ASSIGNMENT, LEAVES, leaves)
    submit(course, ASSIGNMENT, TAKES, takes)
    return ["solution", "untouched", *(s.student for s in students), LEAVES, TAKES]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require_sandbox()
    require_postgres()
    top = tmp_path_factory.mktemp("cluster")
    course = top / "course"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    released = make(course, "release")
    assert released.returncode == 0, released.stdout + released.stderr
    students = hand_in_the_class(course)
    assert len(students) >= 20
    serial_course = top / "serial"
    shutil.copytree(course, serial_course, symlinks=True)

    # One machine, one warm worker, one student after another (SQLite).
    serial = make(serial_course, "autograde", "JOBS=1")
    result = {"course": course, "serial_course": serial_course, "students": students, "serial": serial,
              "serial_db": f"sqlite:///{serial_course / 'grading' / 'gradebook.db'}"}

    with postgres_server() as db:
        result["db"] = db
        result["release"] = make(course, "release", f"DB={db}")
        # The first cluster: a worker killed in the middle of a notebook, then the scheduler.
        with dask_cluster(top / "dask-1", workers=2, cwd=course) as cluster:
            run = subprocess.Popen(
                ["make", "--no-print-directory", "autograde", f"SCHEDULER={cluster.address}", f"DB={db}",
                 f"VENV={Path(sys.executable).parent.parent}"],
                cwd=course, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            result["killed_worker"] = kill_a_worker_mid_notebook(cluster, course)
            deadline = time.monotonic() + 600
            while len(records(course)) < len(students) // 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            result["records_when_the_scheduler_died"] = len(records(course))
            cluster.scheduler.send_signal(signal.SIGKILL)
            out, err = run.communicate(timeout=300)
            result["first"] = subprocess.CompletedProcess(run.args, run.returncode, out, err)
        result["records_before_the_rerun"] = records(course)
        # A new scheduler and workers: the same command again, then once more.
        with dask_cluster(top / "dask-2", workers=2, cwd=course) as cluster:
            result["second"] = make(course, "autograde", f"SCHEDULER={cluster.address}", f"DB={db}")
            result["third"] = make(course, "autograde", f"SCHEDULER={cluster.address}", f"DB={db}")
        result["cluster_book"] = gradebook(db)
    result["serial_book"] = gradebook(result["serial_db"])
    return result


def kill_a_worker_mid_notebook(cluster, course: Path) -> dict:
    """SIGKILL the process of a worker that has been grading one submission for 2 s (its kernel is
    running the notebook by then); what was killed, and which student it was grading."""
    with cluster.client() as client:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            busy = {worker: tasks for worker, tasks in client.processing().items() if tasks}
            if busy and len(records(course)) >= 2:
                worker, tasks = next(iter(busy.items()))
                time.sleep(2)
                if client.processing().get(worker) == tasks:
                    pid = client.run(os.getpid, workers=[worker])[worker]
                    os.kill(pid, signal.SIGKILL)
                    return {"worker": worker, "pid": pid, "task": tasks[0]}
            time.sleep(0.2)
    raise AssertionError("no worker was seen grading a submission")


def test_the_commands_of_the_readme_succeed(graded):
    assert graded["serial"].returncode == 0, graded["serial"].stdout[-3000:] + graded["serial"].stderr[-3000:]
    assert graded["release"].returncode == 0, graded["release"].stdout + graded["release"].stderr
    for run in ("second", "third"):
        result = graded[run]
        assert result.returncode == 0, f"{run} run:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_the_cluster_gradebook_equals_a_serial_sqlite_run(graded):
    assert set(graded["serial_book"]) == set(graded["students"])
    assert graded["cluster_book"] == graded["serial_book"]
    assert autograded(graded["cluster_book"]["solution"]) == SPEC.points
    for mistake in SPEC.mistakes:
        assert autograded(graded["cluster_book"][mistake.student]) == {**SPEC.points, **mistake.scores}, \
            mistake.student


def test_a_worker_killed_mid_notebook_costs_nothing(graded):
    killed = graded["killed_worker"]
    student = re.match(rf"autograde-{ASSIGNMENT}-(.+)-[0-9a-f]+$", killed["task"]).group(1)
    # Its task ran again on another worker process, in the same run, and that student has their grade
    # (exactly once: the gradebook fixture checks one submission and one grade per cell).
    graded_by = dict(graded_lines(graded["first"].stdout + graded["second"].stdout))
    assert graded_by[student] != killed["pid"]
    assert graded["cluster_book"][student] == graded["serial_book"][student]


def test_the_scheduler_lost_and_the_command_run_again_grades_only_what_is_missing(graded):
    first, second, third = graded["first"], graded["second"], graded["third"]
    assert first.returncode != 0, "the run whose scheduler was killed says that not everyone has a grade"
    assert "autograde: no grade for" in first.stderr
    already = graded["records_before_the_rerun"]
    assert 0 < len(already) < len(graded["students"])
    regraded = [student for student, _ in graded_lines(second.stdout)]
    assert sorted(regraded) == sorted(set(graded["students"]) - already)
    assert f"autograde: {len(regraded)} graded now, {len(already)} already graded and unchanged" in second.stdout
    assert graded_lines(third.stdout) == []
    assert f"autograde: 0 graded now, {len(graded['students'])} already graded and unchanged" in third.stdout


def test_a_warm_worker_leaves_nothing_to_the_next_student(graded):
    serial = graded_lines(graded["serial"].stdout)
    order = [student for student, _ in serial]
    # One worker process graded the whole class, the second of the two after the first.
    assert len({pid for _, pid in serial}) == 1
    assert order.index(TAKES) > order.index(LEAVES)
    for book in ("serial_book", "cluster_book"):
        assert autograded(graded[book][LEAVES]) == SPEC.points
        assert all(graded[book][TAKES][name] == 0 for name in NSP_HEAD_TESTS), graded[book][TAKES]


def test_a_worker_with_other_course_files_refuses_the_task(graded, tmp_path):
    from bertlab.autograde.cluster import OtherCourseFiles, grade_submission
    from bertlab.autograde.warm import course_fingerprint

    course = graded["serial_course"]
    assert course_fingerprint(course) != course_fingerprint(graded["course"])  # another folder
    with pytest.raises(OtherCourseFiles, match="give every worker the same course folder"):
        grade_submission(str(course), course_fingerprint(graded["course"]), graded["serial_db"], ASSIGNMENT,
                         "solution")
