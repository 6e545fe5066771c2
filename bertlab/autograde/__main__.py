"""`python -m bertlab.autograde`: the grading steps the Makefile runs outside nbgrader.

- `screen ASSIGNMENT...`: see `main`.
- `autograde ASSIGNMENT... [--jobs N | --scheduler URL] [--student ID [--again]]`: nbgrader's
  autograde for each submission not graded yet, or whose content changed since it was graded
  (`submission_digest`: names, kinds, sizes and bytes; never dates, which the student sets);
  `--again` regrades the student even so. Each is a task for a warm grader, on N worker processes
  here or on a Dask cluster (cluster.py, warm.py). One student's failing run does not stop the
  others; the exit status is 1, with the students named, when a submission is left without a
  grade, 0 when every one has its grade.
- `feedback ASSIGNMENT...`: `nbgrader generate_feedback` for each graded submission whose feedback
  is missing or was made before its latest grading, one nbgrader run per assignment.
- `handgrade ASSIGNMENT [QUESTION]` and `marks ASSIGNMENT QUESTION`: written answers graded by
  hand, one question across the class at a time (bertlab/autograde/handgrade.py).

Before `screen` or `autograde` does anything else, every folder of grading/submitted/ whose name is
not a student id (bertlab.autograde.ids: `*` would be a pattern to nbgrader, `-rf` an option) is
moved, whole, to grading/rejected/bad-ids/<n>/ with a NOTE.txt saying how to grade it; one line
says so for each, and the other students are graded as usual.

What the grader records, in grading/graded/<student>/ (ids only, so plain path parts):
`<assignment>.sha256`, the digest of the submission as nbgrader last graded it successfully, and
`<assignment>.feedback`, that record as it was when the feedback was made.

An assignment that is not the course's, a --student that is no student id or handed in none of the
assignments, or a --config that does not exist is one line on stderr and exit status 2, before
anything is screened or graded (bertlab._cli).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shlex
import stat
import subprocess
import sys
from pathlib import Path

from bertlab.autograde.ids import RULE, check_student_id, is_student_id, shown
from bertlab.autograde.safe_html import install_assets
from bertlab.autograde.sandbox import remove_entry

BAD_IDS = "bad-ids"


def course_config(path: str):
    """The course's nbgrader_config.py, loaded as nbgrader loads it (a clear error if missing)."""
    import runpy

    from traitlets.config import Config

    if not Path(path).is_file():
        raise FileNotFoundError(
            f"--config {path} does not exist; run in the course's folder (where "
            "nbgrader_config.py is), or pass --config PATH"
        )
    config = Config()
    runpy.run_path(path, init_globals={"get_config": lambda: config})
    return config  # grading/rejected/bad-ids/<n>/: a submitted folder whose name is no student id


def main(argv: list[str] | None = None) -> None:
    """`python -m bertlab.autograde screen ASSIGNMENT...`: set aside the submitted folders whose
    name is no student id; make each submission's timestamp.txt the grader's collection time
    (nbgrader reads it before its screen runs); screen every submission folder of the assignments
    that holds no .ipynb file at all (a notebook renamed to .txt, or nothing), or that is a
    symbolic link, or is in one: nbgrader skips a folder without notebooks without calling its
    pre-convert hook. `make autograde` runs it first."""

    from bertlab._cli import ArgumentParser, user_input

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["handgrade"], ["marks"]):  # grading by hand has a command line of its own
        from bertlab.autograde.handgrade import main as handgrade

        return handgrade(argv)
    parser = ArgumentParser(prog="python -m bertlab.autograde", description=main.__doc__)
    parser.add_argument("command", choices=["screen", "autograde", "feedback"])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument(
        "--config", default="nbgrader_config.py", help="the course's nbgrader config file"
    )
    parser.add_argument(
        "--nbgrader", default="nbgrader", help="the shell command that runs nbgrader"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="autograde: worker processes on this machine"
    )
    parser.add_argument(
        "--scheduler",
        default="",
        help="autograde: the Dask scheduler of a cluster to grade on (tcp://host:8786); "
        "the course folder must be at the same path on every worker",
    )
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
            try:
                check_student_id(args.student)
            except ValueError as error:
                raise ValueError(f"--student {error}") from None
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
        config = course_config(args.config)
        check_assignments(config, args.assignments)
        course = Course(config, args.nbgrader)
        if args.scheduler and course.db_url.startswith("sqlite"):
            raise ValueError(
                f"--scheduler {args.scheduler} needs a gradebook every worker can reach: "
                "make autograde SCHEDULER=... DB=postgresql://user@host/database (a SQLite file "
                "must not be written by graders on several machines)"
            )
        if args.command == "autograde" and args.student is not None:
            course.check_student(args.student, args.assignments)
        from bertlab.autograde.screen import ScreenSubmission as Screen

        screen = config.Autograde.pre_convert_hook
        if args.command == "screen" and not isinstance(screen, Screen):
            raise ValueError(
                f"{args.config} sets no ScreenSubmission as c.Autograde.pre_convert_hook"
            )
    if args.command in ("screen", "autograde"):
        rejected = screen.rejected if isinstance(screen, Screen) else course.grading / "rejected"
        for line in set_aside_bad_ids(course.submitted, rejected):
            print(line)
    if args.command == "autograde":
        raise SystemExit(
            course.autograde(
                args.assignments,
                jobs=args.jobs,
                student=args.student,
                again=args.again,
                scheduler=args.scheduler or None,
            )
        )
    if args.command == "feedback":
        raise SystemExit(course.feedback(args.assignments))
    for assignment in args.assignments:
        for student in course.students(assignment):
            folder = course.submitted / student / assignment
            try:
                screen_before_nbgrader(screen, folder, course.grading)
            except Exception as error:  # that student's alone: the others are still screened
                print(
                    f"screen: {folder} could not be screened ({type(error).__name__}: {error}); "
                    "nbgrader's screen tries again, and names it if it fails",
                    file=sys.stderr,
                )


