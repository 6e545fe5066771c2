"""The rendered course, as a reader's browser sees it.

The book is built exactly as the README says (`jupyter-book build . -W --keep-going`: every chapter
executed, any warning or failing cell an error), served on localhost, and every page of the table
of contents is opened in headless Chromium (Debian's `chromium`, driven by Playwright). A page
passes when it loads without a JavaScript error or a missing file, every image on it has loaded
(`naturalWidth > 0`), every formula is typeset by MathJax (served from the book itself, so it works
offline), and no cell shows a traceback, an error or text on stderr.

The build uses the execution cache in _build/.jupyter_cache, so after the first run only changed
chapters execute again. Without Chromium these tests skip, unless BERTLAB_REQUIRE_BROWSER=1 (CI
sets it, after installing chromium), which turns a missing browser into a failure.
"""

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
# The four chapters that teach BERT's pieces; each must show at least three figures from real model
# data (the floor). Every image in a cell output of these pages is drawn by the chapter's
# code from a real model, a real batch or a real training log.
TEACHING_CHAPTERS = ("book/01_input_embeddings", "book/02_contextual_embeddings", "book/03_masked_lm",
                     "book/04_next_sentence")
# Chromium as the workplace runs it: no sandbox (root in a container), no GPU, and none of the
# background connections that a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    return os.environ.get("BERTLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser():
    if chromium_path() is None:
        message = ("Chromium is not installed: `apt-get install chromium` (Debian), or set BERTLAB_CHROMIUM "
                   "to a Chromium binary")
        if os.environ.get("BERTLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra has it)")


def toc_pages() -> list[str]:
    """The book's pages, in reading order, as paths without suffix ("book/intro", ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book as the README's main-job command does; fail with Sphinx's own words."""
    require_browser()  # no browser, no point in a long build
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", ".", "-W", "--keep-going"], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-6000:]
        pytest.fail(f"`jupyter-book build . -W --keep-going` failed (exit {result.returncode}):\n{log}")
    return HTML


@pytest.fixture(scope="session")
def server(built_book):
    """An HTTP server on localhost for the built HTML (file:// would hide missing-file errors)."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def browser(server):
    sync_api = require_browser()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# What a reader can see of a broken cell: myst-nb renders an exception as a traceback output, and
# text a cell wrote to stderr (a warning, a progress bar) as a stderr output.
PAGE_REPORT = """() => {
    const images = Array.from(document.images);
    const text = (el) => el.innerText.slice(0, 300);
    return {
        title: document.title,
        images: images.length,
        broken_images: images.filter((img) => !img.complete || img.naturalWidth === 0)
                             .map((img) => img.getAttribute('src')),
        figures: document.querySelectorAll('.cell_output img').length,
        downloads: Array.from(document.querySelectorAll('a.download')).map((a) => a.href),
        tracebacks: Array.from(document.querySelectorAll('.output.traceback, .output.error')).map(text),
        stderr: Array.from(document.querySelectorAll('.output.stderr')).map(text),
        traceback_text: document.body.innerText.includes('Traceback (most recent call last)'),
        // Sphinx wraps every formula in span.math / div.math; MathJax fills it with mjx-container.
        formulas: document.querySelectorAll('.math').length,
        raw_formulas: Array.from(document.querySelectorAll('.math'))
                           .filter((el) => !el.querySelector('mjx-container')).map(text),
    };
}"""


@pytest.fixture(scope="session")
def page_reports(browser, server) -> dict[str, dict]:
    """Open every page of the toc once; what each page showed, and what went wrong loading it."""
    reports = {}
    for page_path in toc_pages():
        page = browser.new_page()
        problems = []
        page.on("pageerror", lambda error, problems=problems: problems.append(f"JavaScript error: {error}"))
        page.on("response", lambda response, problems=problems: response.status >= 400 and
                problems.append(f"HTTP {response.status} for {response.url}"))
        page.on("requestfailed", lambda request, problems=problems: problems.append(
            f"request failed: {request.url} ({request.failure})"))
        response = page.goto(f"{server}/{page_path}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")  # typeset done
        report = page.evaluate(PAGE_REPORT)
        report["status"] = response.status if response else None
        report["problems"] = problems
        reports[page_path] = report
        page.close()
    return reports


@pytest.mark.parametrize("page_path", toc_pages())
def test_page_loads_with_every_image_and_no_error(page_reports, page_path):
    report = page_reports[page_path]
    assert report["status"] == 200, f"{page_path}.html answered HTTP {report['status']}"
    assert report["problems"] == [], f"{page_path}: {report['problems']}"
    assert report["broken_images"] == [], f"{page_path}: images that did not load: {report['broken_images']}"
    assert report["tracebacks"] == [] and not report["traceback_text"], \
        f"{page_path} shows an error output: {report['tracebacks']}"
    assert report["stderr"] == [], f"{page_path} shows text written to stderr: {report['stderr']}"
    assert report["raw_formulas"] == [], f"{page_path}: formulas MathJax did not typeset: {report['raw_formulas']}"


@pytest.mark.parametrize("page_path", TEACHING_CHAPTERS)
def test_each_teaching_chapter_links_its_exercise_notebook(page_reports, page_path):
    import urllib.request

    assert page_path in page_reports, f"{page_path} is not in _toc.yml"
    assignment = page_path.split("/")[-1]
    links = [url for url in page_reports[page_path]["downloads"] if url.endswith(f"/{assignment}.ipynb")]
    assert links, f"{page_path} has no download link to exercises/{assignment}/{assignment}.ipynb"
    with urllib.request.urlopen(links[0]) as response:
        notebook = json.loads(response.read())
    released = json.loads((ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    assert notebook == released, f"{page_path} links a notebook that is not exercises/{assignment}/{assignment}.ipynb"


@pytest.mark.parametrize("page_path", TEACHING_CHAPTERS)
def test_each_teaching_chapter_shows_at_least_three_figures(page_reports, page_path):
    assert page_path in page_reports, f"{page_path} is not in _toc.yml"
    figures = page_reports[page_path]["figures"]
    assert figures >= 3, f"{page_path} shows {figures} figures drawn by its cells; the course asks for 3 or more"
