"""A feedback page runs nothing a student wrote, loads nothing from the network, stays small, and
still renders the formulas (bertlab/autograde/safe_html.py, feedback.LimitFeedbackSize).

The pages are made by nbgrader's feedback exporter and template, from notebooks built here with
their cells and outputs already in them (no kernel). The hostile notebook holds every way a class
was seen to put script into the old feedback: each attempt calls alert() with its own label, and
the test of the test (`test_the_old_feedback_page_runs_every_attempt`) shows the browser listener
catching each of them on nbgrader's unsanitised page.
"""

from __future__ import annotations

import base64
import html.parser
import os
import re
from pathlib import Path

import pytest
from required import require

require("nbgrader")
require("nh3")
nbformat = require("nbformat")

from nbconvert import HTMLExporter  # noqa: E402
from nbgrader.converters import GenerateFeedback  # noqa: E402

from bertlab.autograde.feedback import LimitFeedbackSize  # noqa: E402
from bertlab.autograde.safe_html import (ASSETS, CSP, SafeFeedbackExporter, install_assets,  # noqa: E402
                                         mathjax_file)

new_code, new_markdown, new_output = (nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell,
                                      nbformat.v4.new_output)

# Each attempt: a label, alerted if it runs. (Links run when clicked: the browser check clicks them.)
ATTEMPTS = {
    "md-script": "<script>alert('md-script')</script>",
    "md-img": "<img src=x onerror=\"alert('md-img')\">",
    "md-svg": "<svg onload=\"alert('md-svg')\"></svg>",
    "md-iframe": "<iframe srcdoc=\"<script>parent.alert('md-iframe')</script>\"></iframe>",
    "md-link": "[click me](javascript:alert('md-link'))",
    "md-a-href": "<a href=\"javascript:alert('md-a-href')\">click me too</a>",
}
HTML_OUTPUT = ("<b>table</b><script>alert('html-script')</script><img src=x onerror=\"alert('html-img')\">"
               "<svg onload=\"alert('html-svg')\"></svg><a href=\"javascript:alert('html-link')\">link</a>")
MARKDOWN_OUTPUT = "<img src=x onerror=\"alert('mdout-img')\"> and [link](javascript:alert('mdout-link'))"
SVG_OUTPUT = ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(\'svg-onload\')">'
              "<script>alert('svg-script')</script><circle r='5'/></svg>")
TITLE = "</title><script>alert('title')</script>"
GRADING_NOTE = ("**Grading note.** The extra file '<img src=x onerror=\"alert('note')\">.txt' was set aside "
                "(grading/rejected/).")
FORMULAS = "The discriminant: $\\sqrt{D}$, and\n\n$$\\begin{aligned}a&=b\\end{aligned}$$\n"
# What alerted on nbgrader's own page (the test of the test). Two attempts are not among them, and
# are checked by where they end up instead: the title (the feedback template writes the gradebook's
# notebook name in <title>, not the notebook's metadata) and the SVG output (nbconvert 7 shows it
# as an <img> of a data: URI, in which no script runs; the safe page drops it).
EXPECTED_ON_OLD_PAGE = {"md-script", "md-img", "md-svg", "md-iframe", "md-link", "md-a-href", "html-script",
                        "html-img", "html-svg", "html-link", "mdout-img", "mdout-link", "note"}

RESOURCES = {"nbgrader": {"notebook": "01_hostile", "score": 1.0, "max_score": 2.0, "late_penalty": 0}}


def test_cell(grade_id="test_it", score=1.0, verdict="test_it: 1 of 1 points, passed\n"):
    """A test cell as the feedback preprocessors leave it: graded, with its verdict output."""
    cell = new_code(f"assert_it('{grade_id}')", outputs=[new_output("stream", name="stdout", text=verdict)])
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id,
                                 "points": 1.0, "score": score, "schema_version": 3}
    return cell


test_cell.__test__ = False  # a helper, not a test


