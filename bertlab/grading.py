"""What the exercise notebooks' tests use to compare a student's piece of BERT with bertlab's, and
to say what is wrong in words a student can act on.

Every check raises `WrongAnswer` (an AssertionError, so nbgrader counts the test cell as failed)
whose message names what was checked, what differs, where, and, when the wrong answer equals what
a known mistake would give, that mistake:

    check_close(yours, reference, what="Embeddings.forward",
                mistakes={"LayerNorm applied before the summing": layer_norm_first})

The known mistakes are computed by the test from the reference, the same way the reference is, so
a message such as "this is what LayerNorm before the sum gives" is a measured fact, not a guess.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

# Loaded with the checks, so before any student code runs (see its note on builtins).
from bertlab import answers as _answers  # noqa: F401


# `nbgrader validate` cuts every line of a failure at 87 columns (its width of 90, less "..."),
# after an indent of 4: messages are wrapped to fit, so that a terminal shows every word.
WIDTH = 80


def wrap(text: str, width: int = WIDTH) -> str:
    """`text` with each of its lines wrapped at `width` columns (continuations indented by 2)."""
    return "\n".join(
        textwrap.fill(
            line, width, subsequent_indent="  ", break_long_words=True, break_on_hyphens=False
        )
        if len(line) > width
        else line
        for line in text.splitlines()
    )


class WrongAnswer(AssertionError):
    """A test found a wrong answer; the message says what and, where known, why.

    In Jupyter and `nbgrader validate`, IPython shows only the message (no traceback of the test's
    own code): its first line is what is wrong."""

    def _render_traceback_(self) -> list[str]:
        return [wrap(f"{type(self).__name__}: {self}")]


def _fail(what: str, problem: str, *, mistake: str | None = None, hint: str | None = None):
    lines = [f"{what}: {problem}"]
    if mistake:
        lines.append(f"Likely mistake: {mistake}.")
    if hint:
        lines.append(f"Hint: {hint}")
    raise WrongAnswer(wrap("\n".join(lines)))


def _matching_mistake(
    actual, mistakes: Mapping[str, Any], same: Callable[[Any, Any], bool]
) -> str | None:
    for description, wrong_answer in mistakes.items():
        try:
            if same(actual, wrong_answer):
                return description
        except Exception:  # a wrong answer of another shape or type is simply not this mistake
            continue
    return None


def check_type(
    value, expected_type: type | tuple[type, ...], *, what: str, hint: str | None = None
) -> None:
    if not isinstance(value, expected_type):
        names = (
            " or ".join(t.__name__ for t in expected_type)
            if isinstance(expected_type, tuple)
            else expected_type.__name__
        )
        _fail(
            what,
            f"expected a {names}, got {type(value).__name__} ({_preview(value)})",
            hint=hint
            or (
                "did the function return its result? (a function without `return` gives None)"
                if value is None
                else None
            ),
        )


def check_shape(tensor, shape: Sequence[int], *, what: str, hint: str | None = None) -> None:
    check_type(tensor, torch.Tensor, what=what)
    if tuple(tensor.shape) != tuple(shape):
        _fail(what, f"expected shape {tuple(shape)}, got {tuple(tensor.shape)}", hint=hint)


def check_close(
    actual,
    expected: torch.Tensor,
    *,
    what: str,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    mistakes: Mapping[str, torch.Tensor] | None = None,
    hint: str | None = None,
    expected_from: str = "the expected ones",
) -> None:
    """`actual` must be a tensor of `expected`'s shape whose values agree within atol + rtol *
    |expected|. `expected_from` names where the expected values come from, for the message
    ("bertlab's" where bertlab computed them)."""
    mistakes = mistakes or {}
    check_type(actual, torch.Tensor, what=what)
    if tuple(actual.shape) != tuple(expected.shape):
        _fail(
            what,
            f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}",
            mistake=_matching_mistake(actual, mistakes, _same_tensor),
            hint=hint,
        )
    if actual.is_floating_point() != expected.is_floating_point():
        _fail(what, f"expected a {expected.dtype} tensor, got {actual.dtype}", hint=hint)
    actual_f, expected_f = actual.detach().double(), expected.detach().double()
    if not torch.isfinite(actual_f).all():
        bad = (~torch.isfinite(actual_f)).sum().item()
        _fail(
            what,
            f"{bad} of {actual.numel()} values are NaN or infinite",
            mistake=_matching_mistake(actual, mistakes, _same_tensor),
            hint=hint,
        )
    difference = (actual_f - expected_f).abs()
    off = difference > atol + rtol * expected_f.abs()
    if off.any():
        worst = tuple(int(i) for i in torch.unravel_index(difference.argmax(), difference.shape))
        where = f"[{', '.join(map(str, worst))}]" if worst else ""
        problem = (
            f"{int(off.sum())} of {actual.numel()} values differ from {expected_from}; the largest "
            f"difference is {difference.max().item():.3g} at {where or 'the value'} (yours "
            f"{actual_f[worst].item():.6g}, expected {expected_f[worst].item():.6g})"
        )
        _fail(what, problem, mistake=_matching_mistake(actual, mistakes, _same_tensor), hint=hint)


def check_equal(
    actual,
    expected,
    *,
    what: str,
    mistakes: Mapping[str, Any] | None = None,
    hint: str | None = None,
) -> None:
    """Exact equality of lists, tuples, strings, numbers or integer tensors, with the first
    difference."""
    mistakes = mistakes or {}
    if isinstance(expected, torch.Tensor):
        check_type(actual, torch.Tensor, what=what)
        if tuple(actual.shape) != tuple(expected.shape):
            _fail(
                what,
                f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}",
                mistake=_matching_mistake(actual, mistakes, _same_tensor),
                hint=hint,
            )
        if not torch.equal(actual.cpu(), expected.cpu()):
            first = tuple(int(i) for i in (actual.cpu() != expected.cpu()).nonzero()[0])
            _fail(
                what,
                f"differs at {list(first)}: yours {actual[first].item()}, expected "
                f"{expected[first].item()}",
                mistake=_matching_mistake(actual, mistakes, _same_tensor),
                hint=hint,
            )
        return
    if isinstance(expected, (list, tuple)):
        check_type(actual, (list, tuple), what=what)
        actual_list, expected_list = list(actual), list(expected)
        if actual_list == expected_list:
            return
        first = next(
            (i for i, (a, e) in enumerate(zip(actual_list, expected_list)) if a != e),
            min(len(actual_list), len(expected_list)),
        )
        problem = f"expected {_preview(expected_list)}, got {_preview(actual_list)}; " + (
            f"they first differ at index {first}: yours {_preview(actual_list[first])}, "
            f"expected {_preview(expected_list[first])}"
            if first < min(len(actual_list), len(expected_list))
            else f"the lengths differ ({len(actual_list)} against {len(expected_list)})"
        )
        _fail(
            what,
            problem,
            mistake=_matching_mistake(actual_list, mistakes, lambda a, m: a == list(m)),
            hint=hint,
        )
        return
    if actual != expected:
        _fail(
            what,
            f"expected {_preview(expected)}, got {_preview(actual)}",
            mistake=_matching_mistake(actual, mistakes, lambda a, m: a == m),
            hint=hint,
        )


def trainable_parameters(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The shape of each trainable parameter of `module`, by name: what an exercise specifies of a
    module. Buffers, frozen tensors and submodules without parameters are the student's business."""
    return {name: tuple(p.shape) for name, p in module.named_parameters() if p.requires_grad}


