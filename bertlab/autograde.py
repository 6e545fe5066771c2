"""What the course's grading adds to nbgrader (wired in by nbgrader_config.py), in the order a
submission meets it:

1. `ScreenSubmission` (nbgrader's pre-convert hook): a notebook that is not valid JSON, is not a
   notebook, is huge, or was renamed is dealt with before nbgrader reads it. The original is kept
   in grading/rejected/; a renamed notebook is graded under its right name, anything unreadable is
   replaced by the untouched exercise (which earns 0), and either way a note at the top of the
   notebook says why, so the feedback does.
2. `SandboxedExecute`: the kernel runs in a bubblewrap sandbox (bertlab/sandbox.py), and a test
   cell's probe (bertlab/answers.py) runs there instead of the whole cell: the student's answers
   are recorded, the verdict is not reached there. A kernel that dies (`os._exit`, a signal, a
   resource or time limit) loses the rest of its cells, each marked with the reason; what it
   earned before stays earned.
3. `StderrIsNotAFailure`: a library's warning on stderr does not zero a test cell.
4. `JudgeVerdicts`: each test cell's verdict is reached in the grader's own process, from the
   recorded answers, with the gradebook's copy of the tests and a bertlab no student code has
   touched. nbgrader's SaveAutoGrades then scores the outputs it leaves.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Integer, Unicode

from bertlab.answers import MIME, recorded_answers, recording_code, split_test_cell
from bertlab.rules import student_code
from bertlab.sandbox import SandboxedKernelManager, sandbox_command


def _error(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message.splitlines()[0] if message else "",
                        traceback=[f"{ename}: {message}"])


def _is_code_test(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell)


class StderrIsNotAFailure(NbGraderPreprocessor):
    """nbgrader gives 0 points to a test cell with any stderr output, so a library's warning (torch
    prints some) would zero a correct answer. After execution, this turns each stderr stream output
    into a stdout one, marked as such; a failing test still fails, by its exception."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = "".join("[stderr] " + line for line in output["text"].splitlines(True))
        return cell, resources


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in a fresh sandbox per notebook, and only the probe of
    each test cell run there (see the module docstring)."""

    cpu_seconds = Integer(600, help="CPU seconds the kernel may use in all").tag(config=True)
    wall_seconds = Integer(900, help="seconds the kernel may live, sleeping or not").tag(config=True)
    memory_bytes = Integer(6 << 30, help="address space of the kernel process, bytes").tag(config=True)
    processes = Integer(512, help="processes the unprivileged grading user may have at once").tag(config=True)
    file_bytes = Integer(64 << 20, help="largest file the kernel may write, bytes").tag(config=True)
    kernel_died = Unicode("The kernel stopped in this cell ({reason}); the cells after it were not run, so their "
                          "tests earn nothing.").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        """A test cell runs its probe and records its answers; the cell keeps its source."""
        if not _is_code_test(cell):
            return super().preprocess_cell(cell, resources, index)
        parts, source = split_test_cell(cell.source), cell.source
        if parts.judged:
            cell.source = parts.probe + recording_code(parts.recorded)
        try:
            return super().preprocess_cell(cell, resources, index)
        finally:
            cell.source = source

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="bertlab-sandbox-") as tmp:
            work, sockets = Path(tmp) / "work", Path(tmp) / "sockets"
            for folder in (work, sockets):
                folder.mkdir()
                folder.chmod(0o777)
            km = SandboxedKernelManager(kernel_name=self.kernel_name or "python3", transport="ipc",
                                        ip=str(sockets / "kernel"), connection_file=str(sockets / "connection.json"))
            # A signal would reach bwrap, not the kernel inside: interrupt by message (ipykernel
            # then interrupts itself), so a cell past its timeout stops and grading goes on.
            km.kernel_spec.interrupt_mode = "message"
            km.sandbox_prefix = sandbox_command(
                work=work, sockets=sockets, cpu_seconds=self.cpu_seconds, wall_seconds=self.wall_seconds,
                memory_bytes=self.memory_bytes, processes=self.processes, file_bytes=self.file_bytes)
            try:
                return super().preprocess(nb, resources, km=km)
            except (DeadKernelError, CellTimeoutError, RuntimeError) as error:  # the kernel died or stopped answering
                if time.monotonic() - started >= self.wall_seconds - 1:
                    error = f"the notebook ran out of its {self.wall_seconds} s of time in all"
                return self._after_a_dead_kernel(nb, resources, error)
            finally:
                if km.has_kernel:  # nbclient leaves a kernel it did not start running: stop the sandbox
                    run_sync(km.shutdown_kernel)(now=True)

    def _after_a_dead_kernel(self, nb, resources, error):
        """Mark the cell the kernel died in and every code cell after it with the reason (as errors:
        their tests earn nothing); cells before it keep their outputs."""
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        cells = [c for c in nb.cells if c.cell_type == "code"]
        executed = [c for c in cells if c.get("execution_count")]
        first_lost = cells.index(executed[-1]) if executed else 0
        # The last cell with an execution count is the one that was running when the kernel died,
        # unless it finished: then the next one never got an answer.
        for cell in cells[first_lost:]:
            cell.outputs = list(cell.get("outputs", []))
            if not any(o.get("output_type") == "error" for o in cell.outputs) or cell is cells[first_lost]:
                cell.outputs.append(NotebookNode(output_type="error", ename="KernelDied", evalue=reason,
                                                 traceback=[self.kernel_died.format(reason=reason)]))
        return nb, resources


class JudgeVerdicts(NbGraderPreprocessor):
    """Reach each test cell's verdict in this (the grader's) process: run the notebook's locked setup
    cells and the test's INPUTS and VERDICT parts, all as the gradebook has them, with the answers
    the student's kernel recorded in place of the student's objects. The cell then shows what the
    kernel printed, plus the verdict's error if there is one; nbgrader scores it from that."""

    no_answers = Unicode("Your code ran, but the test's answers were never recorded: something in the notebook "
                         "stopped the test before its end (an exception handler, an exit, a hook). This test earns "
                         "nothing.").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gradebook:
            source = gradebook.find_notebook(info["notebook"], info["assignment"])
            graded = {cell.name for cell in source.grade_cells}
            solutions = {cell.name for cell in source.solution_cells}
            setup = [cell.source for cell in source.source_cells
                     if cell.cell_type == "code" and cell.locked and cell.name not in graded | solutions]
            tests = {cell.name: cell.source for cell in source.source_cells
                     if cell.cell_type == "code" and cell.name in graded}
        namespace = None
        code = []  # the student's code before this cell, for the parts' rules (bertlab/rules.py)
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and grade_id not in tests:
                code.append(cell.source)
            if not _is_code_test(cell) or grade_id not in tests:
                continue
            parts = split_test_cell(tests[grade_id])
            if not parts.judged:
                self.log.warning("test cell %s has no ### VERDICT part: student code can change its verdict", grade_id)
                continue
            if namespace is None:
                namespace = self._setup_namespace(setup)
            with student_code(code):
                cell.outputs = self._verdict(grade_id, parts, cell.get("outputs", []), namespace)
        return nb, resources

    @staticmethod
    def _setup_namespace(setup: list[str]) -> dict:
        namespace = {"__name__": "__bertlab_judge__"}
        with contextlib.redirect_stdout(io.StringIO()):
            for code in setup:
                exec(compile(code, "<setup cell>", "exec"), namespace)
        return namespace

    def _verdict(self, grade_id, parts, outputs, setup_namespace) -> list:
        # What the kernel showed stays visible, but no output of the kernel's counts as a grade: a
        # result becomes a plain display (nbgrader would read a number as partial credit).
        shown = []
        for output in outputs:
            if output.get("output_type") == "display_data" and MIME in output.get("data", {}):
                continue
            if output.get("output_type") == "execute_result":
                output = NotebookNode(output_type="display_data", data=output.get("data", {}),
                                      metadata=output.get("metadata", {}))
            shown.append(output)
        if any(output.get("output_type") == "error" for output in shown):
            # The student's code raised in the probe: that error is the verdict, and a broken rule
            # of the part is named beside it (the rules need no answers).
            return shown + self._broken_rules(grade_id, parts, setup_namespace)
        try:
            answers = recorded_answers(outputs)
        except Exception as error:
            return shown + [_error("UnreadableAnswers", f"the test's recorded answers could not be read ({error}). "
                                                         "This test earns nothing.")]
        if answers is None or not set(parts.recorded) <= set(answers):
            return shown + [_error("NoAnswers", self.no_answers)]
        namespace = {**setup_namespace, **{name: answers[name] for name in parts.recorded}}
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(parts.judge, f"<test {grade_id}>", "exec"), namespace)
        except AssertionError as wrong:
            return shown + [_error(type(wrong).__name__, str(wrong))]
        except Exception as error:
            return shown + [_error(type(error).__name__, f"the test could not use your answer: {error}")]
        return shown

    @staticmethod
    def _broken_rules(grade_id, parts, setup_namespace) -> list:
        """The error of the first broken rule among the VERDICT's top-level `rules.check(...)` calls."""
        checks = [node for node in ast.parse(parts.judge).body
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
                  and isinstance(node.value.func, ast.Attribute) and node.value.func.attr == "check"
                  and isinstance(node.value.func.value, ast.Name) and node.value.func.value.id == "rules"]
        try:
            exec(compile(ast.Module(body=checks, type_ignores=[]), f"<rules of {grade_id}>", "exec"),
                 {**setup_namespace})
        except AssertionError as broken:
            return [_error(type(broken).__name__, str(broken))]
        except Exception:  # no rules, or none that apply: the student's error stands alone
            return []
        return []


