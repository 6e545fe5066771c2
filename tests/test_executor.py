"""The executor and its sandbox (bertlab/autograde/executor.py, sandbox.py): nothing one submission
does costs another student anything, and what it costs its own author is bounded and explained.

- No limit is shared: each sandbox that runs at the same time has a user id of its own (so
  `RLIMIT_NPROC` is per sandbox), a bounded /tmp and working folder, and leaves no process behind.
- Output is capped while it is produced, per cell and per notebook, and a message too large to read
  is never read: the cell says what was cut, the grader's memory stays bounded.
- An output the grader cannot decode (a 20,000-digit integer, nesting 5,000 deep, bad UTF-8) costs
  only itself: the cell says so and the next one runs; a channel it cannot read ends that notebook
  only, with the reason; nbgrader goes on.
- A test's answers are the ones its own code records: a hook, a thread or another cell cannot add
  to them, and the cell names what was not counted.
- The sandbox leaves nothing on the host: the kernel's sockets are on a 1 MiB tmpfs of its own,
  and its folder on the host goes however deep a tree is in it.
- A cell that ignores the interrupt after its timeout has its kernel stopped within a grace period.

The first tests need no kernel; the rest run the real SandboxedExecute on small notebooks, or grade
a class of assignment 1 through `nbgrader autograde`, two students at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from test_exercises import (CLASS, autograde_each, feedback_text, fill_in_solutions, nbgrader, new_course,
                            require_sandbox, scores, submit)
from test_grading_isolation import attack

from bertlab.answers import MIME, read_records  # noqa: E402
from bertlab.autograde.executor import (RUN_NOTES, UNREADABLE, GraderSession, SandboxedExecute,  # noqa: E402
                                        unpack_within_limits)
from bertlab.autograde.sandbox import (LOCKS, SandboxLimits, SandboxUnavailable, processes_of,  # noqa: E402
                                       remove_tree, sandbox_command, sandbox_user)

ASSIGNMENT = "01_input_embeddings"
FULL = CLASS[ASSIGNMENT].points
PARTS_2_AND_3 = {cell: 0 for cell in FULL if cell.startswith(("test_pair_layout", "test_embeddings"))}
CELL_TIMEOUT, GRACE = 10, 5  # short, to keep the test quick (the course's: 60 s and 10 s)
MiB = 1 << 20


# ------------------------------------------------------------------------------------------------
# Without a kernel
# ------------------------------------------------------------------------------------------------

def test_the_sandbox_bounds_tmp_and_its_working_folder_and_runs_as_the_user_it_is_given(tmp_path):
    require_sandbox()
    limits = SandboxLimits(tmp_bytes=3 * MiB, work_bytes=5 * MiB)
    command = sandbox_command(connection_file=tmp_path / "connection.json", uid=2_000_000_123, limits=limits)
    assert command[command.index("/tmp") - 3:command.index("/tmp") + 1] == ["--size", str(3 * MiB), "--tmpfs", "/tmp"]
    assert command[command.index("/submission") - 3:command.index("/submission") + 1] == [
        "--size", str(5 * MiB), "--tmpfs", "/submission"]
    # The kernel's sockets: on a tmpfs of 1 MiB of the sandbox's own, nothing of the host's bound writable.
    assert command[command.index("/run/kernel") - 3:command.index("/run/kernel") + 1] == [
        "--size", str(MiB), "--tmpfs", "/run/kernel"]
    assert "--bind" not in command
    assert command[command.index("/run/connection.json") - 2:command.index("/run/connection.json") + 1] == [
        "--ro-bind", str(tmp_path / "connection.json"), "/run/connection.json"]
    assert "--reuid=2000000123" in command and "--unshare-pid" in command and "--die-with-parent" in command


def test_sandboxes_at_the_same_time_get_different_users_and_give_them_back(tmp_path):
    uids = range(2_000_000_200, 2_000_000_203)
    with sandbox_user(uids, tmp_path) as first, sandbox_user(uids, tmp_path) as second:
        assert first != second
    with sandbox_user(uids, tmp_path) as again:
        assert again == first  # the lock went with the sandbox


def test_a_lock_folder_others_could_write_to_is_refused(tmp_path):
    """The user ids' lock folder lives in the host's /tmp: one another user made (or opened up)
    could hand out ids that are in use, so grading refuses it, saying what to do."""
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(0o777)
    with pytest.raises(SandboxUnavailable, match="must be a folder of the grading user's own, mode 0700"):
        with sandbox_user(range(2_000_000_220, 2_000_000_221), locks):
            pass


def test_a_user_id_that_a_process_runs_as_is_not_claimed(tmp_path):
    """A process outliving its sandbox (or anything else running as an id of the pool) keeps that
    id out of use: a new sandbox's process limit must not be shared with it."""
    require_sandbox()
    uids = range(2_000_000_210, 2_000_000_212)
    squatter = subprocess.Popen(["setpriv", f"--reuid={uids[0]}", f"--regid={uids[0]}", "--clear-groups",
                                 "sleep", "60"])
    try:
        deadline = time.monotonic() + 5
        while not processes_of(uids[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        with sandbox_user(uids, tmp_path) as uid:
            assert uid == uids[1]
    finally:
        squatter.kill()
        squatter.wait()


def test_a_tree_of_any_depth_is_removed_without_following_its_links(tmp_path):
    """3,000 folders deep: shutil.rmtree (recursive in Python 3.11) fails there with RecursionError,
    and the path is past PATH_MAX. A link inside leads out of the tree: what it points to stays."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the tree's")
    tree = tmp_path / "tree"
    tree.mkdir()
    folder = os.open(tree, os.O_RDONLY | os.O_DIRECTORY)
    for depth in range(3000):
        os.mkdir("d", dir_fd=folder)
        inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=folder)
        os.close(folder)
        folder = inner
        if depth % 1000 == 999:
            with open(os.open("file", os.O_WRONLY | os.O_CREAT, dir_fd=folder), "w") as file:
                file.write("x")
            os.symlink(outside, "link", dir_fd=folder)
    os.close(folder)
    with pytest.raises(RecursionError):
        import shutil
        shutil.rmtree(tree)
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep.txt").read_text() == "not the tree's"


def test_remove_tree_refuses_a_link_in_place_of_the_folder(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "keep.txt").write_text("kept")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError):
        remove_tree(tmp_path / "link")
    assert (tmp_path / "real" / "keep.txt").read_text() == "kept"


@pytest.mark.parametrize("frame, why", [
    (b'{"n": ' + b"9" * 20_000 + b"}", "ValueError: Exceeds the limit"),
    (b"[" * 5000 + b"]" * 5000, "data nested too deep"),
    (b'{"x": ' + b"[" * 150 + b"]" * 150 + b"}", "data nested more than 100 deep"),
    (b'{"text": "\xff\xfe"}', "text that is not UTF-8"),
    (b'{"text": "\\ud800 alone"}', "text with a lone surrogate"),
    (b'{"x": NaN}', "NaN is not JSON"),
    (b"[1, 2]", "a part of the message that is a list"),
])
def test_a_message_part_beyond_the_limits_is_named_not_raised(frame, why):
    assert why in unpack_within_limits(frame)[UNREADABLE]


def test_message_parts_within_the_limits_are_read_as_they_are():
    # (Escaped: a pair of surrogates is one character, as JSON spells it.)
    assert unpack_within_limits(rb'{"text": "caf\u00e9 \ud83d\ude00", "n": [1, [2.5]]}') == {
        "text": "caf\u00e9 \U0001F600", "n": [1, [2.5]]}


def signed(session: GraderSession, msg_type: str, content: bytes) -> list[bytes]:
    """A message as a kernel with the session's key would send it, with `content` as its raw JSON."""
    parts = [json.dumps(part).encode() for part in (
        {"msg_id": "m1", "msg_type": msg_type, "session": "s", "username": "u",
         "date": "2026-01-01T00:00:00Z", "version": "5.3"}, {"msg_id": "parent"}, {})] + [content]
    return [hmac.new(session.key, b"".join(parts), hashlib.sha256).hexdigest().encode(), *parts]


def test_an_unreadable_reply_becomes_an_error_reply_and_a_bad_signature_still_raises():
    session = GraderSession(key=b"secret")
    reply = session.deserialize(signed(session, "execute_reply", b"[" * 5000 + b"]" * 5000))
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "UnreadableMessage"
    output = session.deserialize(signed(session, "display_data", b'{"data": {"n": ' + b"9" * 20_000 + b"}}"))
    assert "ValueError" in output["content"][UNREADABLE]
    forged = signed(session, "stream", b'{"name": "stdout", "text": "x"}')
    forged[0] = b"0" * 64
    with pytest.raises(ValueError, match="Invalid Signature"):
        session.deserialize(forged)


# ------------------------------------------------------------------------------------------------
# The real executor, on small notebooks
# ------------------------------------------------------------------------------------------------

def execute(*cells: str, **options) -> list[list]:
    """Run the cells in a sandboxed kernel as grading does; each cell's outputs."""
    require_sandbox()
    nb = new_notebook(cells=[new_code_cell(source) for source in cells])
    executor = SandboxedExecute(timeout=CELL_TIMEOUT, interrupt_on_timeout=True, interrupt_grace_seconds=GRACE,
                                log=logging.getLogger("test_executor"), **options)
    nb, _ = executor.preprocess(nb, {})
    return [cell.outputs for cell in nb.cells]


def text_of(outputs) -> str:
    return "\n".join(o.get("text", "") + o.get("evalue", "") + "\n".join(o.get("traceback", [])) for o in outputs)


def test_output_past_a_cells_cap_is_cut_with_a_note_and_the_next_cell_starts_afresh():
    outputs = execute('for _ in range(40):\n    print("y" * 100_000, flush=True)',
                      'from IPython.display import display\nimport base64\n'
                      'for _ in range(20):\n'
                      '    display({"image/png": base64.b64encode(bytes(700_000)).decode()}, raw=True)',
                      'print("next")', cell_output_bytes=2 * MiB)
    for cut in outputs[:2]:
        assert sum(len(str(o)) for o in cut) < 2 * MiB + 200_000
        assert "output cut: this cell printed more than 2 MiB; the rest was not kept." in text_of(cut)
    # (Under load the kernel may split or flush its stdout once more, empty: only what it says counts.)
    assert text_of(outputs[2]).strip() == "next"


def test_a_tests_recorded_answers_are_kept_however_much_the_student_prints():
    """The answers a test cell records are the test's data: printing past the cell's cap (a debug
    print in the student's function, called by the test) must not cost them, nor must answers of
    a few MiB (the largest of the course's tests sends 2.5 MiB)."""
    require_sandbox()
    test = new_code_cell("### INPUTS\nn = 700_000\n### ANSWERS\nprint('p' * 3_000_000)\n"
                         "yours = list(range(n))\n### VERDICT\nassert yours == list(range(n))")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                 "grade_id": "test_prints_a_lot", "schema_version": 3}
    nb = new_notebook(cells=[test])
    executor = SandboxedExecute(timeout=CELL_TIMEOUT, log=logging.getLogger("test_executor"),
                                cell_output_bytes=2 * MiB)
    nb, _ = executor.preprocess(nb, {})
    outputs = nb.cells[0].outputs
    assert "output cut: this cell printed more than 2 MiB" in text_of(outputs)
    answers = [o for o in outputs if o.get("output_type") == "display_data" and MIME in o.get("data", {})]
    assert len(answers) == 1 and len(str(answers[0])) > 2 * MiB


def graded_cell(source: str, grade_id: str):
    cell = new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                 "grade_id": grade_id, "schema_version": 3}
    return cell


