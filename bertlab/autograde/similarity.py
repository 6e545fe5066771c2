"""Copied work: the pairs of submissions of an assignment whose code is suspiciously alike.

`python -m bertlab.autograde.similarity ASSIGNMENT...` (`make similarity`) compares, for each
assignment, every student's code with every other student's and writes, ranked most alike first:

- `grading/similarity/<assignment>.csv`: every pair, student a, student b, the share of each one's
  code found in the other's, the length of code they share, and whether the pair is flagged;
- `grading/similarity/<assignment>.html`: the same table for a person to read, flagged pairs
  highlighted, each flagged pair's two codes side by side with the shared code marked, and the
  submissions that could not be read. For a large class the page is bounded, and says so: it
  shows the code of the first HTML_FLAGGED_PAIRS (200) flagged pairs, most alike first, and lists
  the HTML_TOP_PAIRS (500) most alike pairs and those flagged pairs (2,000 students make 2 million
  pairs: the CSV has them all, about 100 MB).

What is compared. A student's code is every code cell of their notebooks except the released
template's own cells handed back unchanged: the solution cells, the cells they added, and any
template cell they edited, in notebook order. The released notebooks' code (exercises/<assignment>/)
is boilerplate: code every student was given is nobody's copying, so two students who hand in the
untouched exercise share nothing. Nothing is run; the notebooks are read as JSON. Every name and
byte is the student's: a file or student folder whose name is not plain text (not UTF-8, or with a
newline) is listed as skipped, escaped, and not read; a notebook is read up to MAX_NOTEBOOK_BYTES,
its first MAX_CODE_CELLS code cells and MAX_CODE_CHARS of code, so that one flood costs little.

How. copydetect (https://github.com/blingenf/copydetect) fingerprints each student's code as MOSS
does: it tokenizes the code (names become V, F and O, strings S, comments and layout go), hashes
every run of `noise_t` tokenized characters, keeps the hashes of the template out, and compares the
sets. Renaming variables and changing comments change nothing it sees; reordering functions or
cells changes only the few fingerprints that span a seam. A pair's similarity for each student is
the share of that student's own code (template excluded) that also occurs in the other's.
`guarantee_t` equal to `noise_t` (winnowing window 1) keeps every fingerprint: more than MOSS's
sampling keeps, and the scores then do not depend on Python's per-process string hash seed (with a
larger window they do, by a few points).

At course size. The scores are those copydetect's `compare_files` gives each pair, but computed
for all pairs at once rather than pair by pair (`shared_tokens`): an inverted index from each
fingerprint to the students who have it, so that each student is gone through once, against every
classmate at the same time, and only the fingerprints someone else also has count. copydetect
itself compares only the flagged pairs the page shows, to mark their shared code. 2,000 students of
one assignment (2 million pairs) take about a minute in one process on the 2-core dev machine, half
of it copydetect tokenizing each student's code; pair by pair it would take 7 to 8 minutes
(extrapolated from 500 students: 30 s) and write a page of about 400 MB. bench/similarity.py
measures it, and checks that both ways write the same CSV, byte for byte.

When a pair is flagged (defaults, each an option). A pair is flagged when the larger of its two
shares is at least FLAG_SIMILARITY (0.5) and the code they share is at least FLAG_SHARED_TOKENS
(200 tokenized characters, about ten lines of Python). Why these, from the course's synthetic
classes (tests/test_similarity.py): a copy with renamed variables shares 1.0 of its code with the
original, a copy with reordered functions and rewritten comments 0.85; correct students who wrote
independently (the instructor and the students in other styles, all four assignments) share at most
0.34, the idioms every solution has (`nn.Embedding(config.vocab_size, config.hidden_size)`). 0.5
sits well between and reads plainly: half of one student's own code is in the other's. The larger
share, not the smaller, because a student who copied a neighbour's work holds all of the neighbour's
code, however much of their own they added. The length bound keeps a student who wrote little from
being flagged for the few lines every solution has: the student who copies only the book's module
into exercise 1 has 0.5 to 0.67 of its code in honest students' modules, in 110 to 150 characters.
A flag is a reason to read both notebooks, not a verdict; and code that two students took from the
same third source (the book, a leaked solution) flags them both.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files
from copydetect.utils import get_token_coverage, highlight_overlap

from .._cli import ArgumentParser, user_input
from .ids import is_showable, shown

MAX_NOTEBOOK_BYTES = (
    16 * 1024 * 1024
)  # the screen's bound too: no notebook of the course comes near it
# A whole solution of an assignment is about 5,000 characters of code; a student's code past this
# bound is not compared (and the report says so), so that one flood cannot slow every comparison.
MAX_CODE_CHARS = 200_000
# A notebook of the course has about 60 cells; past this many code cells the rest of a notebook is
# not read (and the report says so), so that 50,000 cells cost no more than this many.
MAX_CODE_CELLS = 2_000
NOISE_TOKENS = (
    25  # copydetect's default: shorter runs of tokenized code are too common to mean anything
)
FLAG_SIMILARITY = 0.5
FLAG_SHARED_TOKENS = 200
# The HTML page lists the HTML_TOP_PAIRS most alike pairs and shows the first HTML_FLAGGED_PAIRS
# flagged pairs side by side (and lists them); the CSV has every pair.
HTML_TOP_PAIRS = 500
HTML_FLAGGED_PAIRS = 200
NAMED_FLAGGED_PAIRS = 20  # the command names this many flagged pairs; the reports have them all
# Starts the line put before each cell of a student's code. Not Python, so the tokenizer keeps it as
# it is, and no fingerprint that contains it is kept: code that runs on from one cell into the next
# is no code anyone wrote (two untouched exercises would otherwise share the seams between their
# stubs). In a student's own code it can only stand in a string or a comment, which are not kept.
CELL_BREAK = "\N{PILCROW SIGN}"


@dataclass
class Submission:
    """One student's code for one assignment: what the comparison sees."""

    student: str
    code: str  # the student's cells, each under a CELL_BREAK line that names it
    notebooks: list[str] = field(default_factory=list)


