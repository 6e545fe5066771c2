"""`make collect`: an LMS export (a zip of the students' uploads) into grading/submitted/.

    python -m bertlab.autograde.collect ASSIGNMENT EXPORT.zip...

An export is a zip whose entries are uploads, each named by the LMS, at the top of the export:

    <student_id>_<anything>_<notebook>.ipynb    one notebook (nbgrader's usual naming)
    <student_id>_<anything>.zip                 the student's folder, zipped (Canvas, Moodle)

The student id is everything before the first "_" of the entry's name, and nothing else: never a
file name inside an upload (the student chose those). It must pass bertlab.autograde.ids.

Every upload is hostile and is judged on its own. One that breaks a rule is set aside: its bytes
are copied to grading/rejected/collect/<assignment>/ and a line of the NOTE file there says which
upload it was and why; everyone else is still collected, and the command exits 0 with a summary.
An upload is set aside when

- its name is not one of the two above, its id breaks the id rule, or its notebook is not this
  assignment's;
- it is over the bounds (`Limits`), checked on the zip's central directory before anything is
  extracted and again on the bytes actually read (a header may lie): entries, bytes of each entry
  and in all, compression ratio;
- an entry of an uploaded zip is a link (or another special file), an absolute or `..` path, a
  name that is not UTF-8 or not showable, a nested archive (by its name or by its first bytes),
  or is named for another assignment or for another student (a path part that is the id, starts
  with "<id>_" or has the id for its stem, ignoring case, for any other student of the export or
  already in grading/submitted/);
- it is an earlier attempt: of a student's uploads, the one with the latest LMS time (the export
  entry's date) is collected, a tie going to the later entry of the export (when that one is
  refused, no earlier one takes its place: both are set aside, for the instructor to decide);
  and a newer export replaces a collected attempt only if its LMS time is later than the
  collected one's (recorded in grading/collected/<student>/<assignment>.upload.json).

A collected upload is written with O_EXCL | O_NOFOLLOW into a fresh folder inside
grading/submitted/<student>/, then renamed to grading/submitted/<student>/<assignment>/; an attempt
collected before is first moved to grading/rejected/collect/<assignment>/replaced/, never lost.
The collection time is recorded (bertlab.autograde.stamps): the only time grades and late
penalties go by. A student's own timestamp.txt is left for the screen, which replaces it by that
time and tells the student (stamps.stamp_submission).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from bertlab.autograde.ids import is_showable, is_student_id, shown
from bertlab.autograde.stamps import record_collection

MiB = 1 << 20
CHUNK = 64 << 10  # bytes read from a zip at a time: memory stays small whatever an entry holds

# The LMS's names of the uploads (see the module's docstring); the id is checked by ids.
NOTEBOOK_UPLOAD = re.compile(r"(?P<student>[^_]*)_(?:.*_)?(?P<notebook>\d\d_[a-z_]+)\.ipynb", re.S)
ZIP_UPLOAD = re.compile(r"(?P<student>[^_]*)_.*\.zip", re.S | re.I)

# An archive inside an upload: by the end of its name, or by its first bytes.
ARCHIVE_SUFFIXES = tuple(
    ".zip .tar .gz .tgz .bz2 .tbz .xz .txz .zst .7z .rar .jar .whl .egg .lz .lzma .z .cab .ar "
    ".cpio .iso .xpi .apk".split()
)
ARCHIVE_MAGIC = (
    b"PK\x03\x04",  # zip (and jar, whl, docx...)
    b"PK\x05\x06",  # an empty zip
    b"PK\x07\x08",  # a split zip
    b"\x1f\x8b",  # gzip
    b"BZh",  # bzip2
    b"\xfd7zXZ\x00",  # xz
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"Rar!\x1a\x07",  # RAR
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x5d\x00\x00",  # lzma
    b"LZIP",  # lzip
    b"\x1f\x9d",  # compress (.Z)
    b"!<arch>\n",  # ar
    b"070707",  # cpio
    b"070701",  # cpio
    b"MSCF",  # cab
)
TAR_MAGIC_OFFSET = 257  # "ustar" there marks a tar file
# A zip's end record lies in its last 22 bytes plus a comment of at most 65535 bytes.
END_RECORD_SEARCH = 22 + 65535
# Each entry of a zip's central directory: 46 bytes and its name (and extras and comment); a name
# of a file a student made rarely runs past a few hundred bytes.
DIRECTORY_BYTES_PER_ENTRY = 512


@dataclass(frozen=True)
class Limits:
    """How much an export and each upload may hold. An upload over a limit is set aside; the
    export itself over its limits is refused whole (the instructor splits it)."""

    export_bytes: int = 4 << 30  # the export file
    export_entries: int = 10_000  # uploads in the export
    export_total: int = 8 << 30  # bytes of all uploads within their own limits, uncompressed
    upload_bytes: int = 64 * MiB  # one upload as stored in the export, uncompressed
    entries: int = 200  # entries of an uploaded zip
    entry_bytes: int = 16 * MiB  # one file (the screen's limit for a notebook)
    total_bytes: int = 32 * MiB  # all files of one upload
    ratio: int = 100  # uncompressed : compressed, for an entry over ratio_above bytes
    ratio_above: int = 1 * MiB
    depth: int = 16  # folders inside an upload
    set_aside_bytes: int = 64 * MiB  # at most this much of a set-aside upload is copied


# What reading a damaged or hostile zip entry raises (a bad checksum or header, an unknown
# compression, an encrypted entry, a seek outside the file).
UNREADABLE = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)


class Refused(Exception):
    """An upload breaks a rule; the message says which, for the NOTE and the summary."""


@dataclass
class Upload:
    """One entry of an export: a student's upload, as the LMS named and dated it."""

    export: Path
    info: zipfile.ZipInfo
    index: int  # its place in the export (a tie of LMS times goes to the later one)
    name: str = ""  # the entry's name (raw bytes decoded with surrogate escapes if not UTF-8)
    student: str | None = None
    kind: str = ""  # "notebook" or "zip"
    notebook: str = ""  # the notebook's name, for a notebook upload
    refused: str | None = None

    @property
    def lms_time(self) -> datetime:
        return datetime(*self.info.date_time)

    def describe(self) -> str:
        return f"{self.export.name} entry {shown(self.name)}"


