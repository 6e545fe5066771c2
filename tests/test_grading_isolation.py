"""Autograding that no submission can cheat or break (bertlab/autograde/,
bertlab/answers.py).

One class of assignment 1 goes through nbgrader: an honest student, and one student per attack.
Every attacker must get exactly what their code earns (the attack itself earns nothing), see the
reason in their feedback, and leave every other student's grades untouched; grading again gives
the same grades.

- Breaking the grader: a loop without end, an allocation without bound, a fork bomb, `sys.exit`,
  `os._exit`, SIGKILL to its own kernel, sleeping past the notebook's time limit, reaching for
  course files and the network, deleting or editing a test cell.
- Cheating the verdict: rebinding bertlab's checks, patching torch and builtins, hiding every
  exception, editing the inputs the tests compare with, forging the answers with an IPython hook.
  Stock nbgrader (which runs the tests in the student's kernel) gives these full marks, which a
  control grading shows.
- Handing in something unreadable: not JSON, JSON that is no notebook, a huge file, a renamed file
  (as .ipynb and as .txt), nothing at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import nbformat
import pytest

from test_exercises import (CLASS, feedback_text, fill_in_solutions, nbgrader, new_course, require_sandbox, scores,
                            submit)

from bertlab.autograde.ids import shown

ASSIGNMENT = "01_input_embeddings"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SPEC = CLASS[ASSIGNMENT]
FULL = SPEC.points
NOTHING = {cell: 0 for cell in FULL}
PART_1 = {cell: 0 for cell in FULL if cell.startswith("test_wordpiece")}
PART_2 = {cell: 0 for cell in FULL if cell.startswith("test_pair_layout")}
PART_3 = {cell: 0 for cell in FULL if cell.startswith("test_embeddings")}
MISTAKES = {mistake.student: mistake for mistake in SPEC.mistakes}

# The limits this class is graded under (short, to keep the test quick); the rest is the course's config.
CELL_TIMEOUT, WALL_SECONDS = 20, 40


def attack(code: str, *, mistake: str | None = None, extra: dict[str, str] | None = None, whole_cell: bool = False):
    """An edit for `submit`: the solution (with one of the class's mistakes, if named), with `code`
    put before the first line of the wordpiece cell, or in place of the cell with `whole_cell` (and
    each of `extra`'s codes before the first line of the solution cell it names)."""
    def edit(course):
        solve = fill_in_solutions(course, ASSIGNMENT, MISTAKES[mistake] if mistake else None)

        def apply(name, nb):
            solve(name, nb)
            for grade_id, prefix in {"wordpiece": code, **(extra or {})}.items():
                target = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
                target.source = prefix if whole_cell and grade_id == "wordpiece" else prefix + "\n\n" + target.source
        return apply
    return edit


UNIMPLEMENTED_WORDPIECE = "def wordpiece(word, vocab, max_chars=100):\n    raise NotImplementedError()\n"

# student: (the edit that makes their submission, the scores it must get (cells not named: full marks),
#           what their feedback must say)
BREAKS_THE_GRADER = {
    "loops_forever": (attack("while True:\n    pass"), PART_1, "CellTimeoutError"),
    # 16 GiB at once: this machine would hand it out (untouched pages cost nothing) but for the
    # sandbox's address-space limit. (An allocating loop works too, but IPython keeps the failed
    # frame, and with it the hoard, so the student's later parts would starve: their own doing.)
    "allocates_without_bound": (attack("hoard = bytearray(16 << 30)"), PART_1, "MemoryError"),
    # Forks until the process limit stops it, then reaps its children (zombies would still count
    # against the limit and starve the student's own later parts).
    "fork_bomb": (attack("""\
import os, time
try:
    while True:
        if os.fork() == 0:
            time.sleep(1)
            os._exit(0)
finally:
    while True:
        try:
            os.wait()
        except ChildProcessError:
            break"""), PART_1, "Resource temporarily unavailable"),
    "calls_sys_exit": (attack("import sys\nsys.exit('bye')"), PART_1, "SystemExit"),
    "calls_os_exit": (attack("import os\nos._exit(0)"), NOTHING, "The kernel stopped in this cell"),
    "kills_its_kernel": (attack("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"), NOTHING,
                         "The kernel stopped in this cell"),
    # Each of its cells stays under the cell timeout, but together they outlast the notebook's time:
    # the kernel is stopped during part 3, which earns nothing; parts 1 and 2 keep their points.
    "sleeps_past_the_time_limit": (attack("import time\ntime.sleep(5)", extra={"pair_layout": "time.sleep(17)",
                                                                              "embeddings": "time.sleep(17)"}),
                                   PART_3, f"ran out of its {WALL_SECONDS} s of time in all"),
    # Reaching out: each prints what it found and goes on, so that a leak would show as a full score
    # together with the printed loot; isolation shows as the printed errors.
    "reads_and_writes_course_files": (attack("""\
import glob, os
for pattern in ["/work/**/gradebook.db", "/work/**/solutions/**/*.ipynb", "/tmp/**/gradebook.db",
                "/tmp/**/solutions/**/*.ipynb", "/root/**/*.ipynb"]:
    print(pattern, "->", glob.glob(pattern, recursive=True)[:3])
try:
    open("gradebook.db", "w").write("0 points for everyone")   # its own folder: allowed, harmless
    print("wrote", os.path.abspath("gradebook.db"))
except OSError as error:
    print("cannot write:", error)"""), {}, "-> []"),
    "uses_the_network": (attack("""\
import socket
try:
    socket.create_connection(("pypi.org", 443), timeout=5)
    print("network: reachable")
except OSError as error:
    print("network: unreachable,", type(error).__name__)"""), {}, "network: unreachable"),
}

CHEATS_THE_VERDICT = {
    # wordpiece returns nothing useful, and every check the tests call is made to pass.
    "rebinds_the_checks": (attack("""\
import bertlab.grading
for name in ["check_equal", "check_close", "check_shape", "check_type"]:
    setattr(bertlab.grading, name, lambda *args, **kwargs: None)
    globals()[name] = getattr(bertlab.grading, name)

def wordpiece(word, vocab, max_chars=100):
    return []
""", whole_cell=True), PART_1, '[wordpiece(word, toy_vocab) for word in ["unaffable", "playing", "a"]]: expected'),
    # The embeddings have LayerNorm before the sum; comparisons of tensors are made to agree.
    "patches_torch": (attack("""\
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.any = lambda self, *args, **kwargs: torch.tensor(False)
""", mistake="layernorm_before_sum"), {"test_embeddings_worked_example": 0, "test_embeddings_match_bertlab": 0},
        "LayerNorm applied to each embedding before the sum"),
    # The same embeddings, and isinstance made to call anything a tensor. (This breaks stock
    # nbgrader's checks rather than fooling them; here it must not garble what the kernel records.)
    "patches_builtins": (attack("""\
import builtins
_isinstance = builtins.isinstance
builtins.isinstance = lambda value, kind: True if kind is torch.Tensor else _isinstance(value, kind)
""", mistake="layernorm_before_sum"), {"test_embeddings_worked_example": 0, "test_embeddings_match_bertlab": 0},
        "LayerNorm applied to each embedding before the sum"),
    # wordpiece is not written at all, and the kernel is made to hide every exception (no traceback,
    # and a reply that says "ok"), so no test cell shows an error.
    "hides_every_exception": (attack("""\
shell = get_ipython()
shell._showtraceback = lambda *args, **kwargs: None
_run_cell_async = shell.run_cell_async

async def run_cell_async(*args, **kwargs):
    result = await _run_cell_async(*args, **kwargs)
    result.error_in_exec = None
    return result

shell.run_cell_async = run_cell_async

""" + UNIMPLEMENTED_WORDPIECE, whole_cell=True), PART_1, "answers were never recorded"),
    # wordpiece forgets the '##' of continuation pieces, and the tokenizer the hidden test compares
    # with is made to agree with it.
    "edits_the_tests_inputs": (attack("""\
_tokenize = tokenizer.tokenize
tokenizer.tokenize = lambda text: wordpiece(text, vocab) if text.isalpha() else _tokenize(text)
""", mistake="forgets_hashes"), {"test_wordpiece_worked_examples": 0, "test_wordpiece_matches_bertlab": 0},
        "continuation pieces looked up without their '##'"),
}


# The hostile class's forgery: the wordpiece handed in is a stub; a post_run_cell hook runs each
# test's code again with an implementation the part forbids (here, a copy of the solution under
# another name stands in for the library) and records the answers that computes, after the test's
# own record. Graded by the last record, it earned every point.
FORGES_WITH_A_HOOK = """
def wordpiece(word, vocab, max_chars=100):
    return []

import re
from bertlab.answers import record

def _forge(result):
    code = result.info.raw_cell or ""
    call = re.search(r"__import__\\('bertlab.answers'\\).answers.record\\((\\{.*\\})(?:, '(\\w+)')?\\)", code)
    if call:
        namespace = dict(get_ipython().user_ns, wordpiece=_library_wordpiece)
        exec(code[:call.start()], namespace)
        record(eval(call.group(1), namespace), call.group(2))

get_ipython().events.register("post_run_cell", _forge)
"""


def forges_with_a_hook(course):
    solve = fill_in_solutions(course, ASSIGNMENT)

    def apply(name, nb):
        solve(name, nb)
        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "wordpiece")
        cell.source = (cell.source.replace("def wordpiece(", "def _library_wordpiece(") + "\n"
                       + FORGES_WITH_A_HOOK)
    return apply


CHEATS_THE_VERDICT["forges_answers_with_a_hook"] = (forges_with_a_hook, PART_1,
                                                     '[wordpiece(word, toy_vocab) for word in ["unaffable", "playing", "a"]]: expected')
# The same stub, and a thread that records the right answers of the worked examples all along:
# without the test cell's key, they are not counted, and the test cell says so.
CHEATS_THE_VERDICT["forges_answers_from_a_thread"] = (attack("""\
import threading, time
from bertlab.answers import record

def _forge():
    for _ in range(600):
        record({"yours": {"unaffable": ["un", "##aff", "##able"], "playing": ["playing"], "a": ["a"]}})
        time.sleep(0.1)

threading.Thread(target=_forge, daemon=True).start()

def wordpiece(word, vocab, max_chars=100):
    return []
""", whole_cell=True), PART_1, "not counted: answers recorded other than by this test's own code")

ATTACKS = {**BREAKS_THE_GRADER, **CHEATS_THE_VERDICT}


def _huge(course):
    solved = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    fill_in_solutions(course, ASSIGNMENT)(NOTEBOOK, solved)
    solved.cells[-1].outputs = [nbformat.v4.new_output("stream", text="x" * (17 << 20))]  # 17 MiB of output
    return nbformat.writes(solved).encode()


# student: (the bytes they hand in, as a function of the course; the name they hand them in under;
#           the scores they must get; what their feedback must say)
UNREADABLE = {
    "not_json": (lambda course: b'{"cells": [{"cell_type": "code", "source": "def wordpiece(', NOTEBOOK, NOTHING,
                 "is not valid JSON"),
    "json_but_no_notebook": (lambda course: b'{"answer": 42}', NOTEBOOK, NOTHING, "is not a Jupyter notebook"),
    "huge": (_huge, NOTEBOOK, NOTHING, "over the 16 MiB a notebook may be"),
}
RENAMED = "01_input_embeddings (1).ipynb"
# Handed in with no .ipynb at all: nbgrader would skip these folders, so `make autograde` screens them first.
RENAMED_TO_TEXT = "01_input_embeddings.txt"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    require_sandbox()
    course = new_course(tmp_path_factory.mktemp("isolation"), ASSIGNMENT)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write(f"\nc.Execute.timeout = {CELL_TIMEOUT}\nc.SandboxedExecute.wall_seconds = {WALL_SECONDS}\n"
                     "c.SandboxedExecute.memory_bytes = 4 << 30\n")
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    submit(course, ASSIGNMENT, "honest", fill_in_solutions(course, ASSIGNMENT))
    for student, (edit, _, _) in ATTACKS.items():
        submit(course, ASSIGNMENT, student, edit(course))
    solve = fill_in_solutions(course, ASSIGNMENT)

    def delete_a_test(name, nb):
        solve(name, nb)
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_wordpiece_unknown_words"]

    def edit_a_test(name, nb):
        solve(name, nb)
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_pair_layout_tokens":
                cell.source = "pass  # nothing to see here"

    submit(course, ASSIGNMENT, "deletes_a_test_cell", delete_a_test)
    submit(course, ASSIGNMENT, "edits_a_test_cell", edit_a_test)
    for student, (handed_in, name, _, _) in UNREADABLE.items():
        folder = course / "grading" / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / name).write_bytes(handed_in(course))
    submit(course, ASSIGNMENT, "renamed", solve)
    renamed = course / "grading" / "submitted" / "renamed" / ASSIGNMENT
    (renamed / NOTEBOOK).rename(renamed / RENAMED)
    submit(course, ASSIGNMENT, "renamed_to_text", solve)
    renamed = course / "grading" / "submitted" / "renamed_to_text" / ASSIGNMENT
    (renamed / NOTEBOOK).rename(renamed / RENAMED_TO_TEXT)
    (course / "grading" / "submitted" / "hands_in_nothing" / ASSIGNMENT).mkdir(parents=True)
    shutil.copytree(course / "grading" / "submitted", course / "handed_in")  # what each student sent, untouched

    screen = subprocess.run([sys.executable, "-m", "bertlab.autograde", "screen", ASSIGNMENT], cwd=course,
                            capture_output=True, text=True)  # as `make autograde` does
    assert screen.returncode == 0, screen.stderr
    nbgrader("autograde", ASSIGNMENT, "--force", cwd=course)
    nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=course)
    return course


