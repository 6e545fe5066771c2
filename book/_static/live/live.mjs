// The book's live explorations: the course's own BERT (shakespeare-mini, exported to ONNX by
// bertlab/web.py) runs in the reader's browser with ONNX Runtime Web, tokenised by
// @huggingface/tokenizers from bertlab's own tokenizer.json. No server and no kernel: every file
// comes from this site (book/_ext/live_explorations.py copies them into _static/live/).
//
// A page loads nothing heavy until the reader first uses an exploration; then the runtime
// (WebAssembly) and the model load once, with a progress bar, and every later answer reuses them.
// Each exploration is a <section class="live-exploration" data-kind="..."> written by the
// `live-exploration` directive; this module fills it in. Its answer is shown as text and tables,
// and also kept whole in the section's data-result attribute (JSON), which the tests compare with
// bertlab's PyTorch outputs (tests/test_live_book.py).

const HERE = new URL(".", import.meta.url); // .../_static/live/
const VENDOR = new URL("vendor/", HERE);
const MODELS = new URL("models/", HERE);
const MAX_ATTENTION_TOKENS = 64; // the attention picture: more tokens would not be readable

// ---------------------------------------------------------------- loading, once per page
let manifestPromise = null;
const cache = new Map(); // key -> Promise

function once(key, make) {
  if (!cache.has(key)) {
    const promise = make();
    promise.catch(() => cache.delete(key)); // a failed load may be tried again
    cache.set(key, promise);
  }
  return cache.get(key);
}

function manifest() {
  manifestPromise ??= fetch(new URL("manifest.json", HERE)).then((r) => {
    if (!r.ok) throw new Error(`manifest.json: HTTP ${r.status}`);
    return r.json();
  });
  return manifestPromise;
}

