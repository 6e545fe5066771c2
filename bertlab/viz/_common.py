"""What the modules of bertlab.viz share: array conversion, colour scales and palettes, and the
encoding of one sentence (or pair) for a model. Nothing here draws."""

from __future__ import annotations

import numpy as np
import torch

# One diverging colour map for every signed quantity (embeddings, similarities): blue < 0 < red.
DIVERGING = "RdBu_r"

# Colours and markers for groups of points or bars (e.g. the senses of a word), in order of first
# appearance.
GROUP_COLORS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568")
GROUP_MARKERS = ("o", "s", "^", "D", "v", "P")


def _numpy(x) -> np.ndarray:
    """A float numpy array from a tensor (any device or dtype, with or without grad) or
    array-like."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def _symmetric_limit(values: np.ndarray, percentile: float = 99.0) -> float:
    """A colour limit v such that [-v, v] covers `percentile`% of |values| (outliers saturate)."""
    v = float(np.percentile(np.abs(values), percentile))
    return v if v > 0 else 1.0


def _encode_for(model, tokenizer, text_a: str, text_b: str | None, max_tokens: int):
    """One sentence (or pair), truncated to max_tokens: the encoding and its (1, T) ids and segment
    ids on the model's device."""
    encoding = tokenizer.encode(text_a, text_b or None, max_length=max_tokens, truncation=True)
    ids = torch.tensor([encoding.input_ids], device=model.device)
    segments = torch.tensor([encoding.token_type_ids], device=model.device)
    return encoding, ids, segments
