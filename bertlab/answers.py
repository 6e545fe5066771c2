"""How a test cell's verdict stays out of the student's reach.

A graded test cell has up to three parts, each starting at its marker line:

    ### INPUTS
    toy_vocab = {"un", "##aff", "##able"}
    ### ANSWERS
    yours = wordpiece("unaffable", toy_vocab)
    ### VERDICT
    check_equal(yours, ["un", "##aff", "##able"], what='wordpiece("unaffable", toy_vocab)')

INPUTS is instructor code that must not touch the student's code; ANSWERS calls the student's code
(lines before any marker belong to it: a hidden test's visible first line is usually such a call);
VERDICT checks what ANSWERS bound.

In a student's own Jupyter (or `nbgrader validate`) the markers are comments and the cell runs
top to bottom, as any cell does. When the course grades a submission, the parts go different ways:

- the student's kernel, in its sandbox, runs INPUTS and ANSWERS only; then the names that ANSWERS
  binds are *recorded*: encoded as plain data (JSON; tensors as raw bytes with dtype and shape) in
  one output of the cell;
- the grader's own process runs INPUTS and VERDICT, after the notebook's locked setup cells, all
  taken from the gradebook, with the recorded names in place of the student's objects.

So the references, the checks and the inputs the verdict is about live in a process no student
code ever ran in: rebinding `check_close`, patching `torch.allclose` or builtins, or editing the
tokenizer the inputs come from changes nothing there. What a student's kernel can still do is
claim answers it did not compute; to claim the right ones it must compute them, which is the
exercise (or call bertlab's implementation, a limit the README names).

Only the test cell's own record counts. The grader gives each test cell a fresh random *key*
(a nonce) that it appends to the probe's `record(...)` call; the record carries it, and the judge
keeps the first record with the right key and names every other one in the cell's output (a
record with no key or another key: a hook, a thread or a later cell; a second record with the
key). Before each test cell the grader clears the kernel's IPython event callbacks in a request
of its own, and runs the probe without storing it in the kernel's history, so that a
`pre_run_cell`/`post_run_cell` hook, `In` or `_ih` cannot hand a student's code the key.

What a determined student can still do: their code runs in the same process as the probe, so it
can always find the key (an audit or trace hook, a thread reading the running frame, a patched
`run_cell` or `record`) and record forged answers with it, first. No check inside the kernel can
rule that out. The key turns the easy forgeries (an IPython hook, a later cell: what a class
passed around) into ones that need the interpreter's internals and stand out in the code; the
rest of the design is what makes forging cost about as much as the exercise: the verdict and the
references live in the grader's process, so forged answers must be *right* answers computed
somewhere (by the student's own code, or by a library the part's rules forbid, which
bertlab/rules.py finds where the part's solution uses it, though not in a hook beside it), and
a human reading a submission with `sys.addaudithook`, `settrace` or `record(` in it, or the
similarity report, is the last check.

Decoding never runs code (no pickle): dicts, lists, tuples, strings, numbers, booleans, None and
tensors of a fixed set of dtypes come back; anything else comes back as a stand-in that names its
type, so a check can say "expected a Tensor, got ndarray".
"""

from __future__ import annotations

import ast
import base64
import math
from dataclasses import dataclass

import torch

# This module is loaded by the notebook's setup cell (bertlab.grading imports it), before any
# student code runs: the builtins it uses are bound here, so a student's cell that replaces them in
# `builtins` later cannot garble what is recorded.
isinstance, len, repr, type, str, list, tuple, dict = (
    isinstance,
    len,
    repr,
    type,
    str,
    list,
    tuple,
    dict,
)  # noqa: PLW0127

MIME = "application/vnd.bertlab.answers+json"  # the output that carries a cell's recorded answers
MARKERS = {"### INPUTS": "inputs", "### ANSWERS": "answers", "### VERDICT": "verdict"}
MAX_BYTES = (
    64 << 20
)  # recorded tensor bytes per cell; past this, answers are refused, not truncated

_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float64,
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.int64,
        torch.int32,
        torch.int16,
        torch.int8,
        torch.uint8,
        torch.bool,
    )
}


# ------------------------------------------------------------------------------------------------
# The parts of a test cell
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCellParts:
    probe: str  # what the student's kernel runs: INPUTS and ANSWERS, in order
    judge: str  # what the grader runs: INPUTS and VERDICT, in order
    recorded: tuple[str, ...]  # the names ANSWERS binds, whose values the kernel records
    # Whether there is a VERDICT part (a cell without one is judged by the kernel's outcome).
    judged: bool


def split_test_cell(source: str) -> TestCellParts:
    """The probe and judge sources of a test cell (see the module docstring). Lines keep their
    places (the other parts' lines become blank), so line numbers in tracebacks stay right."""
    part, probe, judge, answers = "answers", [], [], []
    judged = False
    for line in source.splitlines():
        marker = MARKERS.get(line.strip())
        if marker is not None:
            part = marker
            probe.append("")
            judge.append("")
            continue
        probe.append(line if part in ("inputs", "answers") else "")
        judge.append(line if part in ("inputs", "verdict") else "")
        if part == "answers":
            answers.append(line)
        judged = judged or (part == "verdict" and bool(line.strip()))
    return TestCellParts(
        "\n".join(probe), "\n".join(judge), tuple(_bound_names("\n".join(answers))), judged
    )


def _bound_names(code: str) -> list[str]:
    """The names a piece of top-level code assigns (not inside functions, classes or
    comprehensions)."""
    names: list[str] = []

    def visit(node):
        if isinstance(
            node,
            (
                ast.FunctionDef,
                ast.AsyncFunctionDef,
                ast.ClassDef,
                ast.Lambda,
                ast.ListComp,
                ast.SetComp,
                ast.DictComp,
                ast.GeneratorExp,
            ),
        ):
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            names.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(code))
    return names


