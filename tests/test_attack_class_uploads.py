"""A second hostile class: what the instructor's own tools do with names, archives, HTML and time
stamps that students control. Graded the way the README grades: `make release`, `make collect` from
an LMS export, `make autograde JOBS=2` (twice: the second grades nothing), `make feedback`,
`make grades`, `make similarity`, in a private course folder with the repository's Makefile and
config.

The class:
- **one LMS export** holding honest uploads (a notebook, and a zip of the student's folder) beside
  every hostile one: an entry with `../`, an absolute entry, a zip upload with a `../` entry, a link
  or a nested zip, an upload holding a notebook named for a classmate, two attempts by one student
  (the later one by the LMS's time is wrong in name order), ids `..`, `*`, `-rf`, with a comma, a
  newline or a formula's first character, and a zip bomb;
- **folders copied into grading/submitted/ as they are**: named `*`, `-rf` and with a newline; a
  notebook whose name is not UTF-8, an extra file whose name is not UTF-8; files dated 2099; HTML that
  runs script in Markdown cells, in outputs and in a file name the grading note quotes; a hook that
  records a test's answers again; a forged and a garbage `timestamp.txt`; a kernel that floods the
  folder of its sockets and builds a 3,000-deep folder chain there; a try-it cell whose result holds
  a 20,000-digit integer, an answer nested 5,000 deep; a notebook of 50,000 cells.

The promises (issue #19): every make target exits 0; each student earns exactly what the honest
part of their notebook earns, and every honest student and bystander keeps full marks; an upload
or folder that cannot be graded is set aside, named, and costs no one else anything; grades.csv
read back with the csv module is the gradebook, and no cell of it starts a formula; every feedback
page opened in Chromium runs no script, asks for nothing from the network, carries its
Content-Security-Policy and shows its formulas typeset; no file outside grading/ changes, no
sandbox folder is left, and the grader's memory stays bounded.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import pytest

from test_attack_class import FULL, NOTHING, PeakMemory, assert_memory_measured_and_bounded, cell_of, tree_digest
from test_exercises import ROOT, fill_in_solutions, require_sandbox, scores, submit

ASSIGNMENT = "01_input_embeddings"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
CELL_TIMEOUT = 20
GRADER_MEMORY_BOUND = 1 << 30  # each process of the grader, and `make collect` on the zip bomb
FEEDBACK_PAGE_BOUND = 16 << 20
WORDPIECE = {cell: 0 for cell in FULL if cell.startswith("test_wordpiece")}


def make(course: Path, *target: str, **variables: str) -> subprocess.CompletedProcess:
    """`make TARGET` in the private course with this venv, and the peak memory (bytes) of the
    largest process it ran (getrusage of a wrapper's children: make, and what make waited for)."""
    venv = Path(sys.executable).parent.parent
    args = ["make", "--no-print-directory", *target, f"VENV={venv}", "-o", f"{venv}/.installed",
            *(f"{k}={v}" for k, v in variables.items())]
    wrapper = ("import resource, subprocess, sys\n"
               "code = subprocess.run(sys.argv[1:]).returncode\n"
               "print(f'PEAK-RSS {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr)\n"
               "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", wrapper, *args], cwd=course, capture_output=True)
    stderr = result.stderr.decode("utf-8", errors="backslashreplace")
    peak = re.search(r"PEAK-RSS (\d+)", stderr)
    result.peak = int(peak.group(1)) << 10 if peak else 0
    result.stdout = result.stdout.decode("utf-8", errors="backslashreplace")
    result.stderr = stderr
    return result


def solved(course: Path, nb_edit=None) -> bytes:
    """The released notebook with every solution written in, then `nb_edit(nb)`, as bytes."""
    nb = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    fill_in_solutions(course, ASSIGNMENT)(NOTEBOOK, nb)
    if nb_edit:
        nb_edit(nb)
    return nbformat.writes(nb).encode()


def untouched(course: Path) -> bytes:
    return (course / "exercises" / ASSIGNMENT / NOTEBOOK).read_bytes()


