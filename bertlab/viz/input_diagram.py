"""Chapter 1's picture of BERT: the input embeddings of a sentence pair, drawn from real tensors.

It is the BERT paper's Figure 2 (token + segment + position embeddings, one column per token),
with two more stages, the sum and its LayerNorm, and with every vector the model's own: each
tile is a whole `hidden_size` vector folded into a small rectangle, coloured on one symmetric
scale per stage, and labelled with the real token id, segment id, position id or spread.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ._common import DIVERGING, _numpy, _symmetric_limit

# Geometry, in inches. Twelve token columns and the label column make a picture 10.4 inches wide
# with Jupyter's 0.1-inch margins: at most as wide as 9-pt text allows, so that its smallest text is
# still 9 px on screen when an 800-px window shrinks the picture to the column's 752 px. More
# tokens would make the columns too narrow to read.
LABEL_WIDTH = 1.85
COLUMN_WIDTH = 0.69
TILE_WIDTH = 0.61
MAX_TOKENS = 12
# The stages, top to bottom: (key, row label, what the colour scale is taken over).
STAGES = (
    ("token", "token embedding\n(row = token id)"),
    ("segment", "segment embedding\n(row = segment id)"),
    ("position", "position embedding\n(row = position id)"),
    ("sum", "sum\n(σ: spread of the vector)"),
    ("output", "after LayerNorm\n= input of layer 1"),
)
SEGMENT_NAMES = ("A", "B")


def _tile_shape(hidden_size: int) -> tuple[int, int]:
    """(rows, columns) to fold a vector into a tile about 1.5 times as wide as high:
    384 -> (16, 24)."""
    target = math.sqrt(1.5 * hidden_size)
    columns = min(
        (c for c in range(1, hidden_size + 1) if hidden_size % c == 0),
        key=lambda c: abs(c - target),
    )
    return hidden_size // columns, columns


def _embedding_module(model):
    """The Embeddings module of a BertModel (or of a model that holds one as `.bert`), or the
    module itself."""
    for candidate in (model, getattr(model, "bert", None)):
        if candidate is None:
            continue
        if hasattr(candidate, "embeddings"):
            return candidate.embeddings
        if all(hasattr(candidate, part) for part in ("token", "segment", "position", "norm")):
            return candidate
    raise TypeError(
        f"expected a bertlab BertModel or its Embeddings module, got {type(model).__name__}; "
        "pass `encoder` or `encoder.embeddings`"
    )


@torch.no_grad()
def input_embedding_stages(model, tokenizer, text_a: str, text_b: str | None = None):
    """The encoding of the pair and its five stages, each a (T, H) numpy array, as the picture
    draws them: token, segment and position rows looked up in the model's own tables, their sum,
    and `embeddings.norm(sum)`, the LayerNorm output (what `embeddings(ids, segments)` returns
    in eval mode, where dropout does nothing). Raises ValueError for more than MAX_TOKENS tokens.
    """
    embeddings = _embedding_module(model)
    encoding = tokenizer.encode(text_a, text_b or None, truncation=False)
    T = len(encoding.tokens)
    if T > MAX_TOKENS:
        raise ValueError(
            f"the pair has {T} tokens ({' '.join(encoding.tokens)}), but the picture has room for "
            f"{MAX_TOKENS} columns at most; use shorter sentences, or "
            "viz.plot_embedding_rows for longer inputs"
        )
    device = embeddings.token.weight.device
    ids = torch.tensor(encoding.input_ids, device=device)  # (T,)
    segments = torch.tensor(encoding.token_type_ids, device=device)  # (T,)
    positions = torch.arange(T, device=device)  # (T,)
    token = embeddings.token(ids)  # (T, H)
    segment = embeddings.segment(segments)  # (T, H)
    position = embeddings.position(positions)  # (T, H)
    summed = token + segment + position  # (T, H)
    output = embeddings.norm(summed)  # (T, H), before dropout
    stages = {"token": token, "segment": segment, "position": position, "sum": summed}
    stages["output"] = output
    return encoding, {name: _numpy(x) for name, x in stages.items()}


def _spread(vector: np.ndarray) -> float:
    return float(vector.std())  # the biased std over the features, as LayerNorm divides by


def draw_input_embeddings(model, tokenizer, text_a: str, text_b: str | None = None) -> Figure:
    """The BERT paper's Figure 2 for a real sentence pair, computed with `model`'s embedding layer.

    model: a bertlab BertModel or its `.embeddings`; tokenizer: a bertlab WordPieceTokenizer.
    Computed inside (see `input_embedding_stages`): the WordPiece encoding of
    `[CLS] text_a [SEP] text_b [SEP]`, and for each token its row of the token table (labelled
    with the token id), of the segment table (E_A for segment id 0, E_B for 1) and of the position
    table (E_position), their sum (labelled with its spread σ, the std of its features), and the
    LayerNorm of the sum (labelled with its σ). Each tile is the whole vector, features 0, 1, 2,
    ... laid out row by row; each stage has one colour scale for all its tiles (±v written at its
    label, values beyond v saturate), red positive, blue negative.

    At most MAX_TOKENS (12) tokens fit the picture's 10.4-inch width: a longer pair raises
    ValueError. Returns the Figure (every tile's image has gid "stage:position", for tests).
    """
    encoding, stages = input_embedding_stages(model, tokenizer, text_a, text_b)
    T = len(encoding.tokens)
    hidden_size = stages["token"].shape[1]
    tile_rows, tile_columns = _tile_shape(hidden_size)
    tile_height = TILE_WIDTH * tile_rows / tile_columns
    row_height = tile_height + 0.64  # the tile, its label and the gap with the next stage's sign

    header = 0.85  # segment brackets and token names
    width = LABEL_WIDTH + COLUMN_WIDTH * T + 0.1
    height = header + row_height * len(STAGES) - 0.3
    fig = plt.figure(figsize=(width, height))
    # One axes over the whole figure, in inches from the top left: every element is placed by hand.
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()

    def column_center(i: int) -> float:
        return LABEL_WIDTH + COLUMN_WIDTH * (i + 0.5)

    # Header: which sentence each token belongs to, then the tokens themselves.
    for segment_id, name in enumerate(SEGMENT_NAMES):
        columns = [i for i, s in enumerate(encoding.token_type_ids) if s == segment_id]
        if not columns:
            continue
        left = column_center(columns[0]) - COLUMN_WIDTH / 2 + 0.06
        right = column_center(columns[-1]) + COLUMN_WIDTH / 2 - 0.06
        ax.plot([left, left, right, right], [0.36, 0.26, 0.26, 0.36], color="#4a5568", lw=1)
        ax.text(
            (left + right) / 2,
            0.2,
            f"sentence {name} (segment id {segment_id})",
            ha="center",
            va="bottom",
            fontsize=9,
            color="#4a5568",
        )
    for i, token in enumerate(encoding.tokens):
        special = token.startswith("[") and token.endswith("]")
        ax.text(
            column_center(i),
            0.6,
            token,
            ha="center",
            va="center",
            fontsize=9.5,
            family="monospace",
            fontweight="bold",
            color="#6b46c1" if special else "black",
        )
    ax.text(0.1, 0.6, "input tokens", ha="left", va="center", fontsize=10, fontweight="bold")
    ax.text(
        0.1,
        0.08,
        f"each tile: one vector,\nits {hidden_size} features in {tile_rows} × {tile_columns}",
        ha="left",
        va="top",
        fontsize=9,
        color="#4a5568",
    )

    b_start = encoding.token_type_ids.index(1) if 1 in encoding.token_type_ids else None
    for row, (stage, label) in enumerate(STAGES):
        values = stages[stage]
        limit = _symmetric_limit(values)
        top = header + row * row_height
        ax.text(
            0.1, top + tile_height / 2, label, ha="left", va="center", fontsize=9, linespacing=1.3
        )
        ax.text(
            0.1,
            top + tile_height + 0.2,
            f"blue −{limit:.2g} … red +{limit:.2g}",
            ha="left",
            va="center",
            fontsize=9,
            color="#4a5568",
        )
        for i in range(T):
            left = column_center(i) - TILE_WIDTH / 2
            tile = values[i].reshape(tile_rows, tile_columns)  # features row by row
            image = ax.imshow(
                tile,
                cmap=DIVERGING,
                vmin=-limit,
                vmax=limit,
                aspect="auto",
                interpolation="nearest",
                extent=(left, left + TILE_WIDTH, top + tile_height, top),
            )
            image.set_gid(f"{stage}:{i}")
            ax.add_patch(
                plt.Rectangle(
                    (left, top), TILE_WIDTH, tile_height, fill=False, lw=0.6, color="#4a5568"
                )
            )
            ax.text(
                column_center(i),
                top + tile_height + 0.13,
                _tile_label(stage, i, encoding, values[i]),
                ha="center",
                va="center",
                fontsize=9,
                family="monospace",
            )
        # What joins this stage to the next: "+" between the three lookups, "=" before the sum,
        # and an arrow for LayerNorm.
        if row < len(STAGES) - 1:
            y = top + tile_height + 0.44
            if stage == "sum":
                ax.text(
                    0.1,
                    y,
                    "LayerNorm",
                    ha="left",
                    va="center",
                    fontsize=9,
                    fontweight="bold",
                    color="#2b6cb0",
                )
            for i in range(T):
                x = column_center(i)
                if stage == "sum":
                    ax.annotate(
                        "",
                        xy=(x, y + 0.2),
                        xytext=(x, y - 0.18),
                        arrowprops=dict(arrowstyle="-|>", color="#2b6cb0", lw=1.2),
                    )
                else:
                    sign = "=" if stage == "position" else "+"
                    ax.text(
                        x,
                        y,
                        sign,
                        ha="center",
                        va="center",
                        fontsize=12,
                        fontweight="bold",
                        color="#4a5568",
                    )
    if b_start is not None:  # where sentence B starts, through every stage
        x = LABEL_WIDTH + COLUMN_WIDTH * b_start
        ax.plot([x, x], [0.4, height - 0.05], color="#a0aec0", lw=1, ls="--")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    return fig


def _tile_label(stage: str, i: int, encoding, vector: np.ndarray) -> str:
    """The real number that selects or describes tile i of a stage."""
    if stage == "token":
        return str(encoding.input_ids[i])
    if stage == "segment":
        segment_id = encoding.token_type_ids[i]
        return f"$E_{SEGMENT_NAMES[segment_id]}$ ({segment_id})"
    if stage == "position":
        return f"$E_{{{i}}}$"
    return f"σ {_spread(vector):.3f}"
