"""The rendered course, as a reader's browser sees it.

The book is built by the README's own command, `make book` (every chapter executed, any warning,
failing cell or text a cell writes to stderr an error), served on localhost, and every page of the table
of contents is opened in headless Chromium (Debian's `chromium`, driven by Playwright). A page
passes when it loads, on a first visit, without a JavaScript or console error or a missing file,
every image on it has loaded
(`naturalWidth > 0`), every formula is typeset by MathJax (served from the book itself, so it works
offline), and no cell shows a traceback, an error or text on stderr.

Every figure has a numbered caption, which is also its image's alt text (what a screen reader
says instead of the hashed file name; book/_ext/alt_text.py), and opens full size on a click.

What a reader sees is checked too, at a laptop's 1280-px window and at 800 px:
- every figure keeps its proportions (rendered aspect ratio within 2% of the PNG's), and at 1280 px
  is shown at no less than 80% of the size it was drawn at (matplotlib at 100 dpi, text of 8 pt or
  more: test_book.py checks that no font size written in bertlab.viz or a chapter is smaller), so
  its smallest text is at least 8.9 px and matplotlib's default 10-pt text at least 11 px;
- at 1280 px at most 10% of the code and output blocks scroll sideways;
- each teaching chapter has its picture of BERT: one cell tagged `bert-picture` that calls
  `viz.draw_...` and whose own output is the figure (an image made by executing that cell, not a
  file it loads);
- the page that loads the same weights into transformers and bertlab prints its largest
  difference, and it is at most 1e-5.

The build uses the execution cache in _build/.jupyter_cache, so after the first run only changed
chapters execute again, and all of them once bertlab or an installed package changed
(book/_ext/fresh_results.py; tests/test_book_build.py shows it). Without Chromium these tests skip,
and fail where the whole suite must run (CI, BERTLAB_REQUIRE_*: tests/required.py).
"""

import json

import pytest

from rendered import (CHROMIUM_ARGS, HTML, ROOT, TEACHING_CHAPTERS, chromium_path, make_book,  # noqa: F401
                      require_browser, toc_pages)

# The fixtures built_book, server and browser come from rendered.py, through conftest.py.


def settle(page) -> None:
    """Wait until the page a reader opened is finished: every image loaded (or failed: `complete`
    either way) and MathJax's typesetting done. Not Playwright's "networkidle": a heuristic of
    500 ms without requests, which a reused tab in CI once never reached in 30 s."""
    page.wait_for_function("() => document.readyState === 'complete' && "
                           "Array.from(document.images).every((img) => img.complete)")
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")


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
        // What a screen reader says for each figure, and whether it has a numbered caption.
        alts: Array.from(document.querySelectorAll('.cell_output img')).map((img) => ({
            src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
            caption: (img.closest('figure') && img.closest('figure').querySelector('figcaption'))
                     ? img.closest('figure').querySelector('figcaption').innerText : null,
            opens: img.closest('a') ? img.closest('a').getAttribute('href') : null})),
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
        # A first visit (a new page is a new browser context: nothing saved) logs no error either.
        page.on("console", lambda message, problems=problems: message.type == "error" and
                problems.append(f"console error: {message.text}"))
        page.on("response", lambda response, problems=problems: response.status >= 400 and
                problems.append(f"HTTP {response.status} for {response.url}"))
        page.on("requestfailed", lambda request, problems=problems: problems.append(
            f"request failed: {request.url} ({request.failure})"))
        response = page.goto(f"{server}/{page_path}.html", wait_until="load")
        settle(page)
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


@pytest.mark.parametrize("page_path", toc_pages())
def test_every_figure_has_a_caption_said_as_its_alt_text_and_opens_full_size(page_reports, page_path):
    """A screen reader reads the figure's caption, not its hashed file name; a click or tap on a
    figure opens the image itself, at the size it was drawn."""
    for image in page_reports[page_path]["alts"]:
        assert image["caption"], f"{page_path}: the figure {image['src']} has no caption"
        caption = " ".join(image["caption"].split())
        assert image["alt"] and "_images/" not in image["alt"] and not image["alt"].endswith(".png"), \
            f"{page_path}: the alt text of {image['src']} is {image['alt']!r}"
        assert image["alt"] in caption, f"{page_path}: alt {image['alt'][:60]!r} is not the caption {caption[:60]!r}"
        assert image["opens"] == image["src"], f"{page_path}: {image['src']} does not open full size"


