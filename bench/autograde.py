"""How long nbgrader takes to autograde one student's notebooks, all assignments (target: 60 s on
the 2-core dev machine), against the peer: executing the same notebooks with nbclient alone (what
any grader must at least pay: a kernel, the imports, the tests).

    .venv/bin/python bench/autograde.py [--repeat 2]

It builds a private course folder in a temporary directory (the repository's nbgrader_config.py
and solutions/), releases every assignment, hands in the solutions as one student, and times
`nbgrader autograde` per assignment. Nothing in grading/ is touched.
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

from bertlab.autograde import fill_in_solutions

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir() and p.name[:2].isdigit())
TARGET_SECONDS = 60.0


def run_nbgrader(*args: str, cwd: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="time each side this many times, keep the best")
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
                source = nbformat.read(course / "solutions" / assignment / release.name, as_version=4)
                nbformat.write(fill_in_solutions(nbformat.read(release, as_version=4), source), folder / release.name)

        rows = []
        for assignment in ASSIGNMENTS:
            submitted = sorted((course / "grading" / "submitted" / "student" / assignment).glob("*.ipynb"))
            grade_times, plain_times = [], []
            for _ in range(args.repeat):
                start = time.perf_counter()
                run_nbgrader("autograde", assignment, "--force", "--student", "student", cwd=course)
                grade_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                for path in submitted:
                    nb = nbformat.read(path, as_version=4)
                    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                   resources={"metadata": {"path": str(path.parent)}}).execute()
                plain_times.append(time.perf_counter() - start)
            rows.append((assignment, min(grade_times), min(plain_times)))

    print(f"{'assignment':<28s}{'nbgrader autograde':>20s}{'nbclient execute':>18s}{'ratio':>8s}")
    for assignment, graded, plain in rows:
        print(f"{assignment:<28s}{graded:>18.1f} s{plain:>16.1f} s{graded / plain:>8.2f}")
    total_graded, total_plain = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'one student, all notebooks':<28s}{total_graded:>18.1f} s{total_plain:>16.1f} s"
          f"{total_graded / total_plain:>8.2f}")
    verdict = "meets" if total_graded <= TARGET_SECONDS else "MISSES"
    print(f"\nAutograding one student's {len(rows)} notebooks: {total_graded:.1f} s, {verdict} the target of "
          f"{TARGET_SECONDS:.0f} s ({os.cpu_count()} CPUs).")


if __name__ == "__main__":
    main()