def hostile_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata["title"] = TITLE
    nb.cells = [new_markdown(GRADING_NOTE), new_markdown(FORMULAS)]
    nb.cells += [new_markdown(f"Attempt {label}: {text}") for label, text in ATTEMPTS.items()]
    nb.cells.append(new_code("show()", outputs=[
        new_output("display_data", data={"text/html": HTML_OUTPUT, "text/plain": "table"}),
        new_output("display_data", data={"text/markdown": MARKDOWN_OUTPUT, "text/plain": "md"}),
        new_output("display_data", data={"image/svg+xml": SVG_OUTPUT, "text/plain": "svg"}),
    ]))
    nb.cells[-1].metadata["title"] = TITLE
    nb.cells.append(test_cell())
    return nb


@pytest.fixture(scope="module")
def feedback_config():
    """nbgrader's configuration of its feedback exporter: the 'feedback' template, its paths."""
    return GenerateFeedback().config


def render(nb, config, safe=True) -> str:
    exporter = (SafeFeedbackExporter if safe else HTMLExporter)(config=config)
    resources = {key: dict(value) for key, value in RESOURCES.items()}
    page, _ = exporter.from_notebook_node(nb, resources=resources)
    return page


def write_page(folder: Path, page: str, name="01_hostile.html") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(page, encoding="utf-8")
    return folder / name


