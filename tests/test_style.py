"""bertlab's source fits the book's code column: the book shows it verbatim (literalinclude) in a
column about 110 characters wide, so pyproject.toml's [tool.ruff] keeps it to 100. Checked with
the ruff of this environment (the `dev` extra installs it next to the Python running the tests)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUFF = Path(sys.executable).with_name("ruff")
# The package's Python files. Not the whole folder: ruff would also format the Python blocks of a
# Markdown file (the shipped checkpoint's README), whose aligned comments are written for a reader.
SOURCES = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "bertlab").rglob("*.py"))


def ruff(*args: str) -> subprocess.CompletedProcess:
    assert RUFF.is_file(), f"no ruff at {RUFF}; install the dev tools: pip install -e '.[dev]'"
    return subprocess.run([str(RUFF), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def shown(path: Path) -> str:
    """The command as one would type it in the repository root (.venv/bin/ruff)."""
    return os.path.relpath(path, ROOT) if path.is_relative_to(ROOT) else str(path)


def test_bertlab_is_in_ruff_format():
    result = ruff("format", "--check", "--output-format", "concise", *SOURCES)
    unformatted = sorted(
        {line.split(":")[0] for line in result.stdout.splitlines() if ": unformatted" in line}
    )
    assert result.returncode == 0, (
        f"{len(unformatted)} file(s) of bertlab/ are not in ruff's format (black style, "
        f"100 columns): {', '.join(unformatted) or '(see below)'}\n"
        f"Fix: {shown(RUFF)} format {' '.join(unformatted) or 'bertlab'}\n"
        "then read what it changed in the listings the book shows, and restructure by hand what "
        "reads badly (an exploded one-liner, a shape comment pushed off its line).\n"
        f"{result.stdout[-3000:]}{result.stderr[-2000:]}"
    )


def test_bertlab_lines_fit_and_pyflakes_is_clean():
    result = ruff("check", "--output-format", "concise", *SOURCES)
    problems = [line for line in result.stdout.splitlines() if line.startswith("bertlab")]
    assert result.returncode == 0, (
        f"ruff check finds {len(problems)} problem(s) in bertlab/ (E501: a line over 100 "
        "characters; F: pyflakes):\n"
        + "\n".join(problems[:60])
        + ("\n..." if len(problems) > 60 else "")
        + f"\nFix: {shown(RUFF)} format {' '.join(sorted({p.split(':')[0] for p in problems}))} "
        "splits code; comments, docstrings and strings are shortened by hand (split a string "
        "into adjacent literals, so that its text stays the same).\n"
        + (result.stderr[-2000:] if not problems else "")
    )
