"""The screen (bertlab/autograde/screen.py): what a submission holds is seen as it is before
nbgrader reads it, and its nbgrader metadata is made what the gradebook has.

- Every entry of a submission is seen with lstat and never read, copied or written through: a
  symbolic link (to the solutions, to a classmate's notebook, to /etc/passwd, dangling into
  solutions/), a named pipe, a socket, a hard link, a sparse 2 GB file, an extra file over the size
  limit, too many files, the submission folder itself a link. Each is moved aside, whole, to
  grading/rejected/<student>/<assignment>/, named in a note there and at the top of the graded
  notebook; nothing outside the submission and rejected/ changes; what the grader writes is a
  plain file.
- A name is the student's too: a file or notebook whose name is not UTF-8 or holds a newline is set
  aside under a name of the grader's (unreadable-name-<n>), its own shown escaped; a name with HTML
  or Markdown in it is quoted as text in the notebook's note; GRADING-NOTE.txt is UTF-8. A folder
  chain 3,000 deep is set aside whole below depth 16, without recursion. A student's timestamp.txt
  is replaced by the grader's collection time, with a note.
- nbgrader metadata a student edited (a solution cell marked as graded, a test cell marked as not
  graded, an id used twice, a new cell claiming an id, a "bonus" test cell, a cell of the wrong
  type) is set back to the release's, with a note, and nbgrader grades such a class without
  dropping anyone: each student earns what their code earns.

Most tests need no kernel: they run the screen exactly as the course's config builds it, on a
private course whose gradebook `nbgrader generate_assignment` made.
"""

from __future__ import annotations

import hashlib
import os
import runpy
import signal
import socket
import stat
import subprocess
import sys
from contextlib import chdir, contextmanager
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

from test_exercises import (CLASS, autograde_each, feedback_text, fill_in_solutions, nbgrader, new_course,
                            require_sandbox, scores, submit)

from bertlab.autograde.metadata import normalise_metadata, put_back_missing_cells, released_cells  # noqa: E402
from bertlab.autograde.screen import NOTE_FILE, ScreenSubmission  # noqa: E402

ASSIGNMENT = "01_input_embeddings"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
FULL = CLASS[ASSIGNMENT].points


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A private course with assignment 1 released and registered in its gradebook."""
    course = new_course(tmp_path_factory.mktemp("screen"), ASSIGNMENT)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    return course


def the_screen(course: Path) -> ScreenSubmission:
    """The screen exactly as the course's nbgrader_config.py builds it."""
    config = Config()
    runpy.run_path(str(course / "nbgrader_config.py"), init_globals={"get_config": lambda: config})
    return config.Autograde.pre_convert_hook


def folder_of(course: Path, student: str) -> Path:
    return course / "grading" / "submitted" / student / ASSIGNMENT


def rejected_of(course: Path, student: str) -> Path:
    return course / "grading" / "rejected" / student / ASSIGNMENT


def hand_in_solution(course: Path, student: str) -> Path:
    """`student` hands in the full solution; their submission folder."""
    submit(course, ASSIGNMENT, student, fill_in_solutions(course, ASSIGNMENT))
    return folder_of(course, student)


@contextmanager
def at_most(seconds: int):
    """Fail, rather than hang, if the block runs longer than `seconds`."""
    def give_up(*_):
        raise TimeoutError(f"still running after {seconds} s")
    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def screen(course: Path, student: str) -> list[str]:
    """Run the screen on `student`'s submission as nbgrader does (the notebooks it globbed, which
    the hook may change); the notebooks nbgrader then grades."""
    folder = folder_of(course, student)
    notebooks = sorted(str(p) for p in folder.glob("*.ipynb"))
    with at_most(30):
        if notebooks:
            the_screen(course)(assignment=ASSIGNMENT, student=student, notebooks=notebooks)
        else:
            the_screen(course).screen(folder)
    return notebooks


