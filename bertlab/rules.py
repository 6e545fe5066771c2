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

The check reads the syntax tree of the student's code, never its text: the functions and classes
the part defines (`defines`, by default the part's name), and every function or class of the
student's cells that they use, followed name by name (a helper in another cell counts as part of
the solution), but not into what another part defines (a rule costs one part, not two). A name is
resolved through the imports of the notebook (`F` -> `torch.nn.functional`), so
`F.cross_entropy`, `torch.nn.functional.cross_entropy` and `from torch.nn.functional import
cross_entropy as ce; ce(...)` are the same use. A forbidden entry is a dotted name (it forbids
everything under it: `"bertlab"` forbids `bertlab.data.mask_tokens`) or a plain name of the setup
cell (`"tokenizer"`: the setup's bertlab tokenizer), which a local variable of that name is not.
Type hints and constants (ALL_CAPS names such as `IGNORE_INDEX`) are not uses, and `allowed`
exempts names by hand.

Where the student's code comes from:
- in the student's Jupyter and `nbgrader validate`: the kernel's input history (IPython's `In`),
  the latest definition of each name winning, test cells left out;
- when grading: the code cells of the submitted notebook above the test, test cells left out,
  handed over by the grader (`bertlab.autograde.judge.JudgeVerdicts`, through `student_code`):
  parsed, never run.

A call hidden on purpose (`getattr(F, "cross_" + "entropy")`, `eval`, ...) gets past this check;
that is the instructor's to judge.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bertlab.grading import WrongAnswer, wrap

# The student's code cells, when the grader checks (None: read the kernel's history).
_graded_code: contextvars.ContextVar[tuple[str, ...] | None] = contextvars.ContextVar(
    "graded_code", default=None
)
TEST_CELL_MARKERS = ("### ANSWERS", "### VERDICT")


@contextlib.contextmanager
def student_code(cells: Iterable[str]) -> Iterator[None]:
    """Within this block, `Rules.check` reads these cell sources as the student's code (the grader's
    way)."""
    token = _graded_code.set(tuple(cells))
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
    allowed: tuple[
        str, ...
    ] = ()  # dotted names under a forbidden one that may be used all the same

    def __post_init__(self):
        object.__setattr__(self, "forbidden", tuple(self.forbidden))
        object.__setattr__(self, "defines", tuple(self.defines) or (self.part,))
        object.__setattr__(self, "allowed", tuple(self.allowed))


class Rules:
    """The rules of one notebook's parts; `check(part)` raises WrongAnswer naming a broken rule."""

    def __init__(self, *rules: Rule):
        self.rules = {rule.part: rule for rule in rules}

    def check(self, part: str) -> None:
        rule = self.rules[part]
        cells = _graded_code.get()
        if cells is None:
            cells = _kernel_history()
        uses = forbidden_uses(
            rule,
            cells,
            others={
                name for other in self.rules.values() if other is not rule for name in other.defines
            },
        )
        if uses:
            listed = "\n".join(f"- {use}" for use in uses[:5])
            raise WrongAnswer(
                wrap(
                    f"Rule broken: {'/'.join(rule.defines)} may not use {_names(rule.forbidden)}: "
                    f"{rule.why}. This part earns no points until the rule is kept.\nWhere your "
                    f"code uses it:\n{listed}"
                )
            )

    def __repr__(self):
        return f"Rules({', '.join(self.rules)})"


def _names(forbidden: tuple[str, ...]) -> str:
    shown = [f"`{name}`" for name in forbidden]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


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


# ------------------------------------------------------------------------------------------------
# Reading the code
# ------------------------------------------------------------------------------------------------

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def forbidden_uses(rule: Rule, cells: Iterable[str], others: set[str] = frozenset()) -> list[str]:
    """Where the solution of `rule.part` (and the student's helpers it uses) uses a forbidden name,
    as 'line N of NAME: `code`' strings; empty when the rule is kept."""
    definitions: dict[str, ast.AST] = {}  # top-level functions and classes, the latest of each name
    aliases: dict[str, str] = {}  # local name -> the dotted name it was imported as
    for code in cells:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # code that cannot be parsed cannot have run either
        for node in tree.body:
            if isinstance(node, _DEFINITIONS):
                definitions[node.name] = node
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                # `ce = F.cross_entropy` at the top of a cell: another name for an imported
                # function. (Only a plain attribute of an import: `config = encoder.config` is data,
                # not an alias.)
                dotted = _dotted(node.value)
                root, _, rest = (dotted or "").partition(".")
                if rest and root in aliases:
                    aliases[node.targets[0].id] = f"{aliases[root]}.{rest}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:  # `import torch.nn.functional` binds `torch`
                        root = alias.name.split(".")[0]
                        aliases[root] = root
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    found: list[str] = []
    todo = [name for name in rule.defines if name in definitions]
    seen = set(todo)
    while todo:
        name = todo.pop(0)
        node = definitions[name]
        for use, line, text in _references(node, aliases):
            if use in definitions and use not in aliases:
                if use not in seen and use not in others:
                    seen.add(use)
                    todo.append(use)
                continue
            # Allowed by name, or a constant (IGNORE_INDEX, IS_NEXT): data, not an implementation.
            if use in rule.allowed or use.rpartition(".")[2].isupper():
                continue
            for forbidden in rule.forbidden:
                if use == forbidden or use.startswith(forbidden + "."):
                    found.append(f"line {line} of {name}: `{text}`")
                    break
    return found


def _references(definition: ast.AST, aliases: dict[str, str]) -> Iterator[tuple[str, int, str]]:
    """(dotted name, line, source) of every global name, attribute chain and import that
    `definition` uses."""
    local = _bound_locally(definition)
    first = definition.lineno
    inner = {id(node.value) for node in ast.walk(definition) if isinstance(node, ast.Attribute)}
    annotations = {
        id(sub)
        for node in ast.walk(definition)
        for annotation in _annotations(node)
        for sub in ast.walk(annotation)
    }
    for node in ast.walk(definition):
        # `F` of `F.cross_entropy` (the whole chain is its use); a type hint uses nothing.
        if id(node) in inner or id(node) in annotations:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno - first + 1, _unparse(node)
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield f"{node.module}.{alias.name}", node.lineno - first + 1, _unparse(node)
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(
            getattr(node, "ctx", None), ast.Load
        ):
            dotted = _dotted(node)
            if dotted is None:
                continue
            root, _, rest = dotted.partition(".")
            if root in local and root not in aliases:
                continue
            resolved = aliases.get(root, root) + ("." + rest if rest else "")
            yield resolved, node.lineno - first + 1, _unparse(node)


def _annotations(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.arg) and node.annotation is not None:
        return [node.annotation]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
        return [node.returns]
    if isinstance(node, ast.AnnAssign):
        return [node.annotation]
    return []


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _bound_locally(definition: ast.AST) -> set[str]:
    """Names that are parameters of, or assigned inside, the functions of `definition`."""
    names: set[str] = set()
    for node in ast.walk(definition):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            names.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
            names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _unparse(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= 60 else text[:57] + "..."
