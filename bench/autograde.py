"""How long grading one student's notebooks takes, all assignments, three ways:

- `nbgrader autograde` as a process per notebook (what `make autograde` ran before issue #23;
  target: 60 s on the 2-core dev machine);
- one warm grader (bertlab/autograde/warm.py, what each worker of `make autograde` runs now):
  Python, nbgrader, torch and the course's config loaded once, then the student's four notebooks
  graded in this process, each in a fresh sandboxed kernel (target: 15 s);
- the peer: executing the same notebooks with nbclient alone (what any grader must at least pay:
  a kernel, the imports, the tests).

    .venv/bin/python bench/autograde.py [--repeat 3]
    .venv/bin/python bench/autograde.py --cluster [--class-size 200]   # the class on a cluster

It builds a private course folder in a temporary directory (the repository's nbgrader_config.py
and solutions/), releases every assignment, hands in the solutions as one student, and times each
side per assignment. Nothing in grading/ is touched. Each side runs --repeat times (3 by default)
in rounds whose order rotates (the process first, then nbclient first, then the warm grader
first; the stages below always last), so that no side always runs on the caches another just
warmed; the table keeps each side's best. The warm grader grades the student once before the
rounds (the warm-up student: its imports, and the judge's setup cells, are paid once per
process, not per student).

Then it says where the time goes: the stages of bertlab/autograde/ are run again in this process
on the same submissions in each round, best of --repeat (the screen; nbgrader's sanitising, which
puts the gradebook's test cells back, hidden tests included; the sandboxed kernel executing the
notebook; the judge, its setup cells apart, timed once before the warm grader), and a fresh
Python that only imports nbgrader and the course's config is timed; what is left of `nbgrader
autograde` is nbgrader's own work (the gradebook, the scores, writing the copy). Last, what the
warm grader removes of that, and what is left of it. (nbclient runs the notebooks as handed in:
the released test cells, without the hidden tests the graders run; the ratios compare with
that, as before.)

With --cluster it runs bench/autograde_class.py instead: a synthetic class of --class-size
students (honest, buggy and hostile notebooks mixed) graded with `make autograde` on a Dask
scheduler and 2 workers on 127.0.0.1, with a real PostgreSQL gradebook; students per hour per core.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

from bertlab.autograde import fill_in_solutions

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir()
                     if p.is_dir() and p.name[:2].isdigit())
TARGET_SECONDS = 60.0  # nbgrader autograde, a process per notebook (issue #13)
WARM_TARGET_SECONDS = 15.0  # one warm grader (issue #23)
SIDES = ("process", "nbclient", "warm", "stages")  # the stages: each of bertlab's, timed
SCREEN = "the screen (files, metadata)"
SANITISE = "sanitising: the gradebook's test cells put back"
KERNEL = "the sandboxed kernel: start, run every cell"
JUDGE_SETUP = "the judge's setup cells (once per process)"
VERDICTS = "the judge's verdicts in the grader"
START = "starting Python, nbgrader and the config, once per notebook"


def run_nbgrader(*args: str, cwd: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=cwd, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n"
                 f"{result.stderr[-2000:]}")


def seconds_to_autograde(assignment: str, course: Path) -> float:
    start = time.perf_counter()
    run_nbgrader("autograde", assignment, "--force", "--student", "student", cwd=course)
    return time.perf_counter() - start


def seconds_to_execute(notebooks: list[Path]) -> float:
    """The peer: the same notebooks executed by nbclient alone, a kernel each."""
    start = time.perf_counter()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                       extra_arguments=["--IPKernelApp.log_level=ERROR"],
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def seconds_to_grade_warm(grader, assignment: str) -> float:
    """The same submission graded by the warm grader of this process (forced, as the others)."""
    start = time.perf_counter()
    graded = grader.grade(assignment, "student")
    seconds = time.perf_counter() - start
    if not graded.success:
        sys.exit(f"the warm grader failed to grade {assignment}:\n{graded.log[-3000:]}")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each side this many times, in rotating order; keep the best")
    parser.add_argument("--cluster", action="store_true",
                        help="run the class benchmark (bench/autograde_class.py) instead")
    parser.add_argument("--class-size", type=int, default=200,
                        help="--cluster: the number of students in the synthetic class")
    parser.add_argument("--hostile-share", type=float, default=0.10,
                        help="--cluster: the share of hostile students (1 in 100 of the class "
                             "hangs in a cell and counts among them)")
    parser.add_argument("--buggy-share", type=float, default=0.20,
                        help="--cluster: the share of students with one realistic mistake")
    parser.add_argument("--hangs", type=int,
                        help="--cluster: students who hang in a cell (default: 1 in 100)")
    parser.add_argument("--keep", type=Path,
                        help="--cluster: build the course in this (new) folder and keep it, "
                             "with make's output, for a look afterwards")
    args = parser.parse_args()
    if args.cluster:
        sys.path.insert(0, str(ROOT / "bench"))
        from autograde_class import benchmark_class

        return benchmark_class(args.class_size, hostile_share=args.hostile_share,
                               buggy_share=args.buggy_share, hangs=args.hangs, keep=args.keep)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        shutil.copytree(ROOT / "solutions", course / "solutions")
        shutil.copy(ROOT / "nbgrader_config.py", course)
        (course / "grading").mkdir()
        for assignment in ASSIGNMENTS:
            run_nbgrader("generate_assignment", assignment, "--force", cwd=course)
            folder = course / "grading" / "submitted" / "student" / assignment
            folder.mkdir(parents=True)
            for release in sorted((course / "exercises" / assignment).glob("*.ipynb")):
                source = nbformat.read(course / "solutions" / assignment / release.name,
                                       as_version=4)
                handed_in = fill_in_solutions(nbformat.read(release, as_version=4), source)
                nbformat.write(handed_in, folder / release.name)

        # The stages: once first, while the judge's setup cells have not yet run in this process
        # (it runs them once per process; the warm grader below then finds them done); then as a
        # fourth side of each round, so that they run in the same minutes as the others.
        stages = Stages(course)
        judge_setup = sum(stages.judge_setup(assignment) for assignment in ASSIGNMENTS)

        from bertlab.autograde.warm import WarmGrader

        grader = WarmGrader(course)
        start = time.perf_counter()
        for assignment in ASSIGNMENTS:  # the warm-up student
            seconds_to_grade_warm(grader, assignment)
        warm_up = time.perf_counter() - start

        rows, best_stages = [], {JUDGE_SETUP: judge_setup}
        for assignment in ASSIGNMENTS:
            folder = course / "grading" / "submitted" / "student" / assignment
            submitted = sorted(folder.glob("*.ipynb"))
            times = {side: [] for side in SIDES}
            measure = {"process": lambda: seconds_to_autograde(assignment, course),
                       "nbclient": lambda: seconds_to_execute(submitted),
                       "warm": lambda: seconds_to_grade_warm(grader, assignment),
                       "stages": lambda: stages.seconds(assignment,
                                                        start=assignment == ASSIGNMENTS[0])}
            for round_ in range(args.repeat):
                # The side that goes later runs on the disk and import caches the ones before it
                # just warmed: rotate which side goes first.
                shift = round_ % (len(SIDES) - 1)
                for side in SIDES[shift:-1] + SIDES[:shift] + SIDES[-1:]:
                    times[side].append(measure[side]())
            rows.append((assignment, *(min(times[side]) for side in SIDES[:-1])))
            for stage in times["stages"][0]:
                best = min(t[stage] for t in times["stages"])
                best_stages[stage] = best_stages.get(stage, 0.0) + best
        stages = best_stages

    print(f"best of {args.repeat} runs per side, the three sides taking turns to go first, the "
          "stages last "
          f"(load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f})")
    print(f"{'assignment':<28s}{'nbgrader autograde':>20s}{'warm grader':>13s}"
          f"{'nbclient execute':>18s}{'ratio':>8s}{'warm ratio':>12s}")
    print(f"{'':<28s}{'(a process each)':>20s}")

    def row(label, graded, warm, plain):
        print(f"{label:<28s}{graded:>18.1f} s{warm:>11.1f} s{plain:>16.1f} s"
              f"{graded / plain:>8.2f}{warm / plain:>12.2f}")

    for assignment, graded, plain, warm in rows:
        row(assignment, graded, warm, plain)
    total_graded, total_plain, total_warm = (sum(r[i] for r in rows) for i in (1, 2, 3))
    row("one student, all notebooks", total_graded, total_warm, total_plain)
    print("(ratio: against nbclient executing the same notebooks; the warm grader's warm-up "
          f"student took {warm_up:.1f} s, after the stages below had run in this process)")

    print(f"\nWhere one student's {total_graded:.1f} s go (each stage run again in this "
          f"process, best of {args.repeat}; the judge's setup cells once):")
    startup = stages[START] * len(rows)  # a process per notebook
    per_process = [SCREEN, SANITISE, KERNEL, JUDGE_SETUP, VERDICTS]
    rest = "the rest: nbgrader's own work (gradebook, scores, save)"
    for stage, seconds in [*((s, stages[s]) for s in per_process), (START, startup),
                           (rest, total_graded - startup - sum(stages[s] for s in per_process))]:
        print(f"  {stage:<58s}{seconds:>6.1f} s")

    removed = total_graded - total_warm
    print(f"\nWhat one warm grader removes of it: {removed:.1f} s "
          f"({total_graded:.1f} s a process each -> {total_warm:.1f} s warm):")
    once = "the rest: other once-per-process work (imports and caches"
    for stage, seconds in ((START, startup), (JUDGE_SETUP, stages[JUDGE_SETUP]),
                           (once, removed - startup - stages[JUDGE_SETUP])):
        print(f"  {stage:<58s}{seconds:>6.1f} s")
    print("    on first use, nbgrader's set-up of its app)")
    left = [SCREEN, SANITISE, KERNEL, VERDICTS]
    print(f"What is left of the warm grader's {total_warm:.1f} s:")
    for stage, seconds in [*((s, stages[s]) for s in left),
                           (rest, total_warm - sum(stages[s] for s in left))]:
        print(f"  {stage:<58s}{seconds:>6.1f} s")

    print()
    for label, seconds, target in (("as a process per notebook", total_graded, TARGET_SECONDS),
                                   ("on one warm grader", total_warm, WARM_TARGET_SECONDS)):
        verdict = "meets" if seconds <= target else "MISSES"
        print(f"Autograding one student's {len(rows)} notebooks {label}: {seconds:.1f} s, "
              f"{verdict} the target of {target:.0f} s ({os.cpu_count()} CPUs).")


class Stages:
    """Bertlab's stages of grading, run in this process on the student's submission of an
    assignment as nbgrader runs them (screened, then sanitised: the test cells as the gradebook
    has them, hidden tests included), each timed; and a fresh Python's start (START)."""

    def __init__(self, course: Path):
        import runpy

        self.course = course
        self.config = Config()
        os.chdir(course)
        runpy.run_path(str(course / "nbgrader_config.py"),
                       init_globals={"get_config": lambda: self.config})

    def seconds(self, assignment: str, start: bool = False, judge_twice: bool = False):
        """{stage: seconds} for the student's `assignment`; with `judge_twice`, JUDGE_SETUP is
        the first of two judges of each notebook (the second finds the setup cells done)."""
        from bertlab.autograde import JudgeVerdicts, SandboxedExecute

        config = self.config
        stages = {}

        def timed(stage, work):
            began = time.perf_counter()
            result = work()
            stages[stage] = stages.get(stage, 0.0) + time.perf_counter() - began
            return result

        folder = self.course / "grading" / "submitted" / "student" / assignment
        timed(SCREEN, lambda: config.Autograde.pre_convert_hook.screen(folder))
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            resources = {"metadata": {"path": str(folder)},
                         "nbgrader": {"db_url": config.CourseDirectory.db_url,
                                      "assignment": assignment, "notebook": path.stem,
                                      "student": "student"}}

            # As nbgrader does first: the test cells as the gradebook has them, hidden tests
            # included (without them the kernel would skip the hidden tests' work, and the
            # judge would find no answers to judge).
            def sanitise(nb=nb, resources=resources):
                for preprocessor in config.Autograde.sanitize_preprocessors:
                    nb, resources = preprocessor(config=config).preprocess(nb, resources)
                return nb, resources

            nb, resources = timed(SANITISE, sanitise)
            nb, resources = timed(KERNEL, lambda: SandboxedExecute(config=config).preprocess(
                nb, resources))

            def judge():
                return JudgeVerdicts(config=config).preprocess(nbformat.from_dict(nb),
                                                               resources)[0]

            if judge_twice:
                timed(JUDGE_SETUP, judge)
            judged = timed(VERDICTS, judge)
            unjudged = [cell.metadata.nbgrader.grade_id for cell in judged.cells
                        if any(output.get("ename") == "NoAnswers"
                               for output in cell.get("outputs", []))]
            if unjudged:
                sys.exit(f"where the time goes: no answers recorded for {path.name}'s "
                         f"{', '.join(unjudged)}: the stages are not what nbgrader runs")
        if start:
            timed(START, lambda: subprocess.run(
                [sys.executable, "-c",
                 "import runpy, nbgrader.apps.nbgraderapp, traitlets.config; "
                 "c = traitlets.config.Config(); "
                 "runpy.run_path('nbgrader_config.py', init_globals={'get_config': lambda: c})"],
                cwd=self.course, capture_output=True, check=True))
        return stages

    def judge_setup(self, assignment: str) -> float:
        """The seconds of the judge's setup cells for `assignment`, paid once per process: what a
        first judge of each notebook takes more than a second one."""
        stages = self.seconds(assignment, judge_twice=True)
        return max(0.0, stages[JUDGE_SETUP] - stages[VERDICTS])


if __name__ == "__main__":
    main()