# ------------------------------------------------------------------------------------------------
# What a reader sees: proportions, sizes, overflow.
# ------------------------------------------------------------------------------------------------
WIDTHS = (1280, 800, 390)  # a laptop, a small window or tablet, a phone
# A figure is drawn by matplotlib at 100 dpi (myst-nb writes that size, in CSS px, as the image's
# inline width); shown below this share of it at 1280 px, its 8-pt text would fall under 8.9 px.
MIN_FIGURE_SCALE_AT_1280 = 0.8
MAX_SCROLLING_SHARE = 0.10  # of code and output blocks, at 1280 and 800 px
# Prose a reader follows from line to line without losing it: about 60-80 characters a line.
PROSE_MEASURE = (60, 80)  # the median paragraph's, where the screen has room (800 px and up)
LONGEST_PROSE_LINE = 85   # any paragraph's, at any width

LAYOUT_REPORT = """() => ({
    figures: Array.from(document.querySelectorAll('.cell_output img')).map((img) => {
        const box = img.getBoundingClientRect();
        return {src: img.getAttribute('src'), natural_width: img.naturalWidth,
                natural_height: img.naturalHeight, drawn_width: parseFloat(img.style.width) || img.naturalWidth,
                width: box.width, height: box.height};
    }),
    blocks: Array.from(document.querySelectorAll('pre')).map((pre) => ({
        scroll_width: pre.scrollWidth, client_width: pre.clientWidth,
        longest_line: pre.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''),
    })),
    pictures: Array.from(document.querySelectorAll('.cell.tag_bert-picture')).map((cell) => ({
        source: (cell.querySelector('.cell_input') || cell).innerText,
        images: Array.from(cell.querySelectorAll('.cell_output img')).map((img) => ({
            src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0})),
    })),
    text: document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText,
    // Characters per line of each paragraph of prose of 3 lines or more (not a cell's output, not a
    // live exploration): its width times the characters per pixel of its own text.
    measures: Array.from(document.querySelectorAll('article p')).filter(
            (p) => !p.closest('.cell, .live-exploration, table, nav')).map((p) => {
        const range = document.createRange();
        range.selectNodeContents(p);
        const rects = Array.from(range.getClientRects());
        const lines = new Set(rects.map((r) => Math.round(r.top))).size;
        const ink = rects.reduce((sum, r) => sum + r.width, 0);
        const chars = p.innerText.replace(/\\s+/g, ' ').length;
        return {lines: lines, per_line: ink > 0 ? p.getBoundingClientRect().width * chars / ink : 0,
                text: p.innerText.slice(0, 60)};
    }).filter((m) => m.lines >= 3),
    page_width: document.documentElement.scrollWidth,
    window_width: window.innerWidth,
    // What sticks out of the screen, other than inside a box that scrolls on its own.
    wider_than_screen: Array.from(document.querySelectorAll('article *')).filter((el) =>
            el.getBoundingClientRect().right > window.innerWidth + 1 &&
            !el.closest('pre, .highlight, .live-table-wrap, .table-wrapper, .pst-scrollable-table-container'))
        .slice(0, 5).map((el) => el.tagName.toLowerCase() + ': ' + (el.innerText || '').slice(0, 60)),
    boxes_scrolling: Array.from(document.querySelectorAll('pre')).filter((pre) => pre.scrollWidth > pre.clientWidth + 1)
        .map((pre) => ({overflow: getComputedStyle(pre).overflowX,
                        right: pre.getBoundingClientRect().right})),
    formulas_cut: Array.from(document.querySelectorAll('mjx-container[display="true"]'))
        .filter((m) => m.scrollWidth > m.clientWidth + 1).map((m) => m.textContent.slice(0, 60)),
})"""


@pytest.fixture(scope="session")
def layouts(browser, server) -> dict[tuple[str, int], dict]:
    """Every page of the toc at each window width: its figures, code blocks and pictures."""
    reports = {}
    for width in WIDTHS:
        for page_path in toc_pages():
            # A new page each time: a first visit, nothing saved by the one before.
            page = browser.new_page(viewport={"width": width, "height": 900})
            errors = []
            page.on("pageerror", lambda error, errors=errors: errors.append(f"JavaScript error: {error}"))
            page.on("console", lambda message, errors=errors: message.type == "error" and
                    errors.append(f"console error: {message.text}"))
            page.goto(f"{server}/{page_path}.html", wait_until="load")
            settle(page)
            reports[page_path, width] = page.evaluate(LAYOUT_REPORT)
            if width in AXE_WIDTHS:
                reports[page_path, width]["axe"] = run_axe(page)
            reports[page_path, width]["errors"] = errors
            page.close()
    return reports


# axe-core (Deque's accessibility engine, from npm at package-lock.json's version) on every page:
# contrast, names of links and controls, landmarks, ARIA, language, images' alt text, ...
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_WIDTHS = (1280, 390)


