"""bertlab: BERT from the inside. A complete, readable PyTorch BERT that computes what real BERT
computes."""

from .config import PRESETS, BertConfig
from .model import (
    BertForMaskedLM,
    BertForPreTraining,
    BertForSequenceClassification,
    BertModel,
    BertOutput,
    MaskedLMOutput,
    PreTrainingOutput,
    SequenceClassifierOutput,
)

__all__ = [
    "BertConfig",
    "PRESETS",
    "BertModel",
    "BertForPreTraining",
    "BertForMaskedLM",
    "BertForSequenceClassification",
    "BertOutput",
    "PreTrainingOutput",
    "MaskedLMOutput",
    "SequenceClassifierOutput",
    "WordPieceTokenizer",
    "fill_mask",
    "next_sentence_probability",
    "shakespeare_bert",
]


def __getattr__(name):
    # The tokenizer pulls in HF tokenizers; import it (and what uses it) only when asked for.
    if name == "WordPieceTokenizer":
        from .tokenizer import WordPieceTokenizer

        return WordPieceTokenizer
    if name in ("fill_mask", "next_sentence_probability", "shakespeare_bert"):
        from . import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'bertlab' has no attribute {name!r}")
