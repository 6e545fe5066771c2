"""A Sphinx extension of the book's own: no page shows a result that the code of today did not compute.

myst-nb caches each executed chapter in `_build/.jupyter_cache`, keyed by the chapter's code cells
alone, and Sphinx re-reads only the pages whose source changed. Both are blind to what the cells
import: after a change to `bertlab/` (or to an installed package) a warm `_build/` would show the
old outputs, and the page that asserts bertlab equals transformers would pass without running.
Worse, a build that failed leaves Sphinx's environment saved, so a second build re-reads nothing
and exits 0.

This extension keys the results on everything they depend on besides the chapters' own code: the
files of the package the chapters import (`bertlab_execution_inputs` in `_config.yml`), the Python
version and every installed distribution's version. Two stamps hold that key:

- `<jupyter cache>/bertlab-fingerprint`: the key the cached notebooks were computed under. When it
  differs from today's, the cache is emptied before any page is read, so every chapter executes.
- `<doctrees>/bertlab-built-with`: the key of the last build that ended with no warning and no
  error. Until a build with today's key succeeds, every page is re-read (a chapter whose cached
  result is still valid costs a cache lookup; the one that failed executes again and fails again).
"""

import hashlib
import importlib.metadata
import shutil
import sys
import sysconfig
from pathlib import Path

CACHE_STAMP = "bertlab-fingerprint"
BUILT_STAMP = "bertlab-built-with"


def fingerprint(root: Path, inputs: list[str]) -> str:
    """A hash of every file under `inputs` (paths relative to `root`, files or folders) with its
    path, the Python version and every installed distribution's name and version."""
    digest = hashlib.sha256()
    digest.update(sys.version.encode())
    # The interpreter's own site-packages, not sys.path: the current folder on sys.path would add
    # the repository's bertlab.egg-info in one process and not in another.
    site_packages = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    versions = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in importlib.metadata.distributions(path=site_packages)
        }
    )
    digest.update("\n".join(versions).encode())
    for name in inputs:
        path = root / name
        if not path.exists():
            raise FileNotFoundError(
                f"bertlab_execution_inputs names {name!r}, which is not in {root}: "
                "list the files the chapters' cells import in _config.yml"
            )
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
            digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def _read(path: Path) -> str | None:
    return path.read_text().strip() if path.is_file() else None


def empty_stale_cache(app) -> None:
    """Before any page is read: the cached notebooks go if they were computed under another key."""
    app.bertlab_fingerprint = fingerprint(Path(app.srcdir), app.config.bertlab_execution_inputs)
    cache = Path(app.env.mystnb_config.execution_cache_path)
    if _read(cache / CACHE_STAMP) != app.bertlab_fingerprint:
        if cache.exists():
            shutil.rmtree(cache)
        cache.mkdir(parents=True)
        (cache / CACHE_STAMP).write_text(app.bertlab_fingerprint + "\n")


def reread_until_built(app, env, added, changed, removed) -> list[str]:
    """Every page is read again until a build under today's key has succeeded."""
    if _read(Path(app.doctreedir) / BUILT_STAMP) == app.bertlab_fingerprint:
        return []
    return sorted(env.found_docs - added - changed - removed)


def record_outcome(app, exception) -> None:
    """Remember the key only of a build that ended clean; any warning (with -W) or error forgets it."""
    stamp = Path(app.doctreedir) / BUILT_STAMP
    # Sphinx counts warnings as it logs them (with -W --keep-going the build fails at the end on a
    # non-zero count); there is no public accessor in Sphinx 7.
    if exception is None and getattr(app, "_warncount", 0) == 0:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(app.bertlab_fingerprint + "\n")
    else:
        stamp.unlink(missing_ok=True)


def setup(app):
    app.add_config_value("bertlab_execution_inputs", ["bertlab"], "env", [list])
    # After myst-nb's own builder-inited handler (priority 500), which settles the cache path.
    app.connect("builder-inited", empty_stale_cache, priority=900)
    app.connect("env-get-outdated", reread_until_built)
    app.connect("build-finished", record_outcome)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
