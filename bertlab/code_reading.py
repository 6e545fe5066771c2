"""Reading a notebook's code without running it: what each top-level name is bound to, and which
names a piece of code reaches through those bindings (for bertlab/rules.py).

A notebook's cells are read in order, as the kernel runs them. Each cell is first turned into the
Python IPython would run (magics included: a `%%time` cell is the code under its first line), then
every binding at its top level is recorded, in `if`, `for`, `with`, `try` blocks too:

    import torch.nn.functional as F            F         -> import of torch.nn.functional
    def helper(x): ...                         helper    -> the function (its code is followed)
    ce = F.cross_entropy                       ce        -> the expression `F.cross_entropy`
    a, b = F.relu, F.gelu                      a, b      -> `F.relu`, `F.gelu`
    criterion: nn.Module = nn.MSELoss()        criterion -> `nn.MSELoss()`
    Model.forward = other                      Model     -> also `other`

A plain statement binding a name replaces what the name was bound to (the latest definition wins,
as in the kernel); a binding inside a block, an augmented assignment or an attribute set adds to it
(either may be what runs). Bindings of the notebook's given cells (the setup) end there: `tokenizer`
is the setup's tokenizer, whatever its value.

`Program.uses_reached_from(names)` then walks from those names through every student binding they
reach and yields each name that ends outside the student's code: an import's dotted name
(`torch.nn.functional.cross_entropy`), a given name (`tokenizer.tokenize`), a builtin, or code
that hides what it calls (`eval`, `getattr(F, computed)`).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

# Builtins and modules through which code can reach a function without naming it: the rules cannot
# read past them, so a part with a rule may not use them.
HIDING_NAMES = {
    "eval": "eval",
    "exec": "exec",
    "compile": "compile",
    "__import__": "__import__",
    "globals": "globals()",
    "locals": "locals()",
    "vars": "vars()",
    "get_ipython": "get_ipython()",
    "__builtins__": "__builtins__",
}
HIDING_MODULES = (
    "importlib",
    "builtins",
    "sys.modules",
    "operator.attrgetter",
    "operator.methodcaller",
    "inspect.getmembers",
    "pydoc.locate",
)
MAX_MAGIC_DEPTH = 5  # a magic's body holding a magic, holding a magic...
# A line that IPython would read as a magic or a shell escape: `%time ...`, `%%time`, `!ls`, or an
# assignment from one (`x = %time f()`, `files = !ls`). `a != b` and `a % b` are not.
_MAGIC = re.compile(r"^\s*[%!]|=\s*[%!]", re.M)


@dataclass(frozen=True)
class Use:
    """A name that the student's code uses and that ends outside it."""

    name: str  # dotted: through imports, the module path (torch.nn.functional.cross_entropy)
    where: str  # for the student: "line 2 of mlm_loss", "`ce = F.cross_entropy`"
    text: str  # the code that uses it, shortened
    given: bool = False  # a name bound by the notebook's given (setup) cells
    hidden: str | None = None  # what hides the call, when the use is code the rules cannot read


@dataclass
class _Binding:
    kind: str  # "import" (target: a dotted name), "given" (a setup name), "code" (node: to follow)
    target: str = ""
    node: ast.AST | None = None
    label: str = ""  # how the student is shown where this code is