def tree_digest(*roots: Path) -> str:
    """A hash of every entry under `roots` as lstat sees it: names, kinds, and the bytes of files."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted([root, *root.rglob("*")]) if root.is_dir() else [root]:
            info = os.lstat(path)
            digest.update(f"{path}\0{stat.S_IFMT(info.st_mode)}\0".encode())
            if stat.S_ISREG(info.st_mode):
                digest.update(path.read_bytes())
            elif stat.S_ISLNK(info.st_mode):
                digest.update(os.readlink(path).encode())
    return digest.hexdigest()


@contextmanager
def nothing_else_changes(course: Path, *also: Path):
    """Assert that the block leaves the instructor's files, the gradebook, /etc/passwd and `also` as they were."""
    watched = [course / "solutions", course / "exercises", course / "grading" / "gradebook.db", Path("/etc/passwd"),
               *also]
    before = tree_digest(*watched)
    yield
    assert tree_digest(*watched) == before, "the screen changed a file outside the submission and rejected/"


def graded_notebook(course: Path, student: str) -> nbformat.NotebookNode:
    """The notebook nbgrader would read: it must be a plain file."""
    path = folder_of(course, student) / NOTEBOOK
    assert stat.S_ISREG(os.lstat(path).st_mode), f"{path} is not a plain file"
    return nbformat.read(path, as_version=4)


def notes(nb: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in nb.cells
                     if c.cell_type == "markdown" and c.source.startswith("**Grading note.**"))


def is_the_untouched_exercise(course: Path, nb: nbformat.NotebookNode) -> bool:
    exercise = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    return [c.source for c in nb.cells if not c.source.startswith("**Grading note.**")] == \
        [c.source for c in exercise.cells]


def assert_set_aside(course: Path, student: str, name: str, kind: int):
    """`name` was moved to rejected/ as the same kind of entry (what is in the submission under that
    name now, if anything, is a new plain file: a stand-in), and both notes name it."""
    kept = os.lstat(rejected_of(course, student) / name)
    assert stat.S_IFMT(kept.st_mode) == kind, f"{name} in rejected/ is not what was handed in"
    if os.path.lexists(folder_of(course, student) / name):
        now = os.lstat(folder_of(course, student) / name)
        assert stat.S_ISREG(now.st_mode) and now.st_ino != kept.st_ino
    assert name in (rejected_of(course, student) / NOTE_FILE).read_text()
    assert name in notes(graded_notebook(course, student))


# ------------------------------------------------------------------------------------------------
# Files seen as they are
# ------------------------------------------------------------------------------------------------

def test_a_notebook_that_links_to_the_solutions_is_set_aside_and_the_exercise_graded(course):
    folder = folder_of(course, "links_to_solutions")
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).symlink_to(course / "solutions" / ASSIGNMENT / NOTEBOOK)
    with nothing_else_changes(course):
        screen(course, "links_to_solutions")
    assert_set_aside(course, "links_to_solutions", NOTEBOOK, stat.S_IFLNK)
    nb = graded_notebook(course, "links_to_solutions")
    assert is_the_untouched_exercise(course, nb)
    assert "BEGIN SOLUTION" not in nbformat.writes(nb) and "BEGIN HIDDEN TESTS" not in nbformat.writes(nb)
    assert "a symbolic link" in notes(nb)


def test_a_notebook_that_links_to_a_classmates_is_set_aside(course):
    classmate = hand_in_solution(course, "classmate")
    folder = folder_of(course, "links_to_classmate")
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).symlink_to(classmate / NOTEBOOK)
    with nothing_else_changes(course, classmate):
        screen(course, "links_to_classmate")
    assert_set_aside(course, "links_to_classmate", NOTEBOOK, stat.S_IFLNK)
    assert is_the_untouched_exercise(course, graded_notebook(course, "links_to_classmate"))