def test_the_honest_student_keeps_full_marks(graded_class):
    assert scores(graded_class, ASSIGNMENT, "honest") == FULL


@pytest.mark.parametrize("student", BREAKS_THE_GRADER)
def test_an_attack_on_the_grader_is_graded_in_bounded_time_with_its_reason(graded_class, student):
    _, expected, reason = ATTACKS[student]
    assert scores(graded_class, ASSIGNMENT, student) == {**FULL, **expected}
    assert reason in feedback_text(graded_class, ASSIGNMENT, student)


@pytest.mark.parametrize("student", CHEATS_THE_VERDICT)
def test_an_attack_on_the_verdict_earns_nothing(graded_class, student):
    """The cheater gets exactly what their code earns, and the feedback says what is wrong with it."""
    _, expected, reason = ATTACKS[student]
    assert scores(graded_class, ASSIGNMENT, student) == {**FULL, **expected}
    assert reason in feedback_text(graded_class, ASSIGNMENT, student)


def test_a_deleted_test_cell_is_put_back_and_runs(graded_class):
    assert scores(graded_class, ASSIGNMENT, "deletes_a_test_cell") == FULL
    assert "was missing from the submission" in feedback_text(graded_class, ASSIGNMENT, "deletes_a_test_cell")


def test_an_edited_test_cell_is_restored_and_runs(graded_class):
    assert scores(graded_class, ASSIGNMENT, "edits_a_test_cell") == FULL
    assert "nothing to see here" not in feedback_text(graded_class, ASSIGNMENT, "edits_a_test_cell")


