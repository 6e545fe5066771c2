"""Stage 1, the screen (nbgrader's pre-convert hook): before nbgrader reads a submission, every
file of it is seen as it is, what cannot be graded safely is set aside in grading/rejected/, and
every notebook of the assignment is made readable, with the nbgrader metadata the gradebook has.

Every byte from a student is hostile. nbgrader follows links everywhere (`glob`, `open`,
`shutil.copy`), so the screen looks at each entry with `os.lstat` and never reads, copies or
writes through a link: a symbolic link, a named pipe, a device or a socket is moved aside
(`os.rename` moves the entry itself), so nbgrader never meets it.

A file name is the student's too: it is listed as bytes, and one that is not UTF-8 text or holds a
control character (a newline) is set aside under a name of the grader's; every name a note quotes
is shown escaped (bertlab.autograde.ids.shown), as plain text and not as HTML or Markdown. Nothing
here recurses on what a student handed in: folders are walked with a stack of their own, and one
nested deeper than `MAX_DEPTH` is set aside whole, unread.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from bertlab.autograde.ids import is_showable, is_student_id, shown
from bertlab.autograde.metadata import normalise_metadata, put_back_missing_cells, released_cells
from bertlab.autograde.stamps import stamp_submission

NOTE_FILE = (
    "GRADING-NOTE.txt"  # in grading/rejected/<student>/<assignment>/: what was set aside and why
)
TIMESTAMP = "timestamp.txt"  # nbgrader's record of when a submission was collected
_READ_FLAGS = (
    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
)  # a FIFO opens without waiting
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Folders inside a submission may nest this deep (the course's exercises need none); a deeper one is
# set aside whole, with one rename, so no walk of the grader's (nor nbgrader's copy) meets the rest.
MAX_DEPTH = 16
# What a file whose name cannot be shown is kept as in rejected/: unreadable-name-1, -2, ...
UNREADABLE_NAME = "unreadable-name"


class ScreenFailed(BaseException):
    """The screen could not finish on a submission. nbgrader catches every Exception a pre-convert
    hook raises, logs it and grades the submission unscreened, which would let a hostile file
    through; this one it does not catch, so grading stops and says which submission and why."""


def _kind(mode: int) -> str | None:
    """What a file that is not a plain file or folder is, in words (None for those two)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return (
        "a symbolic link"
        if stat.S_ISLNK(mode)
        else "a named pipe (FIFO)"
        if stat.S_ISFIFO(mode)
        else "a socket"
        if stat.S_ISSOCK(mode)
        else "a device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a plain file"
    )


# Markdown's backslash, brackets and backquote: escaped, a name makes no link, image or code span.
_MARKDOWN = re.compile(r"([\\\[\]`])")


def _quoted(name, markdown: bool = True) -> str:
    """A file name a student chose, as a note quotes it: escaped by ids.shown (quoted, one line,
    any byte or control character written out); for a notebook's note (`markdown`), which the
    feedback page renders, also as text and not markup: HTML's special characters as entities and
    Markdown's escaped, so that a name makes no tag, link, image or code span."""
    if not markdown:
        return shown(name)
    return _MARKDOWN.sub(r"\\\1", shown(name, html=True))


def _plain_text(note: str) -> str:
    """A note from elsewhere (plain sentences, no markup meant) made text for a notebook's note
    the same way."""
    text = note.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", text)


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size < 2**30 else f"{size / 2**30:.1f} GiB"


