"""What the solution of an exercise part may not use, checked on the student's own code.

A part declares its rule in the notebook's setup cell, and each of its test cells checks it first:

    rules = Rules(
        Rule("mlm_loss",
             forbidden=["torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss",
                        "bertlab"],
             why="write the cross-entropy from log_softmax yourself"),
    )
    ...
    ### VERDICT
    rules.check("mlm_loss")

The check reads the syntax tree of the student's code (bertlab/code_reading.py), never its text,
and never runs it. It starts from what the part defines (`defines`, by default the part's name)
and follows every name that code uses to what the name is bound to at the top level of any
student cell: a function or class, or the value of an assignment of any form (`a, b = ...`,
`x: T = ...`, `x += ...`, a walrus, a `for` or `with` target, `X.attr = ...`), so that
`criterion = nn.CrossEntropyLoss()` in another cell, a lambda, a `functools.partial`, an instance
of the student's own class and a later `wordpiece = other` all count as part of the solution. It
does not follow into what another part defines (a rule costs one part, not two).

Where the names end:
- an import (of any cell): `F` is `torch.nn.functional`, so `F.cross_entropy` is
  `torch.nn.functional.cross_entropy`; a dotted name is then resolved to the object it reaches,
  so `torch.nn.modules.loss.CrossEntropyLoss` *is* the forbidden `torch.nn.CrossEntropyLoss`;
- a name the notebook's given cells bind (the setup cell: `tokenizer`, `model`): forbidden when
  the rule lists it by name; a name the student binds later is the student's own;
- torch's private modules (`torch._C`, `torch._VF`, `torch.ops`, ...) are forbidden in every part
  whose rule forbids something of torch: they hold the same functions under other names;
- code the check cannot read is forbidden in every part with a rule: `eval`, `exec`, `compile`,
  `__import__`, `importlib`, `globals()`, `vars()`, `__dict__`, `sys.modules`, `get_ipython()`,
  and `getattr` with a computed name on a module (with a constant name, `getattr(F, "x")` is
  `F.x`).
Cells that begin with IPython magics (`%%time`, `%timeit ...`) are read as the Python they run.
Type hints and constants (ALL_CAPS names such as `IGNORE_INDEX`) are not uses, and `allowed`
exempts names by hand.

Where the student's code comes from:
- in the student's Jupyter and `nbgrader validate`: the kernel's input history (IPython's `In`),
  the latest definition of each name winning, test cells left out; the given cell is the one that
  made the `Rules`;
- when grading: the code cells of the submitted notebook above the test, test cells left out,
  and the gradebook's own setup cells as the given ones, handed over by the grader
  (`bertlab.autograde.judge.JudgeVerdicts`, through `student_code`): parsed, never run.

What remains for the instructor is in the README ("What the rules catch").
"""

from __future__ import annotations

import contextlib
import contextvars
import linecache
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bertlab.code_reading import Program, Use
from bertlab.grading import WrongAnswer, wrap

# The student's code cells and the given (setup) cells, when the grader checks (None: read the
# kernel's history).
_graded_code: contextvars.ContextVar[tuple[tuple[str, ...], tuple[str, ...]] | None] = (
    contextvars.ContextVar("graded_code", default=None)
)
TEST_CELL_MARKERS = ("### ANSWERS", "### VERDICT")

# torch's own implementations under other names than the public API's: `torch._C._nn.
# cross_entropy_loss` and `torch.ops.aten.cross_entropy_loss` are F.cross_entropy.
PRIVATE_TORCH = "torch._", "torch.ops"


@contextlib.contextmanager
def student_code(cells: Iterable[str], given: Iterable[str] = ()) -> Iterator[None]:
    """Within this block, `Rules.check` reads these cell sources as the notebook's code (the
    grader's way); a cell equal to one of `given` is the notebook's own (its setup)."""
    token = _graded_code.set((tuple(cells), tuple(given)))
    try:
        yield
    finally:
        _graded_code.reset(token)


@dataclass(frozen=True)
class Rule:
    """What the solution of one part may not use."""

    part: str  # the part's key: its solution cell's grade_id
    forbidden: tuple[str, ...]  # dotted names (and everything under them) or setup-cell names
    why: str  # what to do instead, for the message
    defines: tuple[str, ...] = ()  # the names the part's solution defines; default: (part,)
    allowed: tuple[str, ...] = ()  # dotted names under a forbidden one that may be used

    def __post_init__(self):
        object.__setattr__(self, "forbidden", tuple(self.forbidden))
        object.__setattr__(self, "defines", tuple(self.defines) or (self.part,))
        object.__setattr__(self, "allowed", tuple(self.allowed))

    def forbids(self, use: Use) -> str | None:
        """The forbidden entry (or the kind of hidden code) `use` breaks, or None."""
        if use.hidden:
            return use.hidden
        name = use.name
        if name in self.allowed or name.rpartition(".")[2].isupper():
            return (
                None  # allowed by hand, or a constant (IGNORE_INDEX): data, not an implementation
            )
        if use.given:  # a name of the setup cell: forbidden only by that name
            root = name.partition(".")[0]
            return root if root in self.forbidden else None
        for forbidden in self.forbidden:
            if name == forbidden or name.startswith(forbidden + "."):
                return forbidden
        reached = _object(name)
        if reached is not None:
            for forbidden in self.forbidden:
                if _same_or_under(reached, _object(forbidden)):
                    return forbidden
        if any(f.startswith("torch.") for f in self.forbidden) and name.startswith(PRIVATE_TORCH):
            return "torch's private modules"
        return None


