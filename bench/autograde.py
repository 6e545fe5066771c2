"""How long nbgrader takes to autograde one student's notebooks, all assignments (target: 60 s on
the 2-core dev machine), against the peer: executing the same notebooks with nbclient alone (what
any grader must at least pay: a kernel, the imports, the tests).

    .venv/bin/python bench/autograde.py [--repeat 5]

It builds a private course folder in a temporary directory (the repository's nbgrader_config.py
and solutions/), releases every assignment, hands in the solutions as one student, and times
`nbgrader autograde` per assignment. Nothing in grading/ is touched. Each side runs --repeat times
(3 by default) in rounds whose order alternates (nbgrader first, then nbclient first, ...), so
that neither always runs on the caches the other just warmed; the table keeps each side's best.

Then it says where the time goes: the stages of bertlab/autograde/ are run again in this process
on the same submissions (the screen; the sandboxed kernel executing the notebook; the judge), and
a fresh Python that only imports nbgrader and the course's config is timed; what is left of
`nbgrader autograde` is nbgrader's own work (sanitising, the gradebook, writing the copy).
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
TARGET_SECONDS = 60.0


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


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3,
                        help="time each side this many times, in alternating order; keep the best")
    args = parser.parse_args()

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

        rows = []
        for assignment in ASSIGNMENTS:
            folder = course / "grading" / "submitted" / "student" / assignment
            submitted = sorted(folder.glob("*.ipynb"))
            grade_times, plain_times = [], []
            for round_ in range(args.repeat):
                # The side that goes second runs on the disk and import caches the first one
                # just warmed: alternate which side that is.
                if round_ % 2 == 0:
                    grade_times.append(seconds_to_autograde(assignment, course))
                    plain_times.append(seconds_to_execute(submitted))
                else:
                    plain_times.append(seconds_to_execute(submitted))
                    grade_times.append(seconds_to_autograde(assignment, course))
            rows.append((assignment, min(grade_times), min(plain_times)))
        stages = where_the_time_goes(course)

    print(f"best of {args.repeat} runs per side, nbgrader and nbclient taking turns to go first")
    print(f"{'assignment':<28s}{'nbgrader autograde':>20s}{'nbclient execute':>18s}{'ratio':>8s}")
    for assignment, graded, plain in rows:
        print(f"{assignment:<28s}{graded:>18.1f} s{plain:>16.1f} s{graded / plain:>8.2f}")
    total_graded, total_plain = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'one student, all notebooks':<28s}{total_graded:>18.1f} s{total_plain:>16.1f} s"
          f"{total_graded / total_plain:>8.2f}")
    print(f"\nWhere one student's {total_graded:.1f} s go "
          f"(each stage run once more, in this process):")
    startup = stages.pop("start")
    accounted = sum(stages.values()) + startup * len(rows)
    for stage, seconds in stages.items():
        print(f"  {stage:<58s}{seconds:>6.1f} s")
    startup_label = "starting Python, nbgrader and the config, once per notebook"
    print(f"  {startup_label:<58s}{startup * len(rows):>6.1f} s")
    rest = "the rest: nbgrader's own work (sanitise, gradebook, save)"
    print(f"  {rest:<58s}{total_graded - accounted:>6.1f} s")
    verdict = "meets" if total_graded <= TARGET_SECONDS else "MISSES"
    print(f"\nAutograding one student's {len(rows)} notebooks: {total_graded:.1f} s, {verdict} "
          f"the target of {TARGET_SECONDS:.0f} s ({os.cpu_count()} CPUs).")


def where_the_time_goes(course: Path) -> dict[str, float]:
    """Seconds per stage of bertlab's grading for the student's notebooks of every assignment,
    run here on the autograded copies' inputs (the submitted notebooks, as the screen leaves
    them)."""
    import runpy

    from nbgrader.preprocessors import ClearOutput

    config = Config()
    os.chdir(course)
    runpy.run_path(str(course / "nbgrader_config.py"), init_globals={"get_config": lambda: config})
    from bertlab.autograde import JudgeVerdicts, SandboxedExecute

    stages = {"the screen (files, metadata)": 0.0,
              "the sandboxed kernel: start, run every cell": 0.0,
              "the judge: setup cell and verdicts in the grader": 0.0}
    screen = config.Autograde.pre_convert_hook
    db_url = config.CourseDirectory.db_url
    for assignment in ASSIGNMENTS:
        folder = course / "grading" / "submitted" / "student" / assignment
        start = time.perf_counter()
        screen.screen(folder)
        stages["the screen (files, metadata)"] += time.perf_counter() - start
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            nb, _ = ClearOutput().preprocess(nb, {})
            resources = {"metadata": {"path": str(folder)},
                         "nbgrader": {"db_url": db_url, "assignment": assignment,
                                      "notebook": path.stem, "student": "student"}}
            start = time.perf_counter()
            nb, resources = SandboxedExecute(config=config).preprocess(nb, resources)
            stages["the sandboxed kernel: start, run every cell"] += time.perf_counter() - start
            start = time.perf_counter()
            JudgeVerdicts(config=config).preprocess(nb, resources)
            judged = time.perf_counter() - start
            stages["the judge: setup cell and verdicts in the grader"] += judged
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c",
                    "import runpy, nbgrader.apps.nbgraderapp, traitlets.config; "
                    "c = traitlets.config.Config(); "
                    "runpy.run_path('nbgrader_config.py', init_globals={'get_config': lambda: c})"],
                   cwd=course, capture_output=True, check=True)
    stages["start"] = time.perf_counter() - start
    return stages


if __name__ == "__main__":
    main()