function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// fetch() with a progress callback (bytes so far, bytes in all).
async function download(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.pathname ?? url}: HTTP ${response.status}`);
  const total = Number(response.headers.get("Content-Length")) || 0;
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    onProgress(received, total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

// Several downloads reported as one progress: {name: bytes so far}.
function progressOf(files, onProgress) {
  const done = {};
  const total = Object.values(files).reduce((a, b) => a + b, 0);
  return (name) => (received) => {
    done[name] = received;
    onProgress(Object.values(done).reduce((a, b) => a + b, 0), total);
  };
}

function runtime(onBytes) {
  return once("runtime", async () => {
    const ort = await import(new URL("ort.wasm.min.mjs", VENDOR).href);
    // The WebAssembly is fetched here (for the progress bar) and handed over; ONNX Runtime then
    // fetches nothing else. One thread: no cross-origin isolation needed, and steady timings.
    ort.env.wasm.wasmBinary = await download(new URL("ort-wasm-simd-threaded.wasm", VENDOR), onBytes);
    ort.env.wasm.wasmPaths = VENDOR.href;
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = "error";
    return ort;
  });
}

function tokenizer(name) {
  return once(`tokenizer:${name}`, async () => {
    const { Tokenizer } = await import(new URL("tokenizers.min.mjs", VENDOR).href);
    const [json, config] = await Promise.all(
      ["tokenizer.json", "tokenizer_config.json"].map((f) =>
        fetch(new URL(`${name}/${f}`, MODELS)).then((r) => {
          if (!r.ok) throw new Error(`${name}/${f}: HTTP ${r.status}`);
          return r.json();
        }),
      ),
    );
    return new Tokenizer(json, config);
  });
}

function session(name, onProgress) {
  return once(`model:${name}`, async () => {
    const files = (await manifest()).files;
    const sizes = { runtime: files["vendor/ort-wasm-simd-threaded.wasm"], model: files[`models/${name}/model.onnx`] };
    const report = progressOf(sizes, onProgress);
    const [ort, bytes] = await Promise.all([
      runtime(report("runtime")),
      download(new URL(`${name}/model.onnx`, MODELS), report("model")),
    ]);
    const created = await ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
    return { ort, session: created };
  });
}

// ---------------------------------------------------------------- encoding, as bertlab does
// [CLS] A [SEP] (B [SEP]) with segment ids, cut to maxLength tokens "longest first" as bertlab's
// tokenizer (HF tokenizers) does: when a pair is too long, the shorter side is kept whole if the
// longer side can take the cut alone; otherwise each side keeps half (the longer one the odd
// token).
function encode(tok, textA, textB = null, maxLength = 512) {
  const piecesOf = (text) => {
    const e = tok.encode(text, { add_special_tokens: false });
    return { ids: e.ids, tokens: e.tokens };
  };
  const a = piecesOf(textA);
  const b = textB === null ? null : piecesOf(textB);
  const room = maxLength - (b === null ? 2 : 3);
  let keepA = a.ids.length;
  let keepB = b === null ? 0 : b.ids.length;
  if (b === null) {
    keepA = Math.min(keepA, room);
  } else if (keepA + keepB > room) {
    const swap = keepA > keepB;
    let [short, long] = swap ? [keepB, keepA] : [keepA, keepB];
    long = short > room ? short : Math.max(short, room - short);
    if (short + long > room) {
      short = Math.floor(room / 2);
      long = short + (room % 2);
    }
    [keepA, keepB] = swap ? [long, short] : [short, long];
  }
  const cls = tok.token_to_id("[CLS]");
  const sep = tok.token_to_id("[SEP]");
  const ids = [cls, ...a.ids.slice(0, keepA), sep];
  const tokens = ["[CLS]", ...a.tokens.slice(0, keepA), "[SEP]"];
  const segments = new Array(ids.length).fill(0);
  if (b !== null) {
    ids.push(...b.ids.slice(0, keepB), sep);
    tokens.push(...b.tokens.slice(0, keepB), "[SEP]");
    segments.push(...new Array(keepB + 1).fill(1));
  }
  return { ids, tokens, segments };
}

function int64(values, dims, ort) {
  return new ort.Tensor("int64", BigInt64Array.from(values, (v) => BigInt(v)), dims);
}

async function runPretraining(model, encoding, predictAt = [0]) {
  const { ort, session: s } = model;
  const T = encoding.ids.length;
  const out = await s.run({
    input_ids: int64(encoding.ids, [1, T], ort),
    token_type_ids: int64(encoding.segments, [1, T], ort),
    predict_at: int64(predictAt, [predictAt.length], ort),
  });
  return out;
}

function softmax(values) {
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

// ---------------------------------------------------------------- small DOM helpers
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

let uid = 0;
function field(label, input) {
  input.id ||= `live-input-${++uid}`;
  return el("div", { class: "live-field" }, el("label", { for: input.id, text: label }), input);
}

function textInput(value, name) {
  return el("input", { type: "text", value, name, spellcheck: "false", autocomplete: "off" });
}

function percent(p) {
  return `${(100 * p).toFixed(p >= 0.995 || p < 0.001 ? 2 : 1)}%`;
}

function table(caption, header, rows, className = "") {
  const head = el("tr", {}, ...header.map((h) => el("th", { scope: "col", text: h })));
  const body = rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c))));
  return el(
    "div", { class: `live-table-wrap ${className}`, tabindex: "0", role: "region", "aria-label": caption },
    el("table", { class: "live-table" }, el("caption", { text: caption }), el("thead", {}, head), el("tbody", {}, ...body)),
  );
}

function bar(p, label) {
  const meter = el("span", { class: "live-bar", "aria-hidden": "true" });
  meter.style.setProperty("--p", p.toFixed(4));
  return el("span", { class: "live-bar-cell" }, meter, el("span", { text: label }));
}

// ---------------------------------------------------------------- one exploration
class Exploration {
  constructor(section, modelName, sizeNote) {
    this.section = section;
    this.modelName = modelName;
    this.form = el("form", { class: "live-form" });
    this.status = el("p", { class: "live-status", role: "status" });
    this.progress = el("progress", { class: "live-progress", max: "1", value: "0", hidden: "", "aria-label": "Loading the model" });
    // The status line (role=status) is what a screen reader announces; the tables are read on
    // demand, not re-announced at each keystroke.
    this.output = el("div", { class: "live-output" });
    this.button = el("button", { type: "submit", class: "live-run", text: "Show" });
    section.querySelector(".live-nojs")?.remove();
    section.append(this.form, this.progress, this.status, this.output);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.update();
    });
    this.form.addEventListener("input", () => {
      if (this.loaded) this.schedule(); // typing answers at once only when nothing must download
    });
    this.form.addEventListener("change", () => {
      if (this.loaded) this.schedule();
    });
    this.loaded = false;
    this.pending = null;
    this.running = false;
    this.again = false;
    this.describeLoad(sizeNote);
  }

  async describeLoad(sizeNote) {
    try {
      const files = (await manifest()).files;
      this.status.textContent = sizeNote(files);
    } catch (error) {
      this.status.textContent = `The exploration cannot start: ${error.message}.`;
    }
  }

  schedule() {
    clearTimeout(this.pending);
    this.pending = setTimeout(() => this.update(), 120);
  }

  onProgress(received, total) {
    this.progress.hidden = false;
    this.progress.max = total || 1;
    this.progress.value = received;
    this.status.textContent = `Loading the model in your browser: ${megabytes(received)} of ${megabytes(total)}…`;
  }

  async update() {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.section.setAttribute("aria-busy", "true");
    const input = Object.fromEntries(new FormData(this.form)); // what this answer is for
    try {
      const started = performance.now();
      let downloaded = false;
      const result = await this.answer((r, t) => {
        downloaded = true;
        this.onProgress(r, t);
      });
      result.data.input = input;
      this.loaded = true;
      this.progress.hidden = true;
      const ms = performance.now() - started;
      this.section.dataset.result = JSON.stringify(result.data);
      this.section.dataset.answerMs = ms.toFixed(1);
      this.output.replaceChildren(...result.nodes);
      this.status.textContent = downloaded
        ? `Loaded and answered in ${(ms / 1000).toFixed(1)} s; from now on it answers as you type.`
        : `Answered in ${ms.toFixed(0)} ms by ${this.modelName}, running in your browser; ` +
          "it answers as you type.";
      this.section.dataset.state = "answered";
    } catch (error) {
      this.progress.hidden = true;
      this.section.dataset.state = "error";
      this.section.dataset.errorInput = JSON.stringify(input);
      this.status.textContent = `Something went wrong: ${error.message}`;
      this.output.replaceChildren();
      delete this.section.dataset.result;
    } finally {
      this.running = false;
      this.section.removeAttribute("aria-busy");
      if (this.again) {
        this.again = false;
        this.update();
      }
    }
  }
}

function modelNote(modelName, description = modelName) {
  return (files) =>
    `Runs ${description} in your browser. Nothing loads until you press Show: then the model ` +
    `(${megabytes(files[`models/${modelName}/model.onnx`])}) and ONNX Runtime ` +
    `(${megabytes(files["vendor/ort-wasm-simd-threaded.wasm"])}) download once, and later ` +
    `answers come as you type.`;
}

// Chapter 1: the WordPiece pieces of a pair, their ids, segments and positions.
class TokensExploration extends Exploration {
  constructor(section) {
    const name = section.dataset.tokenizer || "bert-base-uncased";
    super(section, name, (files) =>
      `Runs ${name}'s WordPiece tokenizer in your browser (${megabytes(files[`models/${name}/tokenizer.json`])}, ` +
      "loaded when you press Show); no model is needed.");
    this.tokenizerName = name;
    this.a = textInput(section.dataset.textA ?? "", "text_a");
    this.b = textInput(section.dataset.textB ?? "", "text_b");
    this.form.append(field("Sentence A", this.a), field("Sentence B (may be empty)", this.b), this.button);
  }

  async answer() {
    const tok = await tokenizer(this.tokenizerName);
    const b = this.b.value.trim() === "" ? null : this.b.value;
    const e = encode(tok, this.a.value, b);
    const rows = e.tokens.map((t, i) => [String(i), t, String(e.ids[i]), e.segments[i] ? "B (1)" : "A (0)"]);
    const unknown = e.tokens.filter((t) => t === "[UNK]").length;
    const summary = el("p", {
      text: `${e.tokens.length} tokens (${e.tokens.length - (b === null ? 2 : 3)} pieces and ` +
        `${b === null ? 2 : 3} special tokens)` + (unknown ? `, ${unknown} unknown ([UNK])` : "") + ".",
    });
    return {
      data: { tokens: e.tokens, ids: e.ids, segments: e.segments, positions: e.ids.map((_, i) => i) },
      nodes: [summary, table("Tokens of the pair", ["position", "token", "id", "segment"], rows, "live-tokens")],
    };
  }
}

