"""nbgrader's configuration for the course: `solutions/` is the instructor's source, `exercises/`
the generated student version, and everything grading produces (submissions, autograded copies,
feedback, the gradebook) lives in the git-ignored `grading/` folder. Paths are relative to this
file, so the nbgrader commands work from the repository root (the Makefile's targets run them).
"""

import os
import warnings

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from bertlab.autograde import JudgeVerdicts, SandboxedExecute, ScreenSubmission, StderrIsNotAFailure
from bertlab.autograde.cluster import gradebook_url
from bertlab.autograde.export import SafeCsvExport
from bertlab.autograde.feedback import FeedbackWithoutHiddenTests, LimitFeedbackSize, RestoreHiddenTests
from bertlab.autograde.safe_html import SafeFeedbackExporter

HERE = os.path.dirname(os.path.abspath(__file__))
GRADING = os.path.join(HERE, "grading")

c = get_config()  # noqa: F821 (nbgrader's config loader provides it)

c.CourseDirectory.course_id = "bertlab"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = os.path.join("grading", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("grading", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("grading", "feedback")
# The gradebook: SQLite in grading/ on one machine; a class graded on a cluster keeps it on a server
# its workers share (`make autograde DB=postgresql://...` sets BERTLAB_GRADEBOOK for every command).
c.CourseDirectory.db_url = (gradebook_url(os.environ.get("BERTLAB_GRADEBOOK", ""))
                            or "sqlite:///" + os.path.join(GRADING, "gradebook.db"))
# (`make collect` reads an LMS export with bertlab/autograde/collect.py, not nbgrader's zip_collect:
# its uploads are named <student_id>_<anything>_<notebook>.ipynb or <student_id>_<anything>.zip.)
# Only the notebooks are graded; helper files next to them are copied along.
c.CourseDirectory.notebook_id = "*"

# No cell of an exercise needs more than a few seconds; a cell that runs past this limit (an
# endless loop) is interrupted and graded as failed, and grading goes on with the next cell.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True

# Before nbgrader reads a submission (bertlab/autograde/screen.py): every file is seen with lstat;
# links, pipes, sockets, devices and extra files over these limits are set aside; a notebook that is
# not valid JSON, not a notebook, over max_bytes or renamed is set right or replaced by the untouched
# exercise; each notebook's nbgrader metadata is made what the gradebook has. A note says what and
# why; the originals are kept in grading/rejected/<student>/<assignment>/.
c.Autograde.pre_convert_hook = ScreenSubmission(
    release=os.path.join(HERE, "exercises"), rejected=os.path.join(GRADING, "rejected"), max_bytes=16 << 20,
    db_url=c.CourseDirectory.db_url, max_extra_file_bytes=1 << 20, max_extra_bytes=8 << 20, max_extra_files=100)

# Each submission's kernel runs in its own bubblewrap sandbox (bertlab/autograde/sandbox.py): no network,
# nothing of the course but the bertlab package, an unprivileged user of its own, and these limits.
c.SandboxedExecute.cpu_seconds = 600
c.SandboxedExecute.wall_seconds = 900  # the whole notebook, however it spends the time
c.SandboxedExecute.memory_bytes = 6 << 30  # each process's address space
c.SandboxedExecute.sandbox_memory_bytes = 8 << 30  # the whole sandbox, where a cgroup can be made
c.SandboxedExecute.processes = 512  # processes and threads of the sandbox
c.SandboxedExecute.file_bytes = 64 << 20
c.SandboxedExecute.tmp_bytes = 256 << 20  # /tmp
c.SandboxedExecute.work_bytes = 256 << 20  # the kernel's working folder
# Output kept per cell and per notebook (the rest is cut, with a note); a test cell's recorded
# answers have a budget of their own (the largest of the course's tests sends 2.5 MiB; a student's
# float64 answers would send twice that); and the largest message the grader reads from a kernel
# (a bigger one is refused unread; its cell says so).
c.SandboxedExecute.cell_output_bytes = 2 << 20
c.SandboxedExecute.notebook_output_bytes = 8 << 20
c.SandboxedExecute.answer_bytes = 8 << 20
c.SandboxedExecute.message_bytes = 8 << 20
# A cell past c.Execute.timeout is interrupted; one still running this many seconds later has its
# kernel stopped (and the cells after it are not run).
c.SandboxedExecute.interrupt_grace_seconds = 10
# A submission that deleted a test cell gets it back (marked), so the test still runs and counts.
c.OverwriteCells.add_missing_cells = True

# nbgrader fails any test cell that wrote to stderr. Libraries write warnings there (torch does),
# so grading moves stderr text to stdout first: only an exception fails a test.
#
# A test cell's verdict is reached outside the student's kernel (bertlab/answers.py): the kernel
# runs the cell's probe and records the answers, JudgeVerdicts runs the checks in this process.
c.Autograde.autograde_preprocessors = [
    SandboxedExecute, StderrIsNotAFailure, JudgeVerdicts, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGrades, AssignLatePenalties, CheckCellMetadata,
]

# `nbgrader validate` (run from the repository root, where this file is) prints its verdict and
# nothing else: no INFO lines, and no log lines of the kernel (ipykernel warns about TCP on stderr).
c.ValidateApp.log_level = "WARN"
c.Execute.extra_arguments = ["--IPKernelApp.log_level=ERROR"]
# A sandboxed kernel has no parent to watch (bwrap gives it its own process tree): saying so
# (parent_handle=1, "init") also stops it printing a note meant for terminals into the grading log.
c.SandboxedExecute.extra_arguments = ["--IPKernelApp.log_level=ERROR", "--IPKernelApp.parent_handle=1"]

# A test cell handed in as released gets its hidden tests back before nbgrader compares it with the
# gradebook, so only a test cell a student edited is reported ("checksum ... has changed").
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreHiddenTests, OverwriteCells, CheckCellMetadata]
# Feedback shows each test cell as released (never its hidden tests), with its points and verdict,
# on a page of at most 8 MiB and 2,000 cells (test cells and grading notes always shown). The page
# runs nothing a student wrote (bertlab/autograde/safe_html.py): sanitised, under a
# Content-Security-Policy, formulas by MathJax from feedback-assets/ next to it.
c.GenerateFeedback.preprocessors = [
    GetGrades, FeedbackWithoutHiddenTests, LimitFeedbackSize, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.exporter_class = SafeFeedbackExporter
c.LimitFeedbackSize.max_bytes = 8 << 20
c.LimitFeedbackSize.max_cells = 2000
# `make grades`: grading/grades.csv written by the csv module, quoted, with no cell a spreadsheet
# would run as a formula (bertlab/autograde/export.py).
c.ExportApp.plugin_class = SafeCsvExport
# nbgrader's gradebook, on a student's first grading, trips a SQLAlchemy warning about its own
# session (nbgrader/api.py, add_submission); nothing is lost, and it is not ours to fix.
warnings.filterwarnings("ignore", message=r"Object of type <Submitted\w+> not in session", module="nbgrader")

# The student version: solutions and hidden tests removed, cells locked.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