@dataclass
class Program:
    """The top-level bindings of a notebook's cells, in the order they ran."""

    cells: Iterable[str]
    given: Iterable[str] = ()
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    star_imports: list[str] = field(default_factory=list)

    def __post_init__(self):
        given = {code.rstrip() for code in self.given if code.strip()}
        for code in self.cells:
            operations, star_imports = _cell_bindings(code, code.rstrip() in given)
            self.star_imports += star_imports
            for name, binding, replace in operations:
                if replace:
                    self.bindings[name] = [binding]
                else:
                    self.bindings.setdefault(name, []).append(binding)

    # -- following ---------------------------------------------------------------------------
    def uses_reached_from(
        self, names: Iterable[str], stop_at: set[str] = frozenset()
    ) -> Iterator[Use]:
        """Every use that ends outside the student's code, reached from the bindings of `names`
        through the student's own bindings (never through those of `stop_at`)."""
        todo: list[tuple[_Binding, str]] = []  # a binding to follow, and where it was reached from
        for name in names:
            for binding in self.bindings.get(name, []):
                if binding.kind == "code":
                    todo.append((binding, ""))
                elif binding.kind == "import":  # `from bertlab.model import Embeddings`: not theirs
                    yield Use(binding.target, f"`{name}` is imported from `{binding.target}`", name)
                else:
                    yield Use(name, f"`{name}` is the setup's `{name}`", name, given=True)
        seen = {id(binding) for binding, _ in todo}
        while todo:
            binding, reached_from = todo.pop(0)
            for name, line, text in _references(binding.node):
                root, _, rest = name.partition(".")
                if binding.label.startswith("`"):  # an assignment's value: name it, and who uses it
                    where = binding.label + (f" (used by {reached_from})" if reached_from else "")
                else:
                    where = f"line {line} of {binding.label}"
                hidden = _hiding(name, self.bindings)
                if hidden:
                    yield Use(name, where, text, hidden=hidden)
                    continue
                bound = self.bindings.get(root)
                if not bound:  # a builtin, an unknown name, or one a `from m import *` brought
                    for module in self.star_imports:
                        yield Use(f"{module}.{name}", where, text)
                    yield Use(name, where, text)
                    continue
                for target in bound:
                    if target.kind == "import":
                        yield Use(target.target + ("." + rest if rest else ""), where, text)
                    elif target.kind == "given":
                        yield Use(name, where, text, given=True)
                    elif root not in stop_at and id(target) not in seen:
                        seen.add(id(target))
                        todo.append(
                            (
                                target,
                                where.partition(" (used by")[0] if where.startswith("`") else where,
                            )
                        )


@functools.lru_cache(maxsize=65536)
def _cell_bindings(code: str, is_given: bool) -> tuple[tuple, tuple[str, ...]]:
    """What one cell binds, in order: (name, binding, replaces what was bound before), and the
    modules it star-imports. Cached, as `_parse` is; the bindings are only read afterwards."""
    binder = _Binder(is_given)
    tree = _parse(code)
    if tree is not None:
        binder.visit_block(tree.body, replace=True)
    return tuple(binder.operations), tuple(binder.star_imports)


class _Binder:
    """Records the top-level bindings of one cell."""

    def __init__(self, is_given: bool):
        self.is_given = is_given
        self.operations: list[tuple[str, _Binding, bool]] = []
        self.star_imports: list[str] = []

    def bind(self, name: str, binding: _Binding, replace: bool) -> None:
        if self.is_given and binding.kind == "code":
            binding = _Binding("given", target=name)
        self.operations.append((name, binding, replace))

    def code(self, node: ast.AST, label: str) -> _Binding:
        return _Binding("code", node=node, label=label)

    def visit_block(self, statements: list[ast.stmt], replace: bool) -> None:
        for statement in statements:
            self.visit(statement, replace)

    def visit(self, node: ast.stmt, replace: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.bind(node.name, self.code(node, node.name), replace)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.bind(alias.asname, _Binding("import", target=alias.name), replace)
                else:  # `import torch.nn.functional` binds `torch`
                    root = alias.name.split(".")[0]
                    self.bind(root, _Binding("import", target=root), replace)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name == "*":
                    self.star_imports.append(module)
                else:
                    self.bind(
                        alias.asname or alias.name,
                        _Binding("import", target=f"{module}.{alias.name}"),
                        replace,
                    )
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self.bind_target(target, node.value, node, replace)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            self.bind_target(node.target, node.value, node, replace)
        elif isinstance(node, ast.AugAssign):
            self.bind_target(node.target, node.value, node, replace=False)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.bind_target(node.target, node.iter, node, replace=False)
            self.visit_block(node.body + node.orelse, replace=False)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self.bind_target(item.optional_vars, item.context_expr, node, replace=False)
            self.visit_block(node.body, replace=False)
        elif isinstance(node, (ast.If, ast.While)):
            self.visit_block(node.body + node.orelse, replace=False)
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            blocks = node.body + node.orelse + node.finalbody
            for handler in node.handlers:
                blocks += handler.body
            self.visit_block(blocks, replace=False)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                self.visit_block(case.body, replace=False)
        # A walrus anywhere in a top-level statement (outside functions) binds a global.
        for sub in _walk_outside_functions(node):
            if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
                self.bind(
                    sub.target.id, self.code(sub.value, _label(sub.target.id, sub)), replace=False
                )

    def bind_target(
        self, target: ast.AST, value: ast.AST, statement: ast.stmt, replace: bool
    ) -> None:
        if isinstance(target, ast.Name):
            self.bind(target.id, self.code(value, _label(target.id, statement)), replace)
        elif isinstance(target, (ast.Tuple, ast.List)):
            pairs = (
                zip(target.elts, value.elts)
                if isinstance(value, (ast.Tuple, ast.List))
                and len(value.elts) == len(target.elts)
                and not any(isinstance(e, ast.Starred) for e in [*target.elts, *value.elts])
                else ((element, value) for element in target.elts)
            )
            for element, element_value in pairs:
                self.bind_target(element, element_value, statement, replace)
        elif isinstance(target, ast.Starred):
            self.bind_target(target.value, value, statement, replace)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            # `Model.forward = other`, `table["f"] = F.relu`: what the object holds now includes it.
            root = target
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name):
                self.bind(root.id, self.code(value, _label(root.id, statement)), replace=False)


