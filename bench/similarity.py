"""How long `make similarity` takes for a whole course of one assignment (target: 2,000 students
in a few minutes on the 2-core dev machine), and whether it still finds the copies planted in it.

    .venv/bin/python bench/similarity.py [--students 2000] [--check 200] [--old REV] [--seed 0]

It builds a synthetic class of --students students of one assignment (01_input_embeddings by
default) in a temporary course folder: grading/submitted/<id>/<assignment>/<notebook>.ipynb, each
the released exercise with the student's code in its solution cells. Nothing in grading/ is
touched, and nothing is run or installed.

The students. The course has a handful of independent solutions of each assignment: the
instructor's (solutions/), the correct students in other styles of tests/exercise_classes/, and
(exercise 1) the two honest students of tests/similarity_students.py. Each synthetic student takes,
for each solution cell, one of those at random, then makes it their own as students do: their own
names for their own variables and functions, the functions of a cell in another order, a line
dropped here and there, and lines of their own (a print, an assert, a counter, a check) between
about a third of the lines. Two students who took the same solution for a cell therefore share
some of it (runs of lines that neither of them touched), as students who follow the same idea
do; most pairs share a little, a few share much. Then about one student in a hundred is a
planted copier: they hand in a classmate's notebook, disguised one of three ways (every name
renamed; renamed and reordered with a few lines of their own; renamed with a comment rewritten).
Copiers copy distinct classmates who copy nobody, so the planted pairs are exactly the copies.

What it measures. The wall time of `similarity.report` (what `make similarity` runs for an
assignment: read every notebook, fingerprint, compare every pair, write the CSV and the HTML page),
pairs compared per second, and the flagged pairs against the planted ones: planted pairs found,
planted pairs missed, and pairs flagged that were not planted (two students who took the same
solutions for most cells and changed little can share half their code; the count says how often
this synthetic class does). With --check N (200 by default; 0 skips it), it also compares the
first N students of the class the plain way, copydetect's `compare_files` on every pair as
`similarity.compare` did before it used an inverted index, times that, and checks that both
write byte-identical CSVs (the CSV holds every score and flag). With --old REV it also runs the
whole module as it was at git revision REV (0104a35 compared pair by pair) on the same class,
times it beside today's, and checks the two CSVs are byte-identical (and says whether the pages
are: they are until the page's bound, 500 pairs). Seconds are wall time; CPU seconds beside them
count this process alone, for a machine that is busy with something else (the load average is
printed before and after).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import itertools
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from copydetect import compare_files

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the synthetic students of the test suite

from exercise_classes import all_assignments  # noqa: E402
from similarity_students import COMPREHENSIONS_COMPLEX, ORIGINAL_AUTHOR  # noqa: E402

from bertlab.autograde import similarity  # noqa: E402

ASSIGNMENT = "01_input_embeddings"
TARGET_SECONDS = 300.0

# ------------------------------------------------------------------------------------------------
# The class
# ------------------------------------------------------------------------------------------------


def solution_cells(assignment: str) -> dict[str, str]:
    """The instructor's code of each code solution cell, without nbgrader's markers."""
    cells = {}
    for path in sorted((ROOT / "solutions" / assignment).glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            nbgrader = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "code" and nbgrader.get("solution"):
                source = "".join(cell["source"])
                cells[nbgrader["grade_id"]] = "\n".join(
                    line for line in source.splitlines()
                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))
    return cells


def independent_solutions(assignment: str) -> list[tuple[dict[str, str], dict[str, str]]]:
    """(cells, extra cells) of each author of `assignment` who wrote every part on their own."""
    instructor = solution_cells(assignment)
    authors = [(instructor, {})]
    for student in all_assignments()[assignment].alternatives:
        authors.append(({**instructor, **student.cells}, student.extra_cells))
    if assignment == ASSIGNMENT:
        authors += [(ORIGINAL_AUTHOR, {}), (COMPREHENSIONS_COMPLEX, {})]
    return authors


KEYWORDS = set("""False None True and as assert async await break class continue def del elif else
except finally for from global if import in is lambda nonlocal not or pass raise return try while
with yield self super print len range list dict set tuple int float str torch nn math np F
""".split())


def own_names(code: str) -> set[str]:
    """The names a cell's author chose: what it defines and assigns (not what it calls)."""
    names = set(re.findall(r"^\s*(?:def|class)\s+(\w+)", code, flags=re.M))
    names |= set(re.findall(r"^\s*(\w+)\s*(?:[-+*/]?=)(?!=)", code, flags=re.M))
    names |= set(re.findall(r"\bfor\s+(\w+)\s+in\b", code))
    return {n for n in names if n not in KEYWORDS and not n.startswith("__")}