class Rules:
    """The rules of one notebook's parts; `check(part)` raises WrongAnswer naming a broken rule."""

    def __init__(self, *rules: Rule):
        self.rules = {rule.part: rule for rule in rules}
        self.given = _calling_cell()  # in a kernel: the setup cell that makes the rules

    def check(self, part: str) -> None:
        rule = self.rules[part]
        graded = _graded_code.get()
        cells, given = graded if graded is not None else (_kernel_history(), (self.given,))
        others = {
            name for other in self.rules.values() if other is not rule for name in other.defines
        }
        broken = forbidden_uses(rule, cells, others=others, given=given)
        if broken:
            listed = "\n".join(f"- {where}" for where in broken[:5])
            hidden = any(where.endswith(HIDDEN_NOTE) for where in broken)
            raise WrongAnswer(
                wrap(
                    f"Rule broken: {'/'.join(rule.defines)} may not use {_names(rule.forbidden)}: "
                    f"{rule.why}. This part earns no points until the rule is kept.\nWhere your "
                    f"code uses it:\n{listed}"
                    + (
                        "\nThe rules read your code: a part may not hide what it calls behind "
                        "eval, exec, a name computed at run time or the notebook's internals."
                        if hidden
                        else ""
                    )
                )
            )

    def __repr__(self):
        return f"Rules({', '.join(self.rules)})"


HIDDEN_NOTE = "(code the rules cannot read)"


def forbidden_uses(
    rule: Rule, cells: Iterable[str], others: set[str] = frozenset(), given: Iterable[str] = ()
) -> list[str]:
    """Where the solution of `rule.part` (with everything of the student's it reaches) uses what
    the rule forbids, as readable strings ('line 2 of mlm_loss: `F.cross_entropy`'); empty when
    the rule is kept."""
    program = Program(cells, given=given)
    found = []
    for use in program.uses_reached_from(rule.defines, stop_at=set(others) - set(rule.defines)):
        broken = rule.forbids(use)
        if broken is not None:
            # `ce = F.cross_entropy` (used by line 2 of mlm_loss) says it all; else name the code.
            shown = use.where.partition(" (used by")[0]
            where = use.where if use.text in shown else f"{use.where}: `{use.text}`"
            if use.hidden:
                where += f" {HIDDEN_NOTE}"
            if where not in found:
                found.append(where)
    return found


def _names(forbidden: tuple[str, ...], most: int = 4) -> str:
    """`a`, `b` or `c`; past `most` names, the first ones and how many more the setup cell lists."""
    shown = [f"`{name}`" for name in forbidden]
    if len(shown) > most:
        return ", ".join(shown[:most]) + f" or {len(shown) - most} more (the setup cell lists them)"
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


# ------------------------------------------------------------------------------------------------
# Resolving a dotted name to the object it reaches, without importing or running anything
# ------------------------------------------------------------------------------------------------


def _object(dotted: str):
    """The object `dotted` names, through modules already imported (sys.modules) and attributes
    read statically; None where it cannot be reached that way. Nothing is imported: a name from
    a student's cell must never make the grader import a module of the student's."""
    import inspect

    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:end]))
        if module is None:
            continue
        reached = module
        for attribute in parts[end:]:
            try:
                reached = inspect.getattr_static(reached, attribute)
            except AttributeError:
                return None
        return reached
    return None


def _same_or_under(reached, forbidden) -> bool:
    """Whether `reached` is the forbidden object, or (for a forbidden module) the module itself, one
    of its submodules, or a function or class defined in it."""
    import types

    if forbidden is None:
        return False
    if reached is forbidden:
        return True
    if isinstance(forbidden, types.ModuleType):
        package = forbidden.__name__
        if isinstance(reached, types.ModuleType):
            name = reached.__name__
        else:
            name = getattr(reached, "__module__", None)
            name = name if isinstance(name, str) else ""
        return name == package or name.startswith(package + ".")
    return False


# ------------------------------------------------------------------------------------------------
# Where the code comes from in a kernel
# ------------------------------------------------------------------------------------------------


def _kernel_history() -> list[str]:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the notebooks always run in IPython
        return []
    shell = get_ipython()
    history = shell.user_ns.get("In", []) if shell is not None else []
    return [
        code
        for code in history
        if isinstance(code, str) and not any(m in code for m in TEST_CELL_MARKERS)
    ]


def _calling_cell() -> str:
    """The source of the cell that called Rules(...), as IPython registered it for tracebacks
    (empty outside IPython: the grader names the given cells itself)."""
    frame = sys._getframe(2)
    filename = frame.f_code.co_filename
    if filename.startswith("<") and not filename.startswith("<ipython-input"):
        return ""
    return "".join(linecache.getlines(filename))
