"""A hostile class, graded the way an instructor grades a large class (README "Grading a large
class"): `make release`, `make autograde SCHEDULER=... DB=...`, `make feedback`, `make grades`, in a
private course folder (the repository's Makefile and config), on a PostgreSQL server and a Dask
scheduler with two workers, each its own process on 127.0.0.1 (tests/services.py). The same
promises hold as on one machine (tests/test_attack_class_uploads.py grades a hostile class there).

Every attacker hands in the full solution of assignment 1 and, besides it, one attack on the
grading machinery: files that are not what they seem (symlinks to the solutions, to a classmate,
to the gradebook, a dangling link, a FIFO, a sparse 2 GB file), a process-slot hog graded next to
honest students, messages the grader cannot decode, every kind of nbgrader metadata edit, floods of
text, images, disk and /tmp, and a loop that ignores interrupts. The promises:

- each attacker scores exactly what the honest part of their notebook earns (a notebook that is a
  link earns 0: it is not the student's work), and the honest students keep full marks;
- no file outside `grading/` changes, and nothing of the instructor's reaches `grading/feedback/`
  (no link; no piece of a solution, the gradebook or a system file, nor of a hidden test: searched
  for by fragment, tests/leaks.py);
- each process of the grader (the warm graders in its worker processes) stays under
  GRADER_MEMORY_BOUND of memory whatever the floods;
- `make autograde` exits 0, since every student got a grade.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from leaks import (cell_sources, held_pieces, hidden_source, normalised, notebook_text, own_notebooks,
                   secret_pieces, shown_text)
from services import dask_cluster, postgres_server, require_postgres
from test_exercises import (CLASS, ROOT, assert_no_hidden_test_shown, failed_tests, fill_in_solutions,
                            require_sandbox, scores, submit)

ASSIGNMENT = "01_input_embeddings"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
FULL = CLASS[ASSIGNMENT].points
NOTHING = {cell: 0 for cell in FULL}
PART_3 = {cell: 0 for cell in FULL if cell.startswith("test_embeddings")}

# The limits this class is graded under (short, to keep the test quick); the rest is the course's config.
CELL_TIMEOUT = 20
# Each process of the grader (`python -m bertlab.autograde autograde` and its warm graders, Dask's
# worker processes, each grading student after student) may hold this much memory at its peak,
# floods or not. (Without the caps, 200 MB of output took one `nbgrader autograde` to 1.3 GB, and
# 10 s of printing to 5.2 GB.)
GRADER_MEMORY_BOUND = 1 << 30


def cell_of(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def solved_with(*, before: dict[str, str] | None = None, after: dict[str, str] | None = None, edit_nb=None):
    """An edit for `submit`: the full solution, with a new code cell of the student's before (or
    after) the cells named, and then `edit_nb(nb)`."""
    def edit(course):
        solve = fill_in_solutions(course, ASSIGNMENT)

        def apply(name, nb):
            solve(name, nb)
            for where, cells in (("before", before or {}), ("after", after or {})):
                for grade_id, code in cells.items():
                    at = nb.cells.index(cell_of(nb, grade_id)) + (where == "after")
                    nb.cells.insert(at, nbformat.v4.new_code_cell(code))
            if edit_nb:
                edit_nb(nb)
        return apply
    return edit


def last_cell(code):
    """The full solution with `code` in a cell of its own at the end of the notebook."""
    def edit_nb(nb):
        nb.cells.append(nbformat.v4.new_code_cell(code))
    return solved_with(edit_nb=edit_nb)


# -- nbgrader metadata edits -------------------------------------------------------------------------

def _meta(grade_id):
    return lambda nb: cell_of(nb, grade_id).metadata["nbgrader"]


def solution_marked_graded(nb):
    _meta("wordpiece")(nb).update(grade=True, points=100)


def grade_flag_removed_from_a_test(nb):
    _meta("test_pair_layout_tokens")(nb)["grade"] = False


def grade_id_duplicated(nb):
    copy = nbformat.from_dict(cell_of(nb, "pair_layout"))
    copy.id = "a-copy-of-pair-layout"
    copy.source = "# my notes on pair_layout\n" + copy.source
    nb.cells.insert(nb.cells.index(cell_of(nb, "pair_layout")) + 1, copy)


def new_cell_claims_a_test_id(nb):
    cell = nbformat.v4.new_code_cell("print('this is my test now')")
    cell.metadata["nbgrader"] = {**cell_of(nb, "test_wordpiece_unknown_words").metadata["nbgrader"]}
    nb.cells.insert(1, cell)


def bonus_test_cell(nb):
    cell = nbformat.v4.new_code_cell("assert True  # a bonus for me")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 50,
                                 "grade_id": "test_my_bonus", "schema_version": 3}
    nb.cells.append(cell)


# -- the attacks that live in the student's code -------------------------------------------------------

# A helper process forks until the process limit stops it, and its children hold their slots for
# 15 s, while the kernel sleeps until they are gone (within the cell's time limit): the student's
# own parts run after that. With one user for every sandbox, the honest students graded meanwhile
# could not start a thread.
PROCESS_HOG = """\
import os, time
if os.fork() == 0:
    children = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(15)
                os._exit(0)
            children += 1
    except OSError:
        pass
    while True:
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)
time.sleep(17)
os.wait()
"""

# A value whose JSON the grader cannot decode: a 20,000-digit integer (Python's decoder refuses
# integers over 4,300 digits) and a list nested 5,000 deep (past the decoder's recursion limit). The
# kernel lifts both limits for itself first, so that it can send them.
HUGE_INTEGER = """\
import sys
sys.set_int_max_str_digits(0)
from IPython.display import display
display({"application/json": {"n": 10 ** 20000}}, raw=True)
"""
DEEP_LIST = """\
import sys
sys.setrecursionlimit(100_000)
from IPython.display import display
deep = []
for _ in range(5000):
    deep = [deep]