def execute_with_tests(*cells) -> tuple[list[list], dict]:
    """Run the cells (a source, or a test cell) as grading does: each cell's outputs, and for each
    test cell (by index) what the judge reads of them (bertlab.answers.Records) and what the
    executor noted (RUN_NOTES)."""
    require_sandbox()
    nb = new_notebook(cells=[new_code_cell(c) if isinstance(c, str) else c for c in cells])
    executor = SandboxedExecute(timeout=CELL_TIMEOUT, log=logging.getLogger("test_executor"))
    resources = {}
    nb, resources = executor.preprocess(nb, resources)
    notes = resources[RUN_NOTES]
    judged = {index: (read_records(nb.cells[index].outputs, note["nonce"]), note)
              for index, note in notes.items()}
    return [cell.outputs for cell in nb.cells], judged


TEST = "### ANSWERS\nyours = answer()\n### VERDICT\nassert yours == 42"
# The attacks on the answers: each records 42, computed elsewhere, for a test whose own code
# computes 41.
POST_RUN_CELL_HOOK = """\
from bertlab.answers import record
def forge(result):
    record({"yours": 42})
get_ipython().events.register("post_run_cell", forge)"""
# Reads the key off the test's source before it runs, and records first.
PRE_RUN_CELL_HOOK = """\
import re
from bertlab.answers import record
def forge(info):
    key = re.search(r", '([0-9a-f]+)'\\)", info.raw_cell or "")
    if key:
        record({"yours": 42}, key.group(1))
get_ipython().events.register("pre_run_cell", forge)"""
THREAD = """\
import threading, time
from bertlab.answers import record
def forge():
    for _ in range(40):
        record({"yours": 42})
        time.sleep(0.05)
threading.Thread(target=forge, daemon=True).start()"""