@dataclass
class Summary:
    collected: list[str] = field(default_factory=list)
    set_aside: list[tuple[str, str]] = field(default_factory=list)  # (upload, reason)

    def lines(self) -> list[str]:
        lines = [f"collected {len(self.collected)}: {', '.join(self.collected) or '-'}"]
        lines.append(f"set aside {len(self.set_aside)}" + (":" if self.set_aside else ""))
        lines += [f"  {upload}: {reason}" for upload, reason in self.set_aside]
        return lines


# ------------------------------------------------------------------------------------------------
# Names and bounds


def raw_name(info: zipfile.ZipInfo) -> bytes:
    """The entry's name as the zip stores it: zipfile decodes a name without the UTF-8 flag as
    cp437, which turns any bytes into some text; encoding it back gives the bytes."""
    if info.flag_bits & 0x800:
        return info.orig_filename.encode("utf-8")
    return info.orig_filename.encode("cp437")


def readable_name(info: zipfile.ZipInfo) -> str:
    """The name as text: UTF-8 where it is, the bytes escaped (surrogates) where not."""
    return raw_name(info).decode("utf-8", errors="surrogateescape")


def check_name_bytes(info: zipfile.ZipInfo) -> str:
    raw = raw_name(info)
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(f"entry {shown(raw)} has a name that is not UTF-8") from None
    if not is_showable(name):
        raise Refused(f"entry {shown(raw)} has a name with control characters")
    return name