class ScreenSubmission:
    """nbgrader's pre-convert hook (`c.Autograde.pre_convert_hook`): before nbgrader reads a
    submission, see every file of it as it is and make every notebook of the assignment readable,
    keeping what it sets aside in `rejected`/<student>/<assignment>/.

    - anything in the submission that is not a plain file or folder (a symbolic link, dangling or
      not, a named pipe, a socket, a device), a plain file with more than one name (a hard link),
      and extra (non-notebook) files over `max_extra_file_bytes` each, `max_extra_bytes` in all
      (apparent sizes: a sparse file counts in full) or `max_extra_files` entries: moved aside,
      never read, so nbgrader neither grades nor copies them;
    - an entry whose name is not UTF-8 text or holds a control character (kept as
      unreadable-name-<n>, its name shown escaped), and a folder nested more than MAX_DEPTH deep
      (moved whole): set aside the same way;
    - a notebook over `max_bytes`, not valid JSON, or not a notebook: moved aside, and the
      untouched exercise from `release` put in its place (it earns 0);
    - a notebook of the assignment missing while exactly one other readable notebook was handed in:
      that one is graded under the right name (the original kept);
    - a notebook missing with nothing to stand for it: the untouched exercise;
    - with `db_url` (the gradebook), each notebook's nbgrader metadata made what the release has
      (`normalise_metadata`), the notebook as handed in kept.

    Each of these is said in a note at the top of the graded notebook, and so of the feedback, with
    the student's timestamp.txt replaced by the grader's collection time (stamps.py); what was set
    aside is also listed in GRADING-NOTE.txt beside it.
    """

    def __init__(
        self,
        *,
        release: str | Path,
        rejected: str | Path,
        max_bytes: int,
        db_url: str | None = None,
        max_extra_file_bytes: int = 1 << 20,
        max_extra_bytes: int = 8 << 20,
        max_extra_files: int = 100,
    ):
        self.release, self.rejected = Path(release), Path(rejected)
        self.max_bytes, self.db_url = max_bytes, db_url
        self.max_extra_file_bytes, self.max_extra_bytes = max_extra_file_bytes, max_extra_bytes
        self.max_extra_files = max_extra_files

    def __call__(self, *, assignment: str, student: str, notebooks: list[str]) -> None:
        # nbgrader passes the command line's patterns ("*" for every student) and the notebooks it
        # found in this submission's folder, grading/submitted/<student>/<assignment>/.
        if notebooks:
            folder = Path(notebooks[0]).parent
            try:
                self.screen(folder)
            except Exception as error:
                raise ScreenFailed(
                    f"screening {folder} failed, so nothing of it was graded: "
                    f"{type(error).__name__}: {error}"
                ) from error
            notebooks[:] = sorted(
                str(p) for p in folder.glob("*.ipynb")
            )  # what nbgrader goes on to grade

    # --------------------------------------------------------------------------------------------
    # The submission as a whole
    # --------------------------------------------------------------------------------------------

    def screen(self, folder: Path, notes: list[str] = ()) -> None:
        """Set right the submission in `folder` (grading/submitted/<student>/<assignment>/); `notes`
        (plain sentences) are added to the note of every notebook graded."""
        folder = Path(
            os.path.abspath(folder)
        )  # no "..": the student and assignment are the last two names
        student, assignment = folder.parent.name, folder.name
        for name in (student, assignment):
            if name in ("", ".", "..") or os.sep in name:
                raise ValueError(f"{folder} is no grading/submitted/<student>/<assignment> folder")
        self._where = (student, assignment)  # the submission being screened: its place in rejected/
        # (where it is kept, relative to the submission; why; its name if that cannot be shown)
        set_aside: list[tuple[str, str, bytes | None]] = []
        self._make_real_folders(folder, set_aside)
        # The grader's collection time in timestamp.txt, whatever the student's said (stamps.py).
        # Its record is kept by student id: a folder whose name is none is set aside by `python -m
        # bertlab.autograde` before nbgrader sees it, so only nbgrader run by hand meets one here,
        # and then keeps nbgrader's own handling of timestamp.txt.
        general = [_plain_text(note) for note in notes]
        if is_student_id(student):
            stamped = stamp_submission(folder, self.rejected.parent)
            general += [_plain_text(stamped)] if stamped else []
        plain_files = self._walk(folder, set_aside)
        graded = self._notebooks_to_grade(
            folder, assignment, plain_files
        )  # takes them out of plain_files
        self._limit_extra_files(folder, plain_files, set_aside)
        if set_aside:
            general.append(self._record_set_aside(set_aside))
        if general:
            graded = {
                name: (nb, [*general, *notes], in_place)
                for name, (nb, notes, in_place) in graded.items()
            }
        for name, (nb, notes, in_place) in graded.items():
            notes = notes + self._as_released(nb, assignment, name)
            if notes:
                if in_place:
                    self._move_aside(folder / name, name)  # the notebook as handed in is kept
                for note in reversed(notes):
                    nb.cells.insert(0, nbformat.v4.new_markdown_cell(f"**Grading note.** {note}"))
                # A JSON string may hold a lone surrogate ("\\ud800"), which UTF-8 cannot: kept as
                # that escape, so writing the notebook cannot fail.
                data = nbformat.writes(nb).encode("utf-8", "backslashreplace")
                self._write_new(folder / name, data)

    def _make_real_folders(self, folder: Path, set_aside: list) -> None:
        """Make grading/submitted/<student> and <student>/<assignment> real folders: a link (or
        anything else) in their place is moved aside, a missing one made."""
        for path in (folder.parent, folder):
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                mode = None
            if mode is not None and not stat.S_ISDIR(mode):
                self._move_aside(path, path.name)
                why = f"{_kind(mode) or 'a file'} where your folder should be"
                set_aside.append((f"{path.name}/", why, None))
                mode = None
            if mode is None:
                os.mkdir(path, 0o755)

    def _notebooks_to_grade(
        self, folder: Path, assignment: str, plain_files: dict[str, int]
    ) -> dict[str, tuple[NotebookNode, list[str], bool]]:
        """Each notebook of the assignment as it will be graded: {name: (notebook, notes, whether it
        is the student's file, still in place)}. An unreadable one is moved aside and the exercise
        graded; a missing one is the one renamed notebook handed in, or the exercise."""
        expected = sorted(p.name for p in (self.release / assignment).glob("*.ipynb"))
        graded = {}
        for name in expected:
            if name not in plain_files:
                continue
            del plain_files[name]
            nb = self._read_notebook(folder / name)
            if isinstance(nb, str):
                self._move_aside(folder / name, name)
                graded[name] = (
                    self._exercise(assignment, name),
                    [
                        f"The notebook you handed in, {name}, {nb}. It is kept as you sent it, but "
                        "it cannot be graded: in its place the untouched exercise was graded, "
                        "which earns 0 points. Ask your instructor how to hand it in again."
                    ],
                    False,
                )
            else:
                graded[name] = (nb, [], True)

        missing = [name for name in expected if name not in graded]
        others = {}  # the other plain files at the top that are notebooks: one may be a renamed one
        if missing:
            for name, size in sorted(plain_files.items()):
                if "/" not in name and name != TIMESTAMP and size <= self.max_bytes:
                    nb = self._read_notebook(folder / name)
                    if not isinstance(nb, str):
                        others[name] = nb
        if len(missing) == 1 and len(others) == 1:
            (renamed, nb), name = next(iter(others.items())), missing[0]
            self._move_aside(folder / renamed, renamed)
            del plain_files[renamed]
            graded[name] = (
                nb,
                [
                    f"You handed this notebook in as {_quoted(renamed)}; it was graded as {name}, "
                    "the name the exercise has."
                ],
                False,
            )
        else:
            for name in missing:
                found = ", ".join(map(_quoted, others)) or "no other notebook"
                graded[name] = (
                    self._exercise(assignment, name),
                    [
                        f"No notebook named {name} was handed in ({found}). In its place the "
                        "untouched exercise was graded, which earns 0 points."
                    ],
                    False,
                )
        return graded

    def _record_set_aside(self, set_aside: list[tuple[str, str, bytes | None]]) -> str:
        """Write GRADING-NOTE.txt beside what was set aside (UTF-8 text: every name escaped); the
        note for the graded notebook. `set_aside`: (where it is kept, relative to the submission's
        folder in rejected/, why, the name it had if that could not be shown)."""

        def entry(relative, why, original, markdown):
            named = f" {_quoted(original, markdown)}" if original is not None else ""
            return f"{_quoted(relative, markdown)} ({why}{named})"

        def note(markdown):
            first = 20  # the notebook's note names this many; GRADING-NOTE.txt names them all
            listing = "; ".join(entry(*item, markdown) for item in set_aside[:first])
            more = f"; and {len(set_aside) - first} more" if len(set_aside) > first else ""
            return (
                "These files of your submission were set aside, neither graded nor copied into "
                f"your feedback: {listing}{more}. They are kept, untouched, with your instructor. "
                "Hand in plain files (no links) named in UTF-8 text, and extra files of at most "
                f"{_mib(self.max_extra_file_bytes)} each."
            )

        every = "\n".join(
            f"{_quoted(relative, False)}: {why}"
            + (f" {_quoted(original, False)}" if original is not None else "")
            for relative, why, original in set_aside
        )
        text = f"{note(markdown=False)}\n\n{every}\n"
        self._write_new(self._rejected_folder() / NOTE_FILE, text.encode("utf-8"))
        return note(markdown=True)

    def _as_released(self, nb: NotebookNode, assignment: str, name: str) -> list[str]:
        """With the gradebook: `nb`'s nbgrader metadata made the release's and its missing test and
        read-only cells put back, in place; a note per change."""
        from nbgrader.api import MissingEntry

        if not self.db_url:
            return []
        try:
            released = released_cells(
                self.db_url, Path(name).stem, assignment, self.release / assignment / name
            )
        except (
            MissingEntry
        ):  # not in the gradebook: nbgrader skips this notebook ("unknown notebook")
            return []
        return normalise_metadata(nb, released) + put_back_missing_cells(
            nb, self._exercise(assignment, name), released
        )

    def _walk(self, folder: Path, set_aside: list) -> dict[str, int]:
        """Every plain file under `folder` as {path relative to the submission: apparent size},
        seen with lstat, in name order (a folder's files before its next sibling's); every other
        kind of entry, a file whose name cannot be shown, a folder nested deeper than MAX_DEPTH,
        and entries past the count limit, set aside. A stack of folders, not recursion: a student
        chooses how deep their folders go."""
        plain = {}
        budget, unreadable = self.max_extra_files, 0
        # Each folder being listed: (its entries still to see, its path relative to the submission).
        stack = [(iter(sorted(os.listdir(os.fsencode(folder)))), "")]
        while stack:
            entries, prefix = stack[-1]
            raw = next(entries, None)  # a name, as the bytes it is on disk
            if raw is None:
                stack.pop()
                continue
            path = folder / prefix / os.fsdecode(raw)
            original = None if is_showable(raw) else raw
            if original is None:
                relative = prefix + raw.decode("utf-8")
            else:  # kept under a name of the grader's, the student's shown in the notes
                unreadable += 1
                relative = f"{prefix}{UNREADABLE_NAME}-{unreadable}"
            budget -= 1
            info = os.lstat(path)
            kind = _kind(info.st_mode)
            if budget < 0:
                kind = f"more than {self.max_extra_files} files in the submission"
            elif original is not None:
                kind = "its name is not UTF-8 text or holds a control character; it was named"
            elif kind is None and stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                kind = f"a hard link: one of {info.st_nlink} names of the same file"
            elif kind is None and stat.S_ISDIR(info.st_mode):
                if not prefix and raw.endswith(b".ipynb"):
                    kind = "a folder named like a notebook"  # nbgrader would try to read it as one
                elif relative.count("/") >= MAX_DEPTH:  # moved whole, never listed
                    kind = f"folders nested more than {MAX_DEPTH} deep"
            if kind:
                self._move_aside(path, relative)
                set_aside.append((relative, kind, original))
            elif stat.S_ISDIR(info.st_mode):
                stack.append((iter(sorted(os.listdir(os.fsencode(path)))), relative + "/"))
            else:
                plain[relative] = info.st_size
        return plain

    def _limit_extra_files(self, folder: Path, extra: dict[str, int], set_aside: list) -> None:
        """Set aside extra files over the size limits (nbgrader copies each into autograded/ and
        feedback/); within the total, files are kept in name order."""
        total = 0
        for relative, size in sorted(extra.items()):
            if size > self.max_extra_file_bytes:
                limit = _mib(self.max_extra_file_bytes)
                why = f"{_mib(size)}, over the {limit} an extra file may be"
            elif total + size > self.max_extra_bytes:
                limit = _mib(self.max_extra_bytes)
                why = f"the extra files came to over the {limit} they may be in all"
            else:
                total += size
                continue
            self._move_aside(folder / relative, relative)
            set_aside.append((relative, why, None))

    # --------------------------------------------------------------------------------------------
    # Files: seen, read and written without following a link
    # --------------------------------------------------------------------------------------------

    def _read_notebook(self, path: Path) -> NotebookNode | str:
        """The notebook at `path`, or why it cannot be graded as one. The file is opened without
        following a link or waiting on a pipe, checked to be a plain file, and read only up to
        `max_bytes`."""
        try:
            descriptor = os.open(path, _READ_FLAGS)
        except OSError as error:
            return f"cannot be opened ({error.strerror})"
        with os.fdopen(descriptor, "rb") as file:
            info = os.fstat(descriptor)
            if not stat.S_ISREG(info.st_mode):
                return f"is {_kind(info.st_mode)}, not a file"
            if info.st_size > self.max_bytes:
                return (
                    f"is {_mib(info.st_size)}, over the {self.max_bytes / 2**20:.0f} MiB a "
                    "notebook may be (clear its outputs before handing it in)"
                )
            data = file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            return f"is over the {self.max_bytes / 2**20:.0f} MiB a notebook may be"
        try:
            text = data.decode("utf-8")
            json.loads(text)
            nb = nbformat.reads(text, as_version=4)
            nbformat.validate(nb)
        except json.JSONDecodeError as error:
            return f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        except UnicodeDecodeError:
            return "is not text (not UTF-8)"
        except Exception as error:
            why = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            return f"is not a Jupyter notebook ({why})"
        return nb

    def _exercise(self, assignment: str, name: str) -> NotebookNode:
        """The untouched exercise (the instructor's release folder, which no student writes to)."""
        return nbformat.read(self.release / assignment / name, as_version=4)

    def _rejected_folder(self, relative_folder: str = "") -> Path:
        """grading/rejected/<student>/<assignment>/[relative_folder], made of real folders only: an
        entry in the way (something set aside earlier under that name) is itself moved aside."""
        path = self.rejected
        path.mkdir(parents=True, exist_ok=True)  # the instructor's
        for name in [*self._where, *filter(None, relative_folder.split("/"))]:
            path = path / name
            try:
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    continue
                os.rename(path, self._free_name(path))
            except FileNotFoundError:
                pass
            os.mkdir(path, 0o755)
        return path

    @staticmethod
    def _free_name(path: Path) -> Path:
        """`path`, or, if something is there, the first free `path`.<n>."""
        candidate, n = path, 0
        while os.path.lexists(candidate):
            n += 1
            candidate = path.with_name(f"{path.name}.{n}")
        return candidate

    def _move_aside(self, path: Path, relative: str) -> None:
        """Move the entry `path` itself (a link, not what it points to; a sparse file stays sparse)
        to grading/rejected/<student>/<assignment>/<relative>. grading/ is one filesystem."""
        parent, _, name = relative.rpartition("/")
        keep = self._rejected_folder(parent) / name
        if os.path.lexists(keep):  # an earlier rejection of the same name stays too
            os.rename(keep, self._free_name(keep.with_name(f"{name}.{int(time.time())}")))
        os.rename(path, keep)

    @staticmethod
    def _write_new(path: Path, data: bytes) -> None:
        """Write `data` to `path` as a new plain file: created under a fresh temporary name
        (O_EXCL, O_NOFOLLOW: never through a link or into an existing file), then renamed over
        `path`, which replaces whatever entry was there without writing through it."""
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.screen")
        descriptor = os.open(temporary, _CREATE_FLAGS, 0o644)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
