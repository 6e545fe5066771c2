"""The class benchmark of bench/autograde.py (`--cluster`): a synthetic class graded on a cluster as
the README tells an instructor to grade a large class, and students per hour per core.

    .venv/bin/python bench/autograde.py --cluster [--class-size 200] [--keep DIR]

A private course folder (the repository's Makefile and nbgrader_config.py, and
solutions/04_next_sentence alone, the assignment tests/test_cluster.py grades: among the cheapest
to grade, though not the cheapest: `bench/autograde.py` measured 3.6 s for its solution on one
warm grader against 3.2 s for 01_input_embeddings, 3.7 s and 4.7 s for the others, so a class of
the other assignments grades at about the rate below or up to a third slower), then a class of N
students of it, mixed (their order spread so that each kind comes up all through the run):

- about 70% honest: the solution and the correct students in other styles of
  tests/exercise_classes/next_sentence.py, in turn;
- about 20% buggy: its students with one realistic mistake (or one broken rule), in turn;
- about 10% hostile (tests/test_attack_class.py's attacks, on this assignment): a flood of output,
  a flood of /tmp and the working folder, a memory hog (until the sandbox's address-space limit),
  a notebook that is a symbolic link to the solutions, a file that is no notebook, a process hog
  (forks until the sandbox's process limit, 17 s) and, 1 in 100 of the class, a cell that never
  ends: it costs the course's cell timeout (c.Execute.timeout = 60 s) before it is interrupted,
  which is the point: one such student is a worker's minute, whatever the cluster.

Then, as tests/test_cluster.py does (tests/services.py): a PostgreSQL server and `dask scheduler`
with 2 `dask worker` processes (1 thread each) on 127.0.0.1, `make release DB=...`, and
`make autograde SCHEDULER=... DB=...` timed. It prints the students, the wall seconds, the worker
processes and the machine's cores, students per hour and per core, the median and 95th percentile
seconds per submission (from make's `autograde: graded <student> (...) in X s (host, process N)`
lines), a check that every student has a grade (those lines and the gradebook; the honest and
buggy students' scores against exercise_classes'), the PostgreSQL connections seen at peak (polled
every 0.5 s), the scheduler's CPU time, and the bytes written under grading/ and into the database
per student: what a larger class would run out of first.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' helpers (a bench may borrow them)

from services import dask_cluster, postgres_program, postgres_server  # noqa: E402
from test_attack_class import DISK_FLOOD, PROCESS_HOG, TEXT_FLOOD_ONE_LINE  # noqa: E402
from test_exercises import CLASS, fill_in_solutions, submit  # noqa: E402

ASSIGNMENT = "04_next_sentence"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SPEC = CLASS[ASSIGNMENT]
WORKERS = 2
CELL_TIMEOUT = 60  # the course's c.Execute.timeout (checked against nbgrader_config.py below)

# Takes memory in 256 MiB blocks, each written, until the sandbox refuses (each process's address
# space, and the sandbox's cgroup where there is one); then lets it go and carries on.
MEMORY_HOG = """\
blocks = []
try:
    while True:
        blocks.append(b"m" * (256 << 20))
except MemoryError:
    pass
print("held", len(blocks) * 256, "MiB")
del blocks
"""
HANGS = """\
while True:  # waiting for a result that never comes
    pass
"""
NOT_A_NOTEBOOK = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 64  # a picture saved as .ipynb


@dataclass
class Kind:
    """A kind of student in the class: its category (honest, buggy, hostile), its name, how its
    submission is made, and the test cells' scores it must get (None: not checked)."""

    category: str
    name: str
    hand_in: object  # (course, student) -> None
    expected: dict[str, float] | None


def _notebook(edit_for):
    """A Kind's hand_in that submits the released notebook edited by `edit_for(course)`."""
    return lambda course, student: submit(course, ASSIGNMENT, student, edit_for(course))


def _solved_with_cell(code: str, before: str | None = None):
    """The solution, and `code` in a cell of its own before the cell `before` (or at the end)."""

    def edit_for(course):
        solve = fill_in_solutions(course, ASSIGNMENT)

        def edit(name, nb):
            solve(name, nb)
            cell = nbformat.v4.new_code_cell(code)
            if before is None:
                nb.cells.append(cell)
            else:
                at = next(i for i, c in enumerate(nb.cells)
                          if c.metadata.get("nbgrader", {}).get("grade_id") == before)
                nb.cells.insert(at, cell)

        return edit

    return _notebook(edit_for)


def _folder(course: Path, student: str) -> Path:
    folder = course / "grading" / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    return folder


def _link_to_the_solutions(course, student):
    (_folder(course, student) / NOTEBOOK).symlink_to(course / "solutions" / ASSIGNMENT / NOTEBOOK)


