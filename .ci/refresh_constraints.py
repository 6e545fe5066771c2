"""Refresh constraints.txt: the exact version of every package the course installs.

`make setup` installs with `-c constraints.txt`, so a class gets the versions CI last passed with,
whatever PyPI releases mid-term. This script (`make constraints`) is how they move on, on purpose:

1. a scratch venv gets the newest releases that pyproject.toml's ranges allow (no constraints), with
   the same PyTorch build as `make setup` (TORCH=...), and the newest pip and build backend
   (`[build-system] requires`: `make setup` pins the backend that builds bertlab with
   `--build-constraint`, since pip builds in an isolated environment that `-c` does not reach);
2. its `pip freeze --all` is written to constraints.txt (bertlab itself left out; a local build
   label such as `+cpu` dropped, so the same constraint admits a CUDA build of the same release);
3. what changed since the old file is printed, one package a line.

Then run `make test` (CI does the same on the commit) before committing the new file. A file written
by hand is fine too: it is only `name==version` lines.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
HEADER = """\
# The exact versions the course installs (`make setup` passes `-c constraints.txt` to pip).
# Refresh on purpose with `make constraints` (.ci/refresh_constraints.py), which prints what changed;
# then `make test` before committing. pyproject.toml keeps the ranges bertlab itself supports.
"""
PIN = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>[^\s;#]+)")


def canonical(name: str) -> str:
    """A package name as pip compares them (PEP 503): case and runs of -_. do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, tuple[str, str]]:
    """{canonical name: (name as written, version)} for every `name==version` line."""
    pins = {}
    for line in text.splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[canonical(match["name"])] = (match["name"], match["version"])
    return pins


def render(freeze_output: str) -> str:
    """constraints.txt from `pip freeze` output: sorted pins, bertlab and editable installs left out,
    local build labels (`2.13.0+cpu`) dropped."""
    lines = []
    for name, version in sorted(read_pins(freeze_output).values(), key=lambda p: canonical(p[0])):
        if canonical(name) == "bertlab":
            continue
        lines.append(f"{name}=={version.split('+')[0]}")
    return HEADER + "\n".join(lines) + "\n"


def changes(old: str, new: str) -> list[str]:
    """What moved between two constraints files, one line per package, sorted by name."""
    before, after = read_pins(old), read_pins(new)
    report = []
    for key in sorted(before.keys() | after.keys()):
        if key not in before:
            report.append(f"new      {after[key][0]} {after[key][1]}")
        elif key not in after:
            report.append(f"dropped  {before[key][0]} {before[key][1]}")
        elif before[key][1] != after[key][1]:
            report.append(f"changed  {after[key][0]} {before[key][1]} -> {after[key][1]}")
    return report


def newest_freeze(torch_spec: str, extras: str) -> str:
    """`pip freeze` of a scratch venv holding the newest releases the ranges allow."""
    with tempfile.TemporaryDirectory(prefix="bertlab-constraints-") as scratch:
        venv.create(scratch, with_pip=True)
        python = str(Path(scratch) / "bin" / "python")

        def pip(*args: str) -> str:
            return subprocess.run([python, "-m", "pip", *args], check=True, text=True,
                                  stdout=subprocess.PIPE).stdout

        pip("install", "--quiet", "--upgrade", "pip")
        pip("install", "--quiet", "--upgrade", *build_requirements())
        pip("install", "--quiet", torch_spec)
        pip("install", "--quiet", f"{ROOT}[{extras}]")
        return pip("freeze", "--all", "--exclude-editable")


def build_requirements() -> list[str]:
    """What pip installs to build bertlab (pyproject.toml's `[build-system] requires`)."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        return tomllib.load(file)["build-system"]["requires"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--torch", default="torch==2.13.0", help="the PyTorch build (as `make setup`)")
    parser.add_argument("--extras", default="dev,book,course", help="bertlab's extras to resolve")
    parser.add_argument("--freeze", type=Path,
                        help="use this `pip freeze` output instead of resolving in a scratch venv")
    args = parser.parse_args(argv)

    freeze = args.freeze.read_text() if args.freeze else newest_freeze(args.torch, args.extras)
    new = render(freeze)
    old = CONSTRAINTS.read_text() if CONSTRAINTS.exists() else ""
    report = changes(old, new)
    CONSTRAINTS.write_text(new)
    print("\n".join(report) if report else "constraints.txt: no version changed")
    if report:
        print(f"\n{len(report)} package(s) changed in {CONSTRAINTS.name}: run `make test` before committing it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
