"""`python -m bertlab.autograde`: the grading steps the Makefile runs outside nbgrader.

- `screen ASSIGNMENT...`: see `main`.
- `autograde ASSIGNMENT... [--jobs N] [--student ID [--again]]`: `nbgrader autograde` for each
  submission not graded yet, or handed in again since it was graded (a file in its folder, its
  timestamp.txt included, is newer than its autograded copy); `--again` regrades the student even
  so. One student's failing run does not stop the others; the exit status is 1, with the students
  named, when a submission is left without a grade, 0 when every one has its grade.
- `feedback ASSIGNMENT...`: `nbgrader generate_feedback` for each graded submission whose feedback
  is missing or older than its autograded copy, one nbgrader run per assignment.

An assignment that is not the course's, a --student that is no student id or handed in none of the
assignments, or a --config that does not exist is one line on stderr and exit status 2, before
anything is screened or graded (bertlab._cli).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    """`python -m bertlab.autograde screen ASSIGNMENT...`: screen every submission folder of the
    assignments that holds no .ipynb file at all (a notebook renamed to .txt, or nothing), or that
    is a symbolic link, or is in one: nbgrader skips a folder without notebooks without calling its
    pre-convert hook. `make autograde` runs it first."""
    import runpy

    from traitlets.config import Config

    from bertlab._cli import ArgumentParser, user_input

    parser = ArgumentParser(prog="python -m bertlab.autograde", description=main.__doc__)
    parser.add_argument("command", choices=["screen", "autograde", "feedback"])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument(
        "--config", default="nbgrader_config.py", help="the course's nbgrader config file"
    )
    parser.add_argument(
        "--nbgrader", default="nbgrader", help="the shell command that runs nbgrader"
    )
    parser.add_argument("--jobs", type=int, default=1, help="autograde: students graded at a time")
    parser.add_argument("--student", help="autograde: this student only")
    parser.add_argument(
        "--again", action="store_true", help="autograde: even if graded since handed in"
    )
    args = parser.parse_args(argv)
    # What the command line names is checked before anything is screened, graded or written: a
    # bad name is one line and exit 2 (bertlab._cli). A failure after that is nbgrader's, reported
    # per student by Course, or a bug, with its traceback.
    with user_input(parser.prog):
        if args.student is not None:
            check_student_id(args.student)
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
        if not Path(args.config).is_file():
            raise FileNotFoundError(
                f"--config {args.config} does not exist; run in the course's folder (where "
                "nbgrader_config.py is), or pass --config PATH"
            )
        config = Config()
        runpy.run_path(args.config, init_globals={"get_config": lambda: config})
        check_assignments(config, args.assignments)
        course = Course(config, args.nbgrader)
        if args.command == "autograde" and args.student is not None:
            course.check_student(args.student, args.assignments)
        from bertlab.autograde.screen import ScreenSubmission as Screen

        screen = config.Autograde.pre_convert_hook
        if args.command == "screen" and not isinstance(screen, Screen):
            raise ValueError(
                f"{args.config} sets no ScreenSubmission as c.Autograde.pre_convert_hook"
            )
    if args.command == "autograde":
        raise SystemExit(
            course.autograde(
                args.assignments, jobs=args.jobs, student=args.student, again=args.again
            )
        )
    if args.command == "feedback":
        raise SystemExit(course.feedback(args.assignments))
    for assignment in args.assignments:
        for folder in sorted(course.submitted.glob(f"*/{assignment}")):
            # A folder that is a link (or a link's folder) nbgrader would follow, or a link that
            # leads nowhere it would skip in silence: the screen replaces it by a real folder.
            links = folder.is_symlink() or folder.parent.is_symlink()
            if links or not folder.is_dir() or not any(folder.glob("*.ipynb")):
                screen.screen(folder)
                print(f"screened {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")


def check_student_id(student: str) -> None:
    """Raise ValueError unless `student` is a student id: the name of their folder of
    submissions, not a path (it becomes part of the paths read and written, and of nbgrader's
    command line)."""
    if student in ("", ".", "..") or Path(student).name != student or student.startswith("-"):
        raise ValueError(
            f"--student {student!r} is not a student id: give the name of the student's folder "
            "in the submitted folder (no '/', not '.' or '..', not starting with '-')"
        )


def check_assignments(config, assignments: list[str]) -> None:
    """Raise ValueError unless each of `assignments` is one of the course's: a folder of its
    source (solutions/) or release (exercises/) directory, as the config names them."""
    from nbgrader.coursedir import CourseDirectory

    # The folders as nbgrader sees them: the config's, and nbgrader's defaults for those it omits.
    course = CourseDirectory(config=config)
    root = Path(course.root)
    folders = [root / course.source_directory, root / course.release_directory]
    known = sorted(
        {
            p.name
            for folder in folders
            if folder.is_dir()
            for p in folder.iterdir()
            if p.is_dir() and not p.name.startswith(".")  # not .ipynb_checkpoints
        }
    )
    for assignment in assignments:
        if assignment not in known:  # the name of a folder there, not a path or a pattern
            raise ValueError(
                f"no assignment {assignment!r} in this course: name one of "
                f"{', '.join(known) or '(none)'} (the folders of "
                f"{' and '.join(str(folder) for folder in folders)})"
            )


def newest_change(folder: Path) -> float | None:
    """The latest modification time of `folder` or anything in it (links are not followed), or
    None if there is no such folder."""
    if not folder.is_dir() or folder.is_symlink():
        return None
    times = [folder.lstat().st_mtime]
    for parent, folders, files in os.walk(folder):
        times += [os.lstat(os.path.join(parent, name)).st_mtime for name in folders + files]
    return max(times)


class Course:
    """The grading folders of a course (as its nbgrader config names them), and nbgrader run on
    the submissions that need it."""

    def __init__(self, config, nbgrader: str):
        from nbgrader.coursedir import CourseDirectory

        course = CourseDirectory(config=config)  # as in check_assignments
        root = Path(course.root)
        self.submitted = root / course.submitted_directory
        self.autograded = root / course.autograded_directory
        self.feedback_folder = root / course.feedback_directory
        self.nbgrader = nbgrader

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """nbgrader with these arguments; its output is passed on once it has finished (so that
        students graded side by side do not interleave theirs)."""
        result = subprocess.run(
            f"{self.nbgrader} {shlex.join(args)}", shell=True, capture_output=True, text=True
        )
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result

    def students(self, assignment: str) -> list[str]:
        return sorted(folder.parent.name for folder in self.submitted.glob(f"*/{assignment}"))

    def check_student(self, student: str, assignments: list[str]) -> None:
        """Raise ValueError unless `student` handed in at least one of `assignments`."""
        if not any(student in self.students(assignment) for assignment in assignments):
            raise ValueError(
                f"{student} handed in none of {', '.join(assignments)} (no folder "
                f"{self.submitted / student / assignments[0]})"
            )

    def needs_grading(self, assignment: str, student: str) -> bool:
        """Not graded yet, or handed in again (something in the folder changed) since."""
        graded = newest_change(self.autograded / student / assignment)
        handed_in = newest_change(self.submitted / student / assignment)
        return graded is None or (handed_in is not None and handed_in > graded)

    def autograde(
        self, assignments: list[str], jobs: int = 1, student: str | None = None, again: bool = False
    ) -> int:
        """Grade what needs grading (see the module docstring); 0 if every submission of the
        assignments (or the student's) has its grade afterwards, else 1. A student who handed in
        none of them is a ValueError (check_student)."""
        if student is not None:
            self.check_student(student, assignments)
        submissions = [
            (a, s) for a in assignments for s in self.students(a) if student in (None, s)
        ]
        to_grade = [(a, s) for a, s in submissions if again or self.needs_grading(a, s)]

        def grade(submission):
            assignment, name = submission
            # nbgrader skips a submission it graded before unless forced (it compares timestamp.txt
            # files only, which a plain copy into grading/submitted/ does not have).
            force = ["--force"] if (self.autograded / name / assignment).exists() else []
            return self.run("autograde", assignment, "--student", name, *force)

        with ThreadPoolExecutor(max(1, jobs)) as pool:
            results = list(pool.map(grade, to_grade))
        failed = [
            f"{s} ({a})" for (a, s), result in zip(to_grade, results) if result.returncode != 0
        ]
        ungraded = [
            f"{s} ({a})"
            for a, s in submissions
            if f"{s} ({a})" not in failed and self.needs_grading(a, s)
        ]
        print(
            f"autograde: {len(to_grade) - len(failed)} graded now, "
            f"{len(submissions) - len(to_grade)} already graded and unchanged"
        )
        if failed or ungraded:
            print(
                "autograde: no grade for "
                + ", ".join(failed + ungraded)
                + ": nbgrader's output for each is above; fix and run make autograde again",
                file=sys.stderr,
            )
            return 1
        return 0

    def feedback(self, assignments: list[str]) -> int:
        """Feedback for each graded submission whose feedback is missing or older than its grade."""
        status = 0
        for assignment in assignments:
            graded = {
                p.parent.name: newest_change(p) for p in self.autograded.glob(f"*/{assignment}")
            }
            stale = [
                s
                for s, when in sorted(graded.items())
                if when is not None
                and (newest_change(self.feedback_folder / s / assignment) or 0) <= when
            ]
            for student in stale:  # nbgrader, not forced, makes the missing ones and skips the rest
                shutil.rmtree(self.feedback_folder / student / assignment, ignore_errors=True)
            if stale and self.run("generate_feedback", assignment).returncode != 0:
                status = 1
            print(f"feedback: {len(stale)} made for {assignment}")
        return status


if __name__ == "__main__":
    main()
