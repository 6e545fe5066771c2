"""Stage 4, the judge: each test cell's verdict is reached in the grader's own process, from the
answers the student's kernel recorded, with the gradebook's copy of the tests and a bertlab no
student code has touched. nbgrader's SaveAutoGrades then scores the outputs it leaves. A library's
warning on stderr does not zero a test cell (StderrIsNotAFailure).
"""

from __future__ import annotations

import ast
import contextlib
import io

from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from bertlab.answers import MIME, recorded_answers, split_test_cell
from bertlab.autograde.cells import error_output as _error
from bertlab.autograde.cells import is_code_test
from bertlab.rules import student_code


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

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
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
        for cell in nb.cells:
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
            answers = recorded_answers(outputs)
        except Exception as error:
            return shown + [
                _error(
                    "UnreadableAnswers",
                    f"the test's recorded answers could not be read ({error}). "
                    "This test earns nothing.",
                )
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