def screen_before_nbgrader(screen, folder: Path, grading: Path) -> None:
    """What a submission needs before nbgrader reads it (nbgrader's own screen, its pre-convert
    hook, does the rest)."""
    from bertlab.autograde.stamps import stamp_submission

    # A folder that is a link (or a link's folder) nbgrader would follow, or a link that leads
    # nowhere it would skip in silence: the screen replaces it by a real folder.
    links = folder.is_symlink() or folder.parent.is_symlink()
    if links or not folder.is_dir() or not any(folder.glob("*.ipynb")):
        screen.screen(folder)  # which stamps it too
        print(f"screened {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")
        return
    # nbgrader reads timestamp.txt before its pre-convert hook runs, and a garbage one stops it:
    # each folder says the grader's collection time first. A note for the student (their own
    # timestamp.txt said otherwise) goes into their notebooks now: by the time nbgrader's screen
    # runs, timestamp.txt no longer differs.
    note = stamp_submission(folder, grading)
    if note:
        screen.screen(folder, notes=[note])


def set_aside_bad_ids(submitted: Path, rejected: Path) -> list[str]:
    """Move, whole, each entry of `submitted` whose name is no student id (anything but a plain
    file, which nbgrader never takes for a student) to `rejected`/bad-ids/<n>/submission, with a
    NOTE.txt there saying what it was called and how to grade it; one line for each, to print.
    Names are read as bytes: one that is not UTF-8 is moved like any other."""
    lines = []
    if not submitted.is_dir():
        return lines
    for name in sorted(os.listdir(os.fsencode(submitted))):
        path = os.path.join(os.fsencode(submitted), name)
        if is_student_id(name) or stat.S_ISREG(os.lstat(path).st_mode):
            continue
        kept = _new_numbered_folder(rejected / BAD_IDS)
        os.rename(path, os.fsencode(kept / "submission"))  # the entry itself, never followed
        note = (
            f"This was the folder {shown(name)} of {submitted}. It was set aside, not graded: "
            f"its name is not a student id, which is {RULE}. The name of a submitted folder is "
            "given to nbgrader and becomes part of paths, patterns and grades.csv.\n\n"
            "To grade it: rename it to the student's id by that rule, put it back in "
            "grading/submitted/ and run make autograde again:\n\n"
            f"    mv {kept / 'submission'} {submitted / '<student id>'}\n"
        )
        (kept / "NOTE.txt").write_text(note, encoding="utf-8")  # shown(): no surrogate in it
        lines.append(
            f"set aside {shown(name)} of {submitted}, not a student id: it is in {kept}/ (its "
            "NOTE.txt says how to grade it)"
        )
    return lines


def _new_numbered_folder(parent: Path) -> Path:
    """A new, empty folder `parent`/<n> for the first n = 1, 2, ... not yet taken."""
    parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        try:
            os.mkdir(parent / str(n), 0o755)
            return parent / str(n)
        except FileExistsError:
            n += 1


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


