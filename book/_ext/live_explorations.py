"""A Sphinx extension of the book's own: explorations that run the course's BERT in the reader's
browser, on the static website, with no kernel and no server.

A chapter places one with the `live-exploration` directive:

    ```{live-exploration} fill-mask
    :text: Good morrow, my lord, how does your [MASK]?
    ```

which becomes `<section class="live-exploration" data-kind="fill-mask" ...>`, filled in by
book/_static/live/live.mjs (kinds: tokens, attention, similarity, fill-mask, next-sentence,
genre). Only the pages that hold one load that module, and it loads nothing heavy until the reader
first uses an exploration.

What the module runs comes from this build, nothing from another site:
- the models, exported by bertlab/web.py: shakespeare-mini and the tokenizers when the build
  finishes, and chapter 5's fine-tuned genre classifier by that chapter while it executes (into the
  folder $BERTLAB_SITE_FILES, set here, which lives in the execution cache: emptied with it, so the
  classifier on the site is always the one the chapter's outputs were computed with);
- ONNX Runtime Web and @huggingface/tokenizers from node_modules, installed by `npm ci` from
  package-lock.json (exact versions; `make book` runs it), copied into _static/live/vendor/.
_static/live/manifest.json lists every file with its size, which the pages show before loading.
"""

import hashlib
import html
import json
import os
import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

SITE_FILES = "bertlab-site-files"  # inside the execution cache
# node_modules file -> its name under _static/live/vendor/
VENDOR = {
    "onnxruntime-web/dist/ort.wasm.min.mjs": "ort.wasm.min.mjs",
    # ONNX Runtime's WebAssembly and its JavaScript glue, which ort.wasm.min.mjs imports.
    "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm": "ort-wasm-simd-threaded.wasm",
    "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs": "ort-wasm-simd-threaded.mjs",
    "@huggingface/tokenizers/dist/tokenizers.min.mjs": "tokenizers.min.mjs",
}
# Which exported folder each kind of exploration loads.
MODELS_OF_KIND = {
    "tokens": ["bert-base-uncased"],
    "attention": ["shakespeare-mini"],
    "similarity": ["shakespeare-mini"],
    "fill-mask": ["shakespeare-mini"],
    "next-sentence": ["shakespeare-mini"],
    "genre": ["genre-classifier"],
}
# Files of an exported folder the page loads (the PyTorch copy of the classifier stays behind).
SERVED = ("model.onnx", "tokenizer.json", "tokenizer_config.json", "labels.json")
OPTIONS = ("text", "text-a", "text-b", "word", "layer", "head", "layers", "heads", "tokenizer",
           "top-k", "max-length")
NOSCRIPT = ("This exploration runs in your browser and needs JavaScript. Without it, the figure "
            "next to it shows what the same code draws for one example.")


class LiveExploration(Directive):
    required_arguments = 1
    option_spec = {name: directives.unchanged for name in OPTIONS}

    def run(self):
        kind = self.arguments[0]
        if kind not in MODELS_OF_KIND:
            raise self.error(f"live-exploration: unknown kind {kind!r}; use one of "
                             f"{', '.join(MODELS_OF_KIND)}")
        data = "".join(f' data-{name}="{html.escape(value, quote=True)}"'
                       for name, value in self.options.items())
        markup = (f'<section class="live-exploration" data-kind="{kind}"{data} '
                  f'aria-label="Live exploration: {kind}">'
                  f'<p class="live-nojs">{NOSCRIPT}</p></section>')
        return [nodes.raw("", markup, format="html")]


def site_files(app) -> Path:
    return Path(app.env.mystnb_config.execution_cache_path) / SITE_FILES


def set_site_files(app) -> None:
    """Before any chapter executes: where chapter 5 writes its classifier. A cache that kept the
    chapter's results but lost the classifier is emptied, so the chapter executes and writes it."""
    folder = site_files(app)
    cache = folder.parent
    genre = folder / "genre-classifier" / "model.onnx"
    if (cache / "global.db").exists() and not genre.exists() and _toc_has_genre(app):
        logger.info("live explorations: the genre classifier export is missing; emptying the "
                    "execution cache so that chapter 5 executes again and writes it")
        stamp = cache / "bertlab-fingerprint"
        kept = stamp.read_text() if stamp.exists() else None
        shutil.rmtree(cache)
        cache.mkdir(parents=True)
        if kept is not None:
            stamp.write_text(kept)
    os.environ["BERTLAB_SITE_FILES"] = str(folder)


