"""`make collect` (bertlab/autograde/collect.py) and the collection time (bertlab/autograde/stamps.py).

An LMS export is a zip of uploads named `<student_id>_<anything>_<notebook>.ipynb` or
`<student_id>_<anything>.zip`. Every upload is judged on its own:

- a hostile upload (a `../`, absolute, link or non-UTF-8 entry, a nested archive, a notebook named for
  a classmate or another assignment, an id that breaks the id rule, a zip bomb, too many entries) is
  set aside in grading/rejected/collect/<assignment>/ with a NOTE line saying why, and the honest
  bystander in the same export is collected intact; the command exits 0 and says what it did;
- of two attempts the latest by the LMS's time is collected (a tie: the later entry of the export); a
  later export replaces what was collected only with a newer attempt, and the older is kept;
- nothing is written outside grading/, and a zip bomb takes little memory;
- the collection time is recorded; a student's own timestamp.txt (forged, garbage, in the future, a
  link, a folder) is replaced by it, with a note that says what it said.

A tiny course folder each: exercises/<assignment>/<assignment>.ipynb (no gradebook, no kernel).
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bertlab.autograde.collect import Collector, Limits, main
from bertlab.autograde.stamps import collection_time, record_collection, stamp_submission

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "01_input_embeddings"
OTHER_ASSIGNMENT = "02_contextual_embeddings"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
EXERCISE = (ROOT / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes()
DAY = (2026, 12, 1, 10, 0, 0)
LATER = (2026, 12, 2, 10, 0, 0)
EARLIER = (2026, 11, 30, 10, 0, 0)


# ------------------------------------------------------------------------------------------------
# Building courses, uploads and exports
# ------------------------------------------------------------------------------------------------

@pytest.fixture
def course(tmp_path) -> Path:
    course = tmp_path / "course"
    (course / "exercises" / ASSIGNMENT).mkdir(parents=True)
    (course / "exercises" / ASSIGNMENT / NOTEBOOK).write_bytes(EXERCISE)
    (course / "exercises" / OTHER_ASSIGNMENT).mkdir()
    (tmp_path / "canary.txt").write_text("outside the course")
    return course


def zipped(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A zip upload of `files` (name -> bytes) and symbolic links (name -> target)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=DAY), data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name, date_time=DAY)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16  # as Info-ZIP records a link
            archive.writestr(info, target)
    return buffer.getvalue()


def export(path: Path, uploads: list[tuple[str, bytes] | tuple[str, bytes, tuple]]) -> Path:
    """An LMS export: each upload (name, bytes[, LMS time]) an entry of the zip, in order."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data, *when in uploads:
            archive.writestr(zipfile.ZipInfo(name, date_time=when[0] if when else DAY), data)
    return path


def honest(student: str = "alice") -> tuple[str, bytes]:
    return (f"{student}_attempt_2026-12-01_{NOTEBOOK}", EXERCISE)


def collect(course: Path, *exports: Path, capsys=None) -> str:
    """`python -m bertlab.autograde.collect` in the course; its output (it must exit 0)."""
    main([ASSIGNMENT, *map(str, exports), "--course", str(course)])
    return capsys.readouterr().out if capsys else ""


def submitted(course: Path) -> dict[str, dict[str, bytes]]:
    """Every collected submission: {student: {path in its folder: bytes}}."""
    root = course / "grading" / "submitted"
    return {
        home.name: {str(p.relative_to(home / ASSIGNMENT)): p.read_bytes()
                    for p in (home / ASSIGNMENT).rglob("*") if p.is_file()}
        for home in sorted(root.iterdir()) if (home / ASSIGNMENT).is_dir()
    } if root.is_dir() else {}


def note(course: Path) -> str:
    return (course / "grading" / "rejected" / "collect" / ASSIGNMENT / "NOTE").read_text()


def outside_the_grading_folder(tmp_path: Path, course: Path) -> set[str]:
    """Every file under tmp_path but grading/, the course's exercises and the exports (*.zip)."""
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
            if not p.is_dir() and not p.is_relative_to(course / "grading")
            and not p.is_relative_to(course / "exercises") and p.suffix != ".zip"}


# ------------------------------------------------------------------------------------------------
# One hostile upload beside an honest bystander
# ------------------------------------------------------------------------------------------------

def non_utf8_name() -> bytes:
    """A zip whose second entry's name is the bytes b'\\xff\\xfenotes.txt' (not UTF-8)."""
    data = zipped({NOTEBOOK: EXERCISE, "XXnotes.txt": b"notes"})
    return data.replace(b"XXnotes.txt", b"\xff\xfenotes.txt")