def test_only_the_test_cells_own_code_records_its_answers():
    """A post_run_cell hook (the hostile class's), a pre_run_cell hook that reads the key off the
    test's source, a thread, a later cell: none of their records counts, and the ones that reach
    a cell are named there."""
    outputs, judged = execute_with_tests(
        "def answer():\n    return 41",
        POST_RUN_CELL_HOOK, PRE_RUN_CELL_HOOK, graded_cell(TEST, "test_hooks"),
        "def answer():\n    time.sleep(0.5)\n    return 41", THREAD, graded_cell(TEST, "test_thread"),
        'from bertlab.answers import record\nrecord({"yours": 42})',  # a later cell
        "print([code for code in In if 'record(' in code and '### ' not in code\n"
        "       and 'answers import' not in code])")
    hooks, _ = judged[3]
    assert hooks.answers == {"yours": 41} and hooks.ignored == ()  # the hooks never ran around the test
    thread, _ = judged[6]
    assert thread.answers == {"yours": 41}
    assert thread.ignored and all("carries no key" in why for why in thread.ignored)
    assert "not kept: answers recorded outside a test cell count for nothing" in text_of(outputs[7])
    assert not any(MIME in o.get("data", {}) for o in outputs[7])
    # No test's source (nor its key) in the kernel's history. (The thread's records may still add a note.)
    assert text_of(outputs[8]).split("\n")[0] == "[]"


