"""Copied work (`make similarity`, bertlab/autograde/similarity.py), as a specification.

A class of exercise 1 hands in: one student's honest solution, a copy of it with every variable
renamed, a copy with its functions reordered and its comments rewritten, students who wrote their
solutions on their own (the instructor's, the three correct students in other styles of
tests/exercise_classes/, and one more of tests/similarity_students.py), and two untouched exercises.

- The three pairs among the original and its copies rank above every other pair, and are flagged.
- No pair of independent students is flagged, here or in any other assignment's class.
- Two untouched exercises share nothing: the template is not counted.
- grading/similarity/<assignment>.csv ranks every pair with its scores and flag; the .html page
  names and highlights the flagged pairs, shows their code side by side, and loads nothing from
  the network.
- A symlink named like the notebook, a FIFO, a file that is no notebook, a linked student folder:
  skipped and listed, never followed, never a crash.
- Every pair's scores are exactly those copydetect's compare_files gives that pair alone, though
  similarity.compare scores all pairs at once; a class of a thousand pairs or more gets a page of
  bounded length that says where the rest are (the CSV).

The submissions are written as files in a private grading/submitted/ (no nbgrader, no kernel).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from copydetect import CodeFingerprint, compare_files

from exercise_classes import all_assignments
from similarity_students import COMPREHENSIONS_COMPLEX, COPY_REORDERED, COPY_WITH_RENAMED_VARIABLES, ORIGINAL_AUTHOR

from bertlab.autograde import similarity

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "01_input_embeddings"
CLASS = all_assignments()

COPIES = {"original_author", "copies_renaming_variables", "copies_reordering_functions"}


def solution_cells(assignment: str) -> dict[str, str]:
    """The instructor's code of each code solution cell, without nbgrader's markers (a Markdown
    solution cell is a written answer: prose, not code to compare)."""
    cells = {}
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
                cells[cell.metadata.nbgrader.grade_id] = "\n".join(
                    line for line in cell.source.splitlines()
                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return cells


def hand_in(submitted: Path, assignment: str, student: str, cells: dict[str, str] | None,
            extra_cells: dict[str, str] | None = None) -> Path:
    """Write `student`'s notebooks: the released exercise with `cells` (grade_id -> code) in its
    solution cells (None: untouched), and `extra_cells` each in a new cell before that grade_id."""
    folder = submitted / student / assignment
    folder.mkdir(parents=True)
    for path in sorted((ROOT / "exercises" / assignment).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cells is not None and grade_id in cells:
                cell.source = cells[grade_id]
        for grade_id, code in (extra_cells or {}).items():
            at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
            nb.cells.insert(at, nbformat.v4.new_code_cell(code))
        nbformat.write(nb, folder / path.name)
    return folder


def hand_in_independent_class(submitted: Path, assignment: str) -> set[str]:
    """The instructor's solution and the correct students in other styles of `assignment`, each
    handed in by a student of their own: people who wrote their code independently."""
    solution = solution_cells(assignment)
    hand_in(submitted, assignment, "instructor", solution)
    for student in CLASS[assignment].alternatives:
        assert set(student.cells) == set(solution), f"{student.student} must write every part itself"
        hand_in(submitted, assignment, student.student, student.cells, student.extra_cells)
    return {"instructor", *(s.student for s in CLASS[assignment].alternatives)}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A course folder whose grading/submitted/ holds the class of exercise 1 described above."""
    course = tmp_path_factory.mktemp("similarity")
    submitted = course / "grading" / "submitted"
    hand_in(submitted, ASSIGNMENT, "original_author", ORIGINAL_AUTHOR)
    hand_in(submitted, ASSIGNMENT, "copies_renaming_variables", COPY_WITH_RENAMED_VARIABLES)
    hand_in(submitted, ASSIGNMENT, "copies_reordering_functions", COPY_REORDERED)
    hand_in(submitted, ASSIGNMENT, "comprehensions_complex", COMPREHENSIONS_COMPLEX)
    hand_in_independent_class(submitted, ASSIGNMENT)
    hand_in(submitted, ASSIGNMENT, "untouched_1", None)
    hand_in(submitted, ASSIGNMENT, "untouched_2", None)
    return course


@pytest.fixture(scope="module")
def report(course):
    """The pairs and what was skipped, from the command line's entry point, reports written."""
    out = course / "grading" / "similarity"
    similarity.main([ASSIGNMENT, "--submitted", str(course / "grading" / "submitted"),
                     "--release", str(ROOT / "exercises"), "--out", str(out)])
    with open(out / f"{ASSIGNMENT}.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return rows, (out / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")