@dataclass
class Skipped:
    """A file or folder that was not compared, and why (it is listed in the report)."""

    student: str
    path: str  # as it may be shown: escaped by ids.shown if the name is not plain text
    reason: str


@dataclass(slots=True)  # a class of 2,000 students has 2 million pairs
class Pair:
    """Two submissions compared: the share of each one's own code found in the other's."""

    a: str
    b: str
    similarity_a: float
    similarity_b: float
    shared_tokens: int  # tokenized characters of a's code that b's also has
    flagged: bool
    highlighted_a: str = ""  # a's code as HTML, the shared parts marked (flagged pairs only)
    highlighted_b: str = ""

    @property
    def similarity(self) -> float:
        return max(self.similarity_a, self.similarity_b)


class UnreadableFile(Exception):
    """A file of a submission that is not read: the message says why."""


# ------------------------------------------------------------------------------------------------
# Reading submissions: every byte is hostile
# ------------------------------------------------------------------------------------------------


def read_notebook(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> dict:
    """The notebook at `path` as JSON, read without following a link or blocking on a FIFO, and only
    if it is a regular file of at most `max_bytes`; otherwise UnreadableFile says why."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if os.path.islink(path):
            raise UnreadableFile("is a symbolic link (not followed)") from None
        raise UnreadableFile(f"cannot be opened ({error.strerror})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("is not a regular file")
        if info.st_size > max_bytes:
            raise UnreadableFile(f"is larger than {max_bytes} bytes")
        data = file.read(max_bytes + 1)  # the size said by fstat may change while reading
    if len(data) > max_bytes:
        raise UnreadableFile(f"is larger than {max_bytes} bytes")
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UnreadableFile("is not a notebook (not JSON text)") from None
    except RecursionError:  # brackets nested past Python's recursion limit
        raise UnreadableFile("is not a notebook (JSON nested too deep)") from None
    if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):
        raise UnreadableFile("is not a notebook (no list of cells)")
    return nb


def code_cells(nb: dict, max_cells: int = MAX_CODE_CELLS) -> list[tuple[str, bool]]:
    """(source, is a solution cell) of each of the first `max_cells` code cells of a notebook read
    by `read_notebook`, with anything malformed in a cell read as nothing rather than trusted."""
    found = []
    for cell in nb["cells"]:
        if len(found) == max_cells:
            break
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(part for part in source if isinstance(part, str))
        if not isinstance(source, str):
            continue
        # JSON may spell a lone surrogate ("\ud800"), which no UTF-8 report can hold: kept as
        # that escape, so that writing the report cannot fail.
        source = source.encode("utf-8", "backslashreplace").decode("utf-8")
        metadata = cell.get("metadata")
        nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
        found.append((source, isinstance(nbgrader, dict) and nbgrader.get("solution") is True))
    return found


def template_code(release: Path, assignment: str) -> tuple[str, set[str]]:
    """The released notebooks of `assignment`: all their code (the boilerplate), and the sources of
    the cells that are not the students' to write (setup, tests, examples)."""
    code, given = [], set()
    for path in sorted((release / assignment).glob("*.ipynb")):
        for source, is_solution in code_cells(read_notebook(path)):
            code.append(source)
            if not is_solution:
                given.add(source)
    return "\n\n".join(code), given


def student_code(nb: dict, name: str, given: set[str]) -> str:
    """A student's own code in notebook `name`: every code cell but the template's given cells
    handed back unchanged, each under a comment naming it (comments are not compared; they guide
    the reader of the report). A solution cell left as released stays: it is all boilerplate, so it
    counts for nothing, and the report shows every answer."""
    parts = []
    for number, (source, is_solution) in enumerate(code_cells(nb), start=1):
        if source in given and not is_solution:
            continue
        parts.append(
            f"{CELL_BREAK} # {name}, code cell {number}"
            f"{' (a solution cell)' if is_solution else ''}\n"
            f"{source.strip()}\n"
        )
    return "\n".join(parts)


def collect(
    submitted: Path, assignment: str, given: set[str], max_bytes: int = MAX_NOTEBOOK_BYTES
) -> tuple[list[Submission], list[Skipped]]:
    """Every student's submission of `assignment` in `submitted`/<student>/<assignment>/, and what
    was skipped: links, FIFOs and other non-files, unreadable notebooks, files that are not
    notebooks, names that are not plain text (not UTF-8, or with a control character such as a
    newline: they could not be written in the report as they are), and students with no notebook
    left to compare. Names are listed as bytes."""
    submissions, skipped = [], []
    if not submitted.is_dir():
        return submissions, skipped
    for raw_student in sorted(os.listdir(os.fsencode(submitted))):
        student_dir = submitted / os.fsdecode(raw_student)
        folder = student_dir / assignment
        if not os.path.lexists(folder):
            continue
        if not is_showable(raw_student):
            skipped.append(
                Skipped(
                    shown(raw_student),
                    shown(str(folder)),
                    "the student folder's name is not plain text (not UTF-8, or a control "
                    "character): not compared (make autograde sets it aside)",
                )
            )
            continue
        student = raw_student.decode("utf-8")
        if student_dir.is_symlink() or folder.is_symlink() or not folder.is_dir():
            skipped.append(
                Skipped(student, str(folder), "is not a folder (a link or a file): not followed")
            )
            continue
        code, names = [], []
        for raw in sorted(os.listdir(os.fsencode(folder))):
            path = folder / os.fsdecode(raw)
            if not is_showable(raw):
                skipped.append(
                    Skipped(
                        student,
                        shown(str(path)),
                        "its name is not plain text (not UTF-8, or a control character): not read",
                    )
                )
                continue
            if path.name == "timestamp.txt" and path.is_file() and not path.is_symlink():
                continue  # nbgrader's own record of when it was handed in
            if path.is_dir() and not path.is_symlink():
                skipped.append(Skipped(student, str(path), "is a folder (not looked into)"))
                continue
            if path.suffix != ".ipynb":
                skipped.append(Skipped(student, str(path), "is not a notebook (.ipynb)"))
                continue
            try:
                nb = read_notebook(path, max_bytes)
            except UnreadableFile as reason:
                skipped.append(Skipped(student, str(path), str(reason)))
                continue
            if sum(isinstance(c, dict) and c.get("cell_type") == "code" for c in nb["cells"]) > (
                MAX_CODE_CELLS
            ):
                skipped.append(
                    Skipped(
                        student,
                        str(path),
                        f"has more than {MAX_CODE_CELLS} code cells: only the first are compared",
                    )
                )
            code.append(student_code(nb, path.name, given))
            names.append(path.name)
        code = "\n".join(code)
        if len(code) > MAX_CODE_CHARS:
            skipped.append(
                Skipped(
                    student,
                    str(folder),
                    f"has {len(code)} characters of code: only the first "
                    f"{MAX_CODE_CHARS} are compared",
                )
            )
            code = code[:MAX_CODE_CHARS]
        if names:
            submissions.append(Submission(student, code, names))
        else:
            skipped.append(
                Skipped(student, str(folder), "no readable notebook: the student is not compared")
            )
    return submissions, skipped


# ------------------------------------------------------------------------------------------------
# Comparing
# ------------------------------------------------------------------------------------------------


def fingerprint(code: str, noise_t: int, guarantee_t: int, boilerplate=None) -> CodeFingerprint:
    """copydetect's fingerprint of Python `code`, less the fingerprints that span a cell break.
    The language is named: the lexer pygments finds for a file name "cells.py" (what copydetect
    would use), without searching every lexer's file patterns each time (5 ms a student)."""
    found = CodeFingerprint(
        "cells.py",
        noise_t,
        guarantee_t - noise_t + 1,
        boilerplate=boilerplate,
        language="python",
        fp=io.StringIO(code),
    )
    within_cells = {}
    for hash_value, starts in found.hash_idx.items():
        starts = [i for i in starts if CELL_BREAK not in found.filtered_code[i : i + noise_t]]
        if starts:
            within_cells[hash_value] = starts
    found.hash_idx, found.hashes = within_cells, set(within_cells)
    found.token_coverage = get_token_coverage(within_cells, noise_t, len(found.filtered_code))
    return found


def compare(
    submissions: list[Submission],
    boilerplate_code: str,
    *,
    noise_t: int = NOISE_TOKENS,
    guarantee_t: int = NOISE_TOKENS,
    flag_similarity: float = FLAG_SIMILARITY,
    flag_shared_tokens: int = FLAG_SHARED_TOKENS,
    highlighted: int | None = HTML_FLAGGED_PAIRS,
) -> list[Pair]:
    """Every pair of `submissions`, most alike first, the template's fingerprints excluded: the
    scores copydetect's `compare_files` gives each pair, computed for all pairs at once
    (`shared_tokens`). The first `highlighted` flagged pairs (all if None) get their code marked
    up for the report, by `compare_files` itself."""
    if guarantee_t < noise_t:
        raise ValueError(f"guarantee_t={guarantee_t} must be at least noise_t={noise_t}")
    # Every fingerprint of the template (window 1, as copydetect takes boilerplate), so that none of
    # its code can match, whichever fingerprints winnowing keeps from a student's.
    boilerplate = np.unique(
        np.array(list(fingerprint(boilerplate_code, noise_t, noise_t).hashes), dtype=np.int64)
    )
    code = {s.student: s.code for s in submissions}
    names = sorted(code)  # the order of the pairs' (a, b), as before
    starts, hashes, coverage = [], [], np.zeros(len(names))
    for n, name in enumerate(names):
        found = fingerprint(code[name], noise_t, guarantee_t, boilerplate)
        where, which = _kept(found)
        starts.append(where)
        hashes.append(which)
        coverage[n] = found.token_coverage
    shared = shared_tokens(starts, hashes, noise_t)

    a, b = np.triu_indices(len(names), 1)
    shared_a, shared_b = shared[a, b], shared[b, a]
    # compare_files: the share of each one's covered code, 0 for both when nothing is shared
    # (one side shares something exactly when the other does: they share a fingerprint).
    similarity_a = np.divide(shared_a, coverage[a], out=np.zeros(len(a)), where=shared_a > 0)
    similarity_b = np.divide(shared_b, coverage[b], out=np.zeros(len(a)), where=shared_b > 0)
    most = np.maximum(similarity_a, similarity_b)
    flagged = (most >= flag_similarity) & (shared_a >= flag_shared_tokens)
    # Most alike first, then most shared, then by name (names are sorted: index order is theirs).
    order = np.lexsort((b, a, -shared_a, -most))
    pairs = [
        Pair(names[i], names[j], sa, sb, s, f)
        for i, j, sa, sb, s, f in zip(
            a[order].tolist(),
            b[order].tolist(),
            similarity_a[order].tolist(),
            similarity_b[order].tolist(),
            shared_a[order].tolist(),
            flagged[order].tolist(),
        )
    ]
    shown = [p for p in pairs if p.flagged][:highlighted]
    prints = {}
    for pair in shown:
        for name in (pair.a, pair.b):
            if name not in prints:
                prints[name] = fingerprint(code[name], noise_t, guarantee_t, boilerplate)
        _, _, slices = compare_files(prints[pair.a], prints[pair.b])
        pair.highlighted_a = _highlight(prints[pair.a].raw_code, slices[0])
        pair.highlighted_b = _highlight(prints[pair.b].raw_code, slices[1])
    return pairs


def _kept(found: CodeFingerprint) -> tuple[np.ndarray, np.ndarray]:
    """Where each kept fingerprint of `found` starts in its tokenized code, in order, and its hash
    (with a winnowing window over 1, copydetect may list a start twice: once here)."""
    where = [start for starts in found.hash_idx.values() for start in starts]
    which = [value for value, starts in found.hash_idx.items() for _ in starts]
    where, first = np.unique(np.array(where, dtype=np.int64), return_index=True)
    return where, np.array(which, dtype=np.int64)[first]


def shared_tokens(starts: list[np.ndarray], hashes: list[np.ndarray], k: int) -> np.ndarray:
    """shared[i, j]: how many tokenized characters of student i's code lie in a fingerprint that
    student j has too (`starts[i]`: where i's fingerprints start, sorted; `hashes[i]`: theirs;
    each covers `k` characters). This is the overlap copydetect's `compare_files` counts for i
    against j: the length of the union of the runs [s, s + k) over i's starts s whose hash j has.

    Rather than every pair, each student once: an inverted index says which students have each of
    i's fingerprints; consecutive fingerprints of i that exactly the same students have form a
    run, whose own length is known; and for every other student at once, each run they share adds
    its length plus what its last fingerprint covers before the next run they share begins."""
    n = len(starts)
    shared = np.zeros((n, n), dtype=np.int64)
    if n < 2:
        return shared
    # The inverted index: each distinct hash of the class, and the students who have it.
    own = [np.unique(h) for h in hashes]
    values, hash_id = np.unique(np.concatenate(own), return_inverse=True)
    holder = np.repeat(np.arange(n), [len(h) for h in own])[np.argsort(hash_id, kind="stable")]
    first_holder = np.searchsorted(np.sort(hash_id), np.arange(len(values) + 1))
    holders = np.diff(first_holder)
    for i in range(n):
        ids = np.searchsorted(values, hashes[i])
        keep = holders[ids] > 1  # a fingerprint nobody else has never counts
        where, ids = starts[i][keep].astype(np.int32), ids[keep]
        if len(where) == 0:
            continue
        # Runs of consecutive fingerprints of i that exactly the same students have. Each hash's
        # students are listed in order: two hashes have the same students if the lists are equal.
        before, after = ids[:-1], ids[1:]
        same = before == after
        check = np.flatnonzero(~same & (holders[before] == holders[after]))
        size = holders[before[check]]
        segment, index_before = _ranges(first_holder[before[check]], size)
        _, index_after = _ranges(first_holder[after[check]], size)
        differs = segment[holder[index_before] != holder[index_after]]
        same[check] = np.bincount(differs, minlength=len(check)) == 0
        run_first = np.flatnonzero(np.r_[True, ~same])
        run_last = np.r_[run_first[1:] - 1, len(where) - 1]
        # Who has each run (columns: the students who share any of i's code).
        run, index = _ranges(first_holder[ids[run_first]], holders[ids[run_first]])
        shares = np.zeros((len(run_first), n), dtype=bool)
        shares[run, holder[index]] = True
        shares[:, i] = False
        columns = np.flatnonzero(shares.any(axis=0))
        shares = shares[:, columns]
        # What each run covers before its last fingerprint, and what that one covers before the
        # next run the other student shares starts (all k characters if none does).
        step = np.r_[0, np.cumsum(np.minimum(np.diff(where), k))]
        inside = step[run_last] - step[run_first]
        far = where[-1] + k
        next_start = np.where(shares, where[run_first][:, None], far)
        next_start = np.minimum.accumulate(next_start[::-1], axis=0)[::-1]
        last = np.full_like(next_start, k)
        np.minimum(next_start[1:] - where[run_last[:-1], None], k, out=last[:-1])
        shared[i, columns] = np.where(shares, inside[:, None] + last, 0).sum(axis=0)
    return shared


def _ranges(first: np.ndarray, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indexes first[r], ..., first[r] + size[r] - 1 of every r, one after the other, and the
    r each belongs to."""
    which = np.repeat(np.arange(len(size)), size)
    return which, np.arange(len(which)) + np.repeat(first - np.cumsum(size) + size, size)


def _highlight(code: str, slices) -> str:
    if len(slices[0]) == 0:
        return html.escape(code)
    marked, _ = highlight_overlap(
        code, np.asarray(slices, dtype=np.int64), "<mark>", "</mark>", escape_html=True
    )
    return marked


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------

CSV_HEADER = [
    "student_a",
    "student_b",
    "similarity",
    "similarity_a",
    "similarity_b",
    "shared_tokens",
    "flagged",
]


def write_csv(pairs: list[Pair], path: Path) -> None:
    """One row per pair, most alike first (similarity: the larger of the two shares)."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(CSV_HEADER)
        for p in pairs:
            writer.writerow(
                [
                    p.a,
                    p.b,
                    f"{p.similarity:.3f}",
                    f"{p.similarity_a:.3f}",
                    f"{p.similarity_b:.3f}",
                    p.shared_tokens,
                    "yes" if p.flagged else "no",
                ]
            )


STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 110rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.flagged { background: #ffe0e0; font-weight: 600; }
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
.side-by-side > div { min-width: 0; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.5rem; overflow-x: auto;
      font-size: 0.8rem; }
mark { background: #ffd27f; }
"""


def write_html(
    assignment: str,
    pairs: list[Pair],
    skipped: list[Skipped],
    students: int,
    path: Path,
    *,
    flag_similarity: float,
    flag_shared_tokens: int,
    top_pairs: int = HTML_TOP_PAIRS,
    flagged_pairs: int = HTML_FLAGGED_PAIRS,
) -> None:
    """A self-contained page (no scripts, no network): the ranked pairs, the flagged ones
    highlighted, each flagged pair's code side by side with the shared code marked. Bounded for a
    large class: the code of the first `flagged_pairs` flagged pairs, and a table of the
    `top_pairs` most alike pairs and those flagged pairs; the page says where the rest are."""
    e = html.escape
    every_flagged = [p for p in pairs if p.flagged]
    flagged = every_flagged[:flagged_pairs]
    flagged_number = {id(p): n for n, p in enumerate(flagged, start=1)}
    listed = [
        (rank, p)
        for rank, p in enumerate(pairs, start=1)
        if rank <= top_pairs or id(p) in flagged_number
    ]
    out = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Similarity: {e(assignment)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Similar submissions: {e(assignment)}</h1>",
        f"<p>{students} submissions compared, {len(pairs)} pairs; "
        f"<strong>{len(every_flagged)} flagged</strong> (at least {flag_similarity:.0%} of one "
        f"student's own code found in the other's, and at least {flag_shared_tokens} tokenized "
        "characters shared). Code given in the exercise is not counted. A flag is a reason to "
        "read both notebooks, not a verdict.</p>",
    ]
    bounded = []
    if len(flagged) < len(every_flagged):
        bounded.append(
            f"shows the code of the first {len(flagged)} of the {len(every_flagged)} flagged "
            "pairs, most alike first"
        )
    if len(listed) < len(pairs):
        bounded.append(
            f"lists the {top_pairs} most alike of the {len(pairs)} pairs and the flagged pairs "
            "whose code it shows"
        )
    if bounded:
        out.append(
            f"<p>So that it stays readable, this page {' and '.join(bounded)}: "
            f"{e(assignment)}.csv, beside it, lists every pair with its scores and flag.</p>"
        )
    if flagged:
        out.append("<h2>Flagged pairs</h2>")
        for n, p in enumerate(flagged, start=1):
            out.append(
                f"<h3 id='pair-{n}'>{e(p.a)} and {e(p.b)}: "
                f"{p.similarity_a:.0%} of {e(p.a)}'s code, {p.similarity_b:.0%} of {e(p.b)}'s</h3>"
            )
            out.append(
                "<div class='side-by-side'>"
                f"<div><h4>{e(p.a)}</h4><pre>{p.highlighted_a}</pre></div>"
                f"<div><h4>{e(p.b)}</h4><pre>{p.highlighted_b}</pre></div>"
                "</div>"
            )
    out.append("<h2>Not compared</h2>")
    if skipped:
        out.append("<table><tr><th>student</th><th>file</th><th>why</th></tr>")
        out.extend(
            f"<tr><td>{e(s.student)}</td><td>{e(s.path)}</td><td>{e(s.reason)}</td></tr>"
            for s in skipped
        )
        out.append("</table>")
    else:
        out.append("<p>Every file of every submission was read.</p>")
    every = len(listed) == len(pairs)
    out.append(f"<h2>{'All pairs' if every else 'The most alike pairs'}, most alike first</h2>")
    out.append(
        "<table><tr><th>#</th><th>student a</th><th>student b</th><th>similarity</th>"
        "<th>share of a</th><th>share of b</th><th>shared</th><th>flagged</th></tr>"
    )
    for rank, p in listed:
        if id(p) in flagged_number:
            verdict = f"<a href='#pair-{flagged_number[id(p)]}'>yes</a>"
        else:
            verdict = "yes" if p.flagged else "no"
        out.append(
            f"<tr class='{'flagged' if p.flagged else ''}'>"
            f"<td class='number'>{rank}</td><td>{e(p.a)}</td><td>{e(p.b)}</td>"
            f"<td class='number'>{p.similarity:.2f}</td>"
            f"<td class='number'>{p.similarity_a:.2f}</td>"
            f"<td class='number'>{p.similarity_b:.2f}</td>"
            f"<td class='number'>{p.shared_tokens}</td><td>{verdict}</td></tr>"
        )
    out.append("</table>")
    out.append("</body></html>\n")
    path.write_text("\n".join(out), encoding="utf-8")


def report(
    assignment: str,
    *,
    submitted: Path,
    release: Path,
    out: Path,
    noise_t: int = NOISE_TOKENS,
    guarantee_t: int = NOISE_TOKENS,
    flag_similarity: float = FLAG_SIMILARITY,
    flag_shared_tokens: int = FLAG_SHARED_TOKENS,
) -> tuple[list[Pair], list[Skipped]]:
    """Compare the submissions of `assignment` and write out/<assignment>.csv and .html."""
    boilerplate, given = template_code(release, assignment)
    submissions, skipped = collect(submitted, assignment, given)
    pairs = compare(
        submissions,
        boilerplate,
        noise_t=noise_t,
        guarantee_t=guarantee_t,
        flag_similarity=flag_similarity,
        flag_shared_tokens=flag_shared_tokens,
    )
    out.mkdir(parents=True, exist_ok=True)
    write_csv(pairs, out / f"{assignment}.csv")
    write_html(
        assignment,
        pairs,
        skipped,
        len(submissions),
        out / f"{assignment}.html",
        flag_similarity=flag_similarity,
        flag_shared_tokens=flag_shared_tokens,
    )
    return pairs, skipped


def check_arguments(args: argparse.Namespace) -> None:
    """Raise ValueError (FileNotFoundError for a missing folder) if main's arguments cannot make a
    report: an assignment that was not released, thresholds out of their range."""
    if not args.release.is_dir():
        raise FileNotFoundError(
            f"--release {args.release} is not a folder; pass the folder of the released "
            "notebooks, <assignment>/*.ipynb"
        )
    released = sorted(p.name for p in args.release.iterdir() if p.is_dir())
    for assignment in args.assignments:
        if assignment not in released:  # the name of a released folder, not a path to one
            choices = ", ".join(released) or f"(none: {args.release} holds no folder)"
            raise ValueError(
                f"no released assignment {args.release / assignment}: name one of {choices}"
            )
    if args.noise_t < 1:
        raise ValueError(f"--noise-t must be at least 1, got {args.noise_t}")
    if args.guarantee_t < args.noise_t:
        raise ValueError(
            f"--guarantee-t {args.guarantee_t} must be at least --noise-t {args.noise_t}"
        )
    if not 0 <= args.flag_similarity <= 1:
        raise ValueError(f"--flag-similarity is a share in [0, 1], got {args.flag_similarity}")
    if args.flag_shared_tokens < 0:
        raise ValueError(f"--flag-shared-tokens must be 0 or more, got {args.flag_shared_tokens}")


def main(argv: list[str] | None = None) -> None:
    """`python -m bertlab.autograde.similarity ASSIGNMENT...`: the pairs of submissions whose code
    is suspiciously alike, per assignment, in grading/similarity/<assignment>.csv and .html."""
    parser = ArgumentParser(prog="python -m bertlab.autograde.similarity", description=main.__doc__)
    parser.add_argument("assignments", nargs="+")
    parser.add_argument(
        "--submitted",
        type=Path,
        default=Path("grading/submitted"),
        help="the submissions, <student>/<assignment>/*.ipynb (default: %(default)s)",
    )
    parser.add_argument(
        "--release",
        type=Path,
        default=Path("exercises"),
        help=(
            "the released notebooks, <assignment>/*.ipynb: their code is not compared "
            "(default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("grading/similarity"),
        help="where the reports go (default: %(default)s)",
    )
    parser.add_argument(
        "--noise-t",
        type=int,
        default=NOISE_TOKENS,
        help="shortest run of tokenized code that counts as shared (default: %(default)s)",
    )
    parser.add_argument(
        "--guarantee-t",
        type=int,
        default=NOISE_TOKENS,
        help="runs this long are always found; larger is faster and samples (default: %(default)s)",
    )
    parser.add_argument(
        "--flag-similarity",
        type=float,
        default=FLAG_SIMILARITY,
        help=(
            "flag a pair when this share of one student's code is in the other's "
            "(default: %(default)s)"
        ),
    )
    parser.add_argument(
        "--flag-shared-tokens",
        type=int,
        default=FLAG_SHARED_TOKENS,
        help="...and they share at least this much tokenized code (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    # Every argument is checked before the first report is written: a bad one is one line and
    # exit 2 (bertlab._cli).
    with user_input(parser.prog):
        check_arguments(args)
    for assignment in args.assignments:
        pairs, skipped = report(
            assignment,
            submitted=args.submitted,
            release=args.release,
            out=args.out,
            noise_t=args.noise_t,
            guarantee_t=args.guarantee_t,
            flag_similarity=args.flag_similarity,
            flag_shared_tokens=args.flag_shared_tokens,
        )
        flagged = [f"{p.a} and {p.b} ({p.similarity:.0%})" for p in pairs if p.flagged]
        print(
            f"{assignment}: "
            + (
                "no two submissions to compare"
                if not pairs
                else f"{len(pairs)} pairs compared, {len(flagged)} flagged"
            )
            + (f": {', '.join(flagged[:NAMED_FLAGGED_PAIRS])}" if flagged else "")
            + (
                f" and {len(flagged) - NAMED_FLAGGED_PAIRS} more (in the report)"
                if len(flagged) > NAMED_FLAGGED_PAIRS
                else ""
            )
            + (
                f"; {len(skipped)} files or folders not compared, or not whole (listed in the "
                "report)"
                if skipped
                else ""
            )
        )
        print(f"  wrote {args.out / assignment}.csv and {args.out / assignment}.html")


if __name__ == "__main__":
    main()
