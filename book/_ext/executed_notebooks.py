"""Every chapter's executed notebook in _build/jupyter_execute has its outputs, however it was built.

MyST-NB (1.4) writes `_build/jupyter_execute/<page>.ipynb` after reading a chapter. When it executed
the chapter, that notebook holds the outputs; when it took them from the execution cache, it
merges them into a copy and writes the original, with no outputs at all. Every rebuild that reads
a chapter again without executing it (a changed configuration, a new page) so left notebooks
without outputs, and whatever reads them (the browser test of the pictures, the chapters'
downloadable notebooks, the guard on numbers in prose) found none. At the end of each build this
writes, for each of them, the cache's executed version.
"""

from pathlib import Path

import nbformat


def write_executed_notebooks(app, exception) -> None:
    config = app.env.mystnb_config  # with the folders MyST-NB settled on at the build's start
    if exception is not None or config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache

    cache = get_cache(config.execution_cache_path)
    for path in sorted(Path(config.output_folder).rglob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        try:
            _, executed = cache.merge_match_into_notebook(notebook)
        except KeyError:  # not in the cache (not executed, or executed with errors): leave it
            continue
        if executed != notebook:
            nbformat.write(executed, path)


def setup(app):
    app.connect("build-finished", write_executed_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
