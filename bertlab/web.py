"""The course's BERT in the reader's browser: ONNX exports and tokenizer files for the website.

PyTorch does not run in a web page, but ONNX Runtime Web does, and shakespeare-mini is small enough
(5.5M parameters, about 22 MB in fp32) to load there. `make book` calls `write_site_files` through
book/_ext/live_explorations.py; the pages' JavaScript (book/_static/live/) runs the files it writes:

    shakespeare-mini/model.onnx       MLM and NSP heads, every layer's attention and hidden states
    shakespeare-mini/tokenizer.json   its WordPiece tokenizer, for @huggingface/tokenizers
    bert-base-uncased/tokenizer.json  the vocab of chapters 1 and 2 (all-MiniLM-L6-v2's)
    genre-classifier/model.onnx       chapter 5's fine-tuned classifier (written by that chapter)

The exported graphs compute exactly what bertlab's modules compute, in fp32: they call the same
embeddings, layers and heads; tests/test_web.py compares them with the PyTorch model, and
tests/test_live_book.py compares what the built pages show with it.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn

# Where the book's build collects what a chapter exports while it executes (book/_ext sets it).
SITE_FILES_ENV = "BERTLAB_SITE_FILES"
OPSET = 20


class PretrainingGraph(nn.Module):
    """BertForPreTraining for one unpadded sequence at a time, as the browser runs it.

    Inputs: input_ids, token_type_ids (B, T) int64; predict_at (P,) int64, the positions whose MLM
    logits are wanted (the [MASK]s; any one position when none are). Outputs: mlm_logits (B, P, V),
    nsp_logits (B, 2), attentions (L, B, N, T, T), hidden_states (L + 1, B, T, H).

    Without padding no attention mask is needed, and without `check_inputs` (which reads values
    inside the inputs, a data-dependent branch the exporter cannot trace) the graph exports.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids, predict_at):
        bert = self.model.bert
        x = bert.embeddings(input_ids, token_type_ids)  # (B, T, H)
        hidden_states, attentions = [x], []
        for layer in bert.layers:
            x, probs = layer(x, None, return_probs=True)  # probs (B, N, T, T)
            hidden_states.append(x)
            attentions.append(probs)
        mlm_logits = self.model.mlm(x[:, predict_at], bert.embeddings.token.weight)  # (B, P, V)
        nsp_logits = self.model.nsp(bert.pooler(x))  # (B, 2)
        return mlm_logits, nsp_logits, torch.stack(attentions), torch.stack(hidden_states)


class ClassifierGraph(nn.Module):
    """BertForSequenceClassification for one unpadded sequence: logits (B, num_labels)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, token_type_ids):
        bert = self.model.bert
        x = bert.embeddings(input_ids, token_type_ids)  # (B, T, H)
        for layer in bert.layers:
            x, _ = layer(x, None)
        return self.model.classifier(bert.pooler(x))  # dropout is the identity in eval mode


def _export(graph: nn.Module, example: tuple, names: dict, path: Path) -> Path:
    """torch.onnx.export (the dynamo exporter) with dynamic batch and sequence sizes."""
    import onnx_ir as ir  # installed with onnxscript, which the exporter needs

    batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
    dims = {"input_ids": {0: batch, 1: seq}, "token_type_ids": {0: batch, 1: seq}}
    if "predict_at" in names["inputs"]:
        dims["predict_at"] = {0: torch.export.Dim("predicted", max=512)}
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = graph.model.training
    graph.eval()
    # The exporter reports its progress and its own notices (on stdout, stderr and torch's log);
    # a chapter that exports must write nothing to stderr (the book's build fails on it).
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                example,
                input_names=names["inputs"],
                output_names=names["outputs"],
                dynamic_shapes=dims,
                opset_version=OPSET,
                dynamo=True,
                external_data=False,  # one file: the page fetches one URL per model
                verbose=False,
            )
        # The exporter notes each node's Python stack trace (with this checkout's file paths) and
        # its FX origin; a reader's browser needs none of it, and without it the same model
        # gives the same bytes on every machine.
        for node in ir.traversal.RecursiveGraphIterator(program.model.graph):
            node.metadata_props.clear()
        program.save(str(path))
    finally:
        exporter_log.setLevel(level)
        graph.model.train(was_training)
    return path


def _example_inputs(model, length: int = 12):
    ids = torch.randint(5, model.config.vocab_size, (2, length))
    segments = torch.zeros_like(ids)
    segments[:, length // 2 :] = 1
    return ids, segments


def export_pretraining(model, path: str | Path) -> Path:
    """Write a BertForPreTraining (e.g. shakespeare-mini) as PretrainingGraph, in ONNX."""
    ids, segments = _example_inputs(model)
    names = {
        "inputs": ["input_ids", "token_type_ids", "predict_at"],
        "outputs": ["mlm_logits", "nsp_logits", "attentions", "hidden_states"],
    }
    return _export(
        PretrainingGraph(model), (ids, segments, torch.tensor([1, 4])), names, Path(path)
    )


def export_classifier(model, path: str | Path) -> Path:
    """Write a BertForSequenceClassification as ClassifierGraph, in ONNX."""
    names = {"inputs": ["input_ids", "token_type_ids"], "outputs": ["logits"]}
    return _export(ClassifierGraph(model), _example_inputs(model), names, Path(path))


def save_tokenizer(tokenizer, folder: str | Path) -> Path:
    """Write tokenizer.json (the whole pipeline: normalizer, pre-tokenizer, WordPiece, [CLS]/[SEP]
    template and special tokens) and tokenizer_config.json, which @huggingface/tokenizers reads.

    Truncation and padding are left off: bertlab's tokenizer sets them on each call, and the page
    truncates a long pair itself, as bertlab does ("longest first")."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": tokenizer.lowercase,
        "model_max_length": tokenizer.model_max_length,
        "unk_token": "[UNK]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "clean_up_tokenization_spaces": True,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return folder / "tokenizer.json"


def export_genre_classifier(model, tokenizer, labels, folder: str | Path) -> Path:
    """Chapter 5's fine-tuned classifier for the website: model.onnx, its tokenizer, labels.json,
    and the PyTorch weights it was exported from (model.safetensors, config.json), which the tests
    compare the page with."""
    folder = Path(folder)
    export_classifier(model, folder / "model.onnx")
    save_tokenizer(tokenizer, folder)
    (folder / "labels.json").write_text(json.dumps(list(labels)), encoding="utf-8")
    model.save_pretrained(folder / "pytorch")
    return folder


def site_files_folder() -> Path | None:
    """The folder the book's build collects exports into, or None outside a build."""
    folder = os.environ.get(SITE_FILES_ENV)
    return Path(folder) if folder else None


def write_site_files(folder: str | Path) -> dict[str, int]:
    """Everything the website's explorations load except chapter 5's classifier (which that
    chapter exports while it executes): returns {relative path: size in bytes}."""
    from .model import BertForPreTraining
    from .tokenizer import WordPieceTokenizer

    folder = Path(folder)
    model = BertForPreTraining.from_pretrained("shakespeare-mini")
    export_pretraining(model, folder / "shakespeare-mini" / "model.onnx")
    save_tokenizer(WordPieceTokenizer.from_vocab("shakespeare-mini"), folder / "shakespeare-mini")
    save_tokenizer(WordPieceTokenizer.default(), folder / "bert-base-uncased")
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