def recording_code(names: tuple[str, ...], nonce: str) -> str:
    """The line the grader appends to a probe: it records the values of `names` as the cell's
    output, with the test cell's key `nonce` (see the module docstring)."""
    if not nonce.isalnum():
        raise ValueError(f"a recording key must be letters and digits, not {nonce!r}")
    values = ", ".join(f"{name!r}: {name}" for name in names)
    return f"\n__import__('bertlab.answers').answers.record({{{values}}}, {nonce!r})\n"


# ------------------------------------------------------------------------------------------------
# Encoding (in the student's kernel) and decoding (in the grader)
# ------------------------------------------------------------------------------------------------


class Unrecordable:
    """What the grader sees of a value that is not plain data: its type's name and a preview."""

    def __init__(self, preview: str):
        self.preview = preview

    def __repr__(self):
        return self.preview


def encode(value, _budget: list[int] | None = None):
    """`value` as JSON-able data (see the module docstring)."""
    budget = [MAX_BYTES] if _budget is None else _budget
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if (
        type(value).__module__ == "numpy"
        and getattr(value, "shape", None) == ()
        and hasattr(value, "item")
    ):
        return encode(value.item(), budget)  # a numpy number (np.float32(0.5)): the number it holds
    if isinstance(value, torch.Tensor) and str(value.dtype).removeprefix("torch.") in _DTYPES:
        flat = value.detach().cpu().contiguous().reshape(-1)
        raw = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        budget[0] -= len(raw)
        if budget[0] < 0:
            raise ValueError(f"the recorded answers are larger than {MAX_BYTES >> 20} MiB")
        return {
            "tensor": base64.b64encode(raw).decode("ascii"),
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": list(value.shape),
        }
    if isinstance(value, (list, tuple)):
        items = [encode(item, budget) for item in value]
        return items if isinstance(value, list) else {"tuple": items}
    if isinstance(value, (set, frozenset)):
        return {"set": [encode(item, budget) for item in value]}
    if isinstance(value, dict):
        return {
            "dict": [[encode(key, budget), encode(item, budget)] for key, item in value.items()]
        }
    preview = (
        repr(value) if not isinstance(value, torch.nn.Module) else f"{type(value).__name__}(...)"
    )
    return {"unrecordable": type(value).__name__, "preview": preview[:200]}


def decode(data):
    """The value `encode` gave `data` for; raises ValueError on anything malformed."""
    if data is None or isinstance(data, (bool, int, str, float)):
        return data
    if isinstance(data, list):
        return [decode(item) for item in data]
    if not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise ValueError(f"not recorded answers: {str(data)[:80]}")
    if "float" in data:
        return float(data["float"])
    if "tuple" in data:
        return tuple(decode(item) for item in data["tuple"])
    if "set" in data:
        return {decode(item) for item in data["set"]}
    if "dict" in data:
        return {_hashable(decode(key)): decode(item) for key, item in data["dict"]}
    if "tensor" in data:
        dtype, shape = _DTYPES[data["dtype"]], [int(n) for n in data["shape"]]
        raw = base64.b64decode(data["tensor"], validate=True)
        numel = math.prod(shape)
        if len(raw) != numel * dtype.itemsize:
            raise ValueError(f"a recorded tensor of shape {shape} has {len(raw)} bytes")
        if not numel:
            return torch.empty(shape, dtype=dtype)
        return (
            torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()
        )
    if "unrecordable" in data:
        stand_in = type(str(data["unrecordable"]), (Unrecordable,), {})
        return stand_in(str(data.get("preview", "")))
    raise ValueError(f"not recorded answers: {str(data)[:80]}")


def _hashable(key):
    return tuple(_hashable(k) for k in key) if isinstance(key, list) else key


def record(answers: dict, nonce: str | None = None) -> None:
    """Show `answers` (name -> value) as this cell's recorded answers, with the test cell's key
    (the grader appends the call)."""
    from IPython.display import display

    encoded = {name: encode(value) for name, value in answers.items()}
    display({MIME: {"nonce": nonce, "answers": encoded}}, raw=True)


@dataclass(frozen=True)
class Records:
    """What a test cell's outputs recorded: the answers of its own record (None if it has none)
    and, in words, every other record, which is ignored."""

    answers: dict | None
    ignored: tuple[str, ...]


def read_records(outputs, nonce: str | None) -> Records:
    """The answers of the first record in a cell's outputs that carries the key `nonce` (the one
    the grader gave this test cell), and what was wrong with each other record. Raises ValueError
    if that record cannot be decoded (see `decode`)."""
    found, ignored = None, []
    records = [
        output["data"][MIME]
        for output in outputs
        if output.get("output_type") == "display_data" and MIME in output.get("data", {})
    ]
    for number, data in enumerate(records, 1):
        key = data.get("nonce") if isinstance(data, dict) else None
        if nonce is None or key != nonce:
            why = "no key" if key is None else "a key that is not this test's"
            ignored.append(
                f"record {number} of {len(records)} carries {why}: it was not made by this "
                "test's own code (a hook, a thread or another cell?)"
            )
        elif found is not None:
            ignored.append(
                f"record {number} of {len(records)} is a second record of this test's answers"
            )
        else:
            found = data
    if found is None:
        return Records(None, tuple(ignored))
    answers = found.get("answers")
    if not isinstance(answers, dict):
        raise ValueError("the recorded answers are not a mapping of names to values")
    return Records({str(name): decode(value) for name, value in answers.items()}, tuple(ignored))


def recorded_answers(outputs, nonce: str | None) -> dict | None:
    """The answers of the test cell's own record among `outputs` (see `read_records`), or None if
    there is none."""
    return read_records(outputs, nonce).answers
