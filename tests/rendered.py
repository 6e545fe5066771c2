"""The built book, served and opened in Chromium: what tests/test_rendered_book.py and
tests/test_live_book.py share. conftest.py registers the fixtures once for the whole session, so
`make book` runs once however many modules look at the site."""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from required import require, require_program

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
    """Playwright's sync API, with Debian's Chromium to drive (or BERTLAB_CHROMIUM's binary)."""
    require_program("chromium", chromium_path())
    return require("playwright.sync_api")


def toc_pages() -> list[str]:
    """The book's pages, in reading order, as paths without suffix ("book/intro", ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [chapter["file"] for chapter in part["chapters"]]
    return pages


def make_book(folder: Path) -> subprocess.CompletedProcess:
    """`make book` in `folder` (the repository, or a small book beside its Makefile), with the venv
    running these tests: the README's command itself, so its flags and the kernel's profile are
    what is tested."""
    venv = Path(sys.executable).parent.parent
    return subprocess.run([require_program("make"), "book", f"VENV={venv}"], cwd=folder,
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book with `make book`; fail with Sphinx's own words. A warm `_build/` is reused
    only as far as it is still true: book/_ext/fresh_results.py executes every chapter again when
    bertlab, the kernel profile or an installed package has changed (test_book_build.py)."""
    require_browser()  # no browser, no point in a long build
    result = make_book(ROOT)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-6000:]
        pytest.fail(f"`make book` failed (exit {result.returncode}):\n{log}")
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