def test_an_output_the_grader_cannot_read_costs_only_itself():
    """The hostile class's poisons, each in a cell of its own: the cell says what was not kept and
    the next one runs; a test whose answer it is fails alone, the next test is judged as usual."""
    huge_integer = ("import sys\nsys.set_int_max_str_digits(0)\nfrom IPython.display import display\n"
                    "display({'application/json': {'x': 10 ** 20000}}, raw=True)")
    # Text that is not UTF-8, in a message signed with the kernel's own key.
    bad_utf8 = ("kernel = get_ipython().kernel\n"
                "kernel.session.send(kernel.iopub_socket, 'stream', content=b'{\"name\": \"stdout\", "
                "\"text\": \"\\xff\"}', parent=kernel.get_parent())")
    deep = "def answer():\n    x = []\n    for _ in range(5000):\n        x = [x]\n    return x"
    outputs, judged = execute_with_tests(
        huge_integer, bad_utf8, deep, "import sys\nsys.setrecursionlimit(100_000)",
        graded_cell(TEST, "test_deep"), "def answer():\n    return 42", graded_cell(TEST, "test_after"),
        'print("still running")')
    assert ("not kept: an output the grader could not read (ValueError: Exceeds the limit"
            in text_of(outputs[0]))
    assert "not kept: an output the grader could not read (text that is not UTF-8)" in text_of(outputs[1])
    poisoned, notes = judged[4]
    assert poisoned.answers is None and notes["unreadable"] == ["data nested too deep"]
    assert judged[6][0].answers == {"yours": 42}
    assert text_of(outputs[7]).strip() == "still running"


def sandbox_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("bertlab-sandbox-*")} - {LOCKS.name}


