"""Grading a class as tasks: one per student and assignment, run by warm graders (warm.py) in the
worker processes of a Dask cluster, on this machine or on many.

- `make autograde JOBS=N` starts a cluster of N worker processes on this machine for the run
  (Dask's LocalCluster) and grades into the SQLite gradebook in grading/.
- `make autograde SCHEDULER=tcp://host:8786 DB=postgresql://...` sends the tasks to a running Dask
  scheduler (`dask scheduler`; `dask worker tcp://host:8786 --nthreads 1` on each machine, with
  the course's venv and its folder at the same path), and every worker writes grades to the
  PostgreSQL gradebook the DB URL names.

Before any task runs, the coordinator (this process) makes the gradebook's tables and every
student's row: nbgrader creates its schema on a connection's first use, and graders that start
together would race to create it.

Nothing lost, nothing twice. A task grades a submission with nbgrader's `--force`, which replaces
that submission's grades rather than adding to them, and then writes the grader's record
(grading/graded/<student>/<assignment>.sha256) itself: a task run twice leaves the gradebook as
once, and a task that finished is recorded even if the coordinator or the scheduler is lost after.
A worker killed half-way: the scheduler runs its task again on another worker. Rerunning the
command grades only what has no record (or was handed in again since).

A worker grades only for the course it was sent: each task carries the course's fingerprint (its
folder, nbgrader_config.py and released notebooks) and a worker whose files differ refuses it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import secrets
import sys
import threading
from pathlib import Path

from bertlab.autograde.warm import Graded, WarmGrader

# The warm graders of this process, by course folder and gradebook (a worker may serve several),
# and the lock that lets one task at a time use them: nbgrader's converters keep the submission
# they work on in shared objects, so a worker started with several threads grades one at a time.
_GRADERS: dict[tuple[str, str], WarmGrader] = {}
_ONE_AT_A_TIME = threading.Lock()


class OtherCourseFiles(RuntimeError):
    """A worker whose course folder is not the coordinator's (another course or another copy)."""


def gradebook_url(value: str) -> str:
    """The SQLAlchemy URL of a gradebook given as `make ... DB=`: a postgresql:// URL is read with
    psycopg 3 (the driver the course installs; SQLAlchemy's default for the scheme is psycopg2)."""
    for scheme in ("postgresql://", "postgres://"):
        if value.startswith(scheme):
            return "postgresql+psycopg://" + value[len(scheme) :]
    return value


def grade_submission(
    root: str, fingerprint: str, db_url: str, assignment: str, student: str, again: bool = False
):
    """The task: grade one submission with this process's warm grader and, if nbgrader succeeded,
    write the grader's record of it; unless `again`, not if it has a record already and has not
    changed since (a task run a second time, or by a second run of the command). Runs on a worker,
    holding the submission's lock (no two graders grade one submission at a time)."""
    with _ONE_AT_A_TIME:
        return _grade(root, fingerprint, db_url, assignment, student, again)


def _grade(root, fingerprint, db_url, assignment, student, again) -> Graded:
    from bertlab.autograde.__main__ import Course

    grader = _GRADERS.get((root, db_url))
    if grader is None:
        grader = _GRADERS[(root, db_url)] = WarmGrader(Path(root), db_url)
    if grader.fingerprint != fingerprint:
        raise OtherCourseFiles(
            f"the worker {os.uname().nodename} (process {os.getpid()}) sees other files at {root} "
            "than the coordinator (nbgrader_config.py or exercises/ differ, or it is another "
            "course): give every worker the same course folder at the same path"
        )
    course = Course(grader.config, "nbgrader")
    with course.grading_lock(assignment, student):
        if not again and not course.needs_grading(assignment, student):
            return Graded(
                assignment, student, True, "", 0.0, os.uname().nodename, os.getpid(), True
            )
        graded = grader.grade(assignment, student)
        if graded.success:
            course.record_grading(assignment, student)
    return graded


def prepare_gradebook(db_url: str, students: list[str]) -> None:
    """The gradebook's tables and a row for each student, made once, before any grader starts."""
    from nbgrader.api import Gradebook

    from bertlab.autograde.warm import venv_programs_on_path

    venv_programs_on_path()
    with Gradebook(db_url) as gradebook:
        for student in students:
            gradebook.update_or_create_student(student)


def grade_all(
    root: Path,
    db_url: str,
    submissions: list[tuple[str, str]],
    jobs: int = 1,
    scheduler: str | None = None,
    again: bool = False,
    report=print,
) -> dict[tuple[str, str], Graded | str]:
    """Grade each (assignment, student) of `submissions` as a task, on the cluster at `scheduler`
    or on `jobs` worker processes started here; each result as it comes (`report`): the Graded, or
    why there is none (a task's error, a worker lost more often than the scheduler allows)."""
    from distributed import Client, LocalCluster, as_completed

    from bertlab.autograde.warm import course_fingerprint

    if not submissions:
        return {}
    prepare_gradebook(db_url, sorted({student for _, student in submissions}))
    fingerprint = course_fingerprint(root)
    if scheduler:
        cluster = None
        client = Client(scheduler, timeout="30s")
    else:
        # One thread per worker: a worker grades one notebook at a time, in its own process.
        # No memory limit of Dask's: the sandbox limits what a student's kernel takes. No
        # dashboard; the scheduler's HTTP server (which it starts even so) on a free port of the
        # loopback: on 8787, its default, it would warn whenever that port is taken (another run,
        # another cluster) and print the warning into make's output.
        cluster = LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
    run = secrets.token_hex(4)
    results: dict[tuple[str, str], Graded | str] = {}
    try:
        futures = {
            client.submit(
                grade_submission,
                str(root),
                fingerprint,
                db_url,
                assignment,
                student,
                again,
                key=f"autograde-{assignment}-{student}-{run}",  # (ids are plain ASCII: ids.py)
                pure=False,
            ): (assignment, student)
            for assignment, student in submissions
        }
        for future in as_completed(futures):
            submission = futures[future]
            try:
                results[submission] = future.result()
            except Exception as error:  # its task's own, or KilledWorker: that student's alone
                results[submission] = f"{type(error).__name__}: {error}"
            except (asyncio.CancelledError, concurrent.futures.CancelledError):
                # (Dask's is asyncio's, not an Exception): the connection to the scheduler lost
                results[submission] = (
                    "the connection to the scheduler was lost before its grade came back "
                    "(run the command again: it grades only what has no grade)"
                )
            report(submission, results[submission])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return results


def print_result(submission: tuple[str, str], result: Graded | str) -> None:
    """One submission's outcome: nbgrader's log (as `nbgrader autograde` prints it), or why it
    has no grade."""
    assignment, student = submission
    if isinstance(result, Graded):  # (nbgrader logs to stderr)
        sys.stderr.write(result.log)
        sys.stderr.flush()
        outcome = "graded" if result.success else "failed to grade"
        if result.skipped:
            print(f"autograde: {student} ({assignment}) was graded already, and is unchanged")
            return
        print(
            f"autograde: {outcome} {student} ({assignment}) in {result.seconds:.1f} s "
            f"({result.host}, process {result.pid})",
            flush=True,
        )
    else:
        print(f"autograde: {student} ({assignment}) was not graded: {result}", file=sys.stderr)