display({"application/json": {"deep": deep}}, raw=True)
"""

TEXT_FLOOD_ONE_LINE = 'print("x" * 200_000_000)'
TEXT_FLOOD_FOR_10_S = """\
import time
start = time.time()
while time.time() - start < 10:
    print("y" * 1000)
"""
IMAGE_FLOOD = """\
from IPython.display import display
display({"image/png": "iVBORw0KGgo" + "A" * 100_000_000}, raw=True)
"""
# Writes 1 GiB into each folder, in files under the per-file limit, until the folder is full;
# says how far it got, cleans up and goes on.
DISK_FLOOD = """\
import os
for folder in ["/tmp", os.getcwd()]:
    written, files = 0, []
    try:
        while written < 1 << 30:
            files.append(os.path.join(folder, f"flood{len(files)}"))
            with open(files[-1], "wb") as out:
                for _ in range(32):
                    out.write(b"z" * (1 << 20))
                    written += 1 << 20
    except OSError as error:
        print(folder, "full after", written >> 20, "MiB:", error)
    finally:
        for name in files:
            if os.path.exists(name):
                os.remove(name)
"""
# Its handler swallows the interrupt a cell past its time limit is sent (a `try`/`except
# KeyboardInterrupt` around the loop would sometimes be interrupted outside the `try`).
IGNORES_INTERRUPTS = """\
import signal
signal.signal(signal.SIGINT, lambda signum, frame: None)
while True:
    pass