def test_the_sandbox_leaves_nothing_behind_and_bounds_the_sockets_folder():
    """A kernel builds a 3,000-deep chain of folders and writes 1 GiB wherever it can reach outside
    its working folder and /tmp (both bounded): each write fails early, grading goes on, and no
    folder of the sandbox is left in the host's /tmp."""
    before = sandbox_folders()
    chain = ("import os\nfor top in ['/run/kernel', '/tmp', '/submission']:\n    os.chdir(top)\n"
             "    for _ in range(3000):\n        os.mkdir('d')\n        os.chdir('d')\n"
             "os.chdir('/submission')\nprint('chain built')")
    fills = """\
import os
for folder in ["/run/kernel", "/run", "/dev/shm", "/dev", "/", "/var/tmp", "/usr", "/etc"]:
    written = 0
    try:
        with open(os.path.join(folder, "fill"), "wb") as file:
            for _ in range(1024):
                file.write(bytes(1 << 20))
                file.flush()
                written += 1 << 20
    except OSError as error:
        print(folder, written >> 20, "MiB:", type(error).__name__)
    else:
        print(folder, "took 1 GiB")"""
    outputs = execute(chain, fills, 'print("next")')
    assert "chain built" in text_of(outputs[0])
    lines = text_of(outputs[1]).splitlines()
    assert len(lines) == 8 and not any("took 1 GiB" in line for line in lines), lines
    assert all(int(line.split()[1]) <= 1 for line in lines), lines  # the sockets' tmpfs: 1 MiB at most
    assert text_of(outputs[2]) == "next\n"
    assert sandbox_folders() <= before


def test_output_past_the_notebooks_cap_is_cut_in_every_later_cell():
    outputs = execute(*['print("y" * 1_000_000)'] * 4, 'print("z")', cell_output_bytes=2 * MiB,
                      notebook_output_bytes=3 * MiB)
    assert "output cut" not in text_of(outputs[0]) + text_of(outputs[1]) + text_of(outputs[2])
    for cell in outputs[3:]:
        assert "output cut: this notebook printed more than 3 MiB in all; the rest was not kept." in text_of(cell)


def test_a_message_over_the_socket_limit_is_not_read_and_the_cell_says_so():
    """A 200 MB line is one message: ZeroMQ refuses it before the grader holds it. That cell fails
    with the reason; the kernel goes on with the next."""
    started = time.monotonic()
    outputs = execute('print("x" * 200_000_000)\nprint("tail")', 'print("next")')
    assert "output too large: this cell sent an output larger than 8 MiB at once" in text_of(outputs[0])
    assert text_of(outputs[1]) == "next\n"
    assert time.monotonic() - started < CELL_TIMEOUT + 20


def test_a_cell_that_ignores_the_interrupt_has_its_kernel_stopped_after_the_grace():
    started = time.monotonic()
    outputs = execute('print("before")',
                      'import signal\nsignal.signal(signal.SIGINT, lambda *args: None)\nwhile True:\n    pass',
                      'print("never")')
    elapsed = time.monotonic() - started
    assert text_of(outputs[0]) == "before\n"
    assert (f"This cell ran past its {CELL_TIMEOUT} s limit and did not stop when interrupted, so the grader "
            "stopped the kernel") in text_of(outputs[1])
    assert "This cell was not run" in text_of(outputs[2]) and "never" not in text_of(outputs[2])
    assert CELL_TIMEOUT + GRACE <= elapsed < CELL_TIMEOUT + GRACE + 15


# ------------------------------------------------------------------------------------------------
# A class through nbgrader
# ------------------------------------------------------------------------------------------------

# Forks a helper that takes every process slot its sandbox has, keeps them sleeping, and lives on
# while the honest students are graded beside it (its own notebook sleeps meanwhile).
HOG = """\
import os, time
print("uid", os.getuid())
if os.fork() == 0:
    children = 0
    try:
        while True:
            if os.fork() == 0:
                time.sleep(600)
                os._exit(0)
            children += 1
    except OSError as error:
        os.write(1, f"helper: {children} children, then {error}\\n".encode())
        time.sleep(600)
    os._exit(0)
time.sleep(8)"""

WRITES_TO_ITS_OWN_FILE_DESCRIPTORS = """\
import os, subprocess
os.write(1, b"FD-FLOOD-1 " * 100_000)
os.write(2, b"FD-FLOOD-2 " * 100_000)
subprocess.run(["sh", "-c", "yes FD-FLOOD-3 | head -c 1000000"])"""