def _not_a_notebook(course, student):
    (_folder(course, student) / NOTEBOOK).write_bytes(NOT_A_NOTEBOOK)


def kinds() -> dict[str, list[Kind]]:
    full, nothing = SPEC.points, {cell: 0 for cell in SPEC.points}
    honest = [Kind("honest", "solution", _notebook(lambda c: fill_in_solutions(c, ASSIGNMENT)),
                   full)]
    for student in SPEC.alternatives:
        honest.append(Kind("honest", student.student,
                           _notebook(lambda c, s=student: fill_in_solutions(c, ASSIGNMENT, s)),
                           {**full, **student.scores}))
    buggy = [Kind("buggy", student.student,
                  _notebook(lambda c, s=student: fill_in_solutions(c, ASSIGNMENT, s)),
                  {**full, **student.scores}) for student in SPEC.mistakes]
    hostile = [
        Kind("hostile", "floods_output", _solved_with_cell(TEXT_FLOOD_ONE_LINE), full),
        Kind("hostile", "floods_tmp", _solved_with_cell(DISK_FLOOD), full),
        Kind("hostile", "hogs_memory", _solved_with_cell(MEMORY_HOG), full),
        Kind("hostile", "links_its_notebook", _link_to_the_solutions, nothing),
        Kind("hostile", "no_notebook", _not_a_notebook, nothing),
        Kind("hostile", "hogs_processes", _solved_with_cell(PROCESS_HOG, before="sample_pair"),
             full),
    ]
    hangs = Kind("hostile", "hangs_in_a_cell", _solved_with_cell(HANGS), full)
    return {"honest": honest, "buggy": buggy, "hostile": hostile, "hangs": [hangs]}