"""

# student: (their submission (an edit for `submit`), the scores it must get (cells not named: full
# marks), what their feedback must say (None: nothing in particular))
IN_THE_CODE = {
    "hogs_process_slots": (solved_with(before={"wordpiece": PROCESS_HOG}), {}, None),
    # (Their poison is in an ungraded cell: it costs nothing; the cell says what was not kept.)
    "sends_a_huge_integer": (solved_with(before={"embeddings": HUGE_INTEGER}), {},
                             "an output the grader could not read (ValueError"),
    "sends_a_deep_list": (solved_with(before={"pair_layout": DEEP_LIST}), {},
                          "an output the grader could not read (data nested too deep"),
    "floods_one_line": (last_cell(TEXT_FLOOD_ONE_LINE), {}, "output too large"),
    "floods_for_10_s": (last_cell(TEXT_FLOOD_FOR_10_S), {}, "output"),
    "floods_an_image": (last_cell(IMAGE_FLOOD), {}, "output too large"),
    "floods_the_disk": (last_cell(DISK_FLOOD), {}, "No space left on device"),
    "ignores_interrupts": (solved_with(before={"embeddings": IGNORES_INTERRUPTS}), PART_3,
                           "did not stop when interrupted"),
    "marks_a_solution_graded": (solved_with(edit_nb=solution_marked_graded), {}, None),
    "marks_a_test_not_graded": (solved_with(edit_nb=grade_flag_removed_from_a_test), {}, None),
    "duplicates_a_grade_id": (solved_with(edit_nb=grade_id_duplicated), {}, None),
    "claims_a_test_id": (solved_with(edit_nb=new_cell_claims_a_test_id), {}, None),
    "adds_a_bonus_test": (solved_with(edit_nb=bonus_test_cell), {}, None),
}


# -- the attacks that are files --------------------------------------------------------------------------

def link_to_the_solutions(course, folder):
    (folder / NOTEBOOK).symlink_to(course / "solutions" / ASSIGNMENT / NOTEBOOK)


def link_to_a_classmate(course, folder):
    (folder / NOTEBOOK).symlink_to(course / "grading" / "submitted" / "honest_1" / ASSIGNMENT / NOTEBOOK)


def dangling_link_into_the_solutions(course, folder):
    # Were the grader to write its stand-in through it, a notebook of the student's would land in solutions/.
    (folder / NOTEBOOK).symlink_to(course / "solutions" / ASSIGNMENT / "planted.ipynb")


def fifo(course, folder):
    os.mkfifo(folder / NOTEBOOK)


def extra_links(course, folder):
    (folder / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "grades.db").symlink_to(course / "grading" / "gradebook.db")
    (folder / "answers.ipynb.txt").symlink_to(course / "solutions" / ASSIGNMENT / NOTEBOOK)
    (folder / "gone.txt").symlink_to(course / "nowhere")


def sparse_2_gb(course, folder):
    with open(folder / "data.bin", "wb") as out:
        out.truncate(2 << 30)


# student: (what they put in their folder, whether a solved notebook goes with it, the scores,
#           what their feedback must say)
AS_FILES = {
    "links_to_the_solutions": (link_to_the_solutions, False, NOTHING, f"'{NOTEBOOK}' (a symbolic link)"),
    "links_to_a_classmate": (link_to_a_classmate, False, NOTHING, f"'{NOTEBOOK}' (a symbolic link)"),
    "dangling_link": (dangling_link_into_the_solutions, False, NOTHING, f"'{NOTEBOOK}' (a symbolic link)"),
    "hands_in_a_fifo": (fifo, False, NOTHING, f"'{NOTEBOOK}' (a named pipe (FIFO))"),
    "extra_links": (extra_links, True, {}, "'grades.db' (a symbolic link)"),
    "sparse_file": (sparse_2_gb, True, {}, "'data.bin' (2.0 GiB, over the 1.0 MiB an extra file may be)"),
}
HONEST = ["honest_1", "honest_2", "honest_3", "honest_4"]


# ------------------------------------------------------------------------------------------------
# The course folder and the instructor's make targets
# ------------------------------------------------------------------------------------------------

def make(course: Path, *target: str, **variables: str) -> subprocess.CompletedProcess:
    """`make TARGET` in the private course, with this test's venv (nothing is installed)."""
    venv = Path(sys.executable).parent.parent
    args = ["make", "--no-print-directory", *target, f"VENV={venv}", *(f"{k}={v}" for k, v in variables.items())]
    return subprocess.run(args, cwd=course, capture_output=True, text=True)


