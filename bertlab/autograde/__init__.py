"""What the course's grading adds to nbgrader (wired in by nbgrader_config.py), one module per
stage, in the order a submission meets them:

1. `screen.ScreenSubmission` (nbgrader's pre-convert hook): every file of a submission seen with
   `lstat`; links, pipes, sockets, devices, oversized extra files and names that are not UTF-8 set
   aside in grading/rejected/; timestamp.txt made the collection time;
   a notebook that is unreadable, huge or renamed set right or replaced by the untouched exercise;
   then `metadata`: each notebook's nbgrader metadata made what the gradebook has. A note at the
   top of the graded notebook, and so of the feedback, says what was done and why.
2. `sandbox`: the bubblewrap sandbox a kernel runs in, with a user id, a /tmp, a working folder
   and (where possible) a cgroup of its own, so that no student can use up what another needs.
3. `executor.SandboxedExecute`: nbgrader's Execute with the kernel in that sandbox, running only
   each test cell's probe (bertlab/answers.py) there; output capped while it is produced; any
   failure of the kernel's channel ends that notebook alone, with the reason on its cells.
4. `judge.JudgeVerdicts`: each test cell's verdict reached in the grader's own process;
   `judge.StderrIsNotAFailure`: a library's warning on stderr does not zero a test cell.
5. `feedback`: the feedback shows each test cell as released, with its points and verdict, never
   a hidden test; `RestoreHiddenTests` gives a test cell handed in as released its hidden part back
   before nbgrader compares it with the gradebook.
6. `similarity`: pairs of submissions whose code is alike (`make similarity`); it runs nothing.

Around them: `ids`, the one rule a student id keeps to, checked before any command sees an id;
`collect`, an LMS export screened upload by upload (`make collect`); `stamps`, the time the grader
collected a submission, the only time the gradebook uses; `safe_html`, feedback pages that run
nothing of a student's (nh3, a Content-Security-Policy, MathJax served beside the page); and
`export`, grades.csv through the csv module with formulas neutralised (`make grades`).

`python -m bertlab.autograde` is the command line the Makefile's grading targets use (screen,
autograde only what is new, regrade, feedback). The checks the notebooks import stay where they
were: `bertlab.grading`, `bertlab.answers`, `bertlab.rules`.
"""

from __future__ import annotations

from nbformat import NotebookNode

from bertlab.autograde.executor import SandboxedExecute
from bertlab.autograde.judge import JudgeVerdicts, StderrIsNotAFailure
from bertlab.autograde.screen import ScreenSubmission

__all__ = [
    "JudgeVerdicts",
    "SandboxedExecute",
    "ScreenSubmission",
    "StderrIsNotAFailure",
    "fill_in_solutions",
    "solution_code",
]


def solution_code(source: str) -> str:
    """What a student who got everything right writes in a solution cell: the instructor's
    solution without nbgrader's markers."""
    return "\n".join(
        line
        for line in source.splitlines()
        if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
    )


def fill_in_solutions(released: NotebookNode, source: NotebookNode, edit_cell=None) -> NotebookNode:
    """The released notebook with the source notebook's solution written into each solution cell
    (in place); `edit_cell(grade_id, code) -> code` may change what is written (a synthetic
    mistake)."""
    solutions = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            code = solution_code(solutions[grade_id])
            cell.source = edit_cell(grade_id, code) if edit_cell else code
    return released
