"""When a submission was collected: the one time grades.csv and late penalties go by.

A submission's own `timestamp.txt` is written by whoever made the folder, and so by the student
when the folder comes from them: `2000-01-01` (never late), garbage (nbgrader crashes parsing it)
or `2099-...` (newer than any grade, so graded again by every `make autograde`). The grader keeps
its own record instead, one small file per student and assignment:

    grading/collected/<student>/<assignment>.txt      an ISO 8601 time in UTC

written by `make collect` when it collects an upload (`record_collection`) or, for a folder that
came another way, by the screen the first time it sees the folder (`stamp_submission`, which
records *now*). `stamp_submission` then makes the submission's `timestamp.txt` say that time, in
nbgrader's format, so nbgrader reads the grader's time and never the student's.

`student` and `assignment` are expected to be checked already (bertlab.autograde.ids and the
course's assignment names); they are checked again here, as they become path parts.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from bertlab.autograde.ids import check_student_id, shown

# nbgrader's own format for timestamp.txt (nbgrader.utils.parse_utc reads it back).
NBGRADER_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"
TIMESTAMP_FILE = "timestamp.txt"
# An assignment is a folder name of solutions/ ("01_input_embeddings").
ASSIGNMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
# A student's timestamp.txt is read only this far: it is shown in a note, never trusted.
MAX_STUDENT_STAMP = 4096


def _check_assignment(assignment: str) -> str:
    if not (isinstance(assignment, str) and ASSIGNMENT.fullmatch(assignment)) or ".." in assignment:
        raise ValueError(f"{shown(str(assignment))} is not an assignment name")
    return assignment


def _utc(when: datetime) -> datetime:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"collection time {when!r} has no time zone: give an aware datetime (UTC)")
    return when.astimezone(timezone.utc)


def record_path(grading: Path, student: str, assignment: str) -> Path:
    """Where the collection time of `student`'s `assignment` is kept."""
    check_student_id(student)
    return Path(grading) / "collected" / student / f"{_check_assignment(assignment)}.txt"


def _write_new_file(folder: Path, name: str, text: str) -> None:
    """`folder/name` made a new plain file holding `text`, replacing whatever entry had that name
    (a file, a link, a folder): written under a fresh name with O_EXCL | O_NOFOLLOW, then renamed
    over the old entry, so a link planted there is replaced, never written through."""
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".stamp-", suffix=".tmp")  # O_EXCL
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, folder / name)  # a link or file of that name replaced, not followed
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _real_folder(path: Path) -> Path:
    """`path` as a folder, made if missing; an error if it (or a part of it) is a link."""
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise ValueError(f"{path} is a link or not a folder: the grader's records are in folders")
    return path


def record_collection(grading: Path, student: str, assignment: str, when: datetime) -> None:
    """Record `when` (tz-aware; kept in UTC) as the time `student`'s `assignment` was collected,
    replacing an earlier record (a newer attempt collected)."""
    path, text = record_path(grading, student, assignment), _utc(when).isoformat() + "\n"
    folder = _real_folder(Path(grading) / "collected")
    folder = _real_folder(folder / student)
    _write_new_file(folder, path.name, text)


def collection_time(grading: Path, student: str, assignment: str) -> datetime | None:
    """The recorded collection time (UTC), or None when none is recorded (or the record is not a
    plain file holding an ISO 8601 time: it is the grader's, so it is then treated as missing)."""
    path = record_path(grading, student, assignment)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as file:
        raw = file.read(200)
    try:
        return _utc(datetime.fromisoformat(raw.decode("ascii").strip()))
    except (UnicodeDecodeError, ValueError):
        return None


def nbgrader_time(when: datetime) -> str:
    """`when` as nbgrader writes a timestamp.txt: '2026-12-06 22:59:15.000000 UTC'."""
    return _utc(when).strftime(NBGRADER_FORMAT)


def _student_stamp(folder: Path) -> str | None:
    """What the submission's own timestamp.txt says, as the note shows it (its first 100
    characters, quoted and escaped), or None if it has none."""
    path = folder / TIMESTAMP_FILE
    try:
        # O_NONBLOCK: a pipe named timestamp.txt must not hang the grader.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:  # a link (O_NOFOLLOW), or what cannot be opened
        return "a link or special file, not a plain file"
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return "a folder or special file, not a plain file"
    with os.fdopen(fd, "rb") as file:
        text = file.read(MAX_STUDENT_STAMP).strip().decode("utf-8", errors="surrogateescape")
    return shown(text[:100])


def stamp_submission(folder: Path, grading: Path) -> str | None:
    """Make `folder` (grading/submitted/<student>/<assignment>/) say, in its timestamp.txt, the
    grader's collection time: the recorded one, or *now* recorded as it (the first time the grader
    saw the folder). Whatever entry was called timestamp.txt (the student's file, a link, a
    folder) is replaced by a new plain file. Returns a one-line note for the student when their
    own timestamp.txt said something else, else None."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"{folder} is a link or not a folder: a submission is a plain folder")
    assignment, student = folder.name, folder.parent.name
    when = collection_time(grading, student, assignment)
    if when is None:
        when = datetime.now(timezone.utc)
        record_collection(grading, student, assignment, when)
    ours = nbgrader_time(when)
    theirs = _student_stamp(folder)
    entry = folder / TIMESTAMP_FILE
    if entry.is_dir() and not entry.is_symlink():
        # A file cannot replace a folder by rename, and the student's folder (however deep) is
        # not deleted: it is moved where the screen keeps what it sets aside.
        aside = Path(grading) / "rejected" / student / assignment
        aside.mkdir(parents=True, exist_ok=True)
        os.rename(entry, tempfile.mkdtemp(dir=aside, prefix=f"{TIMESTAMP_FILE}-folder-"))
    _write_new_file(folder, TIMESTAMP_FILE, ours + "\n")
    if theirs is None or theirs == shown(ours):
        return None
    return (
        f"Your timestamp.txt was {theirs}; the grader uses the time it collected your work, "
        f"{ours}, and has written that instead."
    )