def test_extra_files_that_link_out_are_set_aside_and_the_notebook_graded_as_handed_in(course):
    folder = hand_in_solution(course, "links_out")
    handed_in = (folder / NOTEBOOK).read_bytes()
    (folder / "passwd").symlink_to("/etc/passwd")
    (folder / "gradebook.db").symlink_to(course / "grading" / "gradebook.db")
    (folder / "data").mkdir()
    (folder / "data" / "solutions").symlink_to(course / "solutions")  # a link to a folder, one level down
    with nothing_else_changes(course):
        screen(course, "links_out")
    for name in ["passwd", "gradebook.db", "data/solutions"]:
        assert_set_aside(course, "links_out", name, stat.S_IFLNK)
    nb = graded_notebook(course, "links_out")
    handed_in_nb = nbformat.reads(handed_in.decode(), as_version=4)
    assert [c.source for c in nb.cells[1:]] == [c.source for c in handed_in_nb.cells]  # only the note added
    assert (folder / "data").is_dir() and not (folder / "data").is_symlink()  # a real folder stays


def test_a_dangling_link_named_like_the_notebook_is_not_written_through(course):
    """The grader once wrote its stand-in through such a link, as root, into solutions/."""
    target = course / "solutions" / ASSIGNMENT / "planted.ipynb"
    folder = folder_of(course, "dangling_link")
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).symlink_to(target)
    with nothing_else_changes(course):
        screen(course, "dangling_link")
    assert not os.path.lexists(target)
    assert_set_aside(course, "dangling_link", NOTEBOOK, stat.S_IFLNK)
    assert is_the_untouched_exercise(course, graded_notebook(course, "dangling_link"))


def test_a_named_pipe_named_like_the_notebook_does_not_hang_the_screen(course):
    folder = folder_of(course, "hands_in_a_pipe")
    folder.mkdir(parents=True)
    os.mkfifo(folder / NOTEBOOK)
    with nothing_else_changes(course):
        screen(course, "hands_in_a_pipe")  # fails with TimeoutError after 30 s if it blocks
    assert_set_aside(course, "hands_in_a_pipe", NOTEBOOK, stat.S_IFIFO)
    assert "a named pipe" in notes(graded_notebook(course, "hands_in_a_pipe"))
    assert is_the_untouched_exercise(course, graded_notebook(course, "hands_in_a_pipe"))


def test_a_socket_is_set_aside(course):
    folder = hand_in_solution(course, "hands_in_a_socket")
    with socket.socket(socket.AF_UNIX) as server:
        with chdir(folder):  # a socket's path is short: bind it by its relative name
            server.bind("server.sock")
        with nothing_else_changes(course):
            screen(course, "hands_in_a_socket")
    assert_set_aside(course, "hands_in_a_socket", "server.sock", stat.S_IFSOCK)


def test_a_folder_named_like_the_notebook_is_set_aside(course):
    folder = folder_of(course, "folder_as_notebook")
    (folder / NOTEBOOK).mkdir(parents=True)
    (folder / NOTEBOOK / "inside.txt").write_text("x")
    screen(course, "folder_as_notebook")
    assert_set_aside(course, "folder_as_notebook", NOTEBOOK, stat.S_IFDIR)
    assert is_the_untouched_exercise(course, graded_notebook(course, "folder_as_notebook"))


def test_a_hard_link_is_set_aside_unread(course):
    """A file with a second name elsewhere (here: the solutions, on the same disk) is not read."""
    folder = folder_of(course, "hard_link")
    folder.mkdir(parents=True)
    os.link(course / "solutions" / ASSIGNMENT / NOTEBOOK, folder / NOTEBOOK)
    with nothing_else_changes(course):
        screen(course, "hard_link")
    assert_set_aside(course, "hard_link", NOTEBOOK, stat.S_IFREG)
    assert "a hard link" in notes(graded_notebook(course, "hard_link"))
    assert is_the_untouched_exercise(course, graded_notebook(course, "hard_link"))