def _label(name: str, statement: ast.AST) -> str:
    text = _unparse(statement)
    return (
        f"`{text}`"
        if text.startswith(name) or isinstance(statement, ast.NamedExpr)
        else f"`{name}` in `{text}`"
    )


def _walk_outside_functions(node: ast.AST) -> Iterator[ast.AST]:
    todo = [node]
    while todo:
        current = todo.pop()
        yield current
        for child in ast.iter_child_nodes(current):
            if not isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.stmt)
            ):
                todo.append(child)


# ------------------------------------------------------------------------------------------------
# Parsing cells, magics included
# ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def _parse(code: str, depth: int = 0) -> ast.Module | None:
    """The cell as the Python IPython runs (None if it cannot be parsed: then it cannot have run).
    Cached: the grader reads the cells above each test cell, the same cells again and again. The
    tree is only read afterwards, never changed."""
    try:
        tree = ast.parse(_without_magics(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if depth < MAX_MAGIC_DEPTH:
        tree = _MagicsInlined(depth).visit(tree)
    return tree


def _without_magics(code: str) -> str:
    """IPython's own translation of magics and shell escapes into calls of get_ipython()."""
    if not _MAGIC.search(code):
        return code
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython comes with every notebook
        return code
    try:
        return TransformerManager().transform_cell(code)
    except Exception:
        return code


class _MagicsInlined(ast.NodeTransformer):
    """`get_ipython().run_cell_magic("time", "", body)` becomes the statements of `body`, and
    `get_ipython().run_line_magic("time", "f(x)")` the expression `f(x)`: the code the magic runs,
    in the student's namespace. A magic whose text is not Python stays a call of get_ipython()."""

    def __init__(self, depth: int):
        self.depth = depth

    def visit_Expr(self, node: ast.Expr):
        magic = _magic_call(node.value)
        if magic is not None:
            tree = _parse(magic, self.depth + 1)
            if tree is not None:
                return [ast.copy_location(statement, node) for statement in tree.body] or node
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call):
        magic = _magic_call(node, line_only=True)
        if magic is not None:
            try:
                expression = ast.parse(magic.strip(), mode="eval").body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return self.generic_visit(node)
            for sub in ast.walk(expression):
                if hasattr(sub, "lineno"):
                    ast.copy_location(sub, node)
            return expression
        return self.generic_visit(node)


def _magic_call(node: ast.AST, line_only: bool = False) -> str | None:
    """The code text a `get_ipython().run_cell_magic/run_line_magic(...)` call runs, or None."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr
        in (("run_line_magic",) if line_only else ("run_line_magic", "run_cell_magic"))
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        return None
    index = 2 if node.func.attr == "run_cell_magic" else 1
    if (
        len(node.args) > index
        and isinstance(node.args[index], ast.Constant)
        and isinstance(node.args[index].value, str)
    ):
        return node.args[index].value
    return None


# ------------------------------------------------------------------------------------------------
# The names one piece of code uses
# ------------------------------------------------------------------------------------------------


def _references(code: ast.AST) -> Iterator[tuple[str, int, str]]:
    """(dotted name, line, source) of every global name, attribute chain and import that `code` (a
    function, a class or an expression) uses; `getattr(x, "name")` is `x.name`, and
    `getattr(module, computed)` is named `module.<computed>`."""
    local = _bound_locally(code)
    first = getattr(code, "lineno", 1)
    inner = {id(node.value) for node in ast.walk(code) if isinstance(node, ast.Attribute)}
    annotations = {
        id(sub)
        for node in ast.walk(code)
        for annotation in _annotations(node)
        for sub in ast.walk(annotation)
    }
    for node in ast.walk(code):
        # `F` of `F.cross_entropy` (the whole chain is its use); a type hint uses nothing.
        if id(node) in inner or id(node) in annotations:
            continue
        line = getattr(node, "lineno", first) - first + 1
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, line, _unparse(node)
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                yield f"{module}.{alias.name}", line, _unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and "getattr" not in local
            and len(node.args) >= 2
        ):
            owner = _dotted(node.args[0])
            if owner is None or owner.partition(".")[0] in local:
                continue
            name = node.args[1]
            attribute = (
                name.value
                if isinstance(name, ast.Constant) and isinstance(name.value, str)
                else "<computed>"
            )
            yield f"{owner}.{attribute}", line, _unparse(node)
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(
            getattr(node, "ctx", None), ast.Load
        ):
            dotted = _dotted(node)
            if dotted is None or dotted.partition(".")[0] in local:
                continue
            yield dotted, line, _unparse(node)


def _hiding(name: str, bindings: dict[str, list[_Binding]]) -> str | None:
    """What hides a call in `name` (a use that ends outside the student's code), or None."""
    root, _, rest = name.partition(".")
    if root in HIDING_NAMES and root not in bindings:
        return HIDING_NAMES[root]
    # A name looked up at run time in what is not the student's: a module, or a setup object (in the
    # student's own objects, `getattr(self, name)` is theirs; their values are followed anyway).
    not_theirs = (
        any(binding.kind != "code" for binding in bindings.get(root, [])) or root not in bindings
    )
    if not_theirs and ("__dict__" in name.split(".") or name.endswith(".<computed>")):
        return "a name looked up at run time"
    resolved = name
    for binding in bindings.get(root, []):
        if binding.kind == "import":
            resolved = binding.target + ("." + rest if rest else "")
    for module in HIDING_MODULES:
        if resolved == module or resolved.startswith(module + "."):
            return module
    return None


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


def _bound_locally(code: ast.AST) -> set[str]:
    """Names that are parameters of, or assigned inside, the functions, lambdas and comprehensions
    of `code` (a global statement keeps a name global)."""
    names: set[str] = set()
    declared_global: set[str] = set()
    scopes = (
        ast.FunctionDef,
        ast.AsyncFunctionDef,
        ast.Lambda,
        ast.ClassDef,
        ast.ListComp,
        ast.SetComp,
        ast.DictComp,
        ast.GeneratorExp,
    )
    for node in ast.walk(code):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = node.args
            names.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
            names.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    if not isinstance(code, scopes):
        # An expression (`ce = F.cross_entropy`): only its lambdas' and comprehensions' own names
        # are local; a walrus in it binds a global.
        names = {
            n for node in ast.walk(code) if isinstance(node, scopes) for n in _bound_locally(node)
        }
    return names - declared_global


def _unparse(node: ast.AST) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."