def renamed(code: str, rng: random.Random, keep: set[str]) -> str:
    """`code` with the author's own names (not those the exercise asks for) renamed."""
    names = sorted(own_names(code) - keep)
    if not names:
        return code
    table = {n: f"{n[:2]}_{rng.choice('abcdefghjkmnpqrstuvwxyz')}{rng.randrange(100)}"
             for n in names}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    return pattern.sub(lambda m: table[m.group(1)], code)


def blocks(code: str) -> list[str]:
    """The top-level statements of a cell (a def or class with its body, an import, ...)."""
    found: list[list[str]] = []
    for line in code.splitlines():
        if line and not line[0].isspace() and not (found and found[-1][-1].rstrip().endswith(
                (",", "(", "[", "{", "\\"))) and not line.startswith((")", "]", "}")):
            found.append([line])
        elif found:
            found[-1].append(line)
        else:
            found.append([line])
    return ["\n".join(lines).strip("\n") for lines in found if "".join(lines).strip()]


def line_of_their_own(rng: random.Random, indent: str) -> str:
    """A line a student adds: each one different in what the tokenizer keeps (its numbers)."""
    n, m, name = rng.randrange(1000), rng.randrange(1, 1000), f"t{rng.randrange(10_000)}"
    return indent + rng.choice([
        f"{name} = {n}",
        f"{name} = [{n}] * {m}",
        f"assert {n} < {m} + {n}",
        f"print({n}, {m})",
        f"{name} = ({n}, {m}, {n + m})",
        f"{name} = {n} if {m} > {n} else {m}",
        f"checks = {{{n}: {m}}}",
        f"step = {n} // {m} - {n % 7}",
    ])


def rewritten_line(line: str, rng: random.Random) -> str:
    """`line` written another way that the tokenizer sees: its value in parentheses, or kept in
    a name of its own first."""
    head, sep, value = line.partition(" = ")
    if not sep:
        head, sep, value = line.partition("return ")
        if not sep or head.strip():
            return line
    if rng.random() < 0.5:
        return f"{head}{sep}({value})"
    indent = line[: len(line) - len(line.lstrip())]
    name = f"v{rng.randrange(1000)}"
    return f"{indent}{name} = {value}\n{head}{sep}{name}"


def made_their_own(code: str, rng: random.Random, keep: set[str], added: float = 0.6,
                   rewritten: float = 0.3) -> str:
    """`code` as a student who followed that idea would write it: renamed, reordered, a few
    lines dropped, about `rewritten` of the lines written another way, and lines of their own
    after about `added` of them."""
    parts = blocks(renamed(code, rng, keep))
    if rng.random() < 0.5:
        rng.shuffle(parts)
    parts.sort(key=lambda b: not b.startswith(("import", "from")))  # imports stay first
    lines = "\n\n\n".join(parts).splitlines()
    out = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        opened = stripped.endswith((":", ",", "(", "[", "{", "\\")) or stripped.startswith(
            ("@", ")", "]", "}")) or not stripped
        if not opened and line.startswith(" ") and rng.random() < 0.06:
            continue  # a line this student did without
        if not opened and rng.random() < rewritten:
            line = rewritten_line(line, rng)
        out.append(line)
        if not opened and i + 1 < len(lines) and rng.random() < added:
            following = next((x for x in lines[i + 1:] if x.strip()), "")
            if following.strip().startswith((")", "]", "}", "else", "elif", "except", "finally")):
                continue
            indent = following[: len(following) - len(following.lstrip())]
            out.append(line_of_their_own(rng, indent))
    return "\n".join(out) + "\n"


def disguised_copy(cells: dict[str, str], rng: random.Random, keep: set[str], how: int):
    """A classmate's `cells` as a copier hands them in."""
    if how == 0:  # every name renamed
        return {g: renamed(code, rng, keep) for g, code in cells.items()}
    if how == 1:  # renamed, reordered, and a few lines of their own
        return {g: made_their_own(code, rng, keep, added=0.08, rewritten=0)
                for g, code in cells.items()}
    # renamed, with a comment of their own on top of each cell
    return {g: f"# my solution, part {n}\n" + renamed(code, rng, keep)
            for n, (g, code) in enumerate(cells.items())}