def test_a_sparse_file_of_2_gb_is_set_aside_and_stays_sparse(course):
    folder = hand_in_solution(course, "sparse_file")
    subprocess.run(["truncate", "-s", "2G", str(folder / "weights.bin")], check=True)
    with nothing_else_changes(course):
        screen(course, "sparse_file")
    assert_set_aside(course, "sparse_file", "weights.bin", stat.S_IFREG)
    kept = os.lstat(rejected_of(course, "sparse_file") / "weights.bin")
    assert kept.st_size == 2 << 30 and kept.st_blocks * 512 < 1 << 20  # moved, not copied: still no disk used
    assert "over the 1.0 MiB an extra file may be" in notes(graded_notebook(course, "sparse_file"))


def test_extra_files_over_the_limits_are_set_aside_and_small_ones_stay(course):
    folder = hand_in_solution(course, "extra_files")
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "big.npy").write_bytes(b"x" * ((1 << 20) + 1))
    for i in range(9):  # after notes.txt (in name order), the eighth of 1 MiB passes the 8 MiB in all
        (folder / f"part{i}.bin").write_bytes(b"y" * (1 << 20))
    screen(course, "extra_files")
    assert (folder / "notes.txt").read_text() == "my notes\n"
    assert_set_aside(course, "extra_files", "big.npy", stat.S_IFREG)
    assert [p.name for p in sorted(folder.glob("part*.bin"))] == [f"part{i}.bin" for i in range(7)]
    for name in ["part7.bin", "part8.bin"]:
        assert_set_aside(course, "extra_files", name, stat.S_IFREG)
    assert "they may be in all" in notes(graded_notebook(course, "extra_files"))


def test_more_files_than_the_limit_are_set_aside(course):
    folder = hand_in_solution(course, "many_files")
    for i in range(150):
        (folder / f"f{i:03}.txt").write_text("x")
    screen(course, "many_files")
    assert len(list(folder.iterdir())) == 100  # the notebook counts too
    assert (folder / NOTEBOOK).is_file() and len(list(rejected_of(course, "many_files").glob("f*.txt"))) == 51
    assert "'f149.txt': more than 100 files" in (rejected_of(course, "many_files") / NOTE_FILE).read_text()