def run_axe(page) -> list[dict]:
    """axe-core's violations of the page as it is shown (WCAG 2.x A and AA rules and axe's best
    practices), each with its impact and where."""
    assert AXE.exists(), f"{AXE} is missing: `make book` installs it with `npm ci` (package-lock.json)"
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                      where: v.nodes.slice(0, 3).map((n) => n.target.join(' ') + ': ' + n.failureSummary.split('\\n')[1])}))""")


@pytest.mark.parametrize("width", WIDTHS)
def test_every_figure_keeps_its_proportions(layouts, width):
    squashed = []
    for page_path in toc_pages():
        for figure in layouts[page_path, width]["figures"]:
            natural = figure["natural_width"] / figure["natural_height"]
            shown = figure["width"] / figure["height"]
            if abs(shown / natural - 1) > 0.02:
                squashed.append(f"{page_path}: {figure['src']} shown {figure['width']:.0f}x{figure['height']:.0f} px, "
                                f"aspect {shown:.2f} instead of {natural:.2f}")
    assert not squashed, f"figures out of proportion at {width} px:\n" + "\n".join(squashed)


def test_every_figure_is_shown_large_enough_to_read_at_1280_px(layouts):
    small = []
    for page_path in toc_pages():
        for figure in layouts[page_path, 1280]["figures"]:
            scale = figure["width"] / figure["drawn_width"]
            if scale < MIN_FIGURE_SCALE_AT_1280:
                small.append(f"{page_path}: {figure['src']} drawn {figure['drawn_width']:.0f} px wide, shown at "
                             f"{scale:.0%} (draw it at most {figure['width'] / MIN_FIGURE_SCALE_AT_1280 / 100:.1f} in wide)")
    assert not small, (f"figures shown below {MIN_FIGURE_SCALE_AT_1280:.0%} of their drawn size at 1280 px, "
                       "where their text is too small to read:\n" + "\n".join(small))


def smallest_text_px(image_src: str) -> float | None:
    """The height of a figure's smallest text in pixels of its PNG, which the book's kernel writes
    into every figure it draws (book/_kernel/smallest_text.py)."""
    from PIL import Image

    with Image.open(HTML / "book" / image_src) as image:
        size = image.info.get("bertlab:smallest-text-px")
    return float(size) if size is not None else None


MIN_TEXT_ON_SCREEN_PX = 9.0


@pytest.mark.parametrize("width", (1280, 800))
def test_figure_text_is_at_least_9_px_on_screen(layouts, width):
    """Each figure's smallest text, as drawn, scaled by how much smaller the page shows the figure
    than its PNG: at least 9 px on a laptop and in an 800-px window, where a figure is shown at most
    752 px wide (so a figure's smallest text in pt must be at least 0.862 times its width in
    inches: 9 pt up to 10.4 in). On a phone a figure opens full size with a tap."""
    small, unmeasured = [], []
    for page_path in toc_pages():
        for figure in layouts[page_path, width]["figures"]:
            drawn_px = smallest_text_px(figure["src"])
            if drawn_px is None:
                unmeasured.append(f"{page_path}: {figure['src']}")
                continue
            shown_px = drawn_px * figure["width"] / figure["natural_width"]
            if shown_px < MIN_TEXT_ON_SCREEN_PX:
                small.append(f"{page_path}: {figure['src']}: smallest text {shown_px:.1f} px "
                             f"(figure shown {figure['width']:.0f} px wide, drawn {figure['drawn_width']:.0f})")
    assert not unmeasured, "figures without their smallest text size (not drawn by the book's kernel?):\n" \
                           + "\n".join(unmeasured)
    assert not small, f"figure text under {MIN_TEXT_ON_SCREEN_PX:.0f} px at {width} px:\n" + "\n".join(small)


@pytest.mark.parametrize("width", (1280, 800))
def test_at_most_a_tenth_of_code_blocks_scroll_sideways(layouts, width):
    blocks = [(page_path, block) for page_path in toc_pages() for block in layouts[page_path, width]["blocks"]]
    scrolling = [(page_path, block) for page_path, block in blocks
                 if block["scroll_width"] > block["client_width"] + 1]
    listed = "\n".join(f"{page_path}: {len(block['longest_line'])} chars: {block['longest_line'][:100]}"
                       for page_path, block in scrolling)
    assert len(scrolling) <= MAX_SCROLLING_SHARE * len(blocks), (
        f"{len(scrolling)} of {len(blocks)} code and output blocks scroll sideways at {width} px "
        f"(at most {MAX_SCROLLING_SHARE:.0%} may):\n{listed}")


@pytest.mark.parametrize("width", WIDTHS)
def test_prose_keeps_a_readable_measure(layouts, width):
    """About 60-80 characters a line: the article is wide for the code, not for the paragraphs."""
    import statistics

    for page_path in toc_pages():
        measures = layouts[page_path, width]["measures"]
        if not measures:
            continue
        too_long = [f"{m['per_line']:.0f} chars a line: {m['text']}" for m in measures
                    if m["per_line"] > LONGEST_PROSE_LINE]
        assert not too_long, f"{page_path} at {width} px: paragraphs over {LONGEST_PROSE_LINE} characters a line:\n" \
                             + "\n".join(too_long[:5])
        median = statistics.median(m["per_line"] for m in measures)
        low, high = PROSE_MEASURE
        assert median <= high and (width < 800 or median >= low), \
            f"{page_path} at {width} px: its paragraphs run {median:.0f} characters a line (median), not {low}-{high}"


def test_on_a_phone_no_page_is_wider_than_the_screen(layouts):
    """At 390 px the page never pans sideways: long words and inline code wrap, displayed formulas
    are scaled to fit (book/_static/bertlab.js), and code that is wider scrolls in its own box."""
    for page_path in toc_pages():
        layout = layouts[page_path, 390]
        assert layout["page_width"] <= layout["window_width"], (
            f"{page_path} is {layout['page_width']} px wide on a {layout['window_width']}-px phone; "
            f"sticking out: {layout['wider_than_screen']}")
        for box in layout["boxes_scrolling"]:
            assert box["overflow"] in ("auto", "scroll") and box["right"] <= layout["window_width"] + 1, \
                f"{page_path}: a code block wider than the phone does not scroll inside its own box: {box}"
        assert layout["formulas_cut"] == [], f"{page_path}: formulas wider than the phone: {layout['formulas_cut']}"


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_logs_an_error_at_any_width(layouts, width):
    for page_path in toc_pages():
        assert layouts[page_path, width]["errors"] == [], \
            f"{page_path} at {width} px, on a first visit: {layouts[page_path, width]['errors']}"


@pytest.mark.parametrize("width", AXE_WIDTHS)
def test_axe_finds_no_serious_or_critical_accessibility_violation(layouts, width):
    found = []
    for page_path in toc_pages():
        for violation in layouts[page_path, width]["axe"]:
            if violation["impact"] in ("serious", "critical"):
                found.append(f"{page_path}: [{violation['impact']}] {violation['id']}: {violation['help']}\n    "
                             + "\n    ".join(violation["where"]))
    assert not found, f"axe-core at {width} px:\n" + "\n".join(found)


@pytest.mark.parametrize("page_path", TEACHING_CHAPTERS)
def test_each_teaching_chapter_draws_its_picture_of_bert_from_the_model(layouts, page_path):
    pictures = layouts[page_path, 1280]["pictures"]
    assert len(pictures) == 1, f"{page_path} has {len(pictures)} cells tagged bert-picture; it needs exactly one"
    picture = pictures[0]
    assert "viz.draw_" in picture["source"], f"{page_path}: the bert-picture cell does not call viz.draw_...: " \
                                             f"{picture['source'][:300]}"
    assert not any(word in picture["source"] for word in (".png", ".svg", "Image(", "imread")), \
        f"{page_path}: the bert-picture cell loads an image instead of drawing one: {picture['source'][:300]}"
    assert [image["loaded"] for image in picture["images"]] == [True], \
        f"{page_path}: the bert-picture cell's output should be one figure, shown: {picture['images']}"
    # The figure is the output of executing that cell: the executed notebook holds it as image/png.
    executed = json.loads((ROOT / "_build" / "jupyter_execute" / f"{page_path}.ipynb").read_text(encoding="utf-8"))
    drawn = [cell for cell in executed["cells"] if cell["cell_type"] == "code"
             and "bert-picture" in cell.get("metadata", {}).get("tags", [])
             and any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))]
    assert len(drawn) == 1, f"{page_path}: the executed notebook has no bert-picture cell whose output is a PNG"


def test_the_transformers_comparison_prints_a_largest_difference_of_at_most_1e_5(layouts):
    import re

    found = {page_path: re.findall(r"largest difference over every output: ([0-9.]+e[-+][0-9]+)",
                                   layouts[page_path, 1280]["text"])
             for page_path in toc_pages()}
    found = {page_path: values for page_path, values in found.items() if values}
    assert len(found) == 1 and len(next(iter(found.values()))) == 1, (
        "exactly one page should print `largest difference over every output: <value>` (the cell that "
        f"loads the same weights into transformers and bertlab); found {found}")
    (page_path, (value,)), = found.items()
    assert float(value) <= 1e-5, f"{page_path}: bertlab and transformers differ by {value}, more than 1e-5"
