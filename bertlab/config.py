"""BertConfig: every size and switch of a BERT model, with the names and defaults of HF's
config.json.

The field names are those of Hugging Face's BERT ``config.json``, so a checkpoint folder written by
``transformers`` is read as is, and one written here loads in ``transformers``. The defaults are
bert-base-uncased's.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

# Activations that BERT checkpoints name in config.json. "gelu" is the exact, erf-based GELU (what
# Google's BERT code first computed); "gelu_new" and "gelu_pytorch_tanh" are the tanh approximation
# that Google's code computes today.
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu", "swish")

# config.json keys that HF writes but that change nothing in the computation bertlab does.
_HF_BOOKKEEPING_KEYS = {
    "architectures",
    "model_type",
    "transformers_version",
    "_name_or_path",
    "torch_dtype",
    "dtype",
    "gradient_checkpointing",
    "use_cache",
    "is_decoder",
    "add_cross_attention",
    "chunk_size_feed_forward",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "tie_word_embeddings",
    "problem_type",
    "bos_token_id",
    "eos_token_id",
    "sep_token_id",
    "cls_token_id",
    "directionality",
    "pooler_fc_size",
    "pooler_num_attention_heads",
    "pooler_num_fc_layers",
    "pooler_size_per_head",
    "pooler_type",
    "tokenizer_class",
    "torchscript",
    "pruned_heads",
    "finetuning_task",
    "num_labels",
    "label2id",
}


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    initializer_range: float = 0.02
    # Only used by BertForSequenceClassification. HF stores the labels as id2label; num_labels
    # follows from it. classifier_dropout=None means "use hidden_dropout_prob", as in HF.
    id2label: dict[int, str] = dataclasses.field(
        default_factory=lambda: {0: "LABEL_0", 1: "LABEL_1"}
    )
    classifier_dropout: float | None = None

    def __post_init__(self):
        self.id2label = {int(k): str(v) for k, v in self.id2label.items()}
        self.validate()

    def __repr__(self) -> str:
        return config_repr(self)  # one field per line

    @property
    def num_labels(self) -> int:
        return len(self.id2label)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def validate(self) -> None:
        """Raise a ValueError that says what to change if the config cannot describe a BERT."""
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}.")
        if self.hidden_size % self.num_attention_heads != 0:
            heads = self.num_attention_heads
            nearest_width = heads * max(1, round(self.hidden_size / heads))
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({heads}) so that every head gets the same width; choose "
                f"e.g. num_attention_heads={_a_divisor(self.hidden_size, heads)} or "
                f"hidden_size={nearest_width}."
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act {self.hidden_act!r} is not supported; use one of "
                f"{ACTIVATIONS}."
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}.")
        if self.classifier_dropout is not None and not 0.0 <= self.classifier_dropout < 1.0:
            raise ValueError(
                "BertConfig.classifier_dropout must be None or in [0, 1), got "
                f"{self.classifier_dropout!r}."
            )
        if not self.layer_norm_eps > 0:
            raise ValueError(
                f"BertConfig.layer_norm_eps must be positive, got {self.layer_norm_eps!r}."
            )
        if not self.initializer_range > 0:
            raise ValueError(
                f"BertConfig.initializer_range must be positive, got {self.initializer_range!r}."
            )
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(
                f"BertConfig.pad_token_id ({self.pad_token_id}) must be a token id in [0, "
                f"vocab_size={self.vocab_size})."
            )
        if not self.id2label:
            raise ValueError(
                "BertConfig.id2label must name at least one label, e.g. {0: 'negative', 1: "
                "'positive'}."
            )

    # --- config.json ------------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["id2label"] = {str(k): v for k, v in self.id2label.items()}
        d["label2id"] = {v: k for k, v in self.id2label.items()}
        d["model_type"] = "bert"
        d["position_embedding_type"] = "absolute"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        d = dict(d)
        model_type = d.get("model_type", "bert")
        if model_type != "bert":
            raise ValueError(
                f"This config.json describes a {model_type!r} model, not a BERT (model_type "
                "'bert'); bertlab loads BERT checkpoints only. Point it at a BERT checkpoint "
                "folder."
            )
        position_type = d.pop("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise ValueError(
                f"position_embedding_type {position_type!r} is not supported; bertlab implements "
                "BERT's learned 'absolute' position embeddings."
            )
        if "id2label" not in d and "num_labels" in d:
            d["id2label"] = {i: f"LABEL_{i}" for i in range(int(d["num_labels"]))}
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields - _HF_BOOKKEEPING_KEYS
        if unknown:
            # Unknown keys are kept out rather than guessed at: name them, so a user can see why a
            # checkpoint from a BERT variant may not load the same.
            import warnings

            warnings.warn(f"config.json keys ignored by bertlab: {sorted(unknown)}", stacklevel=2)
        return cls(**{k: v for k, v in d.items() if k in fields})

    def save(self, folder: str | Path, architectures: list[str] | None = None) -> Path:
        """Write ``folder/config.json``; architectures names the model class, as HF records it."""
        path = Path(folder) / "config.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        d = self.to_dict()
        if architectures:
            d["architectures"] = list(architectures)
        path.write_text(json.dumps(d, indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "BertConfig":
        """Read ``config.json``, or the ``config.json`` inside a checkpoint folder."""
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(
                f"No config.json at {path}; a BERT checkpoint folder holds config.json "
                "next to model.safetensors or pytorch_model.bin."
            )
        return cls.from_dict(json.loads(path.read_text()))

    # --- presets ------------------------------------------------------------------------------

    @classmethod
    def preset(cls, name: str, **overrides) -> "BertConfig":
        """A named size: tiny, mini, small, medium (Turc et al. 2019's compact BERTs), base, large.

        Heads are 64 wide and the feed-forward layer is 4x the hidden size, as in the BERT paper.
        Any field can be overridden: ``BertConfig.preset("mini", vocab_size=8000)``.
        """
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {list(PRESETS)}.")
        layers, hidden = PRESETS[name]
        sizes = dict(
            num_hidden_layers=layers,
            hidden_size=hidden,
            num_attention_heads=hidden // 64,
            intermediate_size=4 * hidden,
        )
        return cls(**{**sizes, **overrides})


# name: (num_hidden_layers, hidden_size)
PRESETS = {
    "tiny": (2, 128),
    "mini": (4, 256),
    "small": (4, 512),
    "medium": (8, 512),
    "base": (12, 768),
    "large": (24, 1024),
}


def config_repr(config, width: int = 100) -> str:
    """A config dataclass as the Python that rebuilds it, one field per line, so that a printed
    config fits the book's code column (a dataclass's own repr runs to hundreds of characters):

        BertConfig(
            vocab_size=30522,
            ...
        )

    A value too long for its line (a long path, many labels) is split over lines of its own."""
    lines = [f"{type(config).__name__}("]
    for field in dataclasses.fields(config):
        if field.init and field.repr:
            prefix = f"    {field.name}="
            value = _value_repr(getattr(config, field.name), "    ", len(prefix), width)
            lines.append(f"{prefix}{value},")
    return "\n".join(lines + [")"])


def _value_repr(value, indent: str, column: int, width: int) -> str:
    """repr(value), written from `column` of a line indented by `indent` and followed by a comma.
    Where that passes `width`, a str becomes adjacent literals in parentheses, and a dict, list or
    tuple takes one item per line (each split the same way), one level deeper than `indent`."""
    text = repr(value)
    inner = indent + "    "
    room = width - len(inner) - 1
    fits = column + len(text) + 1 <= width
    if fits or not isinstance(value, (str, dict, list, tuple)) or room < 8:
        return text
    if isinstance(value, str):
        pieces = [""]
        for char in value:  # whole characters, so an escape sequence is never cut
            if pieces[-1] and len(repr(pieces[-1] + char)) > room:
                pieces.append("")
            pieces[-1] += char
        return "(\n" + "".join(f"{inner}{piece!r}\n" for piece in pieces) + f"{indent})"
    if isinstance(value, dict):
        items = [
            f"{inner}{k!r}: {_value_repr(v, inner, len(inner) + len(repr(k)) + 2, width)},"
            for k, v in value.items()
        ]
        brackets = "{}"
    else:
        items = [f"{inner}{_value_repr(v, inner, len(inner), width)}," for v in value]
        brackets = "[]" if isinstance(value, list) else "()"
    return brackets[0] + "\n" + "\n".join(items) + f"\n{indent}{brackets[1]}"


def _a_divisor(hidden_size: int, near: int) -> int:
    divisors = [d for d in range(1, hidden_size + 1) if hidden_size % d == 0]
    return min(divisors, key=lambda d: abs(d - near))
