"""A warm grader: Python, nbgrader, torch and the course's nbgrader_config.py loaded once, then one
submission after another graded in this process, each student's code still in a fresh sandboxed
kernel of its own (bertlab/autograde/executor.py starts one per notebook and stops it after).

Starting a Python with nbgrader, the config and torch costs about 4 s; a student's whole notebook
about as much again. `nbgrader autograde` as a command pays the start once per submission; a warm
grader pays it once per process, which is where `make autograde` and the cluster's workers
(bertlab/autograde/cluster.py) run it.

What stays in this process between students is the grader's own code and configuration, never a
student's: their code runs only in the kernel, and what comes back from it is data (the answers a
test cell's probe records, bertlab/answers.py), judged and written to the gradebook per submission.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GRADEBOOK_VARIABLE = "BERTLAB_GRADEBOOK"  # nbgrader_config.py's db_url, when set (make ... DB=)


@dataclass
class Graded:
    """What grading one submission came to: nbgrader's verdict and log, and where and how long."""

    assignment: str
    student: str
    success: bool
    log: str
    seconds: float
    host: str = ""
    pid: int = 0
    # Not graded again: graded already, by an earlier run of the same task (its worker lost after
    # it finished) or another run of the command, and unchanged since.
    skipped: bool = False


def course_fingerprint(root: Path) -> str:
    """What identifies the course a grader grades for: its folder, its nbgrader_config.py and its
    released notebooks, as bytes. A worker given a task of another course (or of this one with
    other files: an old checkout on another machine) refuses it rather than grade with them."""
    digest = hashlib.sha256(os.fsencode(root.resolve()) + b"\0")
    files = [root / "nbgrader_config.py", *sorted((root / "exercises").glob("*/*.ipynb"))]
    for path in files:
        digest.update(os.fsencode(path.relative_to(root)) + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-")
    return digest.hexdigest()


def venv_programs_on_path() -> None:
    """Put this Python's folder first on PATH: nbgrader runs `alembic` from PATH when it makes a
    gradebook's tables, and a worker started as `.venv/bin/dask worker` has no venv on its PATH."""
    folder = os.path.dirname(sys.executable)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != folder:
        os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")


class WarmGrader:
    """nbgrader's autograde for the course at `root`, in this process, as often as asked."""

    def __init__(self, root: Path, db_url: str | None = None):
        from nbgrader.coursedir import CourseDirectory

        from bertlab.autograde.__main__ import course_config

        venv_programs_on_path()
        self.root = Path(root).resolve()
        # nbgrader_config.py reads the gradebook's URL from the environment, and gives it to
        # nbgrader and to the screen; set only while it is read.
        before = os.environ.get(GRADEBOOK_VARIABLE)
        if db_url:
            os.environ[GRADEBOOK_VARIABLE] = db_url
        try:
            self.config = course_config(str(self.root / "nbgrader_config.py"))
        finally:
            if before is None:
                os.environ.pop(GRADEBOOK_VARIABLE, None)
            else:
                os.environ[GRADEBOOK_VARIABLE] = before
        self.db_url = self.config.CourseDirectory.db_url
        self.fingerprint = course_fingerprint(self.root)
        # The log of each grading is captured and handed back (capture_log); nothing of it goes to
        # this process's stderr, where the lines of students graded side by side would interleave.
        log = logging.getLogger(f"bertlab.autograde.warm.{id(self)}")
        log.propagate = False
        log.setLevel(logging.INFO)
        self.log = log
        self.coursedir = CourseDirectory(config=self.config, log=log)

    def grade(self, assignment: str, student: str) -> Graded:
        """Autograde `student`'s `assignment` (forced: a grading again replaces the last one)."""
        from nbgrader.converters import Autograde
        from nbgrader.utils import capture_log, temp_attrs

        from bertlab.autograde.ids import check_student_id

        check_student_id(student)  # a pattern or an option would reach nbgrader as one
        start = time.perf_counter()
        # What `nbgrader autograde ASSIGNMENT --student=ID --force` does, in this process.
        with temp_attrs(self.coursedir, assignment_id=assignment, student_id=student):
            app = Autograde(coursedir=self.coursedir, config=self.config, log=self.log)
            app.force = True
            app.create_student = True
            result = capture_log(app)
        log = result.get("log", "") + (result.get("error") or "")
        return Graded(
            assignment,
            student,
            bool(result["success"]),
            log,
            time.perf_counter() - start,
            os.uname().nodename,
            os.getpid(),
        )
