"""Chapter 4's picture of BERT: next sentence prediction, drawn from the model's own tensors.

One row per (A, B) pair, read left to right: the pair's text -> the final vector of [CLS] -> the
pooler (dense + tanh) -> the NSP head's two logits -> softmax, P(IsNext).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ..data import IS_NEXT, NOT_NEXT
from ._common import DIVERGING, _encode_for, _numpy, _symmetric_limit

# The colours of chapter 4's figures: IsNext green, NotNext red.
LABEL_COLORS = {"IsNext": "#2f855a", "NotNext": "#c53030"}
LABEL_NAMES = {IS_NEXT: "IsNext", NOT_NEXT: "NotNext"}
MAX_PAIRS = 4  # rows of the picture; more would not fit a page


def _check_pairs(pairs) -> list[tuple[str, str]]:
    """pairs as a list of (A, B) string pairs, or a ValueError that says what was wrong."""
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise ValueError(
            f"pairs must be a list of (text A, text B) pairs, got {type(pairs).__name__}: {pairs!r}"
        )
    pairs = list(pairs)
    if not 1 <= len(pairs) <= MAX_PAIRS:
        raise ValueError(
            f"pairs must hold 1 to {MAX_PAIRS} (text A, text B) pairs, got {len(pairs)}"
        )
    for i, pair in enumerate(pairs):
        if isinstance(pair, str):
            raise ValueError(
                f"pairs[{i}] is a single text ({pair!r}), not a pair: pass a list of (A, B) "
                "pairs, e.g. [(text_a, text_b)], even for one pair"
            )
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"pairs[{i}] must be a pair of two texts (A, B), got {pair!r}")
        if not all(isinstance(text, str) and text.strip() for text in pair):
            raise ValueError(f"pairs[{i}] must hold two non-empty strings (A, B), got {pair!r}")
    return [(a, b) for a, b in pairs]


def _check_labels(labels, n_pairs: int) -> list[str] | None:
    """labels as names ("IsNext"/"NotNext"), from names or from IS_NEXT / NOT_NEXT."""
    if labels is None:
        return None
    if isinstance(labels, str) or len(labels) != n_pairs:
        raise ValueError(
            f"labels must be None or a list of one label per pair ({n_pairs}), got {labels!r}"
        )
    names = []
    for label in labels:
        if label in LABEL_COLORS:
            names.append(label)
        elif not isinstance(label, bool) and label in LABEL_NAMES:
            names.append(LABEL_NAMES[label])
        else:
            raise ValueError(
                f'each label must be "IsNext", "NotNext", IS_NEXT ({IS_NEXT}) or NOT_NEXT '
                f"({NOT_NEXT}), got {label!r}"
            )
    return names


def _fold(vector: np.ndarray) -> np.ndarray:
    """A vector of H values as a near-square tile, row by row (H = 256 -> 16 x 16); cells
    past the end (when H is not a product of the tile's sides) are NaN and drawn blank."""
    width = math.ceil(math.sqrt(len(vector)))
    height = math.ceil(len(vector) / width)
    tile = np.full(width * height, np.nan)
    tile[: len(vector)] = vector
    return tile.reshape(height, width)


def _clip_lines(text: str, width: int, max_lines: int) -> list[str]:
    """text wrapped to `width` characters, at most `max_lines` lines, "…" where it was cut."""
    lines = textwrap.wrap(" ".join(text.split()), width)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][: width - 1].rstrip() + "…"
    return lines


def _arrow(ax, above: str, below: str = "") -> None:
    """A left-to-right arrow across the (empty) axes `ax`, with the stage's name above it."""
    ax.set_axis_off()
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.annotate(
        "",
        xy=(0.98, 0.5),
        xytext=(0.02, 0.5),
        arrowprops={"arrowstyle": "-|>", "lw": 1.6, "color": "0.35", "mutation_scale": 16},
    )
    ax.text(0.5, 0.58, above, ha="center", va="bottom", fontsize=9, color="0.15")
    if below:
        ax.text(0.5, 0.42, below, ha="center", va="top", fontsize=9, color="0.35")


def _first_values(vector: np.ndarray, n: int = 3) -> str:
    return "first: " + " ".join(f"{v:+.2f}" for v in vector[:n]) + " …"


