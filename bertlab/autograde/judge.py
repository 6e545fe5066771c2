"""Stage 4, the judge: each test cell's verdict is reached in the grader's own process, from the
answers the student's kernel recorded, with the gradebook's copy of the tests and a bertlab no
student code has touched. nbgrader's SaveAutoGrades then scores the outputs it leaves. A library's
warning on stderr does not zero a test cell (StderrIsNotAFailure).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io

from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from bertlab.answers import MIME, read_records, split_test_cell
from bertlab.autograde.cells import error_output as _error
from bertlab.autograde.cells import is_code_test
from bertlab.autograde.executor import RUN_NOTES
from bertlab.rules import student_code


# The setup cells' namespaces this process has made, by the sha256 of their code (see
# JudgeVerdicts._setup_namespace).
_SETUP_NAMESPACES: dict[str, dict] = {}


class StderrIsNotAFailure(NbGraderPreprocessor):
    """nbgrader gives 0 points to a test cell with any stderr output, so a library's warning (torch
    prints some) would zero a correct answer. After execution, this turns each stderr stream output
    into a stdout one, marked as such; a failing test still fails, by its exception."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "stream" and output.get("name") == "stderr":
                    output["name"] = "stdout"
                    output["text"] = "".join(
                        "[stderr] " + line for line in output["text"].splitlines(True)
                    )
        return cell, resources