def is_copy(row: dict) -> bool:
    return {row["student_a"], row["student_b"]} <= COPIES


def test_copied_pairs_rank_first_and_are_flagged(report):
    """The original and its two copies make the three top pairs, all flagged, each with most of
    both students' code shared; no other pair is flagged."""
    rows, _ = report
    assert [is_copy(row) for row in rows[:3]] == [True] * 3, rows[:4]
    assert all(row["flagged"] == "yes" for row in rows[:3])
    assert all(float(row["similarity_a"]) >= 0.8 and float(row["similarity_b"]) >= 0.8 for row in rows[:3]), rows[:3]
    assert [row for row in rows[3:] if row["flagged"] == "yes"] == []
    assert float(rows[2]["similarity"]) > float(rows[3]["similarity"])


def test_untouched_exercises_share_nothing(report):
    """Two students who handed in the untouched exercise share only the template, which is not
    counted: similarity 0, not flagged (and neither is alike anyone else)."""
    rows, _ = report
    untouched = [row for row in rows if {row["student_a"], row["student_b"]} & {"untouched_1", "untouched_2"}]
    assert len(untouched) == 2 * 8 + 1  # each with the 8 others, and with each other
    assert all(float(row["similarity"]) == 0 and row["flagged"] == "no" for row in untouched), untouched


