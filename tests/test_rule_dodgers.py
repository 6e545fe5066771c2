"""The parts' rules (bertlab/rules.py) on whole notebooks of the synthetic classes, read the way
the grader reads them: the code cells above the tests, the gradebook's setup cell as the given one,
and each part's `rules.check(part)` from the notebook's own `rules`.

- No correct student breaks a rule: the solution, and every student of `alternatives`, whose
  helpers and styles differ from the instructor's.
- Each student of `mistakes` whose mistake is a broken rule breaks exactly that part's rule, and
  no other mistake breaks one.
- Each rule dodger (tests/exercise_classes, `dodgers`) breaks exactly the rule of the part they
  dodge in, and the message shows where: an object made in another cell, a lambda, a partial, a
  tuple or annotated assignment, a class of their own, a longer module path, torch's private
  twins, a star import, getattr, a setup object under a new name, bertlab through an object
  built elsewhere, a def rebound later, the part as a lambda or an assignment, a magic cell.

These are the checks the grader runs (JudgeVerdicts runs each test's `rules.check` lines in its
own process, with `student_code`); tests/test_exercises.py grades the rule breakers of `mistakes`
end to end, with `nbgrader validate` and the feedback telling them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

from bertlab.grading import WrongAnswer
from bertlab.rules import Rules, student_code
from exercise_classes import Dodger, Mistake, Student, all_assignments

ROOT = Path(__file__).resolve().parents[1]
CLASS = all_assignments()


def solution_notebook(assignment: str):
    [path] = sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))
    return nbformat.read(path, as_version=4)


def setup_source(assignment: str) -> str:
    return next(c.source for c in solution_notebook(assignment).cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == "setup")


def notebook_rules(assignment: str) -> Rules:
    """The setup cell's `rules`, made from its own statements (the constants it lists, the Rules
    call) without loading its models."""
    tree = ast.parse(setup_source(assignment))
    kept = [node for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module == "bertlab.rules"
            or isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            and (node.targets[0].id == "rules" or node.targets[0].id.isupper() and _is_literal(node.value))]
    namespace: dict = {}
    exec(compile(ast.Module(body=kept, type_ignores=[]), "<rules>", "exec"), namespace)
    return namespace["rules"]


def _is_literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def student_cells(assignment: str, student: Mistake | Student | Dodger | None) -> list[str]:
    """The code cells of the student's notebook above its tests, as the grader hands them to the
    rules: the solution notebook with the student's cells, mistake or dodge written in."""
    cells = []
    for cell in solution_notebook(assignment).cells:
        info = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or (info.get("grade") and not info.get("solution")):
            continue  # test cells are not the student's code
        grade_id, source = info.get("grade_id"), cell.source
        if isinstance(student, Mistake) and grade_id == student.cell:
            source = source.replace(student.replace, student.by)
        if isinstance(student, (Student, Dodger)):
            source = student.cells.get(grade_id, source)
        if isinstance(student, Student) and grade_id in student.extra_cells:
            cells.append(student.extra_cells[grade_id])
        if isinstance(student, Dodger) and grade_id == student.part:
            cells += [*student.before, source, *student.after]
            continue
        cells.append(source)
    return cells


def broken_rules(assignment: str, student) -> dict[str, str]:
    """{part: the rule's message} for every part whose rule the student's notebook breaks."""
    rules = notebook_rules(assignment)
    broken = {}
    with student_code(student_cells(assignment, student), given=[setup_source(assignment)]):
        for part in rules.rules:
            try:
                rules.check(part)
            except WrongAnswer as error:
                broken[part] = str(error)
    return broken


def test_the_solution_and_every_correct_student_keep_every_rule():
    for assignment, spec in CLASS.items():
        for student in [None, *spec.alternatives]:
            name = student.student if student else "solution"
            assert broken_rules(assignment, student) == {}, f"{assignment}: {name} is flagged"


@pytest.mark.parametrize("assignment", sorted(CLASS))
def test_a_mistake_breaks_a_rule_exactly_when_it_is_a_broken_rule(assignment):
    for mistake in CLASS[assignment].mistakes:
        part = mistake.cell if isinstance(mistake, Mistake) else next(iter(mistake.cells))
        expected = {part} if (mistake.feedback or "").startswith("Rule broken") else set()
        assert set(broken_rules(assignment, mistake)) == expected, mistake.student


DODGERS = [(assignment, dodger) for assignment, spec in sorted(CLASS.items()) for dodger in spec.dodgers]


@pytest.mark.parametrize("assignment, dodger", DODGERS, ids=[f"{a}-{d.student}" for a, d in DODGERS])
def test_a_dodger_breaks_exactly_the_rule_of_the_part_they_dodge_in(assignment, dodger):
    broken = broken_rules(assignment, dodger)
    assert set(broken) == {dodger.part}, f"{dodger.form}: broken {sorted(broken)}, expected {dodger.part}"
    message = broken[dodger.part]
    assert message.startswith(f"Rule broken: {'/'.join(notebook_rules(assignment).rules[dodger.part].defines)}")
    assert "Where your code uses it:\n- " in message


def test_the_dodgers_cover_the_forms_a_determined_student_tried():
    forms = " | ".join(dodger.form for _, dodger in DODGERS)
    for form in ("another cell", "lambda", "functools.partial", "tuple assignment", "annotated assignment",
                 "class of one's own", "longer module path", "torch._C", "torch.ops.aten", "module object",
                 "setup object bound to a new name", "object built in another cell", "rebound",
                 "the part defined as a lambda", "bound by assignment", "%%time", "star import", "getattr"):
        assert form in forms, f"no dodger tries {form!r}"