def tree_digest(root: Path, skip: Path) -> dict[str, str]:
    """Every entry under `root` but `skip`, as it is (links not followed): kind, and content or target."""
    digest = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == skip or skip in Path(folder).parents:
            continue
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                digest[str(path)] = "link -> " + os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                digest[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digest[str(path)] = f"mode {info.st_mode:o}"
    return digest


class PeakMemory:
    """The highest VmHWM (peak resident memory) of any of the grader's processes seen while this
    watches: each `python -m bertlab.autograde autograde` process and its descendants that run as
    its own user (the warm graders in Dask's worker processes, which multiprocessing starts), not
    the sandboxed kernels, which run as users of their own and are limited by the sandbox. /proc is
    read every 0.2 s; a process's VmHWM is its peak so far. `seen` holds each process measured,
    by id: its highest VmHWM; `commands` its command line."""

    def __init__(self, roots: list[int] = ()):
        self.roots = list(roots)  # more processes of the grader's: a cluster's `dask worker`s
        self.peak, self.seen, self.commands, self.stop = 0, {}, {}, threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    @staticmethod
    def processes() -> dict[int, tuple[int, int, list[bytes]]]:
        """Every process now: id -> (parent's id, real user id, command line)."""
        found = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                parent = int(re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE).group(1))
                uid = int(re.search(r"^Uid:\s+(\d+)", status, re.MULTILINE).group(1))
            except (OSError, AttributeError):
                continue
            found[int(pid)] = (parent, uid, command)
        return found

    def graders(self) -> dict[int, int]:
        """The grader's processes now: each `-m bertlab.autograde autograde` process and its
        descendants of the same real user, id -> user; their command lines go to `commands`."""
        processes = self.processes()
        graders = {pid: uid for pid, (_, uid, command) in processes.items()
                   if command[1:4] == [b"-m", b"bertlab.autograde", b"autograde"] or pid in self.roots}
        children: dict[int, list[int]] = {}
        for pid, (parent, _, _) in processes.items():
            children.setdefault(parent, []).append(pid)
        stack = [(pid, uid) for pid, uid in graders.items()]
        while stack:
            pid, uid = stack.pop()
            for child in children.get(pid, []):
                if child not in graders and processes[child][1] == uid:
                    graders[child] = uid
                    stack.append((child, uid))
        for pid in graders:
            self.commands.setdefault(pid, b" ".join(processes[pid][2]).decode(errors="replace")[:200])
        return graders

    def watch(self):
        while not self.stop.is_set():
            for pid in self.graders():
                try:
                    hwm = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
                    self.seen[pid] = max(self.seen.get(pid, 0), int(hwm.group(1)) << 10)
                except (OSError, AttributeError):
                    continue
            self.peak = max(self.seen.values(), default=0)
            time.sleep(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def grading_processes(result: subprocess.CompletedProcess) -> set[int]:
    """The processes that graded, as `make autograde` names them: `autograde: graded <student>
    (<assignment>) in 4.1 s (<host>, process <pid>)`, or `failed to grade`."""
    return {int(pid) for pid in re.findall(r"^autograde: (?:graded|failed to grade) .* \(.*, process (\d+)\)$",
                                           result.stdout, re.MULTILINE)}


def assert_memory_measured_and_bounded(memory: PeakMemory, autograde: subprocess.CompletedProcess, bound: int):
    """Every process `make autograde` says graded a submission was measured (so the bound cannot
    pass by measuring nothing), and no process of the grader's went over `bound` bytes."""
    workers = grading_processes(autograde)
    assert workers, f"make autograde names no process that graded:\n{autograde.stdout[-3000:]}"
    assert workers <= set(memory.seen), f"processes that graded, never measured: {sorted(workers - set(memory.seen))}"
    assert all(memory.seen[pid] > 0 for pid in workers), {pid: memory.seen[pid] for pid in workers}
    over = {f"{pid} ({memory.commands[pid]})": f"{peak >> 20} MiB"
            for pid, peak in memory.seen.items() if peak >= bound}
    assert not over, f"over {bound >> 20} MiB: {over} (the graders: {sorted(workers)})"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    require_sandbox()
    require_postgres()
    top = tmp_path_factory.mktemp("attack")
    course = top / "course"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}\n")
    released = make(course, "release")
    assert released.returncode == 0, released.stdout + released.stderr

    for student in HONEST:
        submit(course, ASSIGNMENT, student, fill_in_solutions(course, ASSIGNMENT))
    for student, (edit, _, _) in IN_THE_CODE.items():
        submit(course, ASSIGNMENT, student, edit(course))
    for student, (plant, with_notebook, _, _) in AS_FILES.items():
        folder = course / "grading" / "submitted" / student / ASSIGNMENT
        if with_notebook:
            submit(course, ASSIGNMENT, student, fill_in_solutions(course, ASSIGNMENT))
        else:
            folder.mkdir(parents=True)
        plant(course, folder)

    with postgres_server() as db:
        # The one machine's gradebook.db stays beside (an instructor's file a link may aim at).
        (course / "grading" / "gradebook-url.txt").write_text(db)  # for test_exercises.scores
        released = make(course, "release", DB=db)
        assert released.returncode == 0, released.stdout + released.stderr
        before = tree_digest(course, skip=course / "grading")
        with dask_cluster(top / "dask", workers=2) as cluster:
            with PeakMemory(roots=[worker.pid for worker in cluster.workers]) as memory:
                graded = make(course, "autograde", ASSIGNMENT=ASSIGNMENT, SCHEDULER=cluster.address, DB=db)
        feedback = make(course, "feedback", ASSIGNMENT=ASSIGNMENT, DB=db)
        grades = make(course, "grades", DB=db)
        yield {"course": course, "before": before, "after": tree_digest(course, skip=course / "grading"),
               "memory": memory, "autograde": graded, "feedback": feedback, "grades": grades}