@pytest.mark.parametrize("student", UNREADABLE)
def test_an_unreadable_notebook_earns_0_with_its_reason_and_is_kept(graded_class, student):
    _, name, expected, reason = UNREADABLE[student]
    assert scores(graded_class, ASSIGNMENT, student) == expected
    assert reason in feedback_text(graded_class, ASSIGNMENT, student)
    kept = graded_class / "grading" / "rejected" / student / ASSIGNMENT / name
    assert kept.read_bytes() == (graded_class / "handed_in" / student / ASSIGNMENT / name).read_bytes()


def test_a_renamed_notebook_is_graded_under_its_name_and_kept(graded_class):
    assert scores(graded_class, ASSIGNMENT, "renamed") == FULL
    told = feedback_text(graded_class, ASSIGNMENT, "renamed")
    assert f"You handed this notebook in as {shown(RENAMED)}" in told
    kept = graded_class / "grading" / "rejected" / "renamed" / ASSIGNMENT / RENAMED
    assert kept.read_bytes() == (graded_class / "handed_in" / "renamed" / ASSIGNMENT / RENAMED).read_bytes()


def test_a_notebook_renamed_to_text_is_graded_under_its_name_and_kept(graded_class):
    assert scores(graded_class, ASSIGNMENT, "renamed_to_text") == FULL
    told = feedback_text(graded_class, ASSIGNMENT, "renamed_to_text")
    assert f"You handed this notebook in as {shown(RENAMED_TO_TEXT)}" in told
    kept = graded_class / "grading" / "rejected" / "renamed_to_text" / ASSIGNMENT / RENAMED_TO_TEXT
    assert kept.read_bytes() == (graded_class / "handed_in" / "renamed_to_text" / ASSIGNMENT / RENAMED_TO_TEXT).read_bytes()