def submission_digest(folder: Path) -> str | None:
    """A sha256 of what `folder` holds, or None if it is no real folder: for every entry under it,
    in name order, its name relative to `folder` (bytes), its kind, and for a plain file its size
    and content's sha256, for a link the text it points to (no link is followed). The top
    timestamp.txt is left out: the grader writes it (stamps.py). Dates are left out: a student
    sets them at will (2099), and a copy changes them. A stack, not recursion: a student chooses
    how deep their folders go; a path too long to open is counted as unreadable."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return None
    except FileNotFoundError:
        return None
    digest = hashlib.sha256()
    top = os.fsencode(folder)
    stack = [b""]  # folders still to list, relative to `folder`
    while stack:
        relative = stack.pop()
        try:
            names = sorted(os.listdir(os.path.join(top, relative) if relative else top))
        except OSError as error:
            digest.update(b"unreadable folder\0" + relative + f"\0{error.errno}\0".encode())
            continue
        for name in names:
            if not relative and name == b"timestamp.txt":
                continue
            entry = os.path.join(relative, name) if relative else name
            digest.update(entry + b"\0")
            try:
                info = os.lstat(os.path.join(top, entry))
            except OSError as error:
                digest.update(f"unreadable {error.errno}\0".encode())
                continue
            digest.update(f"{stat.S_IFMT(info.st_mode)}\0".encode())
            if stat.S_ISDIR(info.st_mode):
                stack.append(entry)
            elif stat.S_ISLNK(info.st_mode):
                digest.update(os.readlink(os.path.join(top, entry)) + b"\0")
            elif stat.S_ISREG(info.st_mode):
                digest.update(f"{info.st_size}\0".encode() + _file_sha256(os.path.join(top, entry)))
    return digest.hexdigest()


def _file_sha256(path: bytes) -> bytes:
    """The sha256 of a plain file, opened without following a link or waiting on a pipe."""
    content = hashlib.sha256()
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        return f"unreadable {error.errno}".encode()
    with os.fdopen(descriptor, "rb") as file:
        while chunk := file.read(1 << 20):
            content.update(chunk)
    return content.digest()


def _read_record(path: Path) -> str:
    """A record the grader wrote (grading/graded/), or "" if there is none."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        return ""