def check_sizes(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """The bounds of an uploaded zip, from its central directory (before anything is read)."""
    if len(infos) > limits.entries:
        raise Refused(f"{len(infos)} entries, more than {limits.entries}")
    total = 0
    for info in infos:
        check_entry_size(info, info.file_size, limits)
        total += info.file_size
    if total > limits.total_bytes:
        raise Refused(f"{total} bytes uncompressed, more than {limits.total_bytes}")


def check_entry_size(info: zipfile.ZipInfo, size: int, limits: Limits, bound=None) -> None:
    """`size` bytes (declared, or read so far) of the entry within the bounds."""
    bound = limits.entry_bytes if bound is None else bound
    if size > bound:
        raise Refused(f"entry {shown(readable_name(info))} holds over {bound} bytes")
    compressed = max(info.compress_size, 1)
    if size > limits.ratio_above and size > limits.ratio * compressed:
        raise Refused(
            f"entry {shown(readable_name(info))} expands over {limits.ratio}:1 "
            f"({compressed} bytes to {size}): a zip bomb"
        )


def read_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, bound=None):
    """The entry's bytes, CHUNK at a time, counted as they come: a header that lies about the
    size does not let more through than the bounds allow."""
    read = 0
    try:
        with archive.open(info) as entry:
            while chunk := entry.read(CHUNK):
                read += len(chunk)
                check_entry_size(info, read, limits, bound)
                yield chunk
    except UNREADABLE as error:
        raise Refused(f"entry {shown(readable_name(info))} cannot be read: {error}") from None