def feedback_html_raw(course: Path, student: str) -> str:
    pages = sorted((course / "grading" / "feedback" / student / ASSIGNMENT).glob("*.html"))
    assert pages, f"no feedback for {student}"
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def feedback_html(course: Path, student: str) -> str:
    """The student's feedback, words only (a message may be wrapped across lines)."""
    return " ".join(html.unescape(feedback_html_raw(course, student)).split())


# ------------------------------------------------------------------------------------------------
# The tests
# ------------------------------------------------------------------------------------------------

def test_every_make_target_succeeds(graded_class):
    for step in ("autograde", "feedback", "grades"):
        result = graded_class[step]
        assert result.returncode == 0, f"make {step} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def test_honest_students_keep_full_marks(graded_class):
    for student in HONEST:
        assert scores(graded_class["course"], ASSIGNMENT, student) == FULL, student


@pytest.mark.parametrize("student", IN_THE_CODE)
def test_an_attack_in_the_code_earns_exactly_what_the_honest_part_earns(graded_class, student):
    _, lost, reason = IN_THE_CODE[student]
    assert scores(graded_class["course"], ASSIGNMENT, student) == {**FULL, **lost}
    if reason:
        assert reason in feedback_html(graded_class["course"], student)


@pytest.mark.parametrize("student", AS_FILES)
def test_an_attack_by_file_earns_exactly_what_the_honest_part_earns(graded_class, student):
    _, _, lost, reason = AS_FILES[student]
    assert scores(graded_class["course"], ASSIGNMENT, student) == {**FULL, **lost}
    assert reason in feedback_html(graded_class["course"], student)