@pytest.mark.parametrize("level", ["assignment", "student"])
def test_a_submission_folder_that_is_a_link_is_replaced_by_a_real_one(course, level):
    """Through `python -m bertlab.autograde screen` (make autograde), which must find it."""
    classmate = hand_in_solution(course, f"classmate-of-{level}")  # student ids: `python -m` keeps no other
    student = f"folder-link-{level}"
    link = folder_of(course, student) if level == "assignment" else folder_of(course, student).parent
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(classmate if level == "assignment" else classmate.parent)
    # (The command stamps every submission with its collection time: the classmate's timestamp.txt is new.)
    with nothing_else_changes(course, classmate / NOTEBOOK):
        result = subprocess.run([sys.executable, "-m", "bertlab.autograde", "screen", ASSIGNMENT], cwd=course,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for path in (folder_of(course, student).parent, folder_of(course, student)):
        assert stat.S_ISDIR(os.lstat(path).st_mode)
    assert os.path.islink(rejected_of(course, student) / link.name)
    nb = graded_notebook(course, student)
    assert is_the_untouched_exercise(course, nb) and f"'{link.name}/' (a symbolic link" in notes(nb)


def test_unreadable_and_renamed_notebooks_are_still_dealt_with(course):
    """What the screen did before stays: not JSON -> kept, the exercise graded; renamed -> graded under its name."""
    folder = folder_of(course, "not_json")
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_bytes(b'{"cells": [')
    screen(course, "not_json")
    assert (rejected_of(course, "not_json") / NOTEBOOK).read_bytes() == b'{"cells": ['
    assert "is not valid JSON" in notes(graded_notebook(course, "not_json"))
    folder = hand_in_solution(course, "renamed")
    (folder / NOTEBOOK).rename(folder / "mine.ipynb")
    assert screen(course, "renamed") == [str(folder / NOTEBOOK)]
    assert "You handed this notebook in as 'mine.ipynb'" in notes(graded_notebook(course, "renamed"))


def test_screening_again_changes_nothing(course):
    folder = hand_in_solution(course, "screened_twice")
    (folder / "passwd").symlink_to("/etc/passwd")
    screen(course, "screened_twice")
    before = tree_digest(folder, rejected_of(course, "screened_twice"))
    screen(course, "screened_twice")
    assert tree_digest(folder, rejected_of(course, "screened_twice")) == before


# ------------------------------------------------------------------------------------------------
# nbgrader metadata made what the gradebook has
# ------------------------------------------------------------------------------------------------

def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def meta(grade_id: str, **changes):
    def edit(nb):
        cell(nb, grade_id).metadata.nbgrader.update(changes)
    return edit


def duplicate(grade_id: str, *, at_end: bool = False):
    """A copy of the cell `grade_id` next to it (or at the end)."""
    def edit(nb):
        original = cell(nb, grade_id)
        at = len(nb.cells) if at_end else nb.cells.index(original) + 1
        copy = nbformat.from_dict(original)
        copy.id = f"{original.id}-copy"  # cells' own ids (nbformat's, not nbgrader's) stay unique
        nb.cells.insert(at, copy)
    return edit


def claim(grade_id: str, **flags):
    """A new cell of the student's, at the end, claiming `grade_id`."""
    def edit(nb):
        new = nbformat.v4.new_code_cell("print('mine')")
        new.metadata.nbgrader = {"grade_id": grade_id, "grade": False, "solution": False, "locked": False,
                                 "schema_version": 3, **flags}
        nb.cells.append(new)
    return edit


def retype(grade_id: str):
    def edit(nb):
        target = cell(nb, grade_id)
        target.cell_type = "markdown"
        target.pop("outputs", None), target.pop("execution_count", None)
    return edit


BONUS = "bonus_cell"
# student: (their edit of the solved notebook, what the note must say)
METADATA_EDITS = {
    "solution_marked_graded": (meta("wordpiece", grade=True, points=5), "(grade, points)"),
    "test_marked_not_graded": (meta("test_pair_layout_tokens", grade=False, locked=False), "(grade, locked)"),
    "test_worth_more": (meta("test_embeddings_dropout", points=100), "(points)"),
    "schema_changed": (meta("setup", schema_version=99), "(schema_version)"),
    "duplicated_solution": (duplicate("wordpiece", at_end=True), "claimed the id of the solution cell wordpiece"),
    "duplicated_test": (duplicate("test_wordpiece_unknown_words"), "claimed the id of the test cell"),
    "claims_a_test_id": (claim("test_embeddings_module", grade=True, points=1),
                         "claimed the id of the test cell test_embeddings_module"),
    "bonus_test_cell": (claim(BONUS, grade=True, points=10, locked=True), f"nbgrader cell '{BONUS}'"),
    "test_made_markdown": (retype("test_wordpiece_matches_bertlab"), "was changed into a markdown cell"),
}


def released(course: Path) -> dict:
    """The released notebook's cells as the screen sees them: the gradebook's, with the release's checksums."""
    return released_cells(the_screen(course).db_url, ASSIGNMENT, ASSIGNMENT,
                          course / "exercises" / ASSIGNMENT / NOTEBOOK)


def solved(course: Path, edit=None) -> nbformat.NotebookNode:
    nb = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    fill_in_solutions(course, ASSIGNMENT)(NOTEBOOK, nb)
    if edit:
        edit(nb)
    return nb


def metadata_by_id(nb) -> dict:
    return {c.metadata.nbgrader["grade_id"]: dict(c.metadata.nbgrader) for c in nb.cells if "nbgrader" in c.metadata}


@pytest.mark.parametrize("student", METADATA_EDITS)
def test_edited_nbgrader_metadata_is_set_back_with_a_note(course, student):
    edit, said = METADATA_EDITS[student]
    exercise = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    nb = solved(course, edit)
    sources = [c.source for c in nb.cells]
    note = normalise_metadata(nb, released(course))
    expected = metadata_by_id(exercise)
    if student == "test_made_markdown":
        del expected["test_wordpiece_matches_bertlab"]  # OverwriteCells.add_missing_cells puts it back
    assert metadata_by_id(nb) == expected
    assert [c.source for c in nb.cells] == sources  # the student's code is all kept
    assert said in " ".join(note)
    assert normalise_metadata(nb, released(course)) == []  # and now there is nothing left to set right


def put_back(course: Path, nb) -> list[str]:
    exercise = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    return normalise_metadata(nb, released(course)) + put_back_missing_cells(nb, exercise, released(course))


def grade_id_of(c) -> str | None:
    return c.metadata.get("nbgrader", {}).get("grade_id")


def ids(nb) -> list[str | None]:
    return [grade_id_of(c) for c in nb.cells]


def test_a_test_cell_made_markdown_is_put_back_as_released_and_the_students_cell_kept(course):
    nb = solved(course, retype("test_wordpiece_matches_bertlab"))
    theirs = next(c for c in nb.cells if c.cell_type == "markdown" and "nbgrader" in c.metadata
                  and c.metadata.nbgrader["grade_id"] == "test_wordpiece_matches_bertlab")
    said = put_back(course, nb)
    exercise = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    assert metadata_by_id(nb) == metadata_by_id(exercise)
    assert cell(nb, "test_wordpiece_matches_bertlab").source == cell(exercise, "test_wordpiece_matches_bertlab").source
    assert ids(nb).index("test_wordpiece_matches_bertlab") == ids(nb).index("test_wordpiece_unknown_words") + 1
    assert theirs in nb.cells and "was missing from the submission" in " ".join(said)


def test_a_deleted_part_is_put_back_in_order_without_its_solution_cell(course):
    """nbgrader's own add_missing_cells raises a KeyError here (the cell before the missing test is
    missing too), which drops the whole submission."""
    gone = {"wordpiece", "test_wordpiece_worked_examples", "test_wordpiece_unknown_words"}
    nb = solved(course)
    nb.cells = [c for c in nb.cells if grade_id_of(c) not in gone]
    put_back(course, nb)
    exercise = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    assert [i for i in ids(nb) if i] == [i for i in ids(exercise) if i and i != "wordpiece"]


def test_of_two_solution_cells_the_one_answered_keeps_the_id(course):
    nb = solved(course)
    stub = nbformat.read(course / "exercises" / ASSIGNMENT / NOTEBOOK, as_version=4)
    answer = cell(nb, "wordpiece").source
    at = nb.cells.index(cell(nb, "wordpiece"))
    nb.cells.insert(at + 1, nbformat.from_dict({**cell(stub, "wordpiece"), "id": "stub-again"}))  # below the answer
    normalise_metadata(nb, released(course))
    assert cell(nb, "wordpiece").source == answer


def test_a_copy_of_a_test_cell_does_not_move_the_test(course):
    nb = solved(course, duplicate("test_wordpiece_unknown_words", at_end=True))
    nb.cells[-1].source = "print('my copy')"
    position = [c.metadata.get("nbgrader", {}).get("grade_id") for c in solved(course).cells]
    normalise_metadata(nb, released(course))
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells][:-1] == position


