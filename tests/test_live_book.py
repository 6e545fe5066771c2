"""The website's live explorations answer with exactly the numbers of bertlab's PyTorch model.

Each exploration of the built book (`make book`, served on localhost, opened in Debian's Chromium
by Playwright) is used as a reader uses it: the test types into its fields (or, for fill-mask,
presses a word to hide it), presses Show, waits for the answer, and compares what the page
computed in the browser (ONNX Runtime Web and @huggingface/tokenizers, from the site's own files)
with bertlab in PyTorch on the same input:

- token ids, pieces and segments: exactly bertlab's tokenizer's, on held-out lines of Shakespeare
  and on accents, punctuation, unknown words, emoji, CJK and pairs of 200+ pieces (a pair longer
  than 512 tokens is cut "longest first", as bertlab cuts it);
- probabilities, attention weights and cosine similarities: within 1e-4 (fp32 on both sides);
- what the page shows (its tables) is what it computed;
- no request leaves the site.

Every exploration gets at least 10 inputs, most of them sentences of the held-out plays, which
neither the model nor the classifier was trained on. The page keeps each answer whole in its
section's data-result attribute (JSON), with the input it answered.
"""

import json
import random
import re
from urllib.parse import urlsplit

import pytest
import torch
import torch.nn.functional as F

import bertlab
from bertlab.data import shakespeare_documents

TOLERANCE = 1e-4
ANSWER_TIMEOUT_MS = 60_000  # the first answer downloads the model (about 1 s here)

ACCENTS = "Café, naïve façade; Œuvre of São Paulo — élan, Ångström and Dvořák."
PUNCTUATION = "Wait... what?! (Yes) -- 'no'; \"maybe\": [ok] {fine} <tag> & 100% #1 @home ~ end."
UNKNOWN = "Zxqvbnm glorbles the fnord 🤖 at 東京 with qwertyuiop xylophonically."


@pytest.fixture(scope="module")
def heldout_lines() -> list[str]:
    """Lines of the held-out plays (neither pretraining nor fine-tuning saw them), 6 to 30 words."""
    lines = [s for d in shakespeare_documents("heldout") for s in d.sentences
             if 6 <= len(s.split()) <= 30]
    return random.Random(0).sample(lines, 60)


@pytest.fixture(scope="module")
def long_text(heldout_lines) -> str:
    """Held-out lines joined until they make more than 200 WordPiece pieces."""
    tokenizer = bertlab.WordPieceTokenizer.from_vocab("shakespeare-mini")
    text = ""
    for line in heldout_lines:
        text = f"{text} {line}".strip()
        if len(tokenizer.tokenize(text)) > 230:
            return text
    raise AssertionError("the held-out lines are too short to make 200 pieces")


@pytest.fixture(scope="module")
def shakespeare():
    return bertlab.shakespeare_bert()


@pytest.fixture(scope="module")
def open_page(browser, server):
    """Open a chapter; every request the page makes is recorded (to check it stays on the site)."""
    pages, requests = [], []

    def open_(chapter: str, width: int = 1280):
        page = browser.new_page(viewport={"width": width, "height": 900})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda request: requests.append(request.url))
        page.goto(f"{server}/book/{chapter}.html", wait_until="load")
        page.errors = errors
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()
    origin = urlsplit(server)
    elsewhere = [url for url in requests
                 if urlsplit(url).scheme not in ("data", "blob")
                 and urlsplit(url)[:2] != origin[:2]]
    assert elsewhere == [], f"the live pages requested files from other sites: {elsewhere[:5]}"


