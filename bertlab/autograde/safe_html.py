"""Feedback pages that run nothing a student wrote, and render formulas without a network.

nbgrader's feedback page is nbconvert's HTML of the graded notebook: every Markdown cell and every
`text/html`, `text/markdown` or `image/svg+xml` output goes into the page as the student wrote it,
so a `<script>`, an `<img onerror=...>` or a `javascript:` link runs when the page is opened.
`SafeFeedbackExporter` (nbgrader's feedback exporter, set in nbgrader_config.py) makes each page
safe in three layers:

1. the template's <head> is kept without its <script> elements (nbconvert's would load MathJax 2
   from a CDN), rebuilt from an allow-list (meta charset, title, style);
2. the <body> is cleaned by nh3 (the Ammonia sanitiser) against an allow-list of the tags and
   attributes nbconvert's template produces: no script, style, svg, math, iframe, object, embed
   or form, no event handler or style attribute, links only http/https/mailto/relative (opened
   with rel="noopener noreferrer"), images only PNG/JPEG/GIF data URIs or relative paths;
3. a Content-Security-Policy <meta>, the first element of <head>, which forbids inline script,
   `javascript:` URLs and every request but the page's own files, should anything pass 2.

Formulas are typeset by MathJax 3 from the pip package sphinx-mathjax-offline, loaded from
`feedback-assets/` next to the page together with the course's own MathJax settings (a file, so
no inline script is needed): `install_assets` puts them there.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from pathlib import Path

import nh3
from nbconvert.exporters import HTMLExporter

from bertlab.autograde.sandbox import remove_entry

# The folder, next to each feedback page, that holds the page's scripts (install_assets).
ASSETS = "feedback-assets"
MATHJAX = "tex-svg.js"  # MathJax 3: TeX in, SVG out (no web fonts to load)
MATHJAX_CONFIG = "mathjax-config.js"

# Checked in headless Chromium (see tests/test_feedback_pages.py): on a file:// page, `script-src
# 'self'` admits a script by relative path, but it admits any file: URL at all, not only the
# page's folder. Hashes of the two files would be narrower, but Chromium checks an `integrity`
# attribute only on a CORS request, which a file:// page cannot make, so it refuses the script.
# 'self' it is: no script element of a student's survives the sanitiser, and the policy still
# forbids inline script, event handlers and `javascript:` URLs.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # nbconvert's CSS is inline; MathJax adds its own
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'none'",
        "frame-src 'none'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ]
)

# The course's MathJax settings, written as a file next to the page. `\href` typesets its text
# only (a link from a formula would be a way around the sanitiser's URL rule); the menu is off, as
# its speech and accessibility parts would load more scripts than the two shipped.
MATHJAX_SETTINGS = r"""// The course's MathJax 3 settings (see bertlab/autograde/safe_html.py).
window.MathJax = {
  tex: {
    inlineMath: [['$', '$'], ['\\(', '\\)']],
    displayMath: [['$$', '$$'], ['\\[', '\\]']],
    processEscapes: true,
    processEnvironments: true,
    macros: {href: ['{#2}', 2]}
  },
  svg: {fontCache: 'global'},
  options: {enableMenu: false}
};
"""

# What nbconvert's classic template and the feedback template produce, and what Markdown makes.
TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "details", "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img",
    "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul", "var",
}  # fmt: skip
# Removed with everything inside them (their text would be noise, or code, on the page).
DROPPED_WITH_CONTENT = {
    "script", "style", "svg", "math", "iframe", "object", "embed", "form", "template",
    "noscript", "textarea", "select", "title", "frameset", "noembed", "noframes",
}  # fmt: skip
ATTRIBUTES = {
    "*": {"class", "id", "title"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
_IMAGE_DATA = re.compile(r"data:image/(?:png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*", re.IGNORECASE)
_URL_IGNORED = re.compile(r"[\x00-\x20]")  # what a browser strips from a URL, or may
_SCHEME = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.-]*):")


def _relative(url: str) -> bool:
    """A path relative to the page: no scheme, and not `//host` or `\\\\host` (another machine)."""
    stripped = _URL_IGNORED.sub("", url)
    return _SCHEME.match(stripped) is None and not stripped.startswith(("//", "\\", "/\\"))


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    """nh3's per-attribute check (after its own URL-scheme check): an image's source is a PNG,
    JPEG or GIF data URI or a relative path; a link is http, https, mailto or relative."""
    if tag == "img" and attribute == "src":
        return value if _IMAGE_DATA.fullmatch(value.strip()) or _relative(value) else None
    if attribute == "href":
        # A browser ignores tabs, newlines and leading controls in a URL: so does this check.
        scheme = _SCHEME.match(_URL_IGNORED.sub("", value))
        if scheme is None:
            return value if _relative(value) else None
        return value if scheme.group(1).lower() in ("http", "https", "mailto") else None
    return value


def clean_body(html: str) -> str:
    """`html` (the inside of a page's <body>) with nothing executable left: see the module
    docstring, point 2."""
    return nh3.clean(
        html,
        tags=TAGS,
        clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ATTRIBUTES,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto", "data"},  # data: only for images (above)
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def clean_head(html: str) -> str:
    """`html` (the inside of the template's <head>) with only its charset, title and styles."""
    return nh3.clean(
        html,
        tags={"meta", "title", "style"},
        clean_content_tags={"script", "noscript", "template"},
        attributes={"meta": {"charset"}},
        link_rel=None,
        strip_comments=True,
    )


def safe_page(html: str) -> str:
    """The feedback page `html` (as nbconvert's template writes it) made safe to open: the
    Content-Security-Policy first, the template's head without scripts, then the course's
    MathJax, and the body sanitised. Raises ValueError if `html` is not a whole page."""
    lower = html.lower()
    head_start = lower.find("<head>")
    head_end = lower.find("</head>")
    body_tag = lower.find("<body", head_end)
    body_start = lower.find(">", body_tag) + 1
    body_end = lower.rfind("</body>")
    if not 0 <= head_start < head_end < body_tag < body_start <= body_end:
        raise ValueError(
            "not a whole HTML page (<head>...</head><body>...</body>): safe_page needs the "
            "output of an HTML template that writes both, such as nbgrader's 'feedback'"
        )
    # Only the template writes before the first </head> (the student's text is all in the body),
    # and the head is cleaned even so.
    head = clean_head(html[head_start + len("<head>") : head_end])
    body = clean_body(html[body_start:body_end])
    scripts = "".join(
        f'<script src="{ASSETS}/{name}"></script>\n' for name in (MATHJAX_CONFIG, MATHJAX)
    )
    return (
        "<!DOCTYPE html>\n<html>\n<head>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        f"{head}\n{scripts}</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


class SafeFeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter whose page is made safe by `safe_page` (the module docstring):
    set as nbgrader's `c.GenerateFeedback.exporter_class`; the page needs `install_assets` for its
    formulas."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return safe_page(output), resources


def mathjax_file() -> Path:
    """MathJax 3's tex-svg.js, as the pip package sphinx-mathjax-offline ships it."""
    # The package's import name has hyphens; find_spec locates it without running it (it would
    # import Sphinx).
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    path = Path(spec.origin).parent / "static" / "mathjax" / MATHJAX if spec else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"MathJax's {MATHJAX} not found (from the package sphinx-mathjax-offline): "
            'pip install -e ".[course]" (or `make setup`)'
        )
    return path


def _write_if_changed(path: Path, data: bytes) -> None:
    """`path` holds `data`; an unchanged file is left alone (so the links to it stay shared), a
    changed one is replaced whole (a page linked to the old one keeps the old one)."""
    if path.is_file() and not path.is_symlink() and path.read_bytes() == data:
        return
    new = path.with_name(path.name + ".new")
    new.write_bytes(data)
    new.chmod(0o644)
    os.replace(new, path)


def install_assets(folder: Path, shared: Path) -> None:
    """Put the scripts a feedback page loads into `folder/feedback-assets/`: hard links to one
    shared copy in `shared` (made or refreshed here), or copies where a link cannot be made (a
    different file system). Whatever was at `folder/feedback-assets` first is removed: nbgrader
    copies a student's extra files into the feedback folder, and one of that name could be a
    script of theirs (or a link) that the page would otherwise load."""
    folder, shared = Path(folder), Path(shared)
    if folder.is_symlink() or not folder.is_dir():
        raise FileNotFoundError(
            f"no feedback folder {folder}: call install_assets after nbgrader generate_feedback "
            "has made it"
        )
    shared.mkdir(parents=True, exist_ok=True)
    _write_if_changed(shared / MATHJAX, mathjax_file().read_bytes())
    _write_if_changed(shared / MATHJAX_CONFIG, MATHJAX_SETTINGS.encode())
    target = folder / ASSETS
    remove_entry(target)
    target.mkdir()
    for name in (MATHJAX_CONFIG, MATHJAX):
        try:
            os.link(shared / name, target / name)
        except OSError:
            shutil.copyfile(shared / name, target / name)