// Chapter 2: the attention of one layer and head to a typed sentence, drawn as a heatmap.
class AttentionExploration extends Exploration {
  constructor(section) {
    super(section, "shakespeare-mini", modelNote("shakespeare-mini"));
    this.text = textInput(section.dataset.text ?? "", "text");
    const layers = Number(section.dataset.layers || 4);
    const heads = Number(section.dataset.heads || 4);
    const options = (n) => Array.from({ length: n }, (_, i) => el("option", { value: String(i + 1), text: String(i + 1) }));
    this.layer = el("select", { name: "layer" }, ...options(layers));
    this.head = el("select", { name: "head" }, ...options(heads));
    this.layer.value = section.dataset.layer || "1";
    this.head.value = section.dataset.head || "1";
    const pickers = el("div", { class: "live-pickers" }, field("Layer", this.layer), field("Head", this.head));
    this.form.append(field("Sentence", this.text), pickers, this.button);
  }

  async answer(onProgress) {
    const [tok, model] = await Promise.all([tokenizer(this.modelName), session(this.modelName, onProgress)]);
    const e = encode(tok, this.text.value, null, MAX_ATTENTION_TOKENS);
    const out = await runPretraining(model, e);
    const [L, , N, T] = out.attentions.dims; // (L, 1, N, T, T)
    const layer = Number(this.layer.value);
    const head = Number(this.head.value);
    const offset = ((layer - 1) * N + (head - 1)) * T * T;
    const probs = [];
    for (let i = 0; i < T; i++) probs.push(Array.from(out.attentions.data.subarray(offset + i * T, offset + (i + 1) * T)));
    const strongest = probs.map((row, i) => {
      const j = row.indexOf(Math.max(...row));
      return [String(i), e.tokens[i], e.tokens[j], percent(row[j])];
    });
    return {
      data: { tokens: e.tokens, ids: e.ids, layer, head, layers: L, heads: N, probs },
      nodes: [
        heatmap(probs, e.tokens, `Layer ${layer}, head ${head}: attention from each token (row) to each token (column)`),
        table(`Where each token looks most (layer ${layer}, head ${head})`, ["position", "token", "looks most at", "weight"], strongest),
      ],
    };
  }
}