class FirstTags(html.parser.HTMLParser):
    """The start tags of a page, in order, with their attributes."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def start_tags(page: str) -> list[tuple[str, dict]]:
    parser = FirstTags()
    parser.feed(page)
    return parser.tags


def test_the_page_begins_with_the_content_security_policy(feedback_config):
    tags = start_tags(render(hostile_notebook(), feedback_config))
    assert [tag for tag, _ in tags[:2]] == ["html", "head"]
    tag, attrs = tags[2]
    assert tag == "meta" and attrs["http-equiv"] == "Content-Security-Policy"
    assert attrs["content"] == CSP
    for directive in ("default-src 'none'", "script-src 'self'", "img-src 'self' data:", "base-uri 'none'",
                      "form-action 'none'"):
        assert directive in CSP


def test_no_script_and_no_event_handler_of_the_student_is_left_in_the_page(feedback_config):
    page = render(hostile_notebook(), feedback_config)
    tags = start_tags(page)
    scripts = [attrs.get("src") for tag, attrs in tags if tag == "script"]
    assert scripts == [f"{ASSETS}/mathjax-config.js", f"{ASSETS}/tex-svg.js"]
    body = [tag for tag, _ in tags[[tag for tag, _ in tags].index("body"):]]
    assert not set(body) & {"script", "style", "svg", "iframe", "object", "embed", "form", "math", "meta",
                            "base"}
    for tag, attrs in tags:
        unsafe = [name for name in attrs if name.startswith("on") or name in ("style", "srcdoc")]
        assert not unsafe, (tag, attrs)
        for name in ("href", "src"):
            value = re.sub(r"[\x00-\x20]", "", attrs.get(name) or "").lower()
            assert not value.startswith(("javascript:", "data:text", "data:image/svg", "vbscript:")), attrs
    assert "alert('title')" not in page.split("</head>")[0]


def test_the_grading_note_quoting_a_file_name_shows_the_name_as_text(feedback_config):
    page = render(hostile_notebook(), feedback_config)
    assert "extra file" in page and "set aside" in page
    assert "onerror" not in page


# --- In the browser -----------------------------------------------------------------------------------------

def open_page(browser, path: Path) -> dict:
    """Open `path` (file://) in Chromium, click every javascript: link, wait for MathJax: what happened."""
    context = browser.new_context()
    seen = {"dialogs": [], "errors": [], "requests": []}
    # Nothing leaves this machine: a request for anything but a file is refused (and recorded).
    context.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    page = context.new_page()
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.on("console", lambda message: message.type == "error" and seen["errors"].append(message.text))
    page.on("pageerror", lambda error: seen["errors"].append(f"JavaScript error: {error}"))
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.goto(path.as_uri(), wait_until="load")
    page.evaluate("""() => Array.from(document.querySelectorAll('a[href]'))
        .filter((a) => a.getAttribute('href').replace(/[\\x00-\\x20]/g, '').toLowerCase()
                        .startsWith('javascript:'))
        .forEach((a) => a.click())""")
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.wait_for_timeout(500)  # an iframe's script, a clicked link's, an image's error handler
    seen["formulas"] = page.evaluate("""() => Array.from(document.querySelectorAll('mjx-container'))
        .map((el) => ({svg: !!el.querySelector('svg'), display: el.getAttribute('display') === 'true'}))""")
    context.close()
    return seen


@pytest.fixture(scope="module")
def browser():
    from test_rendered_book import CHROMIUM_ARGS, chromium_path, require_browser

    sync_api = require_browser()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_the_old_feedback_page_runs_every_attempt(browser, feedback_config, tmp_path):
    """The test of the test: on nbgrader's own feedback page, the listener catches each attempt."""
    seen = open_page(browser, write_page(tmp_path, render(hostile_notebook(), feedback_config, safe=False)))
    assert set(seen["dialogs"]) >= EXPECTED_ON_OLD_PAGE, sorted(EXPECTED_ON_OLD_PAGE - set(seen["dialogs"]))


def test_the_feedback_page_runs_nothing_of_the_student_and_renders_the_formulas(browser, feedback_config,
                                                                                tmp_path):
    folder = tmp_path / "feedback" / "student" / "01"
    path = write_page(folder, render(hostile_notebook(), feedback_config))
    install_assets(folder, tmp_path / "feedback-assets")
    seen = open_page(browser, path)
    assert seen["dialogs"] == []
    # A relative image the student named and that is not there fails to load; nothing else may.
    assert [error for error in seen["errors"] if "ERR_FILE_NOT_FOUND" not in error] == []
    assert [url for url in seen["requests"] if not url.startswith(folder.as_uri() + "/")] == []
    assert {f"{folder.as_uri()}/{ASSETS}/{name}" for name in ("mathjax-config.js", "tex-svg.js")} <= set(
        seen["requests"])
    assert len(seen["formulas"]) == 2 and all(formula["svg"] for formula in seen["formulas"])
    assert [formula["display"] for formula in seen["formulas"]] == [False, True]


# --- The page's size ----------------------------------------------------------------------------------------

def limited(nb, **settings):
    nb, _ = LimitFeedbackSize(**settings).preprocess(nb, {})
    return nb


def test_a_notebook_of_50000_empty_cells_makes_a_page_under_the_bound_with_a_note(feedback_config):
    nb = nbformat.v4.new_notebook()
    nb.cells = [new_markdown("**Grading note.** Something was set right.")]
    nb.cells += [new_code("") for _ in range(25_000)] + [test_cell()] + [new_code("") for _ in range(25_000)]
    page = render(limited(nb), feedback_config)
    assert len(page.encode()) < LimitFeedbackSize().max_bytes
    assert "Something was set right." in page
    assert page.count("assert_it") == 1 and "test_it: 1 of 1 points, passed" in page
    notes = re.findall(r"Not shown here: ([\d,]+) cells \(cells ([\d,]+) to ([\d,]+) of your notebook\)",
                       page)
    shown = LimitFeedbackSize().max_cells
    assert len(notes) == 2
    (count1, first1, last1), (count2, first2, last2) = notes
    assert int(last1.replace(",", "")) == 25_001 and int(first2.replace(",", "")) == 25_003
    assert int(last2.replace(",", "")) == 50_002
    assert sum(int(count.replace(",", "")) for count, _, _ in notes) > 50_000 - shown


def test_large_outputs_are_cut_to_the_byte_bound_but_every_test_cell_and_verdict_is_shown(feedback_config):
    """Twelve plots of 1 MiB each would make a 12 MiB page: the page stops before its bound."""
    picture = base64.b64encode(os.urandom(3 << 18)).decode()  # 1 MiB of base64
    nb = nbformat.v4.new_notebook()
    for number in range(12):
        nb.cells.append(new_code(f"plot({number})", outputs=[
            new_output("display_data", data={"image/png": picture, "text/plain": "<Figure>"})]))
        if number % 4 == 3:
            verdict = f"test_{number}: 0 of 1 points, failed: wrong\n"
            nb.cells.append(test_cell(f"test_{number}", 0.0, verdict))
    max_bytes = LimitFeedbackSize().max_bytes
    page = render(limited(nb, max_bytes=max_bytes), feedback_config)
    assert max_bytes - (2 << 20) < len(page.encode()) < max_bytes
    for number in (3, 7, 11):
        assert f"test_{number}: 0 of 1 points, failed: wrong" in page
    assert page.count('src="data:image/png;base64,') == 7  # the first seven pictures, all that fit
    assert re.search(r"Not shown here: \d cells? \(cells? [\d ,to]+ of your notebook\)", page)


def test_a_notebook_that_fits_is_shown_whole():
    nb = hostile_notebook()
    assert limited(nb.copy()).cells == nb.cells


# --- The page's scripts beside it ---------------------------------------------------------------------------

def test_install_assets_links_one_shared_copy_and_replaces_what_a_student_put_there(tmp_path):
    shared = tmp_path / "feedback-assets"
    folders = [tmp_path / "feedback" / student / "01" for student in ("ann", "bob")]
    for folder in folders:
        folder.mkdir(parents=True)
    (folders[0] / ASSETS).mkdir()
    (folders[0] / ASSETS / "tex-svg.js").write_text("alert('the student s own MathJax')")
    (folders[1] / ASSETS).symlink_to(tmp_path)  # a link out of the folder
    for folder in folders:
        install_assets(folder, shared)
    for name in ("mathjax-config.js", "tex-svg.js"):
        shared_inode = (shared / name).stat().st_ino
        for folder in folders:
            assert not (folder / ASSETS).is_symlink()
            assert (folder / ASSETS / name).stat().st_ino == shared_inode
    assert (folders[0] / ASSETS / "tex-svg.js").read_bytes() == mathjax_file().read_bytes()
    assert sorted(p.name for p in (folders[0] / ASSETS).iterdir()) == ["mathjax-config.js", "tex-svg.js"]
    assert tmp_path.is_dir() and shared.is_dir()  # the link's target was not emptied


def test_the_course_makes_its_feedback_with_the_safe_exporter_and_the_size_limit():
    import runpy

    from traitlets.config import Config

    config = Config()
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "nbgrader_config.py"),
                   init_globals={"get_config": lambda: config})
    converter = GenerateFeedback(config=config)
    assert converter.exporter_class is SafeFeedbackExporter
    assert LimitFeedbackSize in converter.preprocessors
    names = [preprocessor.__name__ for preprocessor in converter.preprocessors]
    assert names.index("LimitFeedbackSize") > names.index("FeedbackWithoutHiddenTests")