def test_a_submission_without_a_notebook_earns_0_with_its_reason(graded_class):
    assert scores(graded_class, ASSIGNMENT, "hands_in_nothing") == NOTHING
    assert f"No notebook named {NOTEBOOK} was handed in" in feedback_text(graded_class, ASSIGNMENT, "hands_in_nothing")


def test_grading_again_gives_the_same_grades(graded_class):
    everyone = ["honest", *ATTACKS, "deletes_a_test_cell", "edits_a_test_cell", *UNREADABLE, "renamed",
                "renamed_to_text", "hands_in_nothing"]
    before = {student: scores(graded_class, ASSIGNMENT, student) for student in everyone}
    for student in ["honest", "calls_os_exit", "hides_every_exception", "not_json", "renamed"]:
        nbgrader("autograde", ASSIGNMENT, "--force", "--student", student, cwd=graded_class)
    assert {student: scores(graded_class, ASSIGNMENT, student) for student in everyone} == before


def test_stock_nbgrader_gives_the_cheats_full_marks(graded_class, tmp_path):
    """The control: with nbgrader's own Execute, which runs each test in the student's kernel, the
    cheats above score full marks. (Their code is harmless outside the sandbox.)"""
    course = tmp_path / "stock"
    shutil.copytree(graded_class / "solutions", course / "solutions")
    shutil.copy(graded_class / "nbgrader_config.py", course / "nbgrader_config.py")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nfrom nbgrader.preprocessors import Execute\n"
                     "c.Autograde.autograde_preprocessors = [Execute, StderrIsNotAFailure, SaveAutoGrades]\n")
    (course / "grading").mkdir()
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    cheats = [student for student in CHEATS_THE_VERDICT if student not in (
        "patches_builtins", "forges_answers_with_a_hook", "forges_answers_from_a_thread")]
    for student in cheats:
        shutil.copytree(graded_class / "handed_in" / student, course / "grading" / "submitted" / student)
    nbgrader("autograde", ASSIGNMENT, "--force", cwd=course)
    # (The visible test of wordpiece compares with literals, which editing the tokenizer cannot reach.)
    fooled = {student: FULL for student in cheats}
    fooled["edits_the_tests_inputs"] = {**FULL, "test_wordpiece_worked_examples": 0}
    assert {student: scores(course, ASSIGNMENT, student) for student in cheats} == fooled