def is_archive(first_bytes: bytes) -> bool:
    return first_bytes.startswith(ARCHIVE_MAGIC) or (
        first_bytes[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar"
    )


def named_for(part: str, students: set[str]) -> str | None:
    """The other student a path part is named for, if any: the part is the id, starts with
    "<id>_" (the LMS's naming), or its stem is the id (compared ignoring case)."""
    folded = part.casefold()
    stem = folded.rsplit(".", 1)[0]
    for student in students:
        other = student.casefold()
        if folded == other or stem == other or folded.startswith(other + "_"):
            return student
    return None


# ------------------------------------------------------------------------------------------------
# Writing


def write_new_file(path: Path, chunks) -> int:
    """A new plain file (O_EXCL | O_NOFOLLOW: never through a link, never over another) with the
    chunks' bytes; returns how many."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    written = 0
    with os.fdopen(fd, "wb") as file:
        for chunk in chunks:
            file.write(chunk)
            written += len(chunk)
    return written


def plain_folder(path: Path) -> Path:
    """`path` made a folder if missing; an error if it is a link or not a folder."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(path)
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise Refused(f"{path} is a link or not a folder")
    return path


class Collector:
    """Collects the uploads of one or more exports for one assignment of a course folder."""

    def __init__(self, course: Path, assignment: str, limits: Limits = Limits()):
        self.course = Path(course)
        self.assignment = assignment
        self.limits = limits
        self.grading = self.course / "grading"
        self.assignments = self.course_assignments()
        if assignment not in self.assignments:
            raise ValueError(
                f"{shown(assignment)} is not an assignment of {self.course / 'exercises'}: one of "
                f"{', '.join(sorted(self.assignments)) or '(none)'}; run make release first"
            )
        self.notebooks = {p.stem for p in (self.course / "exercises" / assignment).glob("*.ipynb")}
        self.rejected = self.grading / "rejected" / "collect" / assignment
        self.started = datetime.now(timezone.utc)
        self.summary = Summary()

    def course_assignments(self) -> set[str]:
        return {
            p.name
            for folder in ("exercises", "solutions")
            if (self.course / folder).is_dir()
            for p in (self.course / folder).iterdir()
            if p.is_dir() and not p.name.startswith(".")
        }

    # -- the export ------------------------------------------------------------------------------

    def open_export(self, export: Path) -> zipfile.ZipFile:
        """The export opened and its own bounds checked: an error here is the instructor's (a
        wrong file, an export to split), so it stops the command before anything is written."""
        export = Path(export)
        if not export.is_file():
            raise FileNotFoundError(f"{export} does not exist: give the LMS's export (a .zip)")
        if export.stat().st_size > self.limits.export_bytes:
            raise ValueError(
                f"{export} is over {self.limits.export_bytes} bytes: download it in parts"
            )
        with open(export, "rb") as file:
            directory = central_directory_bytes(file)
        if directory is None:
            raise ValueError(f"{export} is not a zip file: give the LMS's export")
        if directory > self.limits.export_entries * DIRECTORY_BYTES_PER_ENTRY:
            raise ValueError(
                f"{export}'s list of uploads is {directory} bytes: download it in parts"
            )
        try:
            archive = zipfile.ZipFile(export)
        except zipfile.BadZipFile as error:
            message = f"{export} is not a zip file ({error}): give the LMS's export"
            raise ValueError(message) from None
        uploads = [i for i in archive.infolist() if not i.is_dir()]
        if len(uploads) > self.limits.export_entries:
            raise ValueError(
                f"{export} holds {len(uploads)} uploads, more than {self.limits.export_entries}: "
                "download it in parts"
            )
        total = sum(i.file_size for i in uploads if i.file_size <= self.limits.upload_bytes)
        if total > self.limits.export_total:
            raise ValueError(
                f"{export}'s uploads hold {total} bytes, more than {self.limits.export_total}: "
                "download it in parts"
            )
        return archive

    def uploads(self, export: Path, archive: zipfile.ZipFile) -> list[Upload]:
        """Each upload with its student and kind, or the reason it is refused by its name."""
        uploads = []
        for index, info in enumerate(archive.infolist()):
            if info.is_dir():
                continue
            upload = Upload(export, info, index, name=readable_name(info))
            try:
                self.identify(upload)
            except Refused as refusal:
                upload.refused = str(refusal)
            uploads.append(upload)
        return uploads

    def identify(self, upload: Upload) -> None:
        name = check_name_bytes(upload.info)
        if "/" in name or "\\" in name:
            raise Refused("not at the top of the export: an LMS names each upload there")
        if match := NOTEBOOK_UPLOAD.fullmatch(name):
            upload.kind, upload.notebook = "notebook", match["notebook"]
        elif match := ZIP_UPLOAD.fullmatch(name):
            upload.kind = "zip"
        else:
            raise Refused(
                "not named <student_id>_<anything>_<notebook>.ipynb or <student_id>_<anything>.zip"
            )
        if not is_student_id(match["student"]):
            raise Refused(f"{shown(match['student'])} is not a student id (bertlab.autograde.ids)")
        upload.student = match["student"]
        if upload.kind == "notebook" and upload.notebook not in self.notebooks:
            other = " (another assignment's)" if upload.notebook in self.assignments else ""
            raise Refused(
                f"notebook {upload.notebook}.ipynb{other} is not one of {self.assignment}'s: "
                f"{', '.join(sorted(self.notebooks))}"
            )
        info = upload.info
        if info.file_size > self.limits.upload_bytes:
            raise Refused(f"{info.file_size} bytes, more than {self.limits.upload_bytes}")
        if upload.kind == "notebook":
            check_entry_size(info, info.file_size, self.limits)

    def submitted_students(self) -> set[str]:
        folder = self.grading / "submitted"
        if not folder.is_dir():
            return set()
        return {p.name for p in folder.iterdir() if is_student_id(p.name)}

    # -- each upload -----------------------------------------------------------------------------

    def collect(self, exports: list[Path]) -> Summary:
        """Collect every export in turn (a later export's attempt replaces an earlier one's only
        if the LMS dated it later). Every export is opened and checked before any is collected."""
        return self.collect_opened([(Path(e), self.open_export(e)) for e in exports])

    def collect_opened(self, archives: list[tuple[Path, zipfile.ZipFile]]) -> Summary:
        for export, archive in archives:
            with archive:
                self.collect_export(export, archive)
        return self.summary

    def collect_export(self, export: Path, archive: zipfile.ZipFile) -> None:
        uploads = self.uploads(export, archive)
        # The students an entry inside an upload must not be named for: the export's, and those
        # collected before.
        students = {u.student for u in uploads if u.refused is None} | self.submitted_students()
        # A student's latest attempt by the LMS's time; a tie goes to the later entry.
        latest: dict[str, Upload] = {}
        for upload in uploads:
            if upload.refused is None:
                best = latest.get(upload.student)
                if best is None or (upload.lms_time, upload.index) > (best.lms_time, best.index):
                    latest[upload.student] = upload
        for upload in uploads:
            if upload.refused is None and latest[upload.student] is not upload:
                chosen = latest[upload.student]
                upload.refused = (
                    f"an earlier attempt (LMS time {upload.lms_time}) than {shown(chosen.name)} "
                    f"({chosen.lms_time}), which is the one collected"
                )
        for upload in uploads:
            if upload.refused is None:
                try:
                    self.collect_upload(archive, upload, students - {upload.student})
                except Refused as refusal:
                    upload.refused = str(refusal)
            if upload.refused is not None:
                self.set_aside(archive, upload)

    def collect_upload(self, archive: zipfile.ZipFile, upload: Upload, others: set[str]) -> None:
        before = self.collected_lms_time(upload.student)
        if before is not None and upload.lms_time <= before:
            raise Refused(
                f"not newer (LMS time {upload.lms_time}) than the attempt collected before "
                f"({before})"
            )
        submitted = plain_folder(plain_folder(self.grading) / "submitted")
        home = plain_folder(submitted / upload.student)
        fresh = Path(tempfile.mkdtemp(dir=home, prefix=".collecting-"))
        try:
            if upload.kind == "notebook":
                chunks = read_chunks(archive, upload.info, self.limits)
                name = f"{upload.notebook}.ipynb"
                write_new_file(fresh / name, self.not_archives(chunks, name))
            else:
                self.unpack(archive, upload, others, fresh)
        except BaseException:
            shutil.rmtree(fresh)
            with contextlib.suppress(OSError):
                home.rmdir()  # a student folder made for this upload alone: no trace left
            raise
        self.place(fresh, home / self.assignment, upload)

    def not_archives(self, chunks, name: str):
        """The chunks, refused if the first one starts like an archive."""
        first = True
        for chunk in chunks:
            if first and is_archive(chunk):
                raise Refused(f"{shown(name)} is an archive inside the upload")
            first = False
            yield chunk

    def unpack(self, archive: zipfile.ZipFile, upload: Upload, others: set[str], into: Path):
        """The uploaded zip's files into `into`, every entry and the bounds checked first."""
        with tempfile.TemporaryFile() as spool:
            bound = self.limits.upload_bytes
            for chunk in read_chunks(archive, upload.info, self.limits, bound=bound):
                spool.write(chunk)
            directory = central_directory_bytes(spool)
            if directory is None:
                raise Refused("not a zip file")
            if directory > self.limits.entries * DIRECTORY_BYTES_PER_ENTRY:
                raise Refused(f"its list of entries is {directory} bytes: too many entries")
            spool.seek(0)
            try:
                inner = zipfile.ZipFile(spool)
                infos = inner.infolist()
            except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
                raise Refused(f"not a readable zip ({error})") from None
            with inner:
                check_sizes(infos, self.limits)
                paths = [self.check_entry(info, others) for info in infos]
                strip = common_folder([p for p in paths if p is not None])
                total = 0
                for info, parts in zip(infos, paths):
                    if parts is None:
                        continue  # a folder: made as its files need it
                    parts = parts[strip:]
                    twice = Refused(f"entry {shown(info.filename)} is there twice, or a folder too")
                    folder = into
                    try:
                        for part in parts[:-1]:
                            folder = plain_folder(folder / part)
                    except Refused:
                        raise twice from None
                    # Each entry may hold what the upload's total leaves, counted as it is read.
                    bound = min(self.limits.entry_bytes, self.limits.total_bytes - total)
                    chunks = read_chunks(inner, info, self.limits, bound=bound)
                    try:
                        total += write_new_file(
                            folder / parts[-1], self.not_archives(chunks, info.filename)
                        )
                    except (FileExistsError, IsADirectoryError, NotADirectoryError):
                        raise twice from None

    def check_entry(self, info: zipfile.ZipInfo, others: set[str]) -> list[str] | None:
        """The entry's path parts (None for a folder), or Refused saying what is wrong with it."""
        name = check_name_bytes(info)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise Refused(f"entry {shown(name)} is a symbolic link")
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise Refused(f"entry {shown(name)} is a special file, not a plain one")
        if info.flag_bits & 0x1:
            raise Refused(f"entry {shown(name)} is encrypted")
        path = name.replace("\\", "/")
        if path.startswith("/") or re.match(r"[A-Za-z]:", path):
            raise Refused(f"entry {shown(name)} is an absolute path")
        parts = path.rstrip("/").split("/") if info.is_dir() else path.split("/")
        if any(part in ("", ".", "..") for part in parts):
            raise Refused(f"entry {shown(name)} has an empty, '.' or '..' part")
        if len(parts) > self.limits.depth or any(len(os.fsencode(p)) > 255 for p in parts):
            raise Refused(f"entry {shown(name)} is nested too deep or has too long a name")
        for part in parts:
            stem = part.rsplit(".", 1)[0]
            if stem != self.assignment and stem in self.assignments:
                raise Refused(f"entry {shown(name)} is named for another assignment, {stem}")
            if (student := named_for(part, others)) is not None:
                raise Refused(f"entry {shown(name)} is named for another student, {student}")
        if info.is_dir():
            return None
        if parts[-1].lower().endswith(ARCHIVE_SUFFIXES):
            raise Refused(f"entry {shown(name)} is an archive inside the upload")
        return parts

    def place(self, fresh: Path, final: Path, upload: Upload) -> None:
        """The fresh folder renamed into place, the attempt there before moved aside first."""
        if os.path.lexists(final):
            replaced = plain_folder(self.rejected_folder() / "replaced")
            aside = replaced / f"{upload.student}-{self.started:%Y%m%dT%H%M%SZ}"
            number = 1
            while os.path.lexists(aside):
                number += 1
                aside = replaced / f"{upload.student}-{self.started:%Y%m%dT%H%M%SZ}-{number}"
            os.rename(final, aside)
            self.note(f"{shown(upload.student)}'s attempt collected before moved to {aside.name}")
        os.rename(fresh, final)
        record_collection(self.grading, upload.student, self.assignment, self.started)
        self.write_lms_record(upload)
        self.summary.collected.append(upload.student)

    # -- records ---------------------------------------------------------------------------------

    def lms_record(self, student: str) -> Path:
        return self.grading / "collected" / student / f"{self.assignment}.upload.json"

    def collected_lms_time(self, student: str) -> datetime | None:
        """The LMS time of the attempt collected before, if it came through `make collect`."""
        try:
            fd = os.open(self.lms_record(student), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as file:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                return datetime.fromisoformat(json.loads(file.read(4096))["lms_time"])
        return None

    def write_lms_record(self, upload: Upload) -> None:
        record = {
            "lms_time": upload.lms_time.isoformat(),
            "export": upload.export.name,
            "entry": shown(upload.name),
            "collected": self.started.isoformat(),
        }
        path = self.lms_record(upload.student)  # its folder made by record_collection
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-", suffix=".tmp")
        with os.fdopen(fd, "w") as file:
            json.dump(record, file)
        os.replace(temporary, path)

    def set_aside(self, archive: zipfile.ZipFile, upload: Upload) -> None:
        """The upload's bytes (at most limits.set_aside_bytes) copied to the rejected folder,
        under its own name made safe, and a NOTE line saying which upload it was and why."""
        folder = self.rejected_folder()
        copy, copied = self.new_name(folder, upload), ""
        try:
            with archive.open(upload.info) as entry:
                left = self.limits.set_aside_bytes

                def chunks():
                    nonlocal left
                    while left > 0 and (chunk := entry.read(min(CHUNK, left))):
                        left -= len(chunk)
                        yield chunk

                write_new_file(copy, chunks())
                if entry.read(1):
                    copied = f" (its first {self.limits.set_aside_bytes} bytes)"
        except UNREADABLE:
            copied = " (partly: the export's entry is damaged)"
        self.note(f"{copy.name}{copied}: {upload.describe()}: {upload.refused}")
        self.summary.set_aside.append((upload.describe(), upload.refused))

    def new_name(self, folder: Path, upload: Upload) -> Path:
        """A name in `folder` for the set-aside copy: the upload's own name made safe (every
        character but letters, digits, '.', '-' and '_' replaced; no leading '.' or '-'), with
        a number added where it is taken."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", upload.name)[-120:] or "upload"
        if safe[0] in ".-" or safe in ("NOTE", "replaced"):  # the folder's own entries
            safe = "_" + safe
        stem, dot, suffix = safe.rpartition(".") if "." in safe[1:] else (safe, "", "")
        path, number = folder / safe, 1
        while os.path.lexists(path):
            number += 1
            path = folder / f"{stem}-{number}{dot}{suffix}"
        return path

    def rejected_folder(self) -> Path:
        """grading/rejected/collect/<assignment>/, made if missing (no part of it a link)."""
        folder = plain_folder(self.grading)
        for part in ("rejected", "collect", self.assignment):
            folder = plain_folder(folder / part)
        return folder

    def note(self, line: str) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
        fd = os.open(self.rejected_folder() / "NOTE", flags, 0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as file:
            file.write(line.replace("\n", " ") + "\n")


def central_directory_bytes(file) -> int | None:
    """The size of a zip's central directory (its list of entries), read from the end record
    before zipfile reads the list itself: zipfile makes an object per entry, so a hostile list
    of a million tiny entries would take memory before any count could be checked. None if
    there is no end record (not a zip)."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    tail_start = max(0, size - END_RECORD_SEARCH)
    file.seek(tail_start)
    tail = file.read(size - tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    return size if directory == 0xFFFFFFFF else directory  # zip64: bounded by the file instead


def common_folder(paths: list[list[str]]) -> int:
    """1 when every file lies in one same top folder (a student who zipped their folder), so that
    folder is left out; else 0."""
    tops = {parts[0] for parts in paths if len(parts) > 1}
    return 1 if paths and len(tops) == 1 and all(len(parts) > 1 for parts in paths) else 0


def main(argv: list[str] | None = None) -> None:
    """Collect the uploads of LMS exports for ASSIGNMENT into grading/submitted/ (run in the
    course's folder); print who was collected and what was set aside, and why."""
    from bertlab._cli import ArgumentParser, user_input

    parser = ArgumentParser(prog="python -m bertlab.autograde.collect", description=main.__doc__)
    parser.add_argument("assignment", help="the assignment, a folder of exercises/")
    parser.add_argument("exports", nargs="+", type=Path, help="the LMS's export (.zip)")
    parser.add_argument("--course", type=Path, default=Path("."), help="the course's folder")
    args = parser.parse_args(argv)
    with user_input(parser.prog):
        collector = Collector(args.course, args.assignment)
        archives = [(export, collector.open_export(export)) for export in args.exports]
    print("\n".join(collector.collect_opened(archives).lines()))


if __name__ == "__main__":
    main()