def test_the_grades_export_lists_every_student(graded_class):
    exported = (graded_class["course"] / "grading" / "grades.csv").read_text()
    for student in [*HONEST, *IN_THE_CODE, *AS_FILES]:
        assert student in exported


def test_no_file_outside_grading_changes(graded_class):
    assert graded_class["after"] == graded_class["before"]


def test_nothing_of_the_instructors_reaches_the_feedback(graded_class):
    """Feedback holds plain files of a sane size, and no piece of an instructor's file
    (tests/leaks.py): not of /etc/passwd, the gradebook or the solution notebook as they are on
    disk, nor of /etc/passwd or the solution's code as a page shows text. What the released
    notebook and the student's own notebook hold is theirs to see, and so are the messages of the
    hidden tests they failed (a failing verdict names its case)."""
    course = graded_class["course"]
    solution, released = (course / folder / ASSIGNMENT / NOTEBOOK for folder in ("solutions", "exercises"))
    on_disk = {"/etc/passwd": Path("/etc/passwd").read_bytes(), "the solution notebook": solution.read_bytes(),
               "the gradebook": (course / "grading" / "gradebook.db").read_bytes()}
    solution_code = [cell for cell in nbformat.read(solution, as_version=4).cells
                     if cell.metadata.get("nbgrader", {}).get("solution")]
    as_text = {"/etc/passwd": normalised(on_disk["/etc/passwd"].decode(errors="replace")),
               "the solution's code": notebook_text({"cells": solution_code})}
    assert len(on_disk["the gradebook"]) > 4096 and solution_code
    hidden = hidden_source([solution], [released])

    pieces = {}  # student -> ({piece on disk: whose}, {piece as text: whose})

    def secrets_for(student):
        """The pieces of the secrets that are not the student's to see: not in the released
        notebook, nor in their own, nor in the verdicts of the hidden tests they failed."""
        if student not in pieces:
            theirs = [released, *own_notebooks(course, ASSIGNMENT, student)]
            public = [form for path in theirs for form in (path.read_bytes(), cell_sources(path).encode())]
            failed = failed_tests(course, ASSIGNMENT, student)
            public += [literal.encode() for literal, cells in hidden.literals.items() if cells & failed]
            raw = {what: secret_pieces(secret, *public) for what, secret in on_disk.items()}
            text = {what: secret_pieces(secret, notebook_text(*theirs)) for what, secret in as_text.items()}
            assert all(raw.values()) and all(text.values()), f"no distinctive piece of a secret for {student}"
            pieces[student] = tuple({piece: what for what, found in secrets.items() for piece in found}
                                    for secrets in (raw, text))
        return pieces[student]

    feedback = course / "grading" / "feedback"
    for folder, dirs, files in os.walk(feedback):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            assert stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode), f"{path} is not a plain file"
            assert info.st_size < 16 << 20, f"{path} is {info.st_size} bytes"
            if stat.S_ISREG(info.st_mode):
                raw, text = secrets_for(path.relative_to(feedback).parts[0])
                content = path.read_bytes()
                held = held_pieces(content, raw)
                assert not held, f"{path} holds pieces of {sorted({raw[p] for p in held})}: {sorted(held)[:3]}"
                seen = held_pieces(shown_text(content.decode(errors="replace")), text)
                assert not seen, f"{path} shows pieces of {sorted({text[p] for p in seen})}: {sorted(seen)[:3]}"


def test_no_feedback_shows_a_hidden_test(graded_class):
    """No piece of the assignment's hidden tests (tests/leaks.py) in anyone's feedback, honest or
    attacking: no 30 characters of their code, and none of their inputs, seeds or messages where
    the test passed."""
    assert_no_hidden_test_shown(graded_class["course"], ASSIGNMENT, [*HONEST, *IN_THE_CODE, *AS_FILES])


def test_the_grader_memory_stays_bounded(graded_class):
    assert_memory_measured_and_bounded(graded_class["memory"], graded_class["autograde"], GRADER_MEMORY_BOUND)
