"""The website's live explorations in headless Chromium: how long the model takes to load, and how
long an answer takes, against bertlab in PyTorch doing the same forward pass in the same run.

Needs the built book (`make book`); serves _build/html on localhost and drives Debian's Chromium
with Playwright, as tests/test_live_book.py does. Measured on chapter 3's fill-mask exploration,
with 20 lines of the held-out plays of at most 64 tokens, each with one word hidden:

  ready after first use   press Show on a fresh browser (empty cache) until the answer is shown:
                          the runtime's WebAssembly and the model downloaded, compiled, first answer
  ready, from the cache   the same on a second page of the same browser (files from its cache)
  answer (page)           the page's own time from input to the answer on screen (tokenise, run
                          the model, softmax over 8,192 tokens, draw the table): median of 20
  model alone (browser)   ONNX Runtime Web's session.run for one line, median of 20
  model alone (PyTorch)   bertlab's forward pass for the same lines, in this process, on one
                          thread like the page (torch.set_num_threads(1)): the peer

The two "model alone" rows do the same work (one line through shakespeare-mini, MLM logits at the
hidden word), so their ratio compares the runtimes; "answer (page)" does more (tokenising and
drawing) and has no peer row.

    python bench/live_book.py
"""

from __future__ import annotations

import functools
import http.server
import json
import random
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

import torch

import bertlab
from bertlab.data import shakespeare_documents

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
PAGE = "book/03_masked_lm.html"
SECTION = "section.live-exploration[data-kind='fill-mask']"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
REPEATS = 20


def heldout_masked_lines(tokenizer, n: int = REPEATS, max_tokens: int = 64) -> list[str]:
    rng = random.Random(0)
    lines = [s for d in shakespeare_documents("heldout") for s in d.sentences
             if 8 <= len(s.split()) and len(tokenizer.encode(s)) <= max_tokens]
    chosen = []
    for line in rng.sample(lines, n):
        words = line.split()
        i = rng.randrange(len(words))
        chosen.append(" ".join(words[:i] + ["[MASK]"] + words[i + 1:]))
    return chosen


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(folder: Path) -> str:
    handler = functools.partial(_Quiet, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def press_show_and_wait(page) -> float:
    """Seconds from pressing Show to the answer on screen."""
    section = page.locator(SECTION)
    started = time.perf_counter()
    section.locator("button.live-run").click()
    page.wait_for_function(f"() => document.querySelector(\"{SECTION}\").dataset.state")
    elapsed = time.perf_counter() - started
    state = section.get_attribute("data-state")
    if state != "answered":
        raise SystemExit(f"the exploration failed: {section.locator('.live-status').inner_text()}")
    return elapsed


def answer_ms(page, text: str) -> float:
    """The page's own time for one answer (data-answer-ms), after typing `text`."""
    section = page.locator(SECTION)
    section.locator("[name=text]").fill(text)
    section.locator("button.live-run").click()
    page.wait_for_function(
        """([sel, text]) => { const s = document.querySelector(sel);
            return s.dataset.result && !s.getAttribute('aria-busy')
                   && JSON.parse(s.dataset.result).input.text === text; }""",
        arg=[SECTION, text])
    return float(section.get_attribute("data-answer-ms"))


MODEL_ALONE = """async (texts) => {
    const live = window.bertlabLive;
    const tok = await live.tokenizer('shakespeare-mini');
    const model = await live.session('shakespeare-mini', () => {});
    const times = [];
    for (const text of texts) {
        const e = live.encode(tok, text);
        const at = e.ids.flatMap((id, i) => (id === tok.token_to_id('[MASK]') ? [i] : []));
        const started = performance.now();
        await live.runPretraining(model, e, at);
        times.push(performance.now() - started);
    }
    return times;
}"""


def pytorch_ms(model, tokenizer, texts: list[str]) -> list[float]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = []
    try:
        with torch.inference_mode():
            for text in texts:
                batch = tokenizer(text)
                labels = torch.full_like(batch["input_ids"], -100)
                labels[batch["input_ids"] == tokenizer.mask_token_id] = 0
                started = time.perf_counter()
                model(**batch, labels=labels, predict_masked_only=True)
                times.append(1000 * (time.perf_counter() - started))
    finally:
        torch.set_num_threads(threads)
    return times


def main() -> None:
    from playwright.sync_api import sync_playwright

    if not (HTML / PAGE).is_file():
        raise SystemExit(f"no built book in {HTML}: run `make book` first")
    manifest = json.loads((HTML / "_static" / "live" / "manifest.json").read_text())["files"]
    model, tokenizer = bertlab.shakespeare_bert()
    texts = heldout_masked_lines(tokenizer)
    url = f"{serve(HTML)}/{PAGE}"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()  # a fresh profile: an empty cache
        page = context.new_page()
        page.goto(url, wait_until="load")
        cold = press_show_and_wait(page)
        answer_ms(page, texts[0])  # warm the page up once
        page_ms = [answer_ms(page, text) for text in texts]
        alone_ms = page.evaluate(MODEL_ALONE, texts)
        second = context.new_page()
        second.goto(url, wait_until="load")
        cached = press_show_and_wait(second)
        browser.close()
    torch_ms = pytorch_ms(model, tokenizer, texts[:1] + texts)[1:]  # the first call warms up

    def median(values):
        return statistics.median(values)

    runtime = manifest["vendor/ort-wasm-simd-threaded.wasm"] + manifest["vendor/ort.wasm.min.mjs"] \
        + manifest["vendor/ort-wasm-simd-threaded.mjs"]
    print(f"Live explorations in headless Chromium ({chromium}), {PAGE}, 20 held-out lines of "
          f"{min(len(tokenizer.encode(t)) for t in texts)}-{max(len(tokenizer.encode(t)) for t in texts)} "
          f"tokens; Python {sys.version.split()[0]}, torch {torch.__version__}")
    print(f"loaded on first use: model {manifest['models/shakespeare-mini/model.onnx'] / 1e6:.1f} MB, "
          f"runtime {runtime / 1e6:.1f} MB, tokenizer "
          f"{manifest['models/shakespeare-mini/tokenizer.json'] / 1e6:.2f} MB, "
          f"tokenizer library {manifest['vendor/tokenizers.min.mjs'] / 1e3:.0f} KB")
    print()
    print(f"{'':26s}{'browser':>12s}{'PyTorch':>12s}{'browser/PyTorch':>18s}")
    print(f"{'ready after first use':26s}{cold:>11.2f}s")
    print(f"{'ready, from the cache':26s}{cached:>11.2f}s")
    print(f"{'answer (page), median':26s}{median(page_ms):>10.1f}ms")
    print(f"{'model alone, median':26s}{median(alone_ms):>10.1f}ms{median(torch_ms):>10.1f}ms"
          f"{median(alone_ms) / median(torch_ms):>17.2f}x")
    print(f"\nanswer (page), slowest of {REPEATS}: {max(page_ms):.1f} ms; model alone in the browser, "
          f"slowest: {max(alone_ms):.1f} ms")


if __name__ == "__main__":
    main()