# ------------------------------------------------------------------------------------------------
# The LMS export
# ------------------------------------------------------------------------------------------------

def zipped(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A zip of `entries` (name -> bytes) and of symbolic links (name -> target)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # a symbolic link, as Info-ZIP records one
            archive.writestr(info, target)
    return buffer.getvalue()


def zip_bomb() -> bytes:
    """A zip upload of about 1 MB that holds a notebook and 1 GiB of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        info = zipfile.ZipInfo("data.bin")
        info.compress_type = zipfile.ZIP_DEFLATED  # a ZipInfo of its own is stored, not compressed, otherwise
        with archive.open(info, "w", force_zip64=True) as entry:
            chunk = bytes(64 << 20)
            for _ in range(16):
                entry.write(chunk)
    return buffer.getvalue()


def lms_export(course: Path, path: Path) -> dict[str, str]:
    """Write the export; return {upload's name: who it is from (a student id, or why it is refused)}."""
    solution, exercise = solved(course), untouched(course)

    def wrong_wordpiece(nb):
        cell_of(nb, "wordpiece").source = "def wordpiece(word, vocab, max_chars=100):\n    return [word]\n"

    uploads = [
        # (name in the export, LMS time, bytes)
        (f"alice_attempt_2026-12-01_{NOTEBOOK}", (2026, 12, 1, 10, 0, 0), solution),
        ("carol_attempt_2026-12-01.zip", (2026, 12, 1, 11, 0, 0), zipped({NOTEBOOK: solution})),
        # Two attempts: the later one by the LMS's time is right, and comes first in the export.
        (f"dave_attempt2_{NOTEBOOK}", (2026, 12, 2, 9, 0, 0), solution),
        (f"dave_attempt1_{NOTEBOOK}", (2026, 12, 1, 9, 0, 0), solved(course, wrong_wordpiece)),
        # A classmate's name inside an upload: eve's whole upload is refused, alice keeps her work.
        ("eve_attempt.zip", (2026, 12, 2, 12, 0, 0),
         zipped({NOTEBOOK: solution, f"alice_attempt_2026-12-03_{NOTEBOOK}": exercise})),
        # A nested archive: refused whole; no submission for "ghost", who handed in nothing.
        ("frank_attempt.zip", (2026, 12, 1, 12, 0, 0),
         zipped({NOTEBOOK: solution, "inner.zip": zipped({f"ghost_x_{NOTEBOOK}": exercise})})),
        ("grace_attempt.zip", (2026, 12, 1, 12, 0, 0), zipped({NOTEBOOK: solution, "../../escaped.txt": b"x"})),
        ("heidi_attempt.zip", (2026, 12, 1, 12, 0, 0), zipped({NOTEBOOK: solution}, links={"passwd.txt": "/etc/passwd"})),
        ("ivan_attempt.zip", (2026, 12, 1, 12, 0, 0), zip_bomb()),
        (f"../../mallory_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"/tmp/mallory_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f".._x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"*_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"-rf_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"smith,john_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"=HYPERLINK(1)_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"+1_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"@sum_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
        (f"new\nline_x_{NOTEBOOK}", (2026, 12, 1, 12, 0, 0), solution),
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as export:
        for name, when, data in uploads:
            info = zipfile.ZipInfo(name, date_time=when)
            export.writestr(info, data)
    return {name: name for name, _, _ in uploads}


COLLECTED = {"alice": FULL, "carol": FULL, "dave": FULL}  # student: the scores they must get
ROSTER = {"alice": {"first_name": "Jane, \"JJ\"", "last_name": '=HYPERLINK("http://127.0.0.1:9/","x")',
                    "email": "+1@example.org"},
          "carol": {"first_name": "@SUM(1+1)", "last_name": "-2+3", "email": "\tcarol@example.org"},
          "dave": {"first_name": "Dave\nNewline", "last_name": "O'Brien", "email": "dave@example.org"}}
REFUSED_UPLOADS = ["eve", "frank", "grace", "heidi", "ivan", "mallory", "ghost"]


# ------------------------------------------------------------------------------------------------
# The folders copied in as they are
# ------------------------------------------------------------------------------------------------

HTML_PAYLOAD = """\
<script>window.pwned = "script"; alert("script")</script>
<img src="x" onerror="window.pwned = 'img'; alert('img')">
<svg onload="window.pwned = 'svg'; alert('svg')"><circle r="1"></circle></svg>
<iframe srcdoc="<script>parent.pwned = 'iframe'; alert('iframe')</script>"></iframe>
<a href="javascript:alert('a')" id="js-link">a link</a>
<object data="javascript:alert('object')"></object>
<img src="http://127.0.0.1:9/beacon.png">
"""
HTML_MARKDOWN = HTML_PAYLOAD + "\n[a markdown link](javascript:alert('markdown'))\n\nThe formula $\\sqrt{D}$ stays.\n"
HTML_OUTPUTS = f"""\
from IPython.display import HTML, Markdown, display
payload = {HTML_PAYLOAD!r}
display(HTML(payload))
display(Markdown(payload))
display({{"text/html": payload, "image/svg+xml": "<svg onload=\\"alert('svg output')\\"></svg>"}}, raw=True)
"""

# Records the wordpiece tests' answers again, computed right, from hooks before and after each cell,
# and from a later cell: the stub's own answers are wrong.
FORGING_HOOKS = '''\
import re
def _right_wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces

def _forge(source):
    if "wordpiece(" in source and "record(" in source:
        exec(source, {**get_ipython().user_ns, "wordpiece": _right_wordpiece})

get_ipython().events.register("pre_run_cell", lambda info: _forge(info.raw_cell))
get_ipython().events.register("post_run_cell", lambda result: _forge(result.info.raw_cell))

# And a thread that shows the right answers of the first test as a record, ten times a second, into
# whatever cell runs.
import threading, time
from IPython.display import display
def _flood():
    for _ in range(300):
        display({"application/vnd.bertlab.answers+json": {"answers": {"yours": ["un", "##aff", "##able"]}}}, raw=True)
        time.sleep(0.1)
threading.Thread(target=_flood, daemon=True).start()
'''
STUB_WORDPIECE = "def wordpiece(word, vocab, max_chars=100):\n    return [word]\n"

SOCKETS_FLOOD = '''\
import os
from ipykernel.connect import get_connection_file
targets = {os.path.dirname(os.path.abspath(get_connection_file()))}
with open("/proc/self/mounts") as mounts:
    for line in mounts:
        point, options = line.split()[1], line.split()[3]
        if "rw" in options.split(",") and not point.startswith(("/proc", "/dev", "/sys", "/tmp", os.getcwd())):
            targets.add(point)
for target in sorted(targets):
    try:
        os.chdir(target)
        for depth in range(3000):
            os.mkdir("d")
            os.chdir("d")
    except OSError as error:
        print(target, "deep tree stopped:", error)
    try:
        with open(os.path.join(target, "flood.bin"), "wb") as out:
            for _ in range(1024):
                out.write(b"z" * (1 << 20))
    except OSError as error:
        print(target, "flood stopped:", error)
os.chdir(os.path.expanduser("~"))
'''


# Poison that must cost only what it poisons: a try-it cell whose result holds a 20,000-digit
# integer (an ungraded cell: it costs nothing), and an answer nested 5,000 deep for the one visible
# test that calls sinusoidal_positions(4, 6) (that test alone fails; the tests after it run).
INTEGER_BOMB = """\
import sys
from IPython.display import display
sys.set_int_max_str_digits(0)
display({"application/json": {"n": 10 ** 20000}}, raw=True)
"""
DEPTH_BOMB = """\
import sys
sys.setrecursionlimit(100_000)
_sinusoidal_positions = sinusoidal_positions
def sinusoidal_positions(num_positions, hidden_size):
    if (num_positions, hidden_size) == (4, 6):
        deep = []
        for _ in range(5000):
            deep = [deep]
        return deep
    return _sinusoidal_positions(num_positions, hidden_size)
"""


def try_it_cell(nb):
    """The first of the student's own "Try it" cells."""
    return next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Try it"))


def future_dates(folder: Path) -> None:
    when = datetime(2099, 1, 1, tzinfo=timezone.utc).timestamp()
    for path in [*folder.rglob("*"), folder]:
        os.utime(path, (when, when), follow_symlinks=False)


FOLDERS = {
    # student: (how the folder is made from the solved notebook, the scores it must get)
    "nonutf8_notebook": (lambda course, folder: (folder / os.fsdecode(b"nb\xff.txt")).write_bytes(solved(course)),
                         NOTHING),
    "nonutf8_extra_file": (lambda course, folder: [(folder / NOTEBOOK).write_bytes(solved(course)),
                                                   (folder / os.fsdecode(b"notes\xff.txt")).write_bytes(b"0123456789"),
                                                   (folder / os.fsdecode(b"big\xfe.bin")).write_bytes(bytes(2 << 20))],
                           FULL),
    "future_dates": (lambda course, folder: [(folder / NOTEBOOK).write_bytes(solved(course)), future_dates(folder)],
                     FULL),
    "html_everywhere": (lambda course, folder: [
        (folder / NOTEBOOK).write_bytes(solved(course, lambda nb: [
            nb.cells.insert(1, nbformat.v4.new_markdown_cell(HTML_MARKDOWN)),
            nb.cells.append(nbformat.v4.new_code_cell(HTML_OUTPUTS)),
            nb.metadata.update(title="</title><script>alert('title')</script>")])),
        (folder / "<img src=x onerror=alert('name')>.txt").symlink_to("/etc/passwd")], FULL),
    "forges_with_hooks": (lambda course, folder: (folder / NOTEBOOK).write_bytes(solved(course, lambda nb: [
        setattr(cell_of(nb, "wordpiece"), "source", STUB_WORDPIECE),
        nb.cells.insert(nb.cells.index(cell_of(nb, "wordpiece")), nbformat.v4.new_code_cell(FORGING_HOOKS))])),
        {**FULL, **WORDPIECE}),
    "forged_timestamp": (lambda course, folder: [(folder / NOTEBOOK).write_bytes(solved(course)),
                                                 (folder / "timestamp.txt").write_text("2000-01-01 00:00:00.000000 UTC")],
                         FULL),
    "garbage_timestamp": (lambda course, folder: [(folder / NOTEBOOK).write_bytes(solved(course)),
                                                  (folder / "timestamp.txt").write_text("yesterday <b>at noon</b>")],
                          FULL),
    "floods_the_sockets": (lambda course, folder: (folder / NOTEBOOK).write_bytes(solved(course, lambda nb:
                           nb.cells.append(nbformat.v4.new_code_cell(SOCKETS_FLOOD)))), FULL),
    "integer_bomb_in_a_try_it_cell": (lambda course, folder: (folder / NOTEBOOK).write_bytes(solved(course, lambda nb:
                                      setattr(try_it_cell(nb), "source", INTEGER_BOMB))), FULL),
    "depth_bomb_in_an_answer": (lambda course, folder: (folder / NOTEBOOK).write_bytes(solved(course, lambda nb:
                                nb.cells.insert(nb.cells.index(cell_of(nb, "embeddings")),
                                                nbformat.v4.new_code_cell(DEPTH_BOMB)))),
                                {**FULL, "test_embeddings_sinusoids": 0}),
    "fifty_thousand_cells": (lambda course, folder: (folder / NOTEBOOK).write_bytes(solved(course, lambda nb:
                             nb.cells.extend(nbformat.v4.new_code_cell("", id=f"empty-{n}") for n in range(50_000)))), FULL),
}
BAD_FOLDERS = ["*", "-rf", "new\nline"]  # each holds a solved notebook, and is set aside, not graded


def sandbox_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("bertlab-sandbox-*")}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    require_sandbox()
    root = tmp_path_factory.mktemp("uploads")
    course = root / "course"
    (root / "canary.txt").write_text("outside the course")
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}\n")
    # nbgrader, through a wrapper that logs each command line (one JSON list a line), outside the
    # folders whose files must not change.
    bin_dir = Path(sys.executable).parent
    tools = tmp_path_factory.mktemp("nbgrader-wrapper")
    wrapper = tools / "nbgrader.sh"
    wrapper.write_text(f"""#!{sys.executable}
import json, os, sys
with open({str(tools / 'nbgrader.log')!r}, "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
os.environ["PATH"] = {str(bin_dir)!r} + ":" + os.environ["PATH"]
os.execv({str(bin_dir / 'nbgrader')!r}, [{str(bin_dir / 'nbgrader')!r}, *sys.argv[1:]])
""")
    wrapper.chmod(0o755)
    steps = {"release": make(course, "release", NBGRADER=str(wrapper))}
    assert steps["release"].returncode == 0, steps["release"].stdout + steps["release"].stderr

    export = root / "export.zip"
    lms_export(course, export)
    before = tree_digest(root, skip=course / "grading")
    sandboxes = sandbox_folders()
    steps["collect"] = make(course, "collect", ASSIGNMENT=ASSIGNMENT, ZIP=str(export), NBGRADER=str(wrapper))

    submitted = course / "grading" / "submitted"
    for student, (build, _) in FOLDERS.items():
        folder = submitted / student / ASSIGNMENT
        folder.mkdir(parents=True)
        build(course, folder)
    for name in BAD_FOLDERS:
        submit(course, ASSIGNMENT, name, fill_in_solutions(course, ASSIGNMENT))

    with PeakMemory() as memory:
        steps["autograde"] = make(course, "autograde", ASSIGNMENT=ASSIGNMENT, JOBS="2", NBGRADER=str(wrapper))
    steps["autograde again"] = make(course, "autograde", ASSIGNMENT=ASSIGNMENT, JOBS="2", NBGRADER=str(wrapper))
    steps["feedback"] = make(course, "feedback", ASSIGNMENT=ASSIGNMENT, NBGRADER=str(wrapper))
    # Names an LMS roster could hold, put in the gradebook before the export: columns and formulas.
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        for student, names in ROSTER.items():
            gradebook.update_or_create_student(student, **names)
    steps["grades"] = make(course, "grades", NBGRADER=str(wrapper))
    steps["similarity"] = make(course, "similarity", ASSIGNMENT=ASSIGNMENT, NBGRADER=str(wrapper))
    return {"course": course, "steps": steps, "before": before, "memory": memory, "log": tools / "nbgrader.log",
            "after": tree_digest(root, skip=course / "grading"), "sandboxes": (sandboxes, sandbox_folders())}


def gradebook_students(course: Path) -> set[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        return {student.id for student in gradebook.students}


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------

def test_every_make_target_exits_0(graded):
    for step, result in graded["steps"].items():
        assert result.returncode == 0, f"make {step} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_the_second_autograde_grades_nobody(graded):
    """Files dated 2099 are no reason to grade again: nothing was handed in since."""
    again = graded["steps"]["autograde again"].stdout
    assert "autograde: 0 graded now" in again, again[-2000:]


def test_collected_students_and_bystanders_keep_full_marks(graded):
    for student, expected in COLLECTED.items():
        assert scores(graded["course"], ASSIGNMENT, student) == expected, student


def test_refused_uploads_are_set_aside_named_and_graded_for_no_one(graded):
    course = graded["course"]
    students = gradebook_students(course)
    submitted = {p.name for p in (course / "grading" / "submitted").iterdir()}
    for student in REFUSED_UPLOADS:
        assert student not in students and student not in submitted, student
    collect = graded["steps"]["collect"].stdout + graded["steps"]["collect"].stderr
    for name in ("eve_attempt.zip", "frank_attempt.zip", "grace_attempt.zip", "heidi_attempt.zip",
                 "ivan_attempt.zip", "dave_attempt1_"):
        assert name in collect, f"make collect does not say what became of {name}:\n{collect[-3000:]}"
    rejected = course / "grading" / "rejected"
    kept = {p.name for p in rejected.rglob("*")}
    assert any(name.startswith("eve_attempt") for name in kept), sorted(kept)[:20]


def test_every_student_id_in_the_gradebook_keeps_to_the_rule(graded):
    from bertlab.autograde.ids import is_student_id

    students = gradebook_students(graded["course"])
    assert students >= {*COLLECTED, *FOLDERS}, students
    assert all(is_student_id(student) for student in students), students


def test_folders_that_are_no_student_id_are_set_aside_not_graded(graded):
    course = graded["course"]
    submitted = {p.name for p in (course / "grading" / "submitted").iterdir()}
    output = graded["steps"]["autograde"].stdout + graded["steps"]["autograde"].stderr
    for name in BAD_FOLDERS:
        assert name not in submitted and name not in gradebook_students(course), repr(name)
    assert "'*'" in output and "'-rf'" in output and "'new\\nline'" in output, output[-3000:]

    # Each valid student graded once, as make autograde says (one line each), by the warm grader:
    # no nbgrader command graded anyone.
    lines = graded["steps"]["autograde"].stdout
    graded_ids = re.findall(rf"^autograde: graded (\S+) \({ASSIGNMENT}\) in ", lines, re.MULTILINE)
    assert sorted(graded_ids) == sorted([*COLLECTED, *FOLDERS]), lines[-3000:]
    assert "autograde: failed to grade" not in lines and " was not graded: " not in output, output[-3000:]
    runs = [json.loads(line) for line in graded["log"].read_text().splitlines()]
    assert not [run for run in runs if "autograde" in run], runs


@pytest.mark.parametrize("student", FOLDERS)
def test_each_folder_earns_exactly_what_its_honest_part_earns(graded, student):
    _, expected = FOLDERS[student]
    assert scores(graded["course"], ASSIGNMENT, student) == expected


def test_the_gradebook_time_is_the_collection_time(graded):
    """A forged, a garbage and a future time stamp alike: the submission's time is when the grader
    collected it, never what the student wrote."""
    from nbgrader.api import Gradebook

    from bertlab.autograde.stamps import collection_time

    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        for student in ("forged_timestamp", "garbage_timestamp", "future_dates", "alice"):
            recorded = collection_time(course / "grading", student, ASSIGNMENT)
            when = gradebook.find_submission(ASSIGNMENT, student).timestamp
            assert recorded is not None and when is not None, student
            assert abs(when.replace(tzinfo=timezone.utc) - recorded).total_seconds() < 1, (student, when, recorded)
            assert datetime(2026, 1, 1, tzinfo=timezone.utc) < recorded < datetime.now(timezone.utc), student


def test_grades_csv_is_the_gradebook_and_starts_no_formula(graded):
    """Read back with the csv module, grades.csv holds the gradebook's rows: ids, names (a comma, a
    quote or a newline in one stays in its cell) and scores, a text that would start a formula shown
    as text (a single quote in front, which a spreadsheet does not display)."""
    from nbgrader.api import Gradebook

    def as_text(value):
        return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value

    course = graded["course"]
    with open(course / "grading" / "grades.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    with Gradebook(f"sqlite:///{course / 'grading' / 'gradebook.db'}") as gradebook:
        expected = {(s.student.id, s.assignment.name): (as_text(s.student.first_name or ""),
                                                        as_text(s.student.last_name or ""),
                                                        as_text(s.student.email or ""), s.score)
                    for s in gradebook.assignment_submissions(ASSIGNMENT)}
    assert {(row["student_id"], row["assignment"]): (row["first_name"], row["last_name"], row["email"],
                                                     float(row["score"])) for row in rows} == expected
    assert {name for row in rows for name in (row["first_name"], row["last_name"])} >= {"O'Brien", "'-2+3"}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")) and not re.match(r"-[^0-9.]", value), row


def test_no_file_outside_grading_changes_and_no_sandbox_is_left(graded):
    assert graded["after"] == graded["before"]
    before, after = graded["sandboxes"]
    assert after <= before, f"sandbox folders left behind: {sorted(after - before)}"


def test_the_grader_memory_stays_bounded(graded):
    assert_memory_measured_and_bounded(graded["memory"], graded["steps"]["autograde"], GRADER_MEMORY_BOUND)
    # make's own measure, getrusage of what it waited for (the worker processes too, each reaped
    # when the run ends, and the kernels), sees at least what /proc showed of the grader's.
    assert graded["steps"]["autograde"].peak >= graded["memory"].peak > 0
    collect = graded["steps"]["collect"].peak
    assert 0 < collect < GRADER_MEMORY_BOUND, f"make collect peak {collect >> 20} MiB"


def test_feedback_names_what_was_ignored(graded):
    from test_attack_class import feedback_html

    course = graded["course"]
    page = feedback_html(course, "nonutf8_notebook")
    assert "nb\\xff.txt" in page, page[:3000]
    assert "notes\\xff.txt" in feedback_html(course, "nonutf8_extra_file")
    forged = feedback_html(course, "forges_with_hooks")
    assert "not counted: answers recorded other than by this test's own code" in forged
    assert "2000-01-01" in feedback_html(course, "forged_timestamp")


def test_every_feedback_page_is_bounded(graded):
    feedback = graded["course"] / "grading" / "feedback"
    pages = list(feedback.rglob("*.html"))
    assert len(pages) >= len(COLLECTED) + len(FOLDERS)
    for page in pages:
        assert page.stat().st_size < FEEDBACK_PAGE_BOUND, (page, page.stat().st_size)


# ------------------------------------------------------------------------------------------------
# Every feedback page in Chromium
# ------------------------------------------------------------------------------------------------

PAGE_STATE = """() => ({
    pwned: window.pwned === undefined ? null : String(window.pwned),
    csp: Array.from(document.querySelectorAll('meta[http-equiv="Content-Security-Policy"]')).map(m => m.content),
    csp_first: document.head.firstElementChild && document.head.firstElementChild.getAttribute('http-equiv'),
    inline_scripts: Array.from(document.scripts).filter(s => !s.src).length,
    handlers: document.querySelectorAll('[onerror],[onload],[onclick],[srcdoc],iframe,object,embed').length,
    js_links: Array.from(document.querySelectorAll('a[href]')).filter(a => /^\\s*javascript:/i.test(a.getAttribute('href'))).length,
    formulas: document.querySelectorAll('mjx-container').length,
})"""


def test_every_feedback_page_runs_no_script_and_typesets_its_formulas(graded):
    from test_rendered_book import CHROMIUM_ARGS, chromium_path, require_browser

    sync_api = require_browser()
    feedback = graded["course"] / "grading" / "feedback"
    pages = sorted(feedback.rglob("*.html"))
    assert pages
    problems = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        for page_path in pages:
            page = browser.new_page()
            events = []
            page.on("dialog", lambda dialog: (events.append(f"dialog {dialog.message}"), dialog.dismiss()))
            page.on("pageerror", lambda error: events.append(f"page error {error}"))
            # (A missing file is a console error too: the request listener below judges those.)
            page.on("console", lambda message: events.append(f"console {message.type}: {message.text}")
                    if message.type in ("error", "warning") and "Failed to load resource" not in message.text
                    else None)
            folder = page_path.parent.as_uri()
            page.on("request", lambda request: None if request.url.startswith(folder) or request.url.startswith("data:")
                    else events.append(f"request {request.url}"))
            page.goto(page_path.as_uri(), wait_until="load")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
            page.evaluate("() => MathJax.startup.promise")
            state = page.evaluate(PAGE_STATE)
            page.close()
            where = page_path.relative_to(feedback)
            csp = " ".join(state["csp"])
            if (state["pwned"] or events or state["inline_scripts"] or state["handlers"] or state["js_links"]
                    or "script-src" not in csp or "'unsafe-inline'" in csp.split("script-src")[1].split(";")[0]
                    or state["csp_first"] != "Content-Security-Policy" or state["formulas"] == 0):
                problems.append(f"{where}: {state} {events[:5]}")
        browser.close()
    assert not problems, "\n".join(problems)