class ScreenSubmission:
    """nbgrader's pre-convert hook (`c.Autograde.pre_convert_hook`): before nbgrader reads a
    submission, make every notebook of the assignment readable, keeping the originals.

    - a notebook over `max_bytes`, not valid JSON, or not a notebook: moved to `rejected`, and the
      untouched exercise from `release` put in its place, with a note saying why (it earns 0);
    - a notebook of the assignment missing while exactly one other readable notebook was handed in:
      that one is graded under the right name (the original kept), with a note;
    - a notebook missing with nothing to stand for it: the untouched exercise, with a note.
    """

    def __init__(self, *, release: str | Path, rejected: str | Path, max_bytes: int):
        self.release, self.rejected = Path(release), Path(rejected)
        self.max_bytes = max_bytes

    def __call__(self, *, assignment: str, student: str, notebooks: list[str]) -> None:
        # nbgrader passes the command line's patterns ("*" for every student) and the notebooks it
        # found in this submission's folder, grading/submitted/<student>/<assignment>/.
        if notebooks:
            folder = Path(notebooks[0]).parent
            self.screen(folder)
            notebooks[:] = sorted(str(p) for p in folder.glob("*.ipynb"))  # what nbgrader goes on to grade

    def screen(self, folder: Path) -> None:
        """Set right the submission in `folder` (grading/submitted/<student>/<assignment>/)."""
        student, assignment = folder.parent.name, folder.name
        expected = sorted(p.name for p in (self.release / assignment).glob("*.ipynb"))
        for name in expected:
            problem = self.problem(folder / name) if (folder / name).exists() else None
            if problem:
                self._keep(folder / name, student, assignment)
                self._stand_in(folder / name, assignment, f"The notebook you handed in, {name}, {problem}. It is "
                               "kept as you sent it, but it cannot be graded: in its place the untouched exercise "
                               "was graded, which earns 0 points. Ask your instructor how to hand it in again.")
        missing = [name for name in expected if not (folder / name).exists()]
        others = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in expected
                        and p.name != "timestamp.txt" and self.problem(p) is None) if folder.is_dir() else []
        if len(missing) == 1 and len(others) == 1:
            renamed, name = others[0], missing[0]
            self._keep(renamed, student, assignment)
            nb = nbformat.read(self.rejected / student / assignment / renamed.name, as_version=4)
            nb.cells.insert(0, self._note(f"You handed this notebook in as {renamed.name}; it was graded as {name}, "
                                          "the name the exercise has."))
            nbformat.write(nb, folder / name)
        else:
            for name in missing:
                found = ", ".join(p.name for p in others) or "no other notebook"
                self._stand_in(folder / name, assignment, f"No notebook named {name} was handed in ({found}). In its "
                               "place the untouched exercise was graded, which earns 0 points.")

    def problem(self, path: Path) -> str | None:
        """Why the file `path` cannot be graded as a notebook, or None if it can."""
        size = path.stat().st_size
        if size > self.max_bytes:
            return (f"is {size / 2**20:.0f} MiB, over the {self.max_bytes / 2**20:.0f} MiB a notebook may be "
                    "(clear its outputs before handing it in)")
        try:
            text = path.read_text(encoding="utf-8")
            json.loads(text)
            nbformat.validate(nbformat.reads(text, as_version=4))
        except json.JSONDecodeError as error:
            return f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        except UnicodeDecodeError:
            return "is not text (not UTF-8)"
        except Exception as error:
            return f"is not a Jupyter notebook ({str(error).splitlines()[0][:200]})"
        return None

    def _keep(self, path: Path, student: str, assignment: str) -> None:
        """Move a file out of the submission into grading/rejected/<student>/<assignment>/."""
        keep = self.rejected / student / assignment / path.name
        keep.parent.mkdir(parents=True, exist_ok=True)
        if keep.exists():  # an earlier rejection of the same name stays too
            keep.rename(keep.with_name(f"{keep.name}.{int(keep.stat().st_mtime)}"))
        shutil.move(str(path), str(keep))

    def _stand_in(self, path: Path, assignment: str, reason: str) -> None:
        nb = nbformat.read(self.release / assignment / path.name, as_version=4)
        nb.cells.insert(0, self._note(reason))
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)

    @staticmethod
    def _note(text: str) -> NotebookNode:
        return nbformat.v4.new_markdown_cell(f"**Grading note.** {text}")