def test_the_screen_normalises_and_keeps_the_notebook_as_handed_in(course):
    submit(course, ASSIGNMENT, "normalised", lambda name, nb: (fill_in_solutions(course, ASSIGNMENT)(name, nb),
                                                               claim(BONUS, grade=True, points=10)(nb)))
    handed_in = (folder_of(course, "normalised") / NOTEBOOK).read_bytes()
    screen(course, "normalised")
    assert (rejected_of(course, "normalised") / NOTEBOOK).read_bytes() == handed_in
    nb = graded_notebook(course, "normalised")
    assert BONUS in notes(nb) and BONUS not in metadata_by_id(nb)


def deletes_part_1(nb):
    nb.cells = [c for c in nb.cells if grade_id_of(c) not in {"wordpiece", "test_wordpiece_worked_examples"}]


def test_a_class_with_edited_metadata_is_graded_without_dropping_anyone(tmp_path):
    """Through nbgrader with a real kernel: every student has the full solution, so full marks;
    the bonus cell earns nothing more; a student who deleted part 1's solution and first test
    loses exactly part 1; and nbgrader exits 0 for each student."""
    require_sandbox()
    course = new_course(tmp_path, ASSIGNMENT)
    nbgrader("generate_assignment", ASSIGNMENT, "--force", cwd=course)
    solve = fill_in_solutions(course, ASSIGNMENT)
    edits = {**{student: edit for student, (edit, _) in METADATA_EDITS.items()}, "deletes_part_1": deletes_part_1}
    for student, edit in edits.items():
        submit(course, ASSIGNMENT, student, lambda name, nb, edit=edit: (solve(name, nb), edit(nb)))
    autograde_each(course, ASSIGNMENT, list(edits))  # fails unless nbgrader exits 0 for each
    part_1 = {cell: 0 for cell in FULL if cell.startswith("test_wordpiece")}
    assert {student: scores(course, ASSIGNMENT, student) for student in edits} == \
        {**{student: FULL for student in METADATA_EDITS}, "deletes_part_1": {**FULL, **part_1}}
    nbgrader("generate_feedback", ASSIGNMENT, "--force", cwd=course)
    assert f"nbgrader cell '{BONUS}'" in feedback_text(course, ASSIGNMENT, "bonus_test_cell")