def bobs_zip(files: dict[str, bytes], links: dict[str, str] | None = None, notebook: bool = True) -> tuple:
    """bob's zip upload: his notebook (unless not `notebook`) and `files`."""
    return ("bob_attempt.zip", zipped({NOTEBOOK: EXERCISE, **files} if notebook else files, links))


HOSTILE = {
    # case: (upload name, bytes), words of the reason, the student who must get no folder
    "dotdot entry": (bobs_zip({"../../escaped.txt": b"x"}), "'..'", "bob"),
    "absolute entry": (bobs_zip({"/tmp/bertlab-escaped.txt": b"x"}), "absolute path", "bob"),
    "symlink entry": (bobs_zip({}, links={"passwd.txt": "/etc/passwd"}), "symbolic link", "bob"),
    "nested zip": (bobs_zip({"inner.zip": zipped({f"ghost_x_{NOTEBOOK}": b"{}"})}), "archive", "bob"),
    "nested archive by its bytes": (bobs_zip({"data.txt": b"\x1f\x8b\x08\0rest"}), "archive", "bob"),
    "notebook named for a classmate": (bobs_zip({f"alice_attempt_2026-12-03_{NOTEBOOK}": b"{}"}),
                                       "another student, alice", "bob"),
    "notebook of another assignment in a zip": (
        bobs_zip({f"{OTHER_ASSIGNMENT}.ipynb": b"{}"}, notebook=False),
        f"another assignment, {OTHER_ASSIGNMENT}", "bob"),
    "notebook of another assignment": ((f"bob_x_{OTHER_ASSIGNMENT}.ipynb", EXERCISE),
                                       "another assignment", "bob"),
    "non-UTF-8 entry name": (("bob_attempt.zip", non_utf8_name()), "not UTF-8", "bob"),
    "too many entries": (bobs_zip({f"f{i}.txt": b"x" for i in range(201)}, notebook=False),
                         "201 entries", "bob"),
    "id ..": ((f".._x_{NOTEBOOK}", EXERCISE), "not a student id", ".."),
    "id *": ((f"*_x_{NOTEBOOK}", EXERCISE), "not a student id", "*"),
    "id -rf": ((f"-rf_x_{NOTEBOOK}", EXERCISE), "not a student id", "-rf"),
    "id with a comma": ((f"smith,john_x_{NOTEBOOK}", EXERCISE), "not a student id", "smith,john"),
    "id with a newline": ((f"new\nline_x_{NOTEBOOK}", EXERCISE), "control characters", "new\nline"),
    "a formula for an id": ((f"=HYPERLINK(1)_x_{NOTEBOOK}", EXERCISE), "not a student id", "=HYPERLINK(1)"),
    "upload in a folder of the export": ((f"../../bob_x_{NOTEBOOK}", EXERCISE), "not at the top", "bob"),
    "absolute upload": ((f"/tmp/bob_x_{NOTEBOOK}", EXERCISE), "not at the top", "bob"),
    "neither a notebook nor a zip": (("bob_x_notes.pdf", b"%PDF"), "not named", "bob"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_upload_is_set_aside_and_the_bystander_collected_intact(course, tmp_path, capsys, case):
    (name, data), reason, student = HOSTILE[case]
    path = export(tmp_path / "export.zip", [(name, data), honest("alice")])
    output = collect(course, path, capsys=capsys)

    assert submitted(course) == {"alice": {NOTEBOOK: EXERCISE}}
    assert student not in os.listdir(course / "grading" / "submitted") == ["alice"]
    assert "collected 1: alice" in output and "set aside 1:" in output, output
    assert reason in output, output
    assert reason in note(course) and len(note(course).splitlines()) == 1, note(course)
    # The upload's bytes are kept, under its own name made safe.
    rejected = course / "grading" / "rejected" / "collect" / ASSIGNMENT
    kept = [p for p in rejected.iterdir() if p.name != "NOTE"]
    assert [p.read_bytes() for p in kept] == [data], kept
    assert outside_the_grading_folder(tmp_path, course) == {"canary.txt"}
    assert not Path("/tmp/bertlab-escaped.txt").exists()


def test_a_notebook_named_for_a_student_collected_by_an_earlier_export_is_refused(course, tmp_path, capsys):
    collect(course, export(tmp_path / "first.zip", [honest()]), capsys=capsys)
    upload = ("mallory_attempt.zip", zipped({NOTEBOOK: EXERCISE, "alice.ipynb": b"{}"}))
    output = collect(course, export(tmp_path / "second.zip", [upload]), capsys=capsys)
    assert "collected 0" in output and "another student, alice" in output, output
    assert submitted(course) == {"alice": {NOTEBOOK: EXERCISE}}


def test_an_honest_zip_of_the_students_folder_is_collected_with_its_files(course, tmp_path, capsys):
    upload = zipped({f"{ASSIGNMENT}/{NOTEBOOK}": EXERCISE, f"{ASSIGNMENT}/helpers/notes.txt": b"mine"})
    output = collect(course, export(tmp_path / "export.zip", [("carol_attempt.zip", upload), honest()]),
                     capsys=capsys)
    assert submitted(course) == {"alice": {NOTEBOOK: EXERCISE},
                                 "carol": {NOTEBOOK: EXERCISE, "helpers/notes.txt": b"mine"}}
    assert "collected 2: carol, alice" in output and "set aside 0" in output, output
    # Collected with the grader's own time stamp, now.
    when = collection_time(course / "grading", "carol", ASSIGNMENT)
    assert when is not None and abs(datetime.now(timezone.utc) - when) < timedelta(minutes=1)


# ------------------------------------------------------------------------------------------------
# Zip bombs: refused before extraction by the central directory, or while extracting when it lies
# ------------------------------------------------------------------------------------------------

def deflated(name: str) -> zipfile.ZipInfo:
    """An entry to write with ZipFile.open(..., "w"), compressed (a ZipInfo's default is stored)."""
    info = zipfile.ZipInfo(name, date_time=DAY)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def zip_bomb(lie: bool = False) -> bytes:
    """An upload of about 1 MB holding a notebook and 1 GiB of zeros; with `lie`, its headers say
    the zeros are 4 MiB (a 4:1 ratio, within every bound)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(NOTEBOOK, EXERCISE)
        with archive.open(deflated("zeros.txt"), "w") as entry:
            chunk = bytes(64 << 20)
            for _ in range(16):
                entry.write(chunk)
    data = bytearray(buffer.getvalue())
    if lie:
        # file_size: 22 bytes into the local header (30 bytes before the name), 24 into the central
        # directory's (46 bytes before it).
        for at in (data.index(b"zeros.txt") - 30 + 22, data.rindex(b"zeros.txt") - 46 + 24):
            assert data[at:at + 4] == (1 << 30).to_bytes(4, "little")
            data[at:at + 4] = (4 << 20).to_bytes(4, "little")
    return bytes(data)


PEAK_MEMORY = """
import resource, sys
from bertlab.autograde.collect import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
main(sys.argv[1:])
print("GROWTH_KIB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.parametrize("lie, reason", [(False, "entry 'zeros.txt' holds over 16777216 bytes"),
                                          (True, "entry 'zeros.txt' cannot be read: Bad CRC-32")],
                         ids=["honest headers", "lying headers"])
def test_a_zip_bomb_is_set_aside_in_little_memory(course, tmp_path, lie, reason):
    """Honest headers: refused from the central directory. Lying ones: no more than the header
    says is ever read (zipfile stops there, and the checksum then fails), counted in chunks."""
    bomb = zip_bomb(lie)
    assert len(bomb) < 2 << 20
    path = export(tmp_path / "export.zip", [("ivan_attempt.zip", bomb), honest()])
    run = subprocess.run([sys.executable, "-c", PEAK_MEMORY, ASSIGNMENT, str(path), "--course", str(course)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert submitted(course) == {"alice": {NOTEBOOK: EXERCISE}}
    assert f"'ivan_attempt.zip': {reason}" in run.stdout, run.stdout
    growth = int(run.stdout.split("GROWTH_KIB")[1])
    assert growth < 100 << 10, f"peak memory grew by {growth} KiB"


def test_a_bomb_uploaded_as_a_notebook_is_refused_by_its_size(course, tmp_path, capsys):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open(deflated(f"eve_x_{NOTEBOOK}"), "w") as entry:
            for _ in range(8):
                entry.write(bytes(16 << 20))
        archive.writestr(zipfile.ZipInfo(honest()[0], date_time=DAY), EXERCISE)
    path = tmp_path / "export.zip"
    path.write_bytes(buffer.getvalue())
    output = collect(course, path, capsys=capsys)
    assert submitted(course) == {"alice": {NOTEBOOK: EXERCISE}}
    assert "set aside 1:" in output and "more than" in output, output


def test_limits_are_checked_on_the_central_directory_before_anything_is_written(course, tmp_path, capsys):
    """An upload over the total: nothing of it is written, not even its first files."""
    upload = zipped({NOTEBOOK: EXERCISE, "big.bin": os.urandom(300 << 10)})
    path = export(tmp_path / "export.zip", [("bob_attempt.zip", upload), honest()])
    collector = Collector(course, ASSIGNMENT, Limits(total_bytes=200 << 10))
    summary = collector.collect([path])
    assert summary.collected == ["alice"]
    assert "uncompressed, more than" in summary.set_aside[0][1]
    assert not (course / "grading" / "submitted" / "bob").exists() or not any(
        (course / "grading" / "submitted" / "bob").iterdir())


# ------------------------------------------------------------------------------------------------
# Attempts
# ------------------------------------------------------------------------------------------------

def notebook(text: str) -> bytes:
    return EXERCISE.replace(b"nbformat", text.encode() + b"nbformat", 1)


def test_of_two_attempts_the_latest_by_the_lms_time_is_collected(course, tmp_path, capsys):
    # The later attempt comes first in the export (and its name sorts first): the LMS's time decides.
    path = export(tmp_path / "export.zip", [
        (f"dave_attempt2_{NOTEBOOK}", notebook("second"), LATER),
        (f"dave_attempt1_{NOTEBOOK}", notebook("first"), DAY),
        honest(),
    ])
    output = collect(course, path, capsys=capsys)
    assert submitted(course)["dave"] == {NOTEBOOK: notebook("second")}
    assert "collected 2" in output and "dave_attempt1_" in output and "earlier attempt" in output, output
    kept = course / "grading" / "rejected" / "collect" / ASSIGNMENT / f"dave_attempt1_{NOTEBOOK}"
    assert kept.read_bytes() == notebook("first")


def test_attempts_at_the_same_lms_time_go_to_the_later_entry_of_the_export(course, tmp_path, capsys):
    path = export(tmp_path / "export.zip", [(f"dave_b_{NOTEBOOK}", notebook("b")),
                                            (f"dave_a_{NOTEBOOK}", notebook("a"))])
    collect(course, path, capsys=capsys)
    assert submitted(course)["dave"] == {NOTEBOOK: notebook("a")}


def test_a_later_export_replaces_a_collected_attempt_only_with_a_newer_one(course, tmp_path, capsys):
    first = export(tmp_path / "first.zip", [(f"dave_x_{NOTEBOOK}", notebook("first"), DAY)])
    older = export(tmp_path / "older.zip", [(f"dave_x_{NOTEBOOK}", notebook("older"), EARLIER)])
    newer = export(tmp_path / "newer.zip", [(f"dave_x_{NOTEBOOK}", notebook("newer"), LATER)])
    collect(course, first, capsys=capsys)
    first_time = collection_time(course / "grading", "dave", ASSIGNMENT)

    output = collect(course, older, capsys=capsys)
    assert submitted(course)["dave"] == {NOTEBOOK: notebook("first")}
    assert "not newer" in output, output
    assert collection_time(course / "grading", "dave", ASSIGNMENT) == first_time

    output = collect(course, newer, capsys=capsys)
    assert submitted(course)["dave"] == {NOTEBOOK: notebook("newer")}
    # The attempt collected before is kept, not lost.
    replaced = list((course / "grading" / "rejected" / "collect" / ASSIGNMENT / "replaced").glob("dave-*"))
    assert [(p / NOTEBOOK).read_bytes() for p in replaced] == [notebook("first")]
    assert collection_time(course / "grading", "dave", ASSIGNMENT) > first_time


# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("problem", ["unknown assignment", "missing export", "not a zip"])
def test_a_wrong_command_line_is_one_line_and_exit_2(course, tmp_path, capsys, problem):
    (tmp_path / "notes.zip").write_text("not a zip")
    args = {"unknown assignment": ["99_nothing", str(export(tmp_path / "e.zip", [honest()]))],
            "missing export": [ASSIGNMENT, str(tmp_path / "missing.zip")],
            "not a zip": [ASSIGNMENT, str(tmp_path / "notes.zip")]}[problem]
    with pytest.raises(SystemExit) as exit:
        main([*args, "--course", str(course)])
    assert exit.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith("python -m bertlab.autograde.collect: error: ") and error.count("\n") == 1, error
    assert not (course / "grading" / "submitted").exists()


def test_make_collect(tmp_path):
    """Through the Makefile, in a course folder with the repository's Makefile and config."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed (apt-get install make)")
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    path = export(tmp_path / "export.zip", [honest(), ("bob_attempt.zip", zipped({"../x.txt": b"x"}))])
    venv = Path(sys.executable).parent.parent
    make = ["make", "--no-print-directory", f"VENV={venv}", "-o", f"{venv}/.installed", "collect"]
    run = subprocess.run([*make, f"ASSIGNMENT={ASSIGNMENT}", f"ZIP={path}"],
                         cwd=course, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "collected 1: alice" in run.stdout and "bob_attempt.zip" in run.stdout, run.stdout
    released = course / "exercises" / ASSIGNMENT / NOTEBOOK
    assert submitted(course) == {"alice": {NOTEBOOK: EXERCISE}} and released.is_file()

    missing = subprocess.run([*make, f"ASSIGNMENT={ASSIGNMENT}"], cwd=course, capture_output=True, text=True)
    assert missing.returncode != 0 and "ZIP=path/to/export.zip is required" in missing.stdout


# ------------------------------------------------------------------------------------------------
# The collection time
# ------------------------------------------------------------------------------------------------

def folder_with_timestamp(tmp_path: Path, make_entry) -> tuple[Path, Path]:
    grading = tmp_path / "grading"
    folder = grading / "submitted" / "alice" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_bytes(EXERCISE)
    make_entry(folder / "timestamp.txt")
    return grading, folder


STUDENT_TIMESTAMPS = {
    "forged": (lambda p: p.write_text("2000-01-01 00:00:00.000000 UTC"), "'2000-01-01 00:00:00.000000 UTC'"),
    "garbage": (lambda p: p.write_text("yesterday <b>at noon</b>\n\x1b[31m"),
                "'yesterday <b>at noon</b>\\n\\x1b[31m'"),
    "future": (lambda p: p.write_text("2099-01-01 00:00:00.000000 UTC"), "'2099-01-01"),
    "a link": (lambda p: p.symlink_to("/etc/passwd"), "not a plain file"),
    "a folder": (lambda p: p.mkdir(), "not a plain file"),
    "long": (lambda p: p.write_text("9" * 5000), "'" + "9" * 100 + "'"),
}


@pytest.mark.parametrize("case", STUDENT_TIMESTAMPS)
def test_a_students_timestamp_is_replaced_by_the_collection_time_with_a_note(tmp_path, case):
    make_entry, said = STUDENT_TIMESTAMPS[case]
    grading, folder = folder_with_timestamp(tmp_path, make_entry)
    collected = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    record_collection(grading, "alice", ASSIGNMENT, collected)

    message = stamp_submission(folder, grading)
    assert message is not None and said in message and "2026-12-01 09:30:00.000000 UTC" in message, message
    assert "\n" not in message
    stamp = folder / "timestamp.txt"
    assert stat.S_ISREG(os.lstat(stamp).st_mode)
    assert stamp.read_text() == "2026-12-01 09:30:00.000000 UTC\n"
    assert Path("/etc/passwd").read_text().startswith("root")  # never written through the link
    if case == "a folder":  # moved aside whole, not deleted
        kept = list((grading / "rejected" / "alice" / ASSIGNMENT).iterdir())
        assert [p.name[:21] for p in kept] == ["timestamp.txt-folder-"]
    # nbgrader reads it back as the collection time; a second stamp has nothing to say.
    from nbgrader.utils import parse_utc
    assert parse_utc(stamp.read_text().strip()).replace(tzinfo=timezone.utc) == collected
    assert stamp_submission(folder, grading) is None
    assert collection_time(grading, "alice", ASSIGNMENT) == collected


def test_a_folder_never_collected_is_stamped_with_the_first_time_the_grader_saw_it(tmp_path):
    grading, folder = folder_with_timestamp(tmp_path, lambda p: None)
    assert collection_time(grading, "alice", ASSIGNMENT) is None
    assert stamp_submission(folder, grading) is None
    first = collection_time(grading, "alice", ASSIGNMENT)
    assert first is not None and abs(datetime.now(timezone.utc) - first) < timedelta(minutes=1)
    assert stamp_submission(folder, grading) is None
    assert collection_time(grading, "alice", ASSIGNMENT) == first
    record = grading / "collected" / "alice" / f"{ASSIGNMENT}.txt"
    assert datetime.fromisoformat(record.read_text().strip()) == first


def test_a_collection_time_must_be_aware_and_a_student_a_student_id(tmp_path):
    with pytest.raises(ValueError, match="time zone"):
        record_collection(tmp_path, "alice", ASSIGNMENT, datetime(2026, 12, 1))
    with pytest.raises(ValueError, match="student id"):
        record_collection(tmp_path, "..", ASSIGNMENT, datetime.now(timezone.utc))
    assert not (tmp_path / "collected").exists() or not any((tmp_path / "collected").iterdir())