def _write_record(path: Path, text: str) -> None:
    """Write a record of the grader's as a new file, renamed into place (a run stopped half-way
    leaves the old record, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    temporary.write_text(text + "\n", encoding="ascii")
    os.replace(temporary, path)


class Course:
    """The grading folders of a course (as its nbgrader config names them), and nbgrader run on
    the submissions that need it."""

    def __init__(self, config, nbgrader: str):
        from nbgrader.coursedir import CourseDirectory

        course = CourseDirectory(config=config)  # as in check_assignments
        root = self.root = Path(course.root).resolve()
        self.db_url = course.db_url
        self.submitted = root / course.submitted_directory
        self.autograded = root / course.autograded_directory
        self.feedback_folder = root / course.feedback_directory
        self.grading = self.submitted.parent  # grading/: the grader's own records beside
        self.graded = self.grading / "graded"
        self.nbgrader = nbgrader

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """nbgrader with these arguments; its output is passed on once it has finished (so that
        students graded side by side do not interleave theirs)."""
        result = subprocess.run(
            f"{self.nbgrader} {shlex.join(args)}",
            shell=True,
            capture_output=True,
            text=True,
            errors="backslashreplace",  # a byte that is not UTF-8 in its output is shown, not fatal
        )
        sys.stdout.write(result.stdout)
        sys.stderr.write(result.stderr)
        return result

    def students(self, assignment: str) -> list[str]:
        """The students who handed in `assignment`: folders named by a student id only (the
        others are set aside before grading; see `set_aside_bad_ids`)."""
        if not self.submitted.is_dir():
            return []
        return sorted(
            name
            for name in os.listdir(self.submitted)
            if is_student_id(name) and os.path.lexists(self.submitted / name / assignment)
        )

    def graded_record(self, assignment: str, student: str) -> Path:
        return self.graded / student / f"{assignment}.sha256"

    def check_student(self, student: str, assignments: list[str]) -> None:
        """Raise ValueError unless `student` handed in at least one of `assignments`."""
        if not any(student in self.students(assignment) for assignment in assignments):
            raise ValueError(
                f"{student} handed in none of {', '.join(assignments)} (no folder "
                f"{self.submitted / student / assignments[0]})"
            )

    def needs_grading(self, assignment: str, student: str) -> bool:
        """Not graded yet, or its content changed since it was last graded (dates do not count)."""
        record = _read_record(self.graded_record(assignment, student)).split()
        if not record or not (self.autograded / student / assignment).is_dir():
            return True
        return submission_digest(self.submitted / student / assignment) != record[0]

    @contextlib.contextmanager
    def grading_lock(self, assignment: str, student: str):
        """Held while a grader grades `student`'s `assignment`: a lock on a file beside its record
        (flock, which NFS passes on as a lock of the server's), so that a grader on another
        process or machine waits rather than grade the same submission at the same time."""
        path = self.graded / student / f".{assignment}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # (which releases the lock)

    def record_grading(self, assignment: str, student: str) -> None:
        """Record that `student`'s `assignment` has its grade: the submission as it was graded,
        after the screen set it right (handed in again unchanged, it is not graded again), and a
        random part that tells this grading from the last one, for the feedback."""
        digest = submission_digest(self.submitted / student / assignment)
        _write_record(self.graded_record(assignment, student), f"{digest} {secrets.token_hex(8)}")

    def autograde(
        self,
        assignments: list[str],
        jobs: int = 1,
        student: str | None = None,
        again: bool = False,
        scheduler: str | None = None,
    ) -> int:
        """Grade what needs grading (see the module docstring), a task per submission on `jobs`
        warm worker processes here or on the Dask cluster at `scheduler` (cluster.py); 0 if every
        submission of the assignments (or the student's) has its grade afterwards, else 1. A
        student who handed in none of them is a ValueError (check_student)."""
        from bertlab.autograde.cluster import Graded, grade_all, print_result

        if student is not None:
            self.check_student(student, assignments)
        submissions = [
            (a, s) for a in assignments for s in self.students(a) if student in (None, s)
        ]
        to_grade = [(a, s) for a, s in submissions if again or self.needs_grading(a, s)]
        results = grade_all(
            self.root,
            self.db_url,
            to_grade,
            jobs=jobs,
            scheduler=scheduler,
            again=again,
            report=print_result,
        )
        failed = [
            f"{s} ({a})"
            for (a, s), result in results.items()
            if not (isinstance(result, Graded) and result.success)
        ]
        ungraded = [
            f"{s} ({a})"
            for a, s in submissions
            if f"{s} ({a})" not in failed and self.needs_grading(a, s)
        ]
        skipped = sum(isinstance(r, Graded) and r.skipped for r in results.values())
        print(
            f"autograde: {len(to_grade) - len(failed) - skipped} graded now, "
            f"{len(submissions) - len(to_grade) + skipped} already graded and unchanged"
        )
        if failed or ungraded:
            print(
                "autograde: no grade for "
                + ", ".join(sorted(failed) + ungraded)
                + ": nbgrader's output for each is above; fix and run make autograde again",
                file=sys.stderr,
            )
            return 1
        return 0

    def feedback(self, assignments: list[str]) -> int:
        """Feedback for each graded submission whose feedback is missing or was made before its
        latest grading (the records of grading/graded/, not dates)."""
        status = 0
        for assignment in assignments:
            graded = sorted(
                name
                for name in (os.listdir(self.autograded) if self.autograded.is_dir() else [])
                if is_student_id(name) and (self.autograded / name / assignment).is_dir()
            )

            def made_for(student):  # the grading record the feedback was made for, or None
                if not (self.feedback_folder / student / assignment).is_dir():
                    return None
                return _read_record(self.graded / student / f"{assignment}.feedback")

            stale = [
                s for s in graded if made_for(s) != _read_record(self.graded_record(assignment, s))
            ]
            for student in stale:  # nbgrader, not forced, makes the missing ones and skips the rest
                remove_entry(self.feedback_folder / student / assignment)
            if stale and self.run("generate_feedback", assignment).returncode != 0:
                status = 1
            for student in stale:
                folder = self.feedback_folder / student / assignment
                if folder.is_dir():
                    # The page's MathJax beside it (one shared copy, hard-linked), in place of
                    # anything of that name nbgrader copied from the submission.
                    install_assets(folder, self.feedback_folder.parent / "feedback-assets")
                    record = _read_record(self.graded_record(assignment, student))
                    _write_record(self.graded / student / f"{assignment}.feedback", record)
            print(f"feedback: {len(stale)} made for {assignment}")
        return status


if __name__ == "__main__":
    main()