# ------------------------------------------------------------------------------------------------
# Names a student chose: shown, never trusted
# ------------------------------------------------------------------------------------------------

def grading_note_file(course: Path, student: str) -> str:
    """GRADING-NOTE.txt, which must be UTF-8 text (a surrogate or a stray byte fails here)."""
    return (rejected_of(course, student) / NOTE_FILE).read_bytes().decode("utf-8")


def test_an_extra_file_whose_name_is_not_utf8_is_set_aside_under_a_safe_name(course):
    """Such a name once crashed the screen (UnicodeEncodeError: surrogates not allowed), and so the
    whole of `make autograde`."""
    folder = hand_in_solution(course, "odd-name")
    (folder / os.fsdecode(b"nb\xff.txt")).write_bytes(b"kept as is")
    screen(course, "odd-name")
    assert sorted(os.listdir(folder)) == [NOTEBOOK, "timestamp.txt"]  # the grader's
    assert (rejected_of(course, "odd-name") / "unreadable-name-1").read_bytes() == b"kept as is"
    assert "'unreadable-name-1': its name is not UTF-8 text" in grading_note_file(course, "odd-name")
    assert "'nb\\xff.txt'" in grading_note_file(course, "odd-name")  # ids.shown's escape
    said = notes(graded_notebook(course, "odd-name"))
    assert "unreadable-name-1" in said and "'nb\\\\xff.txt'" in said  # its backslash escaped for Markdown


def test_a_name_with_a_newline_is_set_aside(course):
    folder = hand_in_solution(course, "newline-name")
    (folder / "a\nb.txt").write_text("x")
    (folder / "sub").mkdir()
    (folder / "sub" / "tab\there.txt").write_text("y")  # one level down too
    screen(course, "newline-name")
    assert sorted(p.name for p in folder.rglob("*")) == sorted([NOTEBOOK, "sub", "timestamp.txt"])
    assert (rejected_of(course, "newline-name") / "unreadable-name-1").read_text() == "x"
    assert (rejected_of(course, "newline-name") / "sub" / "unreadable-name-2").read_text() == "y"
    written = grading_note_file(course, "newline-name")
    assert "'a\\nb.txt'" in written and "'tab\\there.txt'" in written
    assert "'a\\\\nb.txt'" in notes(graded_notebook(course, "newline-name"))  # one line, Markdown-escaped