def _toc_has_genre(app) -> bool:
    return any("live-exploration} genre" in Path(p).read_text(encoding="utf-8")
               for p in Path(app.srcdir, "book").glob("*.md"))


def add_module(app, pagename, templatename, context, doctree):
    """The module, only on pages that hold an exploration; remember which kinds are used."""
    if doctree is None:
        return
    kinds = {kind for raw in doctree.findall(nodes.raw) for kind in MODELS_OF_KIND
             if f'class="live-exploration" data-kind="{kind}"' in raw.astext()}
    if kinds:
        app.bertlab_live_kinds = getattr(app, "bertlab_live_kinds", set()) | kinds
        app.add_js_file("live/live.mjs", type="module")


def _key(*files: Path) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return digest.hexdigest()


def export_models(folder: Path) -> None:
    """shakespeare-mini and the tokenizers, exported again whenever bertlab's model, its export
    code or the shipped weights changed."""
    import bertlab
    from bertlab import web

    package = Path(bertlab.__file__).parent
    key = _key(package / "web.py", package / "model.py", package / "tokenizer.py",
               package / "pretrained" / "shakespeare-mini" / "model.safetensors")
    stamp = folder / "shakespeare-mini.key"
    if stamp.exists() and stamp.read_text() == key:
        return
    logger.info("live explorations: exporting shakespeare-mini to ONNX")
    web.write_site_files(folder)
    stamp.write_text(key)


def refresh_static_files(app) -> None:
    """Sphinx copies html_static_path only when some page was out of date; a change to live.mjs or
    bertlab.css alone would leave the site with the old file. Copy every file that differs."""
    out = Path(app.outdir) / "_static"
    for entry in app.config.html_static_path:
        source = Path(app.confdir, entry)
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            target = out / path.relative_to(source)
            if not target.is_file() or target.read_bytes() != path.read_bytes():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


def copy_files(app, exception) -> None:
    """When the build succeeded: models, tokenizers and the JavaScript runtime into the site."""
    if exception is not None or app.builder.format != "html":
        return
    refresh_static_files(app)
    kinds = getattr(app, "bertlab_live_kinds", set())
    if not kinds:
        return
    folder = site_files(app)
    export_models(folder)
    static = Path(app.outdir) / "_static" / "live"
    node_modules = Path(app.srcdir) / "node_modules"
    files = {}
    for source, name in VENDOR.items():
        path = node_modules / source
        if not path.is_file():
            raise ExtensionError(
                f"live explorations: {path} is missing. Install the book's JavaScript packages "
                "at their locked versions with `npm ci` in the repository (`make book` does it)."
            )
        files[f"vendor/{name}"] = path
    for model in sorted({m for kind in kinds for m in MODELS_OF_KIND[kind]}):
        exported = folder / model
        if not (exported / "tokenizer.json").is_file():
            raise ExtensionError(
                f"live explorations: {exported} has not been exported. The genre classifier is "
                "written by chapter 5 while it executes (bertlab.web.export_genre_classifier); "
                "delete _build/.jupyter_cache and build again."
            )
        for name in SERVED:
            if (exported / name).is_file():
                files[f"models/{model}/{name}"] = exported / name
    for name, path in files.items():
        target = static / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    versions = {name: json.loads((node_modules / name / "package.json").read_text())["version"]
                for name in ("onnxruntime-web", "@huggingface/tokenizers")}
    manifest = {"files": {name: path.stat().st_size for name, path in sorted(files.items())},
                "versions": versions}
    (static / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def setup(app):
    app.add_directive("live-exploration", LiveExploration)
    # After fresh_results (priority 900), which may empty the cache this folder lives in.
    app.connect("builder-inited", set_site_files, priority=950)
    app.connect("html-page-context", add_module)
    app.connect("build-finished", copy_files, priority=400)  # before fresh_results records success
    return {"parallel_read_safe": True, "parallel_write_safe": True}