def solution_code(source: str) -> str:
    """What a student who got everything right writes in a solution cell: the instructor's
    solution without nbgrader's markers."""
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


def fill_in_solutions(released: NotebookNode, source: NotebookNode, edit_cell=None) -> NotebookNode:
    """The released notebook with the source notebook's solution written into each solution cell
    (in place); `edit_cell(grade_id, code) -> code` may change what is written (a synthetic mistake)."""
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            code = solution_code(solutions[grade_id])
            cell.source = edit_cell(grade_id, code) if edit_cell else code
    return released


def main(argv: list[str] | None = None) -> None:
    """`python -m bertlab.autograde screen ASSIGNMENT...`: screen every submission folder of the
    assignments that holds no .ipynb file at all (a notebook renamed to .txt, or nothing): nbgrader
    skips such a folder without calling its pre-convert hook. `make autograde` runs it first."""
    import argparse
    import runpy

    from traitlets.config import Config

    parser = argparse.ArgumentParser(prog="python -m bertlab.autograde", description=main.__doc__)
    parser.add_argument("command", choices=["screen"])
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--config", default="nbgrader_config.py", help="the course's nbgrader config file")
    args = parser.parse_args(argv)
    config = Config()
    runpy.run_path(args.config, init_globals={"get_config": lambda: config})
    screen = config.Autograde.pre_convert_hook
    from bertlab.autograde import ScreenSubmission as Screen  # the config's class, also when this runs as __main__

    if not isinstance(screen, Screen):
        raise SystemExit(f"{args.config} sets no ScreenSubmission as c.Autograde.pre_convert_hook")
    submitted = Path(config.CourseDirectory.root) / config.CourseDirectory.submitted_directory
    for assignment in args.assignments:
        for folder in sorted(submitted.glob(f"*/{assignment}")):
            if folder.is_dir() and not any(folder.glob("*.ipynb")):
                screen.screen(folder)
                print(f"screened {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")


if __name__ == "__main__":
    main()
