"""The course installs the exact versions CI passed with: constraints.txt, refreshed on purpose.

`make setup` installs with `-c constraints.txt`; `make constraints` (.ci/refresh_constraints.py)
resolves the newest versions pyproject.toml's ranges allow, rewrites the file and prints what moved.
"""

import importlib.metadata
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".ci"))

import refresh_constraints  # noqa: E402


def test_setup_installs_every_package_from_the_constraints_file():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    installs = [line for line in makefile.splitlines() if re.search(r"\bpip install\b", line)]
    assert installs, "the Makefile installs nothing with pip"
    assert all("-c constraints.txt" in line for line in installs), \
        f"every `pip install` of `make setup` (pip itself too) must pass -c constraints.txt: {installs}"
    # pip builds bertlab in an isolated environment that -c does not reach: the build backend is
    # pinned by --build-constraint.
    builds = [line for line in installs if "-e " in line]
    assert builds and all("--build-constraint constraints.txt" in line for line in builds), builds


def test_the_environment_running_the_tests_has_the_pinned_versions():
    pins = refresh_constraints.read_pins((ROOT / "constraints.txt").read_text(encoding="utf-8"))
    assert {"torch", "transformers", "jupyter-book", "nbgrader", "ipywidgets", "numpy", "pip",
            "setuptools"} <= pins.keys()
    differ = []
    for name, version in pins.values():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # pinned for an extra this environment lacks
        if installed.split("+")[0] != version:
            differ.append(f"{name}: installed {installed}, constraints.txt says {version}")
    assert not differ, ("this environment does not have constraints.txt's versions (install with "
                        "`make setup`, or refresh the file with `make constraints`):\n" + "\n".join(differ))


FREEZE = """\
Torch==2.13.0+cpu
bertlab==0.1.0
numpy==2.4.6
jupyter_book==1.0.4.post1
# a comment
-e git+https://example.org/x.git#egg=x
"""


def test_the_refresh_writes_sorted_pins_without_bertlab_or_a_local_build_label():
    text = refresh_constraints.render(FREEZE)
    pins = [line for line in text.splitlines() if not line.startswith("#")]
    assert pins == ["jupyter_book==1.0.4.post1", "numpy==2.4.6", "Torch==2.13.0"]


def test_the_refresh_says_what_changed_package_by_package():
    old = "numpy==2.4.6\ntorch==2.13.0\nsix==1.0\n"
    new = "NumPy==2.5.0\ntorch==2.13.0\nrich==14.0\n"
    assert refresh_constraints.changes(old, new) == [
        "changed  NumPy 2.4.6 -> 2.5.0",
        "new      rich 14.0",
        "dropped  six 1.0",
    ]
    assert refresh_constraints.changes(new, new) == []