class JudgeVerdicts(NbGraderPreprocessor):
    """Reach each test cell's verdict in this (the grader's) process: run the notebook's locked
    setup cells and the test's INPUTS and VERDICT parts, all as the gradebook has them, with the
    answers the student's kernel recorded in place of the student's objects. The cell then shows
    what the kernel printed, plus the verdict's error if there is one; nbgrader scores it from
    that."""

    no_answers = Unicode(
        "Your code ran, but the test's answers were never recorded: something in the notebook "
        "stopped the test before its end (an exception handler, an exit, a hook). This test earns "
        "nothing."
    ).tag(config=True)

    unreadable_answers = Unicode(
        "the grader could not read what this test's code sent ({reason}), so the test's answers "
        "were not recorded. This test earns nothing."
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        # What the executor learnt while running each test cell (see executor.RUN_NOTES): the key
        # it gave the cell's record, and what the kernel sent that it could not read.
        run_notes = resources.get(RUN_NOTES, {})
        with Gradebook(info["db_url"]) as gradebook:
            source = gradebook.find_notebook(info["notebook"], info["assignment"])
            graded = {cell.name for cell in source.grade_cells}
            solutions = {cell.name for cell in source.solution_cells}
            setup = [
                cell.source
                for cell in source.source_cells
                if cell.cell_type == "code" and cell.locked and cell.name not in graded | solutions
            ]
            tests = {
                cell.name: cell.source
                for cell in source.source_cells
                if cell.cell_type == "code" and cell.name in graded
            }
        namespace = None
        code = []  # the student's code before this cell, for the parts' rules (bertlab/rules.py)
        for index, cell in enumerate(nb.cells):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and grade_id not in tests:
                code.append(cell.source)
            if not is_code_test(cell) or grade_id not in tests:
                continue
            parts = split_test_cell(tests[grade_id])
            if not parts.judged:
                self.log.warning(
                    "test cell %s has no ### VERDICT part: student code can change its verdict",
                    grade_id,
                )
                continue
            if namespace is None:
                namespace = self._setup_namespace(setup)
            with student_code(code, given=setup):
                cell.outputs = self._verdict(
                    grade_id, parts, cell.get("outputs", []), namespace, run_notes.get(index, {})
                )
        return nb, resources

    @staticmethod
    def _setup_namespace(setup: list[str]) -> dict:
        """The names the notebook's setup cells (the instructor's locked code cells, as the
        gradebook has them) define, run once per process for the same code: a warm grader
        (bertlab/autograde/warm.py) grades many students of an assignment with the same setup.
        Nothing of a student's is in it; each verdict runs in a copy of it."""
        key = hashlib.sha256("\0".join(setup).encode()).hexdigest()
        if key not in _SETUP_NAMESPACES:
            namespace = {"__name__": "__bertlab_judge__"}
            with contextlib.redirect_stdout(io.StringIO()):
                for code in setup:
                    exec(compile(code, "<setup cell>", "exec"), namespace)
            if len(_SETUP_NAMESPACES) >= 8:  # a course's assignments, not every edit of them
                _SETUP_NAMESPACES.pop(next(iter(_SETUP_NAMESPACES)))
            _SETUP_NAMESPACES[key] = namespace
        return _SETUP_NAMESPACES[key]

    def _verdict(self, grade_id, parts, outputs, setup_namespace, run_notes: dict) -> list:
        # What the kernel showed stays visible, but no output of the kernel's counts as a grade: a
        # result becomes a plain display (nbgrader would read a number as partial credit).
        shown = []
        for output in outputs:
            if output.get("output_type") == "display_data" and MIME in output.get("data", {}):
                continue
            if output.get("output_type") == "execute_result":
                output = NotebookNode(
                    output_type="display_data",
                    data=output.get("data", {}),
                    metadata=output.get("metadata", {}),
                )
            shown.append(output)
        if any(output.get("output_type") == "error" for output in shown):
            # The student's code raised in the probe: that error is the verdict, and a broken rule
            # of the part is named beside it (the rules need no answers).
            return shown + self._broken_rules(grade_id, parts, setup_namespace)
        try:
            records = read_records(outputs, run_notes.get("nonce"))
        except Exception as error:  # a ValueError of decode, a RecursionError, a MemoryError...
            return shown + [
                _error(
                    "UnreadableAnswers",
                    f"the test's recorded answers could not be read ({type(error).__name__}: "
                    f"{str(error)[:200]}). This test earns nothing.",
                )
            ]
        if records.ignored:  # named, so that the feedback shows what was not counted
            shown.append(_note(records.ignored))
        answers = records.answers
        if answers is None and run_notes.get("unreadable"):
            reason = "; ".join(run_notes["unreadable"])
            return shown + [
                _error("UnreadableAnswers", self.unreadable_answers.format(reason=reason))
            ]
        if answers is None or not set(parts.recorded) <= set(answers):
            return shown + [_error("NoAnswers", self.no_answers)]
        namespace = {**setup_namespace, **{name: answers[name] for name in parts.recorded}}
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(parts.judge, f"<test {grade_id}>", "exec"), namespace)
        except AssertionError as wrong:
            return shown + [_error(type(wrong).__name__, str(wrong))]
        except Exception as error:
            return shown + [
                _error(type(error).__name__, f"the test could not use your answer: {error}")
            ]
        return shown

    @staticmethod
    def _broken_rules(grade_id, parts, setup_namespace) -> list:
        """The error of the first broken rule among the VERDICT's top-level `rules.check(...)`
        calls."""
        checks = [
            node
            for node in ast.parse(parts.judge).body
            if isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "check"
            and isinstance(node.value.func.value, ast.Name)
            and node.value.func.value.id == "rules"
        ]
        try:
            exec(
                compile(ast.Module(body=checks, type_ignores=[]), f"<rules of {grade_id}>", "exec"),
                {**setup_namespace},
            )
        except AssertionError as broken:
            return [_error(type(broken).__name__, str(broken))]
        except Exception:  # no rules, or none that apply: the student's error stands alone
            return []
        return []


def _note(ignored: tuple[str, ...]) -> NotebookNode:
    """A stdout note naming the records of answers the judge did not count (not an error: the
    test's own record, if there is one, is judged as usual)."""
    lines = "".join(f"- {why}\n" for why in ignored)
    return NotebookNode(
        output_type="stream",
        name="stdout",
        text=f"\nnot counted: answers recorded other than by this test's own code:\n{lines}",
    )
