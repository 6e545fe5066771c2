"""What a test needs that may be missing, said in one place.

On a developer's machine a missing optional piece (nbgrader, Chromium, bubblewrap, ...) skips the
tests that need it, with the command that installs it. Where the whole suite is meant to run, a
skip would hide a failure: in CI (the `CI` variable set, as `.ci/run` runs) or with any
`BERTLAB_REQUIRE_...=1` set, a missing piece fails the test instead, with the same command. Only a
CUDA GPU may be missing there (CI has none); tests/conftest.py fails any other skip in that case.
"""

from __future__ import annotations

import importlib
import os
import shutil

import pytest

# How each optional piece is installed: a module -> the extra of pyproject.toml that brings it.
INSTALL = {
    "nbgrader": 'pip install -e ".[course]" (or `make setup`)',
    "copydetect": 'pip install -e ".[course]" (or `make setup`)',
    "ipywidgets": 'pip install -e ".[book]" (or `make setup`)',
    "playwright": 'pip install -e ".[dev]" (or `make setup`)',
    "transformers": 'pip install -e ".[dev]" (or `make setup`)',
    "yaml": 'pip install -e ".[book]" (or `make setup`)',
}
# A program -> the Debian package that brings it.
PROGRAMS = {"chromium": "chromium", "bwrap": "bubblewrap", "make": "make"}


def strict() -> bool:
    """True where a missing piece must fail: CI, or any BERTLAB_REQUIRE_* variable set to 1."""
    ci = os.environ.get("CI", "").strip().lower()
    if ci not in ("", "0", "false", "no"):
        return True
    return any(value == "1" for name, value in os.environ.items() if name.startswith("BERTLAB_REQUIRE_"))


def missing(message: str) -> None:
    """Skip with `message`, or fail with it where the suite must run whole."""
    if strict():
        pytest.fail(f"{message} (a missing piece fails here, where CI or BERTLAB_REQUIRE_* is set)",
                    pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require(module: str):
    """Import `module` (e.g. "nbgrader", "playwright.sync_api") or skip/fail naming its install."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        install = INSTALL.get(top, f"pip install {top}")
        missing(f"{module} is not installed ({error}): {install}")


def require_program(name: str, path: str | None = None) -> str:
    """The path of program `name` (or `path` where the caller found it another way), or skip/fail
    naming the Debian package that brings it."""
    found = path or shutil.which(name)
    if found is None:
        missing(f"{name} is not installed: apt-get install {PROGRAMS.get(name, name)}")
    return found