def fills(folder: str) -> str:
    """Writes 1 GiB to `folder` in files of 32 MiB, and prints where it stopped."""
    return f"""\
import os
written = 0
try:
    for i in range(32):
        with open(os.path.join({folder!r}, f"fill-{{i}}"), "wb") as file:
            for _ in range(32):
                file.write(bytes(1 << 20))
                written += 1 << 20
except OSError as error:
    print("stopped after", written >> 20, "MiB:", error)
for i in range(32):
    if os.path.exists(os.path.join({folder!r}, f"fill-{{i}}")):
        os.remove(os.path.join({folder!r}, f"fill-{{i}}"))"""


IGNORES_INTERRUPTS = "import signal\nsignal.signal(signal.SIGINT, lambda *args: None)\nwhile True:\n    pass"
HUGE_INTEGER = ("import sys\nsys.set_int_max_str_digits(0)\nfrom IPython.display import display\n"
                "display({'application/json': {'x': 10 ** 20000}}, raw=True)")
DEEP_LIST = ("import sys\nsys.setrecursionlimit(100_000)\nfrom IPython.display import display\nx = []\n"
             "for _ in range(5000):\n    x = [x]\ndisplay({'application/json': {'x': x}}, raw=True)")
PRINTS_FOR_TEN_SECONDS = "import time\nstart = time.time()\nwhile time.time() - start < 8:\n    print('y' * 1000)"
HUGE_IMAGE = ("import base64\nfrom IPython.display import display\n"
              "display({'image/png': base64.b64encode(bytes(75_000_000)).decode()}, raw=True)")

# student: (their edit, their scores (cells not named: full marks), what their feedback must say)
STUDENTS = {
    "honest": (lambda course: fill_in_solutions(course, ASSIGNMENT), {}, None),
    "honest_too": (lambda course: fill_in_solutions(course, ASSIGNMENT), {}, None),
    "hogs_process_slots": (attack(HOG, extra={"pair_layout": "import time\ntime.sleep(8)"}),
                           None, None),  # (its own grades are its business)
    # Poison in an ungraded cell costs nothing.
    "displays_a_huge_integer": (attack("", extra={"pair_layout": HUGE_INTEGER}),
                                {}, "an output the grader could not read (ValueError"),
    "displays_a_deep_list": (attack("", extra={"pair_layout": DEEP_LIST}),
                             {}, "an output the grader could not read (data nested too deep"),
    "prints_a_huge_line": (attack('print("x" * 200_000_000)'), {},
                           "output too large: this cell sent an output larger than 8 MiB at once"),
    "prints_for_ten_seconds": (attack(PRINTS_FOR_TEN_SECONDS), {}, None),  # cut or refused: see below
    "displays_a_huge_image": (attack(HUGE_IMAGE), {},
                              "output too large: this cell sent an output larger than 8 MiB at once"),
    "fills_tmp_and_its_folder": (attack(fills("/tmp") + "\n" + fills(".")), {},
                                 "MiB: [Errno 28] No space left on device"),
    "writes_to_its_file_descriptors": (attack(WRITES_TO_ITS_OWN_FILE_DESCRIPTORS), {}, None),
    "ignores_interrupts": (attack("", extra={"pair_layout": IGNORES_INTERRUPTS}),
                           PARTS_2_AND_3, f"This cell ran past its {CELL_TIMEOUT} s limit and did not stop when "
                                          "interrupted, so the grader stopped the kernel"),
}
FLOODS = ["prints_a_huge_line", "prints_for_ten_seconds", "displays_a_huge_image"]
PEAK_OVER_HONEST = 64 * MiB  # the grader's peak memory, grading a flood, over grading an honest notebook