def test_install_assets_needs_the_feedback_folder_made_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="after nbgrader generate_feedback"):
        install_assets(tmp_path / "not-made", tmp_path / "feedback-assets")


def test_the_summary_of_a_failed_test_says_its_first_sentence_whole():
    """A message is wrapped at 80 columns for a terminal (bertlab.grading.wrap); the summary line
    under a test cell joins the wrapped line back, and stops where the message's next line starts,
    for the error output the judge writes as for one from the kernel."""
    from nbformat import NotebookNode

    from bertlab.autograde.cells import error_output
    from bertlab.autograde.feedback import FeedbackWithoutHiddenTests
    from bertlab.grading import wrap

    first = ("Rule broken: pretraining_loss may not use `torch.nn.functional.cross_entropy`, "
             "`torch.nn.CrossEntropyLoss` or `bertlab`: write each cross-entropy from log_softmax yourself.")
    message = wrap(first + "\nWhere your code uses it:\n- `criterion = nn.CrossEntropyLoss()`")
    assert len(message.splitlines()) > 3  # wrapped: the first sentence spans lines
    cell = NotebookNode(cell_type="code", source="", metadata={"nbgrader": {
        "grade_id": "test_loss", "score": 0, "points": 2, "grade": True}},
        outputs=[error_output("WrongAnswer", message)])  # the error the judge writes for a failed verdict
    summary = FeedbackWithoutHiddenTests()._verdict(cell).text
    assert summary == wrap(f"test_loss: 0 of 2 points, failed: {first}") + "\n"  # wrapped as the message is