def load_reference_weights(
    student: torch.nn.Module, reference: torch.nn.Module, *, what: str
) -> None:
    """Copy the reference module's parameters into the student's, whose trainable parameters must
    have the same names and shapes (buffers and frozen tensors of the student's are left alone)."""
    check_type(student, torch.nn.Module, what=what)
    theirs = {name: p for name, p in student.named_parameters() if p.requires_grad}
    ours = dict(reference.named_parameters())
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    if missing or unexpected:
        _fail(
            what,
            "its parameters are not named as the exercise asks: "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and unexpected else "")
            + (f"not expected {unexpected}" if unexpected else ""),
            hint="create the submodules in __init__ under exactly the names given in the exercise",
        )
    for name, tensor in ours.items():
        if tuple(theirs[name].shape) != tuple(tensor.shape):
            _fail(
                what,
                f"parameter {name!r} has shape {tuple(theirs[name].shape)}, expected "
                f"{tuple(tensor.shape)}",
            )
    with torch.no_grad():
        for name, tensor in ours.items():
            theirs[name].copy_(tensor)


def _same_tensor(actual, wrong: torch.Tensor) -> bool:
    return (
        isinstance(actual, torch.Tensor)
        and tuple(actual.shape) == tuple(wrong.shape)
        and torch.allclose(actual.detach().double(), wrong.detach().double(), atol=1e-5, rtol=1e-4)
    )


def _preview(value, limit: int = 120) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def warnings_to_stdout() -> None:
    """Show Python warnings on stdout. nbgrader (validate and autograde) fails every test cell that
    wrote anything to stderr, so a library's harmless warning would read as a failed test. The
    autograder also moves stderr to stdout itself (bertlab.autograde.judge), for what this cannot
    catch."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"{category.__name__}: {message}")

    warnings.showwarning = show