def graded_alone(course: Path, student: str) -> tuple[subprocess.CompletedProcess, float, int]:
    """`nbgrader autograde` for one student: the result, its seconds, and the grader's peak memory
    (VmHWM of the nbgrader process, read until it ends)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.monotonic()
    process = subprocess.Popen([str(bin_dir / "nbgrader"), "autograde", ASSIGNMENT, "--student", student, "--force"],
                               cwd=course, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
        except (OSError, StopIteration):
            pass
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    return (subprocess.CompletedProcess(process.args, process.returncode, stdout.decode(errors="replace"),
                                        stderr.decode(errors="replace")), time.monotonic() - started, peak << 10)


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    require_sandbox()
    course = new_course(tmp_path_factory.mktemp("executor"), ASSIGNMENT)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}\nc.SandboxedExecute.interrupt_grace_seconds = {GRACE}\n"
                     "c.SandboxedExecute.wall_seconds = 300\nc.SandboxedExecute.memory_bytes = 4 << 30\n")
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    for student, (edit, _, _) in STUDENTS.items():
        submit(course, ASSIGNMENT, student, edit(course))
    # The process hog beside two honest students, two graders at a time (make autograde JOBS=2).
    autograde_each(course, ASSIGNMENT, ["hogs_process_slots", "honest", "honest_too"], jobs=2)
    # The rest one at a time, timed and measured.
    alone = {student: graded_alone(course, student) for student in STUDENTS
             if student not in ("hogs_process_slots", "honest", "honest_too")}
    alone["honest"] = graded_alone(course, "honest")
    for student, (_, seconds, peak) in alone.items():  # (shown with pytest -s)
        print(f"{student}: graded in {seconds:.1f} s, the grader's peak memory {peak >> 20} MiB")
    nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=course)
    return course, alone


def test_honest_students_graded_beside_a_process_hog_keep_full_marks(graded_class):
    course, _ = graded_class
    assert scores(course, ASSIGNMENT, "honest") == FULL
    assert scores(course, ASSIGNMENT, "honest_too") == FULL
    # (The hog did take every slot its sandbox has, while they were graded.)
    assert "children, then [Errno 11] Resource temporarily unavailable" in feedback_text(course, ASSIGNMENT,
                                                                                        "hogs_process_slots")


def test_no_process_of_a_sandbox_outlives_it(graded_class):
    course, _ = graded_class
    hog = nbformat.read(course / "grading" / "autograded" / "hogs_process_slots" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb",
                        as_version=4)
    uid = next(int(o["text"].split()[1]) for c in hog.cells for o in c.get("outputs", [])
               if o.get("output_type") == "stream" and o.get("text", "").startswith("uid "))
    assert uid >= 2_000_000_000  # a sandbox user of its own, not nobody
    assert processes_of(uid) == []


@pytest.mark.parametrize("student", [s for s in STUDENTS if s not in ("honest", "honest_too", "hogs_process_slots")])
def test_each_attack_costs_its_author_only_what_it_breaks_with_the_reason(graded_class, student):
    """nbgrader exits 0, the student keeps what the rest of their code earns, and the feedback says why."""
    course, alone = graded_class
    result, _, _ = alone[student]
    assert result.returncode == 0, result.stderr[-3000:]
    _, expected, reason = STUDENTS[student]
    assert scores(course, ASSIGNMENT, student) == {**FULL, **expected}
    if reason:
        assert reason in feedback_text(course, ASSIGNMENT, student)
    if student == "fills_tmp_and_its_folder":  # each of the two stopped at its size
        assert feedback_text(course, ASSIGNMENT, student).count(reason) == 2


def test_a_flood_is_cut_and_the_graders_memory_stays_bounded(graded_class):
    course, alone = graded_class
    honest_peak = alone["honest"][2]
    assert honest_peak > 0, "the grader's peak memory was never read (no VmHWM of its process)"
    for student in FLOODS:
        text = feedback_text(course, ASSIGNMENT, student)
        assert "output too large" in text or "output cut" in text
        peak = alone[student][2]
        assert 0 < peak < honest_peak + PEAK_OVER_HONEST, (student, peak >> 20, honest_peak >> 20)
        notebook = course / "grading" / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert notebook.stat().st_size < 8 * MiB + 1 * MiB


def test_the_kernels_own_output_does_not_reach_the_graders_terminal(graded_class):
    _, alone = graded_class
    result, _, _ = alone["writes_to_its_file_descriptors"]
    assert "FD-FLOOD" not in result.stdout + result.stderr


def test_an_interrupt_ignoring_cell_is_stopped_within_its_timeout_and_the_grace(graded_class):
    """(Within the seconds nbgrader needs anyway: the test on a small notebook above is the exact one.)"""
    _, alone = graded_class
    _, seconds, _ = alone["ignores_interrupts"]
    assert seconds < CELL_TIMEOUT + GRACE + 60  # and the notebook's wall clock is 300 s