def test_a_notebook_whose_name_is_not_utf8_is_set_aside_and_the_exercise_graded(course):
    folder = folder_of(course, "odd-notebook")
    folder.mkdir(parents=True)
    (folder / os.fsdecode(b"nb\377.ipynb")).write_text(nbformat.writes(solved(course)))
    assert screen(course, "odd-notebook") == [str(folder / NOTEBOOK)]
    nb = graded_notebook(course, "odd-notebook")
    assert is_the_untouched_exercise(course, nb)
    assert f"No notebook named {NOTEBOOK} was handed in" in notes(nb) and "unreadable-name-1" in notes(nb)
    assert (rejected_of(course, "odd-notebook") / "unreadable-name-1").stat().st_size > 0


def test_html_and_markdown_in_a_file_name_are_text_in_the_note(course):
    """The note becomes Markdown in the feedback page: a name is shown, never rendered."""
    folder = hand_in_solution(course, "html-name")
    (folder / "<img src=x onerror=alert(1)>.txt").symlink_to("/etc/passwd")
    (folder / "[your grade](https:--evil.example)").symlink_to("/etc/passwd")
    screen(course, "html-name")
    said = notes(graded_notebook(course, "html-name"))
    assert "'&lt;img src=x onerror=alert(1)&gt;.txt'" in said and "<img" not in said
    assert "'\\[your grade\\](https:--evil.example)'" in said and "[your grade]" not in said
    assert "'<img src=x onerror=alert(1)>.txt'" in grading_note_file(course, "html-name")  # text, not a page


def test_a_renamed_notebook_with_html_in_its_name_is_quoted_as_text(course):
    folder = hand_in_solution(course, "html-renamed")
    (folder / NOTEBOOK).rename(folder / "<b>mine<i>.ipynb")
    screen(course, "html-renamed")
    said = notes(graded_notebook(course, "html-renamed"))
    assert "You handed this notebook in as '&lt;b&gt;mine&lt;i&gt;.ipynb'" in said and "<b>" not in said


def remove_chain(top: Path, name: str) -> None:
    """Remove the chain `top`/name/name/...: too deep for a path or for Python 3.11's shutil.rmtree,
    which recurses. Each step moves the second folder up in place of the first (short paths only)."""
    while (first := top / name).is_dir():
        for entry in first.iterdir():
            if entry.name != name:
                entry.unlink()
        if (first / name).is_dir():
            (first / name).rename(top / f"{name}.next")
            first.rmdir()
            (top / f"{name}.next").rename(first)
        else:
            first.rmdir()


def make_chain(top: Path, name: str, depth: int) -> None:
    """`top`/name/name/... `depth` folders deep (deeper than a path may be long), a file at the bottom."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir(name, dir_fd=fd)
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)


def test_a_folder_chain_3000_deep_is_set_aside_whole_without_error(course):
    folder = hand_in_solution(course, "deep-chain")
    make_chain(folder, "d", 3000)
    screen(course, "deep-chain")  # a recursive walk fails here with RecursionError
    kept = folder.joinpath(*["d"] * 16)  # the 16 folders allowed stay, empty
    assert kept.is_dir() and list(kept.iterdir()) == []
    moved = rejected_of(course, "deep-chain").joinpath(*["d"] * 17)
    assert moved.is_dir() and (moved / "d").is_dir()  # moved whole, by one rename
    said = notes(graded_notebook(course, "deep-chain"))
    assert "/".join(["d"] * 17) + "' (folders nested more than 16 deep)" in said
    remove_chain(rejected_of(course, "deep-chain").joinpath(*["d"] * 16), "d")


def test_a_students_own_timestamp_is_replaced_by_the_collection_time_with_a_note(course):
    folder = hand_in_solution(course, "from-2099")
    (folder / "timestamp.txt").write_text("2099-01-01 00:00:00.000000 UTC\n")
    screen(course, "from-2099")
    assert not (folder / "timestamp.txt").read_text().startswith("2099")
    said = notes(graded_notebook(course, "from-2099"))
    assert "Your timestamp.txt was '2099-01-01 00:00:00.000000 UTC'" in said