def test_csv_ranks_every_pair(report):
    """One row per pair of the 10 students, most alike first, with both shares and the flag."""
    rows, _ = report
    assert list(rows[0]) == similarity.CSV_HEADER
    assert len(rows) == 10 * 9 // 2
    scores = [float(row["similarity"]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    for row in rows:
        assert float(row["similarity"]) == max(float(row["similarity_a"]), float(row["similarity_b"]))


def test_html_names_and_shows_the_flagged_pairs(report):
    """The page names each flagged pair, shows both codes with the shared parts marked (the renamed
    copy's own names appear in it), highlights the flagged rows, and is self-contained."""
    rows, page = report
    for row in rows[:3]:
        assert f"{row['student_a']} and {row['student_b']}" in page
    assert "<mark>" in page and "find_piece" in page and "longest_match" in page
    assert page.count("<tr class='flagged'>") == 3
    assert "http" not in page and "<script" not in page and "<link" not in page and "src=" not in page


@pytest.mark.parametrize("assignment", sorted(CLASS))
def test_no_independent_students_are_flagged(tmp_path, assignment):
    """In every assignment, the instructor's solution and the correct students in other styles,
    who wrote their code independently, are never flagged (this is the evidence for the default
    threshold: they share at most about a third of their code, the idioms every solution has)."""
    students = hand_in_independent_class(tmp_path / "submitted", assignment)
    pairs, skipped = similarity.report(assignment, submitted=tmp_path / "submitted", release=ROOT / "exercises",
                                       out=tmp_path / "out")
    assert skipped == []
    assert len(pairs) == len(students) * (len(students) - 1) // 2
    assert [p for p in pairs if p.flagged] == []
    assert max(p.similarity for p in pairs) < 0.4, [(p.a, p.b, p.similarity) for p in pairs[:3]]


def test_hostile_files_are_skipped_and_listed(tmp_path):
    """A symlink named like the notebook (to a copied notebook), a FIFO named like it, a file that is
    not JSON, JSON that is no notebook, JSON nested a million deep, a text file, a folder, and a student folder that is a link:
    each is listed with the reason and not read; nothing blocks or crashes, and what the links point
    to is not compared (if it were, the linked students would be flagged as copies). A flood of code
    is compared only up to a bound, and the report says so."""
    submitted = tmp_path / "submitted"
    original = hand_in(submitted, ASSIGNMENT, "original_author", ORIGINAL_AUTHOR) / f"{ASSIGNMENT}.ipynb"
    hand_in(submitted, ASSIGNMENT, "honest", COMPREHENSIONS_COMPLEX)
    linked = submitted / "links_the_notebook" / ASSIGNMENT
    linked.mkdir(parents=True)
    (linked / f"{ASSIGNMENT}.ipynb").symlink_to(original)
    fifo = submitted / "hands_in_a_fifo" / ASSIGNMENT
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / f"{ASSIGNMENT}.ipynb")
    garbage = hand_in(submitted, ASSIGNMENT, "hands_in_garbage", COMPREHENSIONS_COMPLEX)  # its notebook still counts
    (garbage / "notes.ipynb").write_bytes(b"\x00\xff not json")
    (garbage / "data.ipynb").write_text(json.dumps({"not": "a notebook"}))
    (garbage / "deep.ipynb").write_text("[" * 1_000_000)
    (garbage / "answers.txt").write_text("see the notebook")
    (garbage / ".ipynb_checkpoints").mkdir()
    hand_in(submitted, ASSIGNMENT, "floods", {"wordpiece": "x = 1\n" * 50_000})
    (submitted / "links_a_folder").mkdir()
    (submitted / "links_a_folder" / ASSIGNMENT).symlink_to(original.parent, target_is_directory=True)

    pairs, skipped = similarity.report(ASSIGNMENT, submitted=submitted, release=ROOT / "exercises",
                                       out=tmp_path / "out")
    reasons = {(s.student, Path(s.path).name): s.reason for s in skipped}
    assert reasons[("links_the_notebook", f"{ASSIGNMENT}.ipynb")] == "is a symbolic link (not followed)"
    assert reasons[("hands_in_a_fifo", f"{ASSIGNMENT}.ipynb")] == "is not a regular file"
    assert reasons[("hands_in_garbage", "notes.ipynb")] == "is not a notebook (not JSON text)"
    assert reasons[("hands_in_garbage", "data.ipynb")] == "is not a notebook (no list of cells)"
    assert reasons[("hands_in_garbage", "deep.ipynb")] == "is not a notebook (JSON nested too deep)"
    assert reasons[("hands_in_garbage", "answers.txt")] == "is not a notebook (.ipynb)"
    assert reasons[("hands_in_garbage", ".ipynb_checkpoints")] == "is a folder (not looked into)"
    assert reasons[("links_a_folder", ASSIGNMENT)].startswith("is not a folder")
    assert reasons[("floods", ASSIGNMENT)].endswith(f"characters of code: only the first {similarity.MAX_CODE_CHARS} "
                                                   "are compared")
    for student in ("links_the_notebook", "hands_in_a_fifo"):
        assert reasons[(student, ASSIGNMENT)] == "no readable notebook: the student is not compared"
    compared = {name for p in pairs for name in (p.a, p.b)}
    assert compared == {"original_author", "honest", "hands_in_garbage", "floods"}
    assert [(p.a, p.b) for p in pairs if p.flagged] == [("hands_in_garbage", "honest")]  # the same code, twice
    page = (tmp_path / "out" / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "links_the_notebook" in page and "is a symbolic link (not followed)" in page


def test_names_that_are_not_text_are_skipped_and_listed_and_a_hostile_notebook_costs_little(tmp_path):
    """A file name or a student folder name that is not UTF-8, or holds a newline, once crashed
    `make similarity` for the whole class (UnicodeEncodeError writing the report): each is listed,
    escaped, and not read. A lone surrogate in a cell is kept as its escape; a notebook of 50,000
    cells is read only up to a bound, and the report says so; the class still takes seconds."""
    import time

    submitted = tmp_path / "submitted"
    honest = hand_in(submitted, ASSIGNMENT, "honest", COMPREHENSIONS_COMPLEX)
    (honest / os.fsdecode(b"notes\xff.txt")).write_text("x")
    (honest / "two\nlines.ipynb").write_text("{}")
    odd_student = hand_in(submitted, ASSIGNMENT, os.fsdecode(b"caf\xe9"), ORIGINAL_AUTHOR)
    surrogate = hand_in(submitted, ASSIGNMENT, "surrogate", None)
    lone = {"cells": [{"cell_type": "code", "source": "s = '\ud800'"}]}
    (surrogate / "mine.ipynb").write_text(json.dumps(lone))
    cells = [{"cell_type": "code", "source": f"x{n} = {n}\n", "metadata": {}} for n in range(50_000)]
    floods = hand_in(submitted, ASSIGNMENT, "many-cells", None)
    (floods / "cells.ipynb").write_text(json.dumps({"cells": cells}))

    start = time.perf_counter()
    pairs, skipped = similarity.report(ASSIGNMENT, submitted=submitted, release=ROOT / "exercises",
                                       out=tmp_path / "out")
    assert time.perf_counter() - start < 20
    reasons = {(s.student, s.path): s.reason for s in skipped}
    assert reasons[("honest", f"'{honest}/notes\\xff.txt'")].startswith("its name is not plain text")
    assert reasons[("honest", f"'{honest}/two\\nlines.ipynb'")].startswith("its name is not plain text")
    assert reasons[("'caf\\xe9'", f"'{odd_student}'".replace("\udce9", "\\xe9"))].startswith(
        "the student folder's name is not plain text")
    assert reasons[("many-cells", str(floods / "cells.ipynb"))] == \
        f"has more than {similarity.MAX_CODE_CELLS} code cells: only the first are compared"
    assert {name for p in pairs for name in (p.a, p.b)} == {"honest", "surrogate", "many-cells"}
    page = (tmp_path / "out" / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")  # UTF-8: no surrogate in it
    assert "notes\\xff.txt" in page and "caf\\xe9" in page


def test_command_line_writes_the_same_reports_every_time(course, report, tmp_path):
    """`python -m bertlab.autograde.similarity ASSIGNMENT` (what `make similarity` runs) says what
    it flagged and where the reports are; run twice, with Python's string hashes (which copydetect's
    fingerprints use) seeded differently, it writes the same CSV as the test's own run."""
    rows, _ = report
    for seed in ("1", "2"):
        out = tmp_path / seed
        result = subprocess.run([sys.executable, "-m", "bertlab.autograde.similarity", ASSIGNMENT,
                                 "--submitted", str(course / "grading" / "submitted"), "--out", str(out)],
                                cwd=ROOT, capture_output=True, text=True, timeout=120,
                                env={**os.environ, "PYTHONHASHSEED": seed})
        assert result.returncode == 0, result.stderr
        assert f"{ASSIGNMENT}: 45 pairs compared, 3 flagged" in result.stdout
        assert (out / f"{ASSIGNMENT}.html").is_file()
        with open(out / f"{ASSIGNMENT}.csv", newline="", encoding="utf-8") as file:
            assert list(csv.DictReader(file)) == rows


def test_fast_for_a_class_of_a_hundred():
    """A hundred submissions (4,950 pairs) compare in seconds; no kernel, nothing run."""
    import time

    boilerplate, given = similarity.template_code(ROOT / "exercises", ASSIGNMENT)
    styles = [ORIGINAL_AUTHOR, COMPREHENSIONS_COMPLEX, solution_cells(ASSIGNMENT),
              *(s.cells for s in CLASS[ASSIGNMENT].alternatives)]
    students = [similarity.Submission(f"student_{n:03d}", "\n".join(styles[n % len(styles)].values()) + f"\nx = {n}\n")
                for n in range(100)]
    start = time.perf_counter()
    pairs = similarity.compare(students, boilerplate)
    assert len(pairs) == 4950
    assert time.perf_counter() - start < 30


def pairwise(submissions, boilerplate_code, noise_t, guarantee_t):
    """The specification: each pair's fingerprints given to copydetect's compare_files, one pair at
    a time (what similarity.compare once did), flagged by the module's rule, most alike first."""
    boilerplate = np.unique(np.array(list(similarity.fingerprint(boilerplate_code, noise_t, noise_t).hashes),
                                     dtype=np.int64))
    prints = {s.student: similarity.fingerprint(s.code, noise_t, guarantee_t, boilerplate) for s in submissions}
    rows = []
    for a, b in itertools.combinations(sorted(prints), 2):
        shared, (share_a, share_b), slices = compare_files(prints[a], prints[b])
        flagged = max(share_a, share_b) >= similarity.FLAG_SIMILARITY and shared >= similarity.FLAG_SHARED_TOKENS
        marked = (similarity._highlight(prints[a].raw_code, slices[0]),
                  similarity._highlight(prints[b].raw_code, slices[1])) if flagged else ("", "")
        rows.append((a, b, float(share_a), float(share_b), int(shared), bool(flagged), *marked))
    return sorted(rows, key=lambda row: (-max(row[2], row[3]), -row[4], row[0], row[1]))


@pytest.mark.parametrize("noise_t, guarantee_t", [(25, 25), (12, 12), (20, 30)])
def test_every_pair_scores_exactly_what_compare_files_gives_it(tmp_path, noise_t, guarantee_t):
    """similarity.compare scores every pair at once (an inverted index, runs of shared code), not
    one pair at a time: each pair's two shares, shared length, flag, rank and marked-up code are
    still exactly those of copydetect's compare_files on that pair. The class has copies (renamed,
    reordered, half a notebook), a student whose code repeats itself (one fingerprint at two
    places), untouched exercises, independent students; and winnowing (a window of 11) too."""
    submitted = tmp_path / "submitted"
    hand_in(submitted, ASSIGNMENT, "original_author", ORIGINAL_AUTHOR)
    hand_in(submitted, ASSIGNMENT, "copies_renaming_variables", COPY_WITH_RENAMED_VARIABLES)
    hand_in(submitted, ASSIGNMENT, "copies_reordering_functions", COPY_REORDERED)
    hand_in(submitted, ASSIGNMENT, "comprehensions_complex", COMPREHENSIONS_COMPLEX)
    halves = {g: (ORIGINAL_AUTHOR if g in ("wordpiece", "pair_layout") else COMPREHENSIONS_COMPLEX)[g]
              for g in ORIGINAL_AUTHOR}
    hand_in(submitted, ASSIGNMENT, "copies_half", halves)
    hand_in(submitted, ASSIGNMENT, "repeats_itself", COMPREHENSIONS_COMPLEX,
            {"sinusoidal_positions": ORIGINAL_AUTHOR["wordpiece"], "embeddings": ORIGINAL_AUTHOR["wordpiece"]})
    hand_in(submitted, ASSIGNMENT, "copies_the_book", CLASS[ASSIGNMENT].copying.cells)
    hand_in_independent_class(submitted, ASSIGNMENT)
    hand_in(submitted, ASSIGNMENT, "untouched_1", None)
    hand_in(submitted, ASSIGNMENT, "untouched_2", None)
    boilerplate, given = similarity.template_code(ROOT / "exercises", ASSIGNMENT)
    submissions, _ = similarity.collect(submitted, ASSIGNMENT, given)

    pairs = similarity.compare(submissions, boilerplate, noise_t=noise_t, guarantee_t=guarantee_t, highlighted=None)
    expected = pairwise(submissions, boilerplate, noise_t, guarantee_t)
    got = [(p.a, p.b, p.similarity_a, p.similarity_b, p.shared_tokens, p.flagged, p.highlighted_a, p.highlighted_b)
           for p in pairs]
    assert len(got) == len(expected) == 13 * 12 // 2
    assert got == expected, next((g, e) for g, e in zip(got, expected) if g != e)
    # The class tries what it should: flagged pairs, pairs that share some code, pairs that share none.
    assert {p.flagged for p in pairs} == {True, False}
    assert any(0 < p.similarity < similarity.FLAG_SIMILARITY for p in pairs)
    assert any(p.similarity == 0 for p in pairs)
    # similarity.fingerprint names the language: the tokens of the lexer copydetect finds for "cells.py".
    for s in submissions:
        by_file_name = CodeFingerprint("cells.py", noise_t, 1, fp=io.StringIO(s.code))
        assert similarity.fingerprint(s.code, noise_t, noise_t).filtered_code == by_file_name.filtered_code


def test_a_large_class_gets_a_page_of_bounded_length(tmp_path):
    """2,000 students make 2 million pairs: the page lists the HTML_TOP_PAIRS (500) most alike and
    shows the code of the first HTML_FLAGGED_PAIRS (200) flagged pairs, and says that the CSV has
    them all, which it does. (Made-up scores: 1,000 pairs ranked, the first 250 and ranks 701 to 720
    flagged.)"""
    flagged = set(range(250)) | set(range(700, 720))
    pairs = [similarity.Pair(f"s{n:04d}", f"t{n:04d}", 1 - n / 1000, 0.1, 1000 - n, n in flagged,
                             "<mark>a</mark>" if n in flagged else "", "b" if n in flagged else "")
             for n in range(1000)]
    similarity.write_html(ASSIGNMENT, pairs, [], 46, tmp_path / "page.html",
                          flag_similarity=0.5, flag_shared_tokens=200)
    similarity.write_csv(pairs, tmp_path / "pairs.csv")
    page = (tmp_path / "page.html").read_text(encoding="utf-8")
    assert page.count("<h3 id='pair-") == similarity.HTML_FLAGGED_PAIRS == 200
    assert page.count("<td class='number'>") == 5 * similarity.HTML_TOP_PAIRS  # rank and 4 scores a row
    assert page.count("<tr class='flagged'>") == 250 and page.count(">yes</a>") == 200
    assert "s0499" in page and "s0500" not in page and "s0700" not in page
    assert ("this page shows the code of the first 200 of the 270 flagged pairs, most alike first and lists "
            f"the 500 most alike of the 1000 pairs and the flagged pairs whose code it shows: {ASSIGNMENT}.csv, "
            "beside it, lists every pair") in " ".join(page.split())
    with open(tmp_path / "pairs.csv", newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 1000 and sum(row["flagged"] == "yes" for row in rows) == 270