def draw_next_sentence(
    model,
    tokenizer,
    pairs: Sequence[tuple[str, str]],
    *,
    labels: Sequence[str | int] | None = None,
    max_length: int = 128,
    text_width: int = 36,
) -> Figure:
    """Next sentence prediction, one row per (A, B) pair, from the model's own tensors.

    model: a BertForPreTraining (it needs the pooler and the NSP head `model.nsp`), e.g. from
    `bertlab.shakespeare_bert()`; tokenizer: its tokenizer. pairs: a list of 1 to 4 pairs of
    non-empty texts (A, B). labels: optional, the true answer of each pair ("IsNext"/"NotNext" or
    IS_NEXT/NOT_NEXT), printed beside its text (it does not enter the computation).

    Computed here, for each pair on its own (no padding), in eval mode without gradients (the
    model's training mode is restored): the encoding `[CLS] A [SEP] B [SEP]`, cut to `max_length`
    tokens (longer side first); the encoder's final hidden states; h, the final vector of [CLS]
    (position 0); p = model.bert.pooler(...) = tanh(W_p h + b_p), the pooled vector; the logits
    z = model.nsp(p) (index 0 IsNext, 1 NotNext); P(IsNext) = softmax(z)[0].

    Drawn: the text (each side wrapped to `text_width` characters, two lines at most, "…" where
    cut) and its number of tokens; h and p, all H values folded row by row into a square tile
    (H = 256: 16 x 16), on a diverging scale shared by the rows (h's covers 99% of its values,
    the rest saturate; p's is [-1, 1], tanh's range), with their first three values; the two
    logits as bars; P(IsNext) as a bar against 0.5. The figure is about 10.2 inches wide, so that
    its 9-pt text is 9 px high in the book's 752-px column; returns it.
    """
    pairs = _check_pairs(pairs)
    label_names = _check_labels(labels, len(pairs))
    if not hasattr(model, "nsp") or not hasattr(getattr(model, "bert", None), "pooler"):
        raise ValueError(
            f"{type(model).__name__} has no pooler and next-sentence head: pass a "
            "BertForPreTraining, e.g. the model of bertlab.shakespeare_bert()"
        )
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 5:
        raise ValueError(
            f"max_length must be an int >= 5 (room for A, B and 3 specials), got {max_length!r}"
        )

    rows = []  # per pair: its tensors as numpy arrays
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for text_a, text_b in pairs:
                encoding, ids, segments = _encode_for(model, tokenizer, text_a, text_b, max_length)
                hidden = model.bert(ids, segments).last_hidden_state  # (1, T, H)
                pooled = model.bert.pooler(hidden)  # (1, H): tanh(dense(hidden[:, 0]))
                logits = model.nsp(pooled)  # (1, 2): IsNext, NotNext
                rows.append(
                    {
                        "h_cls": _numpy(hidden[0, 0]),  # (H,)
                        "pooled": _numpy(pooled[0]),  # (H,)
                        "logits": _numpy(logits[0]),  # (2,)
                        "p_is_next": float(logits.float().softmax(dim=-1)[0, IS_NEXT]),
                        "n_tokens": len(encoding.input_ids),
                    }
                )
    finally:
        model.train(was_training)

    hidden_size = len(rows[0]["h_cls"])
    h_limit = _symmetric_limit(np.concatenate([r["h_cls"] for r in rows]))
    z_limit = max(float(np.abs(r["logits"]).max()) for r in rows) * 1.6 or 1.0

    # Columns: text | arrow | h tile | arrow | p tile | arrow | logits | arrow | P(IsNext)
    widths = [2.5, 0.7, 1.25, 0.85, 1.25, 0.85, 1.9, 0.55, 1.15]
    fig, axes = plt.subplots(
        len(pairs),
        len(widths),
        figsize=(10.0, 1.0 + 2.0 * len(pairs)),
        layout="constrained",
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    side = _fold(rows[0]["h_cls"]).shape
    images = {}  # the last row's tiles, for the colour bars: "h_cls", "pooled"
    for i, ((text_a, text_b), row) in enumerate(zip(pairs, rows)):
        ax_text, gap_1, ax_h, gap_2, ax_p, gap_3, ax_z, gap_4, ax_prob = axes[i]

        # The pair as text
        ax_text.set_axis_off()
        lines = []
        if label_names is not None:
            lines.append((f"true: {label_names[i]}", LABEL_COLORS[label_names[i]], "bold"))
        for name, text in (("A", text_a), ("B", text_b)):
            for k, line in enumerate(_clip_lines(text, text_width, 2)):
                lines.append((f"{name + ':' if k == 0 else '  '} {line}", "0.1", "normal"))
        lines.append((f"[CLS] A [SEP] B [SEP]: {row['n_tokens']} tokens", "0.4", "normal"))
        for k, (line, color, weight) in enumerate(lines):
            ax_text.text(
                0.0, 0.92 - k * 0.15, line, transform=ax_text.transAxes, fontsize=9,
                color=color, fontweight=weight, va="top", ha="left",
            )  # fmt: skip

        _arrow(gap_1, "encoder", "[CLS]'s\nfinal vector")

        # h (the final [CLS] vector) and p (the pooled vector), as tiles
        for ax, key, limit in ((ax_h, "h_cls", h_limit), (ax_p, "pooled", 1.0)):
            images[key] = ax.imshow(_fold(row[key]), cmap=DIVERGING, vmin=-limit, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(_first_values(row[key]), fontsize=9)

        _arrow(gap_2, "pooler", "dense + tanh")
        _arrow(gap_3, "NSP head", f"linear\n{hidden_size} → 2")

        # The two logits, as columns from zero
        z = row["logits"]
        ax_z.bar([0, 1], z, color=[LABEL_COLORS["IsNext"], LABEL_COLORS["NotNext"]], width=0.6)
        ax_z.axhline(0, color="0.3", lw=0.8)
        for x, value in enumerate(z):
            ax_z.text(
                x, value + (0.05 if value >= 0 else -0.05) * z_limit, f"{value:+.3f}",
                ha="center", va="bottom" if value >= 0 else "top", fontsize=9,
            )  # fmt: skip
        ax_z.set_xticks([0, 1], ["z₀\nIsNext", "z₁\nNotNext"], fontsize=9)
        ax_z.set(xlim=(-0.55, 1.55), ylim=(-z_limit, z_limit))
        ax_z.tick_params(axis="y", labelsize=9)

        _arrow(gap_4, "softmax")

        # P(IsNext)
        p = row["p_is_next"]
        answer = "IsNext" if p >= 0.5 else "NotNext"
        ax_prob.barh([0], [p], color=LABEL_COLORS[answer], height=0.5, alpha=0.85)
        ax_prob.axvline(0.5, color="0.3", ls="--", lw=1)
        ax_prob.set(xlim=(0, 1), ylim=(-0.6, 0.6), yticks=[])
        ax_prob.set_xticks([0, 0.5, 1], ["0", "0.5", "1"], fontsize=9)
        ax_prob.set_title(f"P(IsNext) = {p:.3f}", fontsize=10)
        ax_prob.set_xlabel(f"model says {answer}", fontsize=9, color=LABEL_COLORS[answer])

    top = axes[0]
    top[0].set_title("the pair (A, B)", fontsize=10, loc="left")
    # The tiles' titles are wider than their columns: raised above the arrows' labels beside them.
    top[2].set_title(
        f"h: [CLS], {hidden_size} values\n({side[0]} × {side[1]})", fontsize=10, pad=16
    )
    top[4].set_title("p = tanh(W h + b)\npooled, in [-1, 1]", fontsize=10, pad=16)
    top[6].set_title("z = W p + b\ntwo logits", fontsize=10)
    for key, column, name in (("h_cls", 2, "h"), ("pooled", 4, "p")):
        colorbar = fig.colorbar(
            images[key], ax=list(axes[:, column]), location="bottom", shrink=0.95
        )
        limit = images[key].norm.vmax  # three ticks, at the ends and 0: more would collide
        colorbar.set_ticks([-limit, 0, limit], labels=[f"{-limit:.2g}", "0", f"{limit:.2g}"])
        colorbar.ax.tick_params(labelsize=9)
        colorbar.set_label(name, fontsize=9)
    return fig
