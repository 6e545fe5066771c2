"""How bertlab's command-line tools report a mistake in what they were given: one line on stderr,
`prog: error: message` (argparse's own style), and exit status 2, the status argparse gives a
malformed option. A real bug keeps its traceback and exits 1, as any Python error does.

Every tool (`python -m bertlab.predict`, `.train`, `.evaluate`, `.finetune`, `.demo`,
`.autograde`, `.autograde.similarity`) does it the same way:

    parser = ArgumentParser(prog="python -m bertlab.predict", ...)
    args = parser.parse_args(argv)     # a malformed option: one line, exit 2
    with user_input(parser.prog):      # read and check the inputs: a bad one, one line, exit 2
        model = BertForPreTraining.from_pretrained(args.model)
    ...                                # the real work: any error is a bug, with its traceback

What counts as the user's input error, and why. An exception that is

- a ValueError, TypeError or FileNotFoundError: the types bertlab's own input checks raise (a
  text without [MASK], a corpus that does not exist, a folder that is not a checkpoint, an unknown
  genre), each with a message that names the value and the fix; and
- raised by bertlab's own code, the innermost frame of its traceback in this package: a
  ValueError from deep inside torch, json or safetensors is not a check of ours, and its message
  would not say which input was wrong (a builtin or a C extension adds no frame of its own, so its
  error counts as raised by the bertlab line that called it: one more reason to keep the block
  short); and
- raised inside a `user_input` block, which a tool puts around reading and checking its inputs,
  before the real work (training, grading) begins: the same ValueError from the model in the
  middle of a training run is a bug in bertlab, not a bad option.

Anything else (an AssertionError, a RuntimeError from torch, a KeyError, or one of the three types
raised elsewhere) goes through untouched: Python prints its traceback and the tool exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

INPUT_ERRORS = (ValueError, TypeError, FileNotFoundError)

PACKAGE = Path(__file__).resolve().parent


def one_line(message: str) -> str:
    """A message on one line: its lines stripped and joined by "; " (by a space after a line that
    ends with ":", which introduces what follows)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    joined = lines[0] if lines else "(no message)"
    for line in lines[1:]:
        joined += (" " if joined.endswith(":") else "; ") + line
    return joined


def fail(prog: str, message: str) -> NoReturn:
    """Print `prog: error: message` on one line to stderr and exit with status 2."""
    sys.stderr.write(f"{prog}: error: {one_line(message)}\n")
    raise SystemExit(2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, whose errors take one line: the usage (which for some tools runs to a
    dozen lines) is left to --help, which the line points to."""

    def error(self, message: str) -> NoReturn:
        fail(self.prog, f"{message} (see {self.prog} --help)")


def raised_by_bertlab(error: BaseException) -> bool:
    """Whether the innermost frame of the error's traceback is bertlab's own code."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


@contextlib.contextmanager
def user_input(prog: str) -> Iterator[None]:
    """Around the reading and checking of a tool's inputs: an input error (see the module's
    docstring) raised inside becomes one line, `prog: error: message`, and exit status 2; any
    other exception passes through with its traceback."""
    try:
        yield
    except INPUT_ERRORS as error:
        if not raised_by_bertlab(error):
            raise
        fail(prog, str(error))