def answer(section, fields: dict[str, str], *, press: str | None = None,
           expected: dict[str, str] | None = None) -> dict:
    """Fill an exploration's fields (by name), press Show (or the word button `press`), and wait
    for the answer to exactly this input (`expected`, by default the fields); returns the page's
    result, failing on an error state."""
    for name, value in fields.items():
        control = section.locator(f"[name='{name}']")
        if control.evaluate("el => el.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    if press is None:
        section.locator("button.live-run").click()
    else:
        section.locator("button.live-word", has_text=re.compile(f"^{re.escape(press)}$")).first.click()
    expected = dict(fields) if expected is None else expected
    handle = section.page.wait_for_function(
        """([section, expected]) => {
            const matches = (input) => Object.entries(expected).every(([k, v]) => input[k] === v);
            if (section.dataset.state === 'error' && !section.getAttribute('aria-busy')
                && matches(JSON.parse(section.dataset.errorInput)))
                return {error: section.querySelector('.live-status').textContent};
            if (!section.dataset.result || section.getAttribute('aria-busy')) return false;
            const result = JSON.parse(section.dataset.result);
            return matches(result.input) ? result : false;
        }""",
        arg=[section.element_handle(), expected], timeout=ANSWER_TIMEOUT_MS)
    result = handle.json_value()
    assert "error" not in result, f"the exploration answered with an error: {result.get('error')}"
    return result


def table_rows(section, css: str) -> list[list[str]]:
    return section.locator(f"{css} tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.cells).map(c => c.innerText.trim()))")


def shown_percent(p: float) -> str:
    """How the page writes a probability (live.mjs `percent`)."""
    return f"{100 * p:.{2 if p >= 0.995 or p < 0.001 else 1}f}%"


def close(page_value: float, ours: float) -> bool:
    return abs(page_value - ours) <= TOLERANCE


# ------------------------------------------------------------------------------------------------
def test_the_tokens_exploration_gives_bertlabs_pieces_ids_and_segments(open_page, heldout_lines,
                                                                       long_text):
    tokenizer = bertlab.WordPieceTokenizer.default()  # chapter 1's (bert-base-uncased)
    section = open_page("01_input_embeddings").locator("section.live-exploration[data-kind=tokens]")
    longer = f"{long_text} {long_text} {long_text}"  # with long_text, more than 512 pieces
    pairs = [(heldout_lines[i], heldout_lines[i + 1]) for i in range(0, 16, 2)]
    pairs += [(ACCENTS, PUNCTUATION), (UNKNOWN, ""), (long_text, ""), (long_text, heldout_lines[20]),
              (longer, long_text), (heldout_lines[21], longer),  # cut from the longer side
              (longer, longer), (f"{longer} {long_text}", longer)]  # both sides cut to about half
    for a, b in pairs:
        result = answer(section, {"text_a": a, "text_b": b})
        ours = tokenizer.encode(a, b or None)
        assert result["ids"] == ours.input_ids, f"ids differ for {a[:40]!r} / {b[:40]!r}"
        assert result["tokens"] == ours.tokens
        assert result["segments"] == ours.token_type_ids
        assert result["positions"] == list(range(len(ours.input_ids)))
        shown = table_rows(section, ".live-tokens")
        assert [(int(r[0]), r[1], int(r[2])) for r in shown] == \
            list(zip(range(len(ours)), ours.tokens, ours.input_ids))
    assert any(len(tokenizer.encode(a, b or None)) == 512 for a, b in pairs), \
        "no pair was long enough to be cut at 512 tokens"


def test_the_attention_exploration_gives_bertlabs_attention_weights(open_page, shakespeare,
                                                                     heldout_lines, long_text):
    model, tokenizer = shakespeare
    section = open_page("02_contextual_embeddings").locator(
        "section.live-exploration[data-kind=attention]")
    cases = [(line, 1 + i % 4, 1 + (i // 4) % 4) for i, line in enumerate(heldout_lines[:10])]
    cases += [(ACCENTS, 2, 3), (UNKNOWN, 4, 4), (long_text, 3, 2)]  # the last cut to 64 tokens
    for text, layer, head in cases:
        result = answer(section, {"text": text, "layer": str(layer), "head": str(head)})
        encoding = tokenizer.encode(text, max_length=64)
        assert result["ids"] == encoding.input_ids
        ids = torch.tensor([encoding.input_ids])
        with torch.no_grad():
            attentions = model(ids, torch.zeros_like(ids), output_attentions=True).attentions
        ours = attentions[layer - 1][0, head - 1]  # (T, T)
        page = torch.tensor(result["probs"], dtype=torch.float64)
        assert page.shape == ours.shape
        gap = (page - ours.double()).abs().max().item()
        assert gap <= TOLERANCE, f"layer {layer} head {head}: attention differs by {gap:.2e}"
        shown = table_rows(section, ".live-table-wrap")
        strongest = ours.argmax(dim=-1).tolist()
        assert [r[2] for r in shown] == [encoding.tokens[j] for j in strongest]
    assert section.locator("canvas.live-heatmap").count() == 1


def test_the_similarity_exploration_gives_bertlabs_cosines_layer_by_layer(open_page, shakespeare,
                                                                          heldout_lines):
    model, tokenizer = shakespeare
    section = open_page("02_contextual_embeddings").locator(
        "section.live-exploration[data-kind=similarity]")
    cases = []
    for word in ("lord", "love", "night", "king", "heart", "good", "sir", "death", "eyes", "blood",
                 "sweet", "time"):
        having = [s for d in shakespeare_documents("heldout") for s in d.sentences
                  if re.search(rf"\b{word}\b", s, re.IGNORECASE) and len(s.split()) <= 40]
        if len(having) >= 2:
            cases.append((word, having[0], having[-1]))
    cases.append(("fisherman", "The fisherman sat on the bank.", "A fisherman came to court."))
    assert len(cases) >= 10
    for word, a, b in cases:
        result = answer(section, {"word": word, "text_a": a, "text_b": b})
        pieces = tokenizer.tokenize(word)
        assert result["pieces"] == pieces

        def vectors(text):  # the word's vector at each stage: the mean of its pieces
            encoding = tokenizer.encode(text)
            start = next(i for i in range(len(encoding.tokens))
                         if encoding.tokens[i:i + len(pieces)] == pieces)
            ids = torch.tensor([encoding.input_ids])
            with torch.no_grad():
                hidden = model.bert(ids, output_hidden_states=True).hidden_states
            return [h[0, start:start + len(pieces)].mean(dim=0) for h in hidden]

        ours = [F.cosine_similarity(x, y, dim=0).item() for x, y in zip(vectors(a), vectors(b))]
        assert len(result["cosines"]) == len(ours) == model.config.num_hidden_layers + 1
        assert all(close(p, o) for p, o in zip(result["cosines"], ours)), \
            f"{word!r}: page {result['cosines']} vs bertlab {ours}"
        shown = table_rows(section, ".live-similarity")
        assert [float(r[1]) for r in shown] == pytest.approx(ours, abs=6e-4)  # shown to 3 places


def test_the_fill_mask_exploration_gives_bertlabs_predictions(open_page, shakespeare, heldout_lines,
                                                              long_text):
    model, tokenizer = shakespeare
    section = open_page("03_masked_lm").locator("section.live-exploration[data-kind=fill-mask]")
    rng = random.Random(1)
    typed = []
    for line in heldout_lines[:10]:  # one word of a held-out line hidden by hand
        words = line.split()
        i = rng.randrange(len(words))
        typed.append(" ".join(words[:i] + ["[MASK]"] + words[i + 1:]))
    typed += ["Café, naïve [MASK] of São Paulo.", "Zxqvbnm glorbles the [MASK] 🤖 at 東京.",
              "Good [MASK], my lord, how does your [MASK]?", long_text.replace(" the ", " [MASK] ", 1)]
    # Lines where the reader presses a word: the first word of three letters or more.
    pressed = [(line, next(w for w in re.findall(r"(?:[^\W_]|')+", line) if len(w) >= 3))
               for line in heldout_lines[30:34]]
    checks = [(text, None) for text in typed] + pressed
    assert len(checks) >= 18
    for text, word in checks:
        if word is None:
            result = answer(section, {"text": text})
        else:  # the reader types a line, then presses a word to hide it: its first occurrence
            first = next(m for m in re.finditer(r"(?:[^\W_]|')+", text) if m.group() == word)
            hidden = text[:first.start()] + "[MASK]" + text[first.end():]
            section.locator("[name=text]").fill(text)
            result = answer(section, {}, press=word, expected={"text": hidden})
            text = hidden
        ours = bertlab.fill_mask(model, tokenizer, text, top_k=10)
        assert result["ids"] == tokenizer.encode(text).input_ids
        assert len(result["predictions"]) == len(ours)
        for page_top, our_top in zip(result["predictions"], ours):
            for rank, (p, o) in enumerate(zip(page_top, our_top)):
                assert close(p["probability"], o.probability), (text, rank)
                # Two tokens within 1e-4 may trade places; otherwise the order is bertlab's.
                if p["token"] != o.token:
                    assert abs(p["probability"] - o.probability) <= TOLERANCE and \
                        abs(our_top[rank].probability - our_top[min(rank + 1, 9)].probability) <= 2e-4
        shown = table_rows(section, ".live-predictions")
        first = result["predictions"][0]
        assert [r[0] for r in shown[:10]] == [p["token"] for p in first]
        assert [r[1] for r in shown[:10]] == [shown_percent(p["probability"]) for p in first]


def test_the_next_sentence_exploration_gives_bertlabs_isnext_probability(open_page, shakespeare,
                                                                         heldout_lines, long_text):
    model, tokenizer = shakespeare
    section = open_page("04_next_sentence").locator(
        "section.live-exploration[data-kind=next-sentence]")
    documents = shakespeare_documents("heldout")
    following = [(d.sentences[i], d.sentences[i + 1]) for d in documents[:8]
                 for i in (3,) if len(d.sentences) > 4]
    pairs = following + [(heldout_lines[40], heldout_lines[41]), (ACCENTS, UNKNOWN),
                         (PUNCTUATION, heldout_lines[42]), (long_text, long_text)]
    assert len(pairs) >= 10
    for a, b in pairs:
        result = answer(section, {"text_a": a, "text_b": b})
        forward = bertlab.next_sentence_probability(model, tokenizer, a, b)
        backward = bertlab.next_sentence_probability(model, tokenizer, b, a)
        assert close(result["forward"], forward) and close(result["backward"], backward), \
            (a[:40], b[:40], result["forward"], forward, result["backward"], backward)
        shown = table_rows(section, ".live-isnext")
        assert [r[1] for r in shown] == [shown_percent(forward), shown_percent(backward)] or \
            min(abs(forward * 1000 % 1 - 0.5), abs(backward * 1000 % 1 - 0.5)) < 0.01  # a rounding tie


def test_the_genre_exploration_gives_the_chapters_classifiers_probabilities(open_page, built_book,
                                                                            heldout_lines, long_text):
    from bertlab.model import BertForSequenceClassification
    from bertlab.viz import genre_probabilities

    exported = built_book.parent / ".jupyter_cache" / "bertlab-site-files" / "genre-classifier"
    labels = json.loads((exported / "labels.json").read_text())
    model = BertForSequenceClassification.from_pretrained(exported / "pytorch").eval()
    tokenizer = bertlab.WordPieceTokenizer.from_vocab("shakespeare-mini")
    section = open_page("05_beyond").locator("section.live-exploration[data-kind=genre]")
    passages = heldout_lines[45:55] + [ACCENTS, UNKNOWN, long_text]  # the last cut to 48 tokens
    for text in passages:
        result = answer(section, {"text": text})
        assert result["labels"] == labels
        assert result["ids"] == tokenizer.encode(text, max_length=48).input_ids
        ours = genre_probabilities(model, tokenizer, [text])[0].tolist()
        assert all(close(p, o) for p, o in zip(result["probabilities"], ours)), \
            (text[:40], result["probabilities"], ours)
        shown = table_rows(section, ".live-genre")
        assert [r[0] for r in shown] == labels
    page = section.page
    # The page's static figure and its printed lines come from the same classifier.
    printed = page.locator("text=/Hamlet\\s+tragedies\\s+->/").first.inner_text()
    verdict = re.search(r"Hamlet\s+tragedies\s+->\s+(\w+)", printed).group(1)
    hamlet = genre_probabilities(model, tokenizer, ["To be, or not to be: that is the question."])[0]
    assert labels[int(hamlet.argmax())] == verdict


def test_a_page_loads_no_model_until_the_reader_uses_an_exploration(open_page):
    page = open_page("03_masked_lm")
    loaded = []
    page.on("request", lambda request: loaded.append(request.url))
    page.wait_for_timeout(1500)
    page.reload(wait_until="load")
    page.wait_for_timeout(1500)
    assert not any(url.endswith((".onnx", ".wasm")) for url in loaded), loaded
    status = page.locator("section.live-exploration .live-status").inner_text()
    assert "Nothing loads until you press Show" in status and " MB" in status, status
    assert page.errors == []


EXPLORATIONS = [("01_input_embeddings", "tokens"), ("02_contextual_embeddings", "attention"),
                ("02_contextual_embeddings", "similarity"), ("03_masked_lm", "fill-mask"),
                ("04_next_sentence", "next-sentence"), ("05_beyond", "genre")]

FITS = """(section) => {
    const width = document.documentElement.clientWidth;
    const outside = [];
    for (const el of section.querySelectorAll('input, textarea, select, button, .live-table-wrap, canvas, .live-figure, p')) {
        const box = el.getBoundingClientRect();
        if (box.width > 0 && (box.left < -1 || box.right > width + 1))
            outside.push(`${el.tagName}.${el.className}: ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
    const inputs = Array.from(section.querySelectorAll('input, textarea, select, button'));
    return {width, outside,
            unlabelled: inputs.filter((el) => el.matches('input, textarea, select') &&
                                      !(el.labels && el.labels.length)).length,
            tiny: inputs.filter((el) => el.getBoundingClientRect().height < 24).length,
            section_overflows: section.scrollWidth > section.clientWidth + 1};
}"""


@pytest.mark.parametrize("width", (390, 1280))
def test_every_exploration_fits_the_screen_with_labelled_inputs(open_page, width):
    for chapter, kind in EXPLORATIONS:
        page = open_page(chapter, width=width)
        section = page.locator(f"section.live-exploration[data-kind='{kind}']")
        section.scroll_into_view_if_needed()
        section.locator("button.live-run").click()
        page.wait_for_function("(s) => s.dataset.state", arg=section.element_handle(),
                               timeout=ANSWER_TIMEOUT_MS)
        assert section.get_attribute("data-state") == "answered", \
            section.locator(".live-status").inner_text()
        report = section.evaluate(FITS)
        assert report["outside"] == [] and not report["section_overflows"], \
            f"{chapter} {kind} at {width} px: {report}"
        assert report["unlabelled"] == 0, f"{chapter} {kind}: an input without a label"
        assert report["tiny"] == 0, f"{chapter} {kind}: a control under 24 px high"
        assert page.errors == [], page.errors
        page.close()


def test_the_readme_states_the_sizes_the_site_loads(built_book):
    """The README's table of what a reader downloads, against the files the build wrote."""
    from rendered import ROOT

    files = json.loads((built_book / "_static" / "live" / "manifest.json").read_text())["files"]
    versions = json.loads((built_book / "_static" / "live" / "manifest.json").read_text())["versions"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    runtime = sum(size for name, size in files.items() if name.startswith("vendor/ort"))
    expected = {
        "shakespeare-mini, `model.onnx`": files["models/shakespeare-mini/model.onnx"],
        "chapter 5's fine-tuned classifier, `model.onnx`": files["models/genre-classifier/model.onnx"],
        f"ONNX Runtime Web {versions['onnxruntime-web']}": runtime,
        "shakespeare-mini's `tokenizer.json`": files["models/shakespeare-mini/tokenizer.json"],
        "bert-base-uncased's `tokenizer.json`": files["models/bert-base-uncased/tokenizer.json"],
        f"@huggingface/tokenizers {versions['@huggingface/tokenizers']}":
            files["vendor/tokenizers.min.mjs"],
    }
    for what, size in expected.items():
        row = re.search(rf"^\| {re.escape(what)}[^|]*\| ([0-9.]+) MB \|$", readme, re.MULTILINE)
        assert row, f"the README's table of loaded files has no row for {what}"
        digits = len(row.group(1).split(".")[1])
        assert float(row.group(1)) == round(size / 1e6, digits), \
            f"README: {what} is {row.group(1)} MB, the build wrote {size / 1e6:.3f} MB"
    assert files["models/shakespeare-mini/model.onnx"] < 25e6 and runtime < 15e6