// A heatmap of a T x T matrix of probabilities on a canvas, square-root colour scale (as the
// book's figures), token labels on both axes; described for screen readers by the table after it.
function heatmap(probs, tokens, title) {
  const T = tokens.length;
  const canvas = el("canvas", { class: "live-heatmap", role: "img", "aria-label": `${title}; the table below lists each token's strongest weight.` });
  const figure = el("figure", { class: "live-figure" }, canvas, el("figcaption", { text: title }));
  requestAnimationFrame(() => {
    const css = getComputedStyle(figure);
    const width = Math.min(figure.clientWidth || 600, 640);
    const ctx = canvas.getContext("2d");
    const font = `${Math.max(10, Math.min(13, 2 + width / (T + 8)))}px ${css.fontFamily}`;
    ctx.font = font;
    const labelWidth = Math.ceil(Math.max(...tokens.map((t) => ctx.measureText(t).width))) + 6;
    const cell = Math.max(4, Math.floor((width - labelWidth) / T));
    const size = labelWidth + cell * T;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = size * ratio;
    canvas.height = size * ratio;
    canvas.style.width = `${size}px`;
    canvas.style.height = `${size}px`;
    ctx.scale(ratio, ratio);
    ctx.font = font;
    ctx.fillStyle = css.color || "#222";
    ctx.textBaseline = "middle";
    for (let i = 0; i < T; i++) {
      ctx.textAlign = "right";
      ctx.fillText(tokens[i], labelWidth - 4, labelWidth + (i + 0.5) * cell);
      ctx.save();
      ctx.translate(labelWidth + (i + 0.5) * cell, labelWidth - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = "left";
      ctx.fillText(tokens[i], 0, 0);
      ctx.restore();
    }
    for (let i = 0; i < T; i++) {
      for (let j = 0; j < T; j++) {
        const v = Math.sqrt(probs[i][j]);
        const light = Math.round(97 - 72 * v);
        ctx.fillStyle = `hsl(215 70% ${light}%)`;
        ctx.fillRect(labelWidth + j * cell, labelWidth + i * cell, cell, cell);
      }
    }
  });
  return figure;
}

// Chapter 2: how alike a word's contextual vectors are in two sentences, layer by layer.
class SimilarityExploration extends Exploration {
  constructor(section) {
    super(section, "shakespeare-mini", modelNote("shakespeare-mini"));
    this.word = textInput(section.dataset.word ?? "", "word");
    this.a = textInput(section.dataset.textA ?? "", "text_a");
    this.b = textInput(section.dataset.textB ?? "", "text_b");
    this.form.append(field("Word", this.word), field("First sentence", this.a), field("Second sentence", this.b), this.button);
  }

  async answer(onProgress) {
    const [tok, model] = await Promise.all([tokenizer(this.modelName), session(this.modelName, onProgress)]);
    const word = tok.encode(this.word.value, { add_special_tokens: false }).tokens;
    if (word.length === 0) throw new Error("type a word to follow");
    const vectorsOf = async (text, which) => {
      const e = encode(tok, text, null);
      const start = findRun(e.tokens, word);
      if (start < 0) throw new Error(`the ${which} sentence has no “${this.word.value}” (its pieces: ${word.join(" ")})`);
      const out = await runPretraining(model, e);
      const [S, , T, H] = out.hidden_states.dims; // (L + 1, 1, T, H)
      // The word's vector at each stage: the mean of its pieces' vectors.
      return Array.from({ length: S }, (_, s) => {
        const mean = new Float64Array(H);
        for (let k = 0; k < word.length; k++) {
          const row = out.hidden_states.data.subarray((s * T + start + k) * H, (s * T + start + k + 1) * H);
          for (let h = 0; h < H; h++) mean[h] += row[h] / word.length;
        }
        return mean;
      });
    };
    const [va, vb] = [await vectorsOf(this.a.value, "first"), await vectorsOf(this.b.value, "second")];
    const cosines = va.map((x, s) => cosine(x, vb[s]));
    const rows = cosines.map((c, s) => [s === 0 ? "0 (embeddings)" : String(s), bar(Math.max(0, c), c.toFixed(3))]);
    return {
      data: { pieces: word, cosines },
      nodes: [table(`Cosine similarity of “${this.word.value}” in the two sentences, by layer`, ["layer", "cosine similarity"], rows, "live-similarity")],
    };
  }
}

function findRun(tokens, run) {
  outer: for (let i = 0; i + run.length <= tokens.length; i++) {
    for (let k = 0; k < run.length; k++) if (tokens[i + k] !== run[k]) continue outer;
    return i;
  }
  return -1;
}

function cosine(x, y) {
  let dot = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return dot / Math.max(Math.sqrt(xx) * Math.sqrt(yy), 1e-12);
}

// Chapter 3: fill-mask: the most probable tokens at each [MASK].
class FillMaskExploration extends Exploration {
  constructor(section) {
    super(section, "shakespeare-mini", modelNote("shakespeare-mini"));
    this.topK = Number(section.dataset.topK || 10);
    this.text = textInput(section.dataset.text ?? "", "text");
    this.words = el("div", { class: "live-words", role: "group", "aria-label": "Hide a word: press one to replace it with [MASK]" });
    this.form.append(field("A line with [MASK] where a word is hidden", this.text),
      el("p", { class: "live-hint", text: "Or press a word to hide it:" }), this.words, this.button);
    this.original = this.text.value;
    this.text.addEventListener("input", () => {
      this.original = this.text.value;
      this.drawWords();
    });
    this.drawWords();
  }

  // Word buttons from the reader's own line (with the hidden word put back).
  drawWords() {
    const line = this.original;
    const buttons = [];
    for (const match of line.matchAll(/[\p{L}\p{N}']+|\[MASK\]/gu)) {
      if (match[0] === "[MASK]") continue;
      const button = el("button", { type: "button", class: "live-word", text: match[0] });
      button.addEventListener("click", () => {
        this.text.value = line.slice(0, match.index) + "[MASK]" + line.slice(match.index + match[0].length);
        for (const b of this.words.children) b.removeAttribute("aria-pressed");
        button.setAttribute("aria-pressed", "true");
        this.update();
      });
      buttons.push(button);
    }
    this.words.replaceChildren(...buttons);
  }

  async answer(onProgress) {
    if (!this.text.value.includes("[MASK]")) throw new Error("put [MASK] where a word should be guessed, or press a word");
    const [tok, model] = await Promise.all([tokenizer(this.modelName), session(this.modelName, onProgress)]);
    const e = encode(tok, this.text.value);
    const maskId = tok.token_to_id("[MASK]");
    const at = e.ids.flatMap((id, i) => (id === maskId ? [i] : []));
    const out = await runPretraining(model, e, at);
    const V = out.mlm_logits.dims[2];
    const predictions = at.map((_, m) => {
      const probs = softmax(Array.from(out.mlm_logits.data.subarray(m * V, (m + 1) * V)));
      const order = probs.map((p, id) => [p, id]).sort((x, y) => y[0] - x[0]).slice(0, this.topK);
      return order.map(([p, id]) => ({ token: tok.id_to_token(id), id, probability: p }));
    });
    const nodes = predictions.map((top, m) =>
      table(`Top ${top.length} guesses for [MASK] ${predictions.length > 1 ? m + 1 : ""}`.replace(/ $/, ""),
        ["token", "probability"], top.map((p) => [p.token, bar(p.probability, percent(p.probability))]), "live-predictions"));
    return { data: { tokens: e.tokens, ids: e.ids, predictions }, nodes };
  }
}

// Chapter 4: P(IsNext) for two sentences, in both orders.
class NextSentenceExploration extends Exploration {
  constructor(section) {
    super(section, "shakespeare-mini", modelNote("shakespeare-mini"));
    this.a = textInput(section.dataset.textA ?? "", "text_a");
    this.b = textInput(section.dataset.textB ?? "", "text_b");
    this.form.append(field("Sentence A", this.a), field("Sentence B", this.b), this.button);
  }

  async answer(onProgress) {
    const [tok, model] = await Promise.all([tokenizer(this.modelName), session(this.modelName, onProgress)]);
    const isNext = async (a, b) => {
      const out = await runPretraining(model, encode(tok, a, b));
      return softmax(Array.from(out.nsp_logits.data))[0]; // index 0 = IsNext
    };
    const forward = await isNext(this.a.value, this.b.value);
    const backward = await isNext(this.b.value, this.a.value);
    const rows = [["A then B", bar(forward, percent(forward))], ["B then A", bar(backward, percent(backward))]];
    return {
      data: { forward, backward },
      nodes: [table("P(IsNext): how likely the model finds it that the second sentence follows the first", ["order", "P(IsNext)"], rows, "live-isnext")],
    };
  }
}

// Chapter 5: the fine-tuned genre classifier's probabilities for a typed passage.
class GenreExploration extends Exploration {
  constructor(section) {
    super(section, "genre-classifier", modelNote("genre-classifier", "the classifier fine-tuned above"));
    this.maxLength = Number(section.dataset.maxLength || 48);
    this.text = el("textarea", { name: "text", rows: "3", spellcheck: "false" });
    this.text.value = section.dataset.text ?? "";
    this.form.append(field("A passage", this.text), this.button);
  }

  async answer(onProgress) {
    const [tok, model, labels] = await Promise.all([
      tokenizer(this.modelName),
      session(this.modelName, onProgress),
      once("labels", () => fetch(new URL("genre-classifier/labels.json", MODELS)).then((r) => r.json())),
    ]);
    const e = encode(tok, this.text.value, null, this.maxLength);
    const { ort, session: s } = model;
    const T = e.ids.length;
    const out = await s.run({ input_ids: int64(e.ids, [1, T], ort), token_type_ids: int64(e.segments, [1, T], ort) });
    const probs = softmax(Array.from(out.logits.data));
    const rows = labels.map((label, i) => [label, bar(probs[i], percent(probs[i]))]);
    const cut = T === this.maxLength ? ` (cut to its first ${this.maxLength} tokens, as in fine-tuning)` : "";
    return {
      data: { tokens: e.tokens, ids: e.ids, labels, probabilities: probs },
      nodes: [table(`The classifier's probabilities for the passage${cut}`, ["genre", "probability"], rows, "live-genre")],
    };
  }
}

const KINDS = {
  tokens: TokensExploration,
  attention: AttentionExploration,
  similarity: SimilarityExploration,
  "fill-mask": FillMaskExploration,
  "next-sentence": NextSentenceExploration,
  genre: GenreExploration,
};

// For bench/live_book.py, and for the curious reader's console: the page's own runtime pieces.
window.bertlabLive = { tokenizer, session, encode, runPretraining };

for (const section of document.querySelectorAll("section.live-exploration")) {
  const Kind = KINDS[section.dataset.kind];
  if (Kind) section.exploration = new Kind(section);
}