def make_class(assignment: str, students: int, seed: int):
    """{student id: (cells, extra cells)} and the planted pairs {(a, b)} (a < b)."""
    rng = random.Random(seed)
    authors = independent_solutions(assignment)
    # The names the exercise asks for (and the tests call) are everybody's, not anyone's own.
    keep = set(solution_cells(assignment)) | {"forward", "Embeddings"}
    keep |= set(re.findall(r"^(?:def|class)\s+(\w+)", "\n".join(authors[0][0].values()),
                           flags=re.M))
    ids = [f"student_{n:05d}" for n in rng.sample(range(10 * students), students)]
    copiers = max(2, students // 100)
    honest, copying = ids[: students - copiers], ids[students - copiers:]
    handed_in, planted = {}, set()
    for student in honest:
        cells, extra = {}, {}
        for grade_id in authors[0][0]:
            source_cells, source_extra = rng.choice(authors)
            cells[grade_id] = made_their_own(source_cells[grade_id], rng, keep)
            if grade_id in source_extra:
                extra[grade_id] = made_their_own(source_extra[grade_id], rng, keep)
        handed_in[student] = (cells, extra)
    for n, (copier, original) in enumerate(zip(copying, rng.sample(honest, copiers))):
        cells, extra = handed_in[original]
        handed_in[copier] = (disguised_copy(cells, rng, keep, n % 3), dict(extra))
        planted.add(tuple(sorted((copier, original))))
    return handed_in, planted


def write_class(submitted: Path, assignment: str, handed_in) -> None:
    """Each student's notebooks: the released exercise, their code in its solution cells and
    their extra cells just before the cell they go with (JSON written directly: fast)."""
    released = {path.name: json.loads(path.read_text(encoding="utf-8"))
                for path in sorted((ROOT / "exercises" / assignment).glob("*.ipynb"))}
    for student, (cells, extra) in handed_in.items():
        folder = submitted / student / assignment
        folder.mkdir(parents=True)
        for name, nb in released.items():
            nb = copy.copy(nb)
            nb["cells"] = []
            for cell in released[name]["cells"]:
                grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                if grade_id in extra:
                    nb["cells"].append({"cell_type": "code", "execution_count": None,
                                        "metadata": {}, "outputs": [],
                                        "source": extra[grade_id]})
                if grade_id in cells:
                    cell = {**cell, "source": cells[grade_id]}
                nb["cells"].append(cell)
            (folder / name).write_text(json.dumps(nb), encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# The plain way: every pair through copydetect's compare_files
# ------------------------------------------------------------------------------------------------


def pairwise(submissions, boilerplate_code, noise_t=similarity.NOISE_TOKENS,
             flag_similarity=similarity.FLAG_SIMILARITY,
             flag_shared_tokens=similarity.FLAG_SHARED_TOKENS) -> list:
    """Every pair's scores from copydetect's compare_files, as similarity.compare computed them
    one pair at a time before it used an inverted index (window 1, the default)."""
    boilerplate = np.unique(np.array(
        list(similarity.fingerprint(boilerplate_code, noise_t, noise_t).hashes), dtype=np.int64))
    prints = {s.student: similarity.fingerprint(s.code, noise_t, noise_t, boilerplate)
              for s in submissions}
    pairs = []
    for a, b in itertools.combinations(sorted(prints), 2):
        shared, (similarity_a, similarity_b), _ = compare_files(prints[a], prints[b])
        pair = similarity.Pair(a, b, float(similarity_a), float(similarity_b), int(shared), False)
        pair.flagged = pair.similarity >= flag_similarity and shared >= flag_shared_tokens
        pairs.append(pair)
    pairs.sort(key=lambda p: (-p.similarity, -p.shared_tokens, p.a, p.b))
    return pairs


def csv_bytes(pairs) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        similarity.write_csv(pairs, Path(tmp) / "pairs.csv")
        return (Path(tmp) / "pairs.csv").read_bytes()


def check_against_pairwise(submitted: Path, assignment: str, first: int) -> tuple[float, float]:
    """Seconds of the plain way and of similarity.compare on the first `first` students, after
    checking that their CSVs are byte-identical (exit 1 if not)."""
    boilerplate, given = similarity.template_code(ROOT / "exercises", assignment)
    submissions, _ = similarity.collect(submitted, assignment, given)
    submissions = submissions[:first]
    start = time.perf_counter()
    plain = pairwise(submissions, boilerplate)
    plain_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fast = similarity.compare(submissions, boilerplate)
    fast_seconds = time.perf_counter() - start
    if csv_bytes(plain) != csv_bytes(fast):
        scores = [[(p.a, p.b, p.similarity_a, p.similarity_b, p.shared_tokens, p.flagged)
                   for p in pairs] for pairs in (plain, fast)]
        differ = [(p, f) for p, f in zip(*scores) if p != f][:5]
        sys.exit(f"the CSVs of {len(submissions)} students differ (plain, fast): {differ}")
    return plain_seconds, fast_seconds


def module_at(rev: str):
    """bertlab/autograde/similarity.py as it was at git revision `rev`, imported beside today's."""
    source = subprocess.run(["git", "show", f"{rev}:bertlab/autograde/similarity.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "similarity.py"
    path.write_text(source, encoding="utf-8")
    name = "bertlab.autograde._similarity_at_" + re.sub(r"\W", "_", rev)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def timed_report(module, assignment: str, course: Path, out: Path):
    """What `make similarity` runs for one assignment: (pairs, wall seconds, CPU seconds, the
    CSV's bytes, the page's bytes)."""
    wall, cpu = time.perf_counter(), time.process_time()
    pairs, skipped = module.report(assignment, submitted=course / "grading" / "submitted",
                                   release=ROOT / "exercises", out=out)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert not skipped, skipped[:3]
    page = (out / f"{assignment}.html").read_bytes()
    return pairs, wall, cpu, (out / f"{assignment}.csv").read_bytes(), page


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--assignment", default=ASSIGNMENT)
    parser.add_argument("--check", type=int, default=200, metavar="N",
                        help="compare with the plain pairwise way on the first N students (0: not)")
    parser.add_argument("--old", metavar="REV",
                        help="also run similarity.py as it was at git revision REV (0104a35: pair "
                             "by pair) on the same class, and check that it writes the same CSV")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the class and reports here, and keep them")
    args = parser.parse_args()
    versions = {"this checkout": similarity}
    if args.old:
        versions[f"at {args.old}"] = module_at(args.old)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        course = args.keep or Path(tmp)
        start = time.perf_counter()
        handed_in, planted = make_class(args.assignment, args.students, args.seed)
        write_class(course / "grading" / "submitted", args.assignment, handed_in)
        print(f"{args.students} students of {args.assignment} written in "
              f"{time.perf_counter() - start:.1f} s, {len(planted)} planted copies; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        for n, (version, module) in enumerate(versions.items()):
            out = course / "grading" / f"similarity-{n}"
            rows.append((version, *timed_report(module, args.assignment, course, out)))
        checked = (check_against_pairwise(course / "grading" / "submitted", args.assignment,
                                          args.check) if args.check else None)
    load = os.getloadavg()[0]

    print(f"\n{'similarity.py':<18s}{'students':>9s}{'pairs':>12s}{'seconds':>9s}{'CPU s':>8s}"
          f"{'pairs/s':>10s}{'flagged':>9s}{'planted':>9s}{'found':>7s}{'not planted':>13s}"
          f"{'page':>10s}")
    for version, pairs, wall, cpu, _, page in rows:
        flagged = {(p.a, p.b) for p in pairs if p.flagged}
        print(f"{version:<18s}{args.students:>9d}{len(pairs):>12,d}{wall:>9.1f}{cpu:>8.1f}"
              f"{len(pairs) / wall:>10,.0f}{len(flagged):>9d}{len(planted):>9d}"
              f"{len(planted & flagged):>7d}{len(flagged - planted):>13d}"
              f"{len(page) / 1e6:>7.2f} MB")
    pairs, seconds, csv_file, page = rows[0][1], rows[0][2], rows[0][4], rows[0][5]
    shares = np.array([p.similarity for p in pairs])
    print(f"\nthe larger share of a pair: median {np.median(shares):.2f}, 99th percentile "
          f"{np.percentile(shares, 99):.2f}, pairs sharing nothing {np.mean(shares == 0):.1%}; "
          f"CSV {len(csv_file) / 1e6:.1f} MB; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB; load average "
          f"{load:.1f} at the end")
    for version, *_, old_csv, old_page in rows[1:]:
        same = "byte-identical" if old_csv == csv_file else "DIFFERENT"
        pages = ("byte-identical" if old_page == page else
                 "not the same (this checkout's is bounded at "
                 f"{similarity.HTML_TOP_PAIRS} pairs listed)")
        print(f"this checkout and similarity.py {version}: CSVs {same}, pages {pages}")
        if old_csv != csv_file:
            sys.exit(1)
    if checked:
        plain, fast = checked
        n = min(args.check, args.students)
        print(f"first {n} students, the compare step alone: plain pairwise (compare_files for "
              f"each of {n * (n - 1) // 2:,d} pairs) {plain:.1f} s, similarity.compare "
              f"{fast:.1f} s; CSVs byte-identical")
    verdict = "meets" if seconds <= TARGET_SECONDS else "MISSES"
    print(f"\n`make similarity` for {args.students} students: {seconds:.1f} s, {verdict} the "
          f"target of {TARGET_SECONDS:.0f} s ({os.cpu_count()} CPUs).")


if __name__ == "__main__":
    main()
