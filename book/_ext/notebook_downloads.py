"""A Sphinx extension of the book's own: each chapter downloads as a Jupyter notebook.

For every page built from a notebook, this writes the notebook MyST-NB executed
(_build/jupyter_execute/book/<name>.ipynb) into the site, as _build/html/_sources/book/<name>.ipynb,
and offers it twice: as ".ipynb" in the download menu of the page's header (sphinx-book-theme adds
that entry when the page context names an `ipynb_source`), and as a line under the chapter's title.

The notebook keeps its outputs, so it reads well before it is run, and it is made to read as
a notebook rather than as the book's source:

- MyST-NB 1.4 writes a chapter it took from its execution cache without outputs (it merges the
  outputs into a copy and writes the original). The outputs are merged here from the same cache,
  and written back to _build/jupyter_execute too, so that what is there is the executed notebook.
- A number glued into the prose ({glue:text}`ch3_perplexity:.1f`) becomes the number itself, in
  the role's format, as the page shows it.
- A {literalinclude} of bertlab's source becomes the code it includes, as on the page (the
  directive's own reader, with its options), since Jupyter cannot follow the directive.
- The Jupytext metadata of the .md source is dropped: the file is a plain notebook, kernel
  python3. Its cells import bertlab and read nothing by a path relative to book/, so it runs from
  any folder where bertlab is installed (tests/test_chapter_notebooks.py runs each one so).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.osutil import relative_uri

logger = logging.getLogger(__name__)

# Where the notebooks go in the site, beside the sources the theme's ".md" entry links.
FOLDER = "_sources"
LINK_CLASS = "notebook-download"

_GLUE_ROLE = re.compile(r"\{glue(?::text)?\}`([^`]+)`")
_LITERALINCLUDE = re.compile(r"^(?P<fence>`{3,}|:{3,})\{literalinclude\}[ \t]+(?P<file>\S+)[ \t]*\n"
                             r"(?P<body>.*?)^(?P=fence)[ \t]*$", re.M | re.S)


def _executed_path(app, docname: str) -> Path:
    return Path(app.env.mystnb_config.output_folder).joinpath(*f"{docname}.ipynb".split("/"))


def is_notebook(app, docname: str) -> bool:
    """Whether the page was built from a notebook (MyST-NB wrote its executed notebook)."""
    return _executed_path(app, docname).is_file()


def executed_notebook(app, docname: str) -> dict:
    """The chapter's executed notebook, with its outputs (merged from the execution cache where
    MyST-NB wrote it without them)."""
    import nbformat

    path = _executed_path(app, docname)
    notebook = nbformat.read(path, as_version=4)
    has_outputs = any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
    cache_path = app.env.mystnb_config.execution_cache_path
    has_code = any(cell.cell_type == "code" and cell.source.strip() for cell in notebook.cells)
    if has_code and not has_outputs and cache_path and Path(cache_path).exists():
        from jupyter_cache import get_cache

        try:
            _, notebook = get_cache(cache_path).merge_match_into_notebook(notebook)
        except KeyError:
            logger.info(f"notebook_downloads: {docname} is not in the execution cache")
        else:
            path.write_text(nbformat.writes(notebook), encoding="utf-8")
    return notebook


def glued_values(notebook) -> dict[str, str]:
    """Each glued key's plain-text value, as MyST-NB stores it (the value's repr)."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            scrapbook = output.get("metadata", {}).get("scrapbook")
            if scrapbook:
                text = output.get("data", {}).get(scrapbook.get("mime_prefix", "") + "text/plain")
                if text is not None:
                    values[scrapbook["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def _paste(values: dict[str, str], match: re.Match) -> str:
    """A glue role as the page shows it: the value in the role's format (MyST-NB's own rule)."""
    key, spec = (match.group(1).rsplit(":", 1) + [""])[:2]
    if key not in values:
        return match.group(0)
    text = values[key]
    if not spec:
        return text
    try:
        return format(ast.literal_eval(text), spec)
    except (ValueError, SyntaxError, TypeError):
        return text


def _included(app, folder: Path, match: re.Match) -> str:
    """A {literalinclude} block as the code it includes, read by Sphinx's own reader."""
    from sphinx.directives.code import LiteralIncludeReader

    options = {}
    for line in match["body"].splitlines():
        option = re.match(r"\s*:([\w-]+):\s*(.*)$", line)
        if option:
            name, value = option.groups()
            options[name] = value.strip() or True
    language = options.pop("language", "python")
    if "dedent" in options and options["dedent"] is not True:
        options["dedent"] = int(options["dedent"])
    keep = {k: v for k, v in options.items()
            if k in ("pyobject", "lines", "start-after", "end-before", "start-at", "end-at",
                     "dedent", "prepend", "append", "diff", "encoding", "tab-width")}
    filename = (folder / match["file"]).resolve()  # relative to the chapter, as Sphinx reads it
    try:
        text, _ = LiteralIncludeReader(str(filename), keep, app.config).read()
    except Exception:  # an option this reader does not know: leave the directive as it is
        return match.group(0)
    return f"```{language}\n{text.rstrip()}\n```"


def downloadable(app, notebook, docname: str):
    """The notebook a reader downloads: plain Jupyter metadata, glued numbers and included code
    written out."""
    import nbformat

    notebook = nbformat.reads(nbformat.writes(notebook), as_version=4)  # a copy, sources as text
    values = glued_values(notebook)
    folder = Path(app.srcdir, *docname.split("/")[:-1])
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            source = _GLUE_ROLE.sub(lambda m: _paste(values, m), cell.source)
            cell.source = _LITERALINCLUDE.sub(lambda m: _included(app, folder, m), source)
    for key in ("jupytext", "source_map"):
        notebook.metadata.pop(key, None)
    notebook.metadata.setdefault("kernelspec", {"display_name": "Python 3", "language": "python",
                                                "name": "python3"})
    notebook.metadata.setdefault("language_info", {"name": "python"})
    return notebook


def download_uri(docname: str) -> str:
    return f"{FOLDER}/{docname}.ipynb"


def write_download(app, pagename: str, templatename, context, doctree) -> None:
    """Write the page's notebook into the site and name it to the theme's download menu."""
    if app.builder.format != "html" or not is_notebook(app, pagename):
        return
    import nbformat

    target = Path(app.outdir, *download_uri(pagename).split("/"))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(nbformat.writes(downloadable(app, executed_notebook(app, pagename), pagename)),
                      encoding="utf-8")
    context["ipynb_source"] = f"{pagename}.ipynb"  # the theme links _sources/<ipynb_source>


def link_under_title(app, doctree, docname: str) -> None:
    """A line under the chapter's title: "Run this chapter in Jupyter: download it as a notebook"."""
    if app.builder.format != "html" or not is_notebook(app, docname):
        return
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    uri = relative_uri(app.builder.get_target_uri(docname), download_uri(docname))
    link = nodes.reference("", "download it as a notebook (.ipynb)", refuri=uri, internal=False)
    paragraph = nodes.paragraph("", "", classes=[LINK_CLASS])
    paragraph += nodes.Text("Run this chapter in Jupyter: ")
    paragraph += link
    paragraph += nodes.Text(", with its outputs; it needs bertlab installed ("
                            "see the introduction's Install section).")
    title_index = next((i for i, child in enumerate(section.children)
                        if isinstance(child, nodes.title)), -1)
    section.insert(title_index + 1, paragraph)


def setup(app):
    app.connect("doctree-resolved", link_under_title)
    # before sphinx-book-theme builds the header's buttons (priority 501)
    app.connect("html-page-context", write_download, priority=500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