def the_class(size: int, hostile_share: float, buggy_share: float,
              hangs: int | None = None) -> dict[str, Kind]:
    """{student id: Kind} for a class of `size`: `hangs` students who hang in a cell (1 in 100 of
    the class unless given), the hostile (those included) and
    the buggy in their shares, the rest honest; each kind's students cycle through its kinds, and
    the categories are spread evenly over the class (ids are numbered in that order, which is the
    order the tasks are sent in)."""
    every = kinds()
    n_hangs = min(size, size // 100 if hangs is None else hangs)
    n_hostile = min(size, max(n_hangs, round(size * hostile_share)))
    n_buggy = min(size - n_hostile, round(size * buggy_share))
    n_honest = size - n_hostile - n_buggy
    lists = {
        "honest": [every["honest"][i % len(every["honest"])] for i in range(n_honest)],
        "buggy": [every["buggy"][i % len(every["buggy"])] for i in range(n_buggy)],
        "hostile": [every["hostile"][i % len(every["hostile"])]
                    for i in range(n_hostile - n_hangs)],
    }
    for k in range(n_hangs):  # spread among the hostile too (not two at once on both workers)
        lists["hostile"].insert(int((k + 0.5) * n_hostile / n_hangs), every["hangs"][0])
    # Each list spread over the class: its j-th student at (j + 0.5) / len of the way through.
    placed = sorted(((j + 0.5) / len(members), category, j)
                    for category, members in lists.items() for j in range(len(members)))
    students = {}
    for number, (_, category, j) in enumerate(placed, 1):
        kind = lists[category][j]
        students[f"s{number:04d}-{category}-{kind.name}"[:64]] = kind
    return students


def make(course: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    venv = Path(sys.executable).parent.parent
    return subprocess.run(["make", "--no-print-directory", *args, f"VENV={venv}"], cwd=course,
                          capture_output=True, text=True, timeout=timeout)


def check(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        sys.exit(f"{what} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                 f"{result.stderr[-3000:]}")


class PostgresWatch:
    """The peak number of PostgreSQL connections while this watches, polled every 0.5 s: all of
    pg_stat_activity (the server's own processes too), and the client connections other than
    this watch's own."""

    def __init__(self, db: str):
        import psycopg

        self.connection = psycopg.connect(db, autocommit=True)
        self.peak_all = self.peak_clients = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self):
        while not self.stop.is_set():
            rows, clients = self.connection.execute(
                "SELECT count(*), count(*) FILTER (WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()) FROM pg_stat_activity").fetchone()
            self.peak_all, self.peak_clients = (max(self.peak_all, rows),
                                                max(self.peak_clients, clients))
            self.stop.wait(0.5)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.connection.close()


def database_use(db: str) -> tuple[int, int]:
    """The database's size in bytes, and the sessions (connections) it has had so far, as
    PostgreSQL counts them (pg_stat_database.sessions, PostgreSQL 14 or newer; else 0)."""
    import psycopg

    with psycopg.connect(db, autocommit=True) as connection:
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        try:
            sessions = connection.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()[0]
        except psycopg.Error:
            sessions = 0
    return size, sessions


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of a process and of its children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_memory(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) << 10


def disk_bytes(path: Path) -> int:
    """What `path` takes on disk (du: blocks, links not followed)."""
    if not path.exists():
        return 0
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return int(out.split()[0])


def graded_lines(output: str) -> list[tuple[str, float, int]]:
    """(student, seconds, process) of each `autograde: graded <student> (...) in X s (host,
    process N)` line."""
    return [(m.group(1), float(m.group(2)), int(m.group(3))) for m in re.finditer(
        r"^autograde: graded (\S+) \(\S+\) in ([\d.]+) s \(.*, process (\d+)\)$", output, re.M)]


def gradebook_scores(db: str) -> dict[str, dict[str, float]]:
    """{student: {test cell: score}} of the assignment's submissions, and a check that each
    student has exactly one submission with a grade for every graded cell."""
    from nbgrader.api import Gradebook

    from bertlab.autograde.cluster import gradebook_url

    with Gradebook(gradebook_url(db)) as book:
        assignment = book.find_assignment(ASSIGNMENT)
        cells = sorted(cell.name for notebook in assignment.notebooks
                       for cell in notebook.grade_cells)
        found = {}
        for submission in assignment.submissions:
            student = submission.student.id
            names = sorted(grade.name for notebook in submission.notebooks
                           for grade in notebook.grades)
            if student in found or names != cells:
                sys.exit(f"gradebook: {student} has two submissions or grades {names}")
            found[student] = {grade.name: grade.score for notebook in submission.notebooks
                              for grade in notebook.grades if grade.name.startswith("test_")}
        return found


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` lie (linear between the nearest ranks)."""
    ordered = sorted(values)
    at = share * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def benchmark_class(size: int, hostile_share: float = 0.10, buggy_share: float = 0.20,
                    hangs: int | None = None, keep: Path | None = None) -> None:
    for program in ("bwrap", "make", "du"):
        if not shutil.which(program):
            sys.exit(f"{program} is not installed: the class cannot be graded here")
    if not (postgres_program("initdb") and postgres_program("pg_ctl")):
        sys.exit("PostgreSQL's server (initdb, pg_ctl) is not installed: "
                 "apt-get install postgresql")
    if keep is not None:
        keep.mkdir(parents=True)  # a new folder: never someone's course
        top = keep.resolve()
        context = contextlib.nullcontext(str(top))
    else:
        context = tempfile.TemporaryDirectory(prefix="bertlab-class-")
    with context as folder:
        run_class(Path(folder), size, hostile_share, buggy_share, hangs, keep is not None)


def run_class(top: Path, size: int, hostile_share: float, buggy_share: float,
              hangs: int | None, keep: bool) -> None:
    course = top / "course"
    shutil.copytree(ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT)
    for name in ("Makefile", "nbgrader_config.py"):
        shutil.copy(ROOT / name, course / name)
    config = (course / "nbgrader_config.py").read_text()
    if f"c.Execute.timeout = {CELL_TIMEOUT}\n" not in config:
        print(f"note: the course's cell timeout is no longer {CELL_TIMEOUT} s (nbgrader_config.py)")
    check(make(course, "release"), "make release")  # exercises/, to hand in from

    students = the_class(size, hostile_share, buggy_share, hangs)
    start = time.perf_counter()
    for student, kind in students.items():
        kind.hand_in(course, student)
    handed_in = time.perf_counter() - start
    counts = {c: sum(k.category == c for k in students.values())
              for c in ("honest", "buggy", "hostile")}
    hanging = sum(k.name == "hangs_in_a_cell" for k in students.values())
    print(f"A class of {len(students)} students of {ASSIGNMENT}: {counts['honest']} honest, "
          f"{counts['buggy']} buggy, {counts['hostile']} hostile ({hanging} of them hang in a "
          f"cell, {CELL_TIMEOUT} s each); handed in in {handed_in:.0f} s", flush=True)

    with postgres_server() as db:
        check(make(course, "release", f"DB={db}"), "make release DB=...")
        with dask_cluster(top / "dask", workers=WORKERS, cwd=course) as cluster:
            grading = course / "grading"
            before = {name: disk_bytes(grading / name) for name in
                      ("submitted", "autograded", "graded", "rejected")}
            before_all = disk_bytes(grading)
            database_before, sessions_before = database_use(db)
            scheduler_cpu = cpu_seconds(cluster.scheduler.pid)
            print(f"grading on a scheduler and {WORKERS} workers at {cluster.address}, "
                  f"PostgreSQL at {db} ...", flush=True)
            load_before = os.getloadavg()[0]
            with PostgresWatch(db) as watch:
                start = time.perf_counter()
                graded = make(course, "autograde", f"SCHEDULER={cluster.address}", f"DB={db}")
                wall = time.perf_counter() - start
            load_after = os.getloadavg()[0]
            scheduler_cpu = cpu_seconds(cluster.scheduler.pid) - scheduler_cpu
            scheduler_memory = peak_memory(cluster.scheduler.pid)
            time.sleep(1)  # (a session is counted once it has ended)
            database_after, sessions_after = database_use(db)
            after = {name: disk_bytes(grading / name) for name in before}
            after_all = disk_bytes(grading)
        book = gradebook_scores(db)
    if keep:
        (top / "autograde.stdout").write_text(graded.stdout)
        (top / "autograde.stderr").write_text(graded.stderr)

    lines = graded_lines(graded.stdout)
    seconds = [s for _, s, _ in lines]
    by_student = {student: s for student, s, _ in lines}
    processes = sorted({pid for _, _, pid in lines})
    cores = os.cpu_count()
    per_hour = len(students) / wall * 3600

    print(f"\nmake autograde SCHEDULER=... DB=... exit status {graded.returncode}")
    print(f"  students                                     {len(students):>8d}")
    print(f"  wall seconds (the whole make autograde)      {wall:>8.0f}")
    print(f"  worker processes (1 thread each)             {WORKERS:>8d}"
          f"   ({len(processes)} process ids grading)")
    print(f"  cores of this machine (os.cpu_count())       {cores:>8d}"
          "   (the scheduler and PostgreSQL share them)")
    print(f"  load average (1 min) before / at the end     {load_before:>8.1f}"
          f"   / {load_after:.1f} (this run alone makes about {WORKERS})")
    print(f"  students per hour                            {per_hour:>8.0f}")
    print(f"  students per hour per core                   {per_hour / cores:>8.0f}")
    if seconds:
        print(f"  seconds per submission: median               {statistics.median(seconds):>8.1f}")
        print(f"  seconds per submission: 95th percentile      {percentile(seconds, 0.95):>8.1f}")
        print(f"  seconds per submission: longest              {max(seconds):>8.1f}"
              f"   ({max(by_student, key=by_student.get)})")
        honest_seconds = [by_student[s] for s, k in students.items()
                          if k.category == "honest" and s in by_student]
        if honest_seconds:
            print(f"  seconds per honest submission: median        "
                  f"{statistics.median(honest_seconds):>8.1f}")
        per_kind = {}
        for student, kind in students.items():
            if kind.category == "hostile" and student in by_student:
                per_kind.setdefault(kind.name, []).append(by_student[student])
        for name, values in sorted(per_kind.items()):
            print(f"    {name:<43s}{statistics.median(values):>8.1f}   (median of {len(values)})")
    busy = sum(seconds)
    print(f"  grading seconds, all submissions together    {busy:>8.0f}"
          f"   ({busy / (wall * WORKERS):.0%} of the workers' wall time)")
    print(f"  scheduler: CPU seconds over the run          {scheduler_cpu:>8.1f}"
          f"   (peak memory {scheduler_memory / 2**20:.0f} MiB)")
    print(f"  PostgreSQL connections at peak (clients)     {watch.peak_clients:>8d}"
          f"   (pg_stat_activity rows at peak: {watch.peak_all}, the polling one included)")
    written = after_all - before_all
    print(f"  bytes written under grading/ per student     {written / len(students):>8.0f}"
          f"   ({written / 2**20:.1f} MiB in all; "
          + ", ".join(f"{name}/ {(after[name] - before[name]) / len(students):.0f}"
                      for name in after) + " per student)")
    # Less the sessions of this benchmark's own: the size's, the watch's.
    opened = sessions_after - sessions_before - 2
    print(f"  PostgreSQL connections opened per student    {opened / len(students):>8.1f}"
          f"   ({opened} in all, one after another in each worker: {opened / wall:.1f} a second)")
    database = database_after - database_before
    print(f"  bytes written to the gradebook per student   {database / len(students):>8.0f}"
          f"   (pg_database_size grew by {database / 2**20:.1f} MiB)")

    graded_ids = set(by_student)
    missing = sorted(set(students) - graded_ids)
    print(f"\nEvery student graded: {len(lines)} `autograde: graded` lines for {len(students)} "
          f"students, {len(book)} students with a submission in the gradebook"
          + (f"; NO GRADE for {', '.join(missing)}" if missing else ""))
    if not missing and set(book) == set(students):
        print("  yes: every student has their grade, each exactly once, every graded cell graded")
    for category in ("honest", "buggy", "hostile"):
        members = [s for s, k in students.items() if k.category == category]
        right = [s for s in members if students[s].expected == book.get(s)]
        wrong = sorted(set(members) - set(right))
        print(f"  {category:<8s} {len(right):>4d} of {len(members):>4d} scored as expected"
              + (f"; not: {', '.join(wrong[:8])}" if wrong else ""))
    if graded.returncode != 0 or missing:
        print("\nmake autograde's last output:\n" + graded.stdout[-2000:] + graded.stderr[-3000:])
