"""Chapter 3's picture of BERT: masked language modelling, drawn from the model's own tensors.

    fig = viz.draw_masked_lm(model, tokenizer, "O Romeo, Romeo! wherefore [MASK] thou Romeo?",
                             answers=["art"])

Top to bottom: the masked sentence as the model reads it (token chips with their ids), the
encoder, the last hidden vector of every position (each folded into a small heatmap tile), the
MLM head that only the [MASK] positions flow into, and the head's most probable tokens at each
[MASK], with the true token marked. Every number in the picture is computed here from the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ._common import DIVERGING, _encode_for, _numpy, _symmetric_limit
from .predictions import ANSWER_COLOR, OTHER_COLOR

# The picture is laid out by hand in inches (one axes over the whole figure, with x and y in
# inches), because its stages line up with each token: constrained layout would move them apart.
# The book's column is 752 px in an 800-px window: a picture at most this wide (inches at dpi 100,
# with Jupyter's 0.1-inch margins) keeps its 9-pt text 9 px high on screen.
MAX_FIGURE_WIDTH = 10.2
MIN_CONTENT_WIDTH = 7.4  # room for the head's two lines of text
SLOT_WIDTH = 2.8  # a prediction chart with its token labels and probabilities
LABEL_COLUMN = 1.45  # the stage names on the left
RIGHT_MARGIN = 0.15
CHAR_WIDTH = 0.0755  # inches per character of 9-pt DejaVu Sans Mono (0.602 em)
CHIP_PAD, CHIP_GAP, CHIP_MIN = 0.14, 0.07, 0.46
TILE = 0.40  # side of a hidden vector's tile
BAR_ROW = 0.25  # inches per bar of the prediction charts
MASK_FILL, SPECIAL_FILL = "#f6ad55", "#e2e8f0"  # the chapter's colours for [MASK] and [CLS]/[SEP]
GREY = "0.55"


def _fold(vector: np.ndarray) -> np.ndarray:
    """A (H,) vector as a near-square (rows, H // rows) tile: 256 -> 16 x 16, 768 -> 24 x 32."""
    size = vector.shape[0]
    rows = max(r for r in range(1, math.isqrt(size) + 1) if size % r == 0)
    return vector.reshape(rows, size // rows)


def _masked_lm_tensors(model, tokenizer, text: str, answers, top_k: int, max_masks: int):
    """Encode text, run the encoder and the MLM head at the [MASK]s. Returns the tokens, ids,
    [MASK] positions, last hidden states (T, H), probabilities (M, V) and the answers' ids."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str with [MASK] in it, got {type(text).__name__}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 10:
        raise ValueError(f"top_k must be an int from 1 to 10 (bars per [MASK]), got {top_k!r}")
    encoding, ids, segments = _encode_for(
        model, tokenizer, text, None, max_tokens=model.config.max_position_embeddings
    )
    positions = [i for i, t in enumerate(encoding.input_ids) if t == tokenizer.mask_token_id]
    if not positions:
        raise ValueError(
            f"draw_masked_lm needs at least one [MASK] in the text, got {text!r}; "
            "write e.g. 'O Romeo, Romeo! wherefore [MASK] thou Romeo?'"
        )
    if len(positions) > max_masks:
        raise ValueError(
            f"the text has {len(positions)} [MASK]s, too many to draw: the picture has room for "
            f"at most {max_masks} prediction charts; hide fewer tokens"
        )
    answer_ids = None
    if answers is not None:
        answers = [answers] if isinstance(answers, str) else list(answers)
        if len(answers) != len(positions):
            raise ValueError(
                f"answers gives {len(answers)} tokens for {len(positions)} [MASK]s in {text!r}; "
                "give one true token per [MASK], left to right"
            )
        vocab = tokenizer.vocab
        unknown = [a for a in answers if not isinstance(a, str) or a not in vocab]
        if unknown:
            raise ValueError(
                f"answers {unknown} are not tokens of the vocabulary: each answer must be one "
                "WordPiece token, as tokenizer.tokenize gives it "
                f"(e.g. {tokenizer.tokenize('Art')})"
            )
        answer_ids = [vocab[a] for a in answers]

    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.bert(ids, segments, torch.ones_like(ids))
        hidden = out.last_hidden_state[0]  # (T, H)
        # The head runs at the [MASK] positions only, as in training (predict_masked_only=True).
        logits = model.mlm(hidden[positions], model.bert.embeddings.token.weight)  # (M, V)
        probabilities = logits.float().softmax(dim=-1)  # (M, V)
    model.train(was_training)
    return encoding.tokens, encoding.input_ids, positions, hidden, probabilities, answer_ids


def _arrow(ax, start, end, color, width):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=9,
            color=color,
            linewidth=width,
            shrinkA=0,
            shrinkB=0,
        )
    )


def _box(ax, x0, x1, y0, y1, text, facecolor):
    ax.add_patch(
        FancyBboxPatch(
            (x0, y0),
            x1 - x0,
            y1 - y0,
            boxstyle="round,pad=0,rounding_size=0.08",
            facecolor=facecolor,
            edgecolor="0.35",
            linewidth=0.8,
        )
    )
    ax.text((x0 + x1) / 2, (y0 + y1) / 2, text, ha="center", va="center", fontsize=9)


def draw_masked_lm(
    model,
    tokenizer,
    text: str,
    answers: Sequence[str] | str | None = None,
    *,
    top_k: int = 5,
    max_masks: int = 4,
) -> Figure:
    """BERT's masked language model on one real sentence, drawn from the model's own tensors.

    model: a BertForPreTraining or BertForMaskedLM (anything with `.bert` and an `.mlm` head), e.g.
    `bertlab.shakespeare_bert()`; tokenizer: its WordPieceTokenizer.
    text: one sentence with 1 to `max_masks` [MASK]s, e.g. "Good [MASK], my lord."
    answers: optional, the true token behind each [MASK], left to right (one WordPiece token
    each); its bar is orange, and the chart's header gives its rank, probability and loss.

    Computed here, with the model in eval mode and no gradient: the encoding of text ([CLS] text
    [SEP]), the encoder's last hidden states `model.bert(...).last_hidden_state` (T, H), and the MLM
    head `model.mlm` run at the [MASK] positions only, on the tied token-embedding matrix, then a
    softmax over the vocabulary: the same numbers as `bertlab.fill_mask`. Drawn: the token chips
    with their ids; every position's hidden vector folded into a tile (one symmetric colour scale
    `DIVERGING` for the row), greyed where no prediction is made; arrows into the head from the
    [MASK] positions only; and the `top_k` most probable tokens at each [MASK] with their
    probabilities. Raises ValueError for a text without [MASK], with more than `max_masks`, or too
    long to draw (about 15 short tokens fit). Returns the Figure (at most 10.2 in wide).
    """
    tokens, ids, positions, hidden, probabilities, answer_ids = _masked_lm_tensors(
        model, tokenizer, text, answers, top_k, max_masks
    )

    # Token chips, left to right after the stage names; the figure is as wide as its content.
    chip_widths = [max(CHIP_MIN, len(t) * CHAR_WIDTH + CHIP_PAD) for t in tokens]
    row_width = sum(chip_widths) + CHIP_GAP * (len(tokens) - 1)
    space_left = LABEL_COLUMN + 0.1
    room = MAX_FIGURE_WIDTH - space_left - RIGHT_MARGIN
    if row_width > room:
        raise ValueError(
            f"the text is too long for the picture: its {len(tokens)} tokens need "
            f"{row_width:.1f} in, the picture has {room:.1f} in; "
            f"use a shorter sentence (about {int(room // 0.6)} tokens of a few letters fit)"
        )
    n_masks = len(positions)
    content_width = min(room, max(row_width, SLOT_WIDTH * n_masks, MIN_CONTENT_WIDTH))
    figure_width = space_left + content_width + RIGHT_MARGIN
    x = space_left + (content_width - row_width) / 2
    centres = []
    for width in chip_widths:
        centres.append(x + width / 2)
        x += width + CHIP_GAP

    # Heights, from the top down (inches below the top edge).
    chip_top, chip_h = 0.15, 0.38
    id_y = chip_top + chip_h + 0.13
    encoder_top, encoder_h = 0.98, 0.38
    tile_top = encoder_top + encoder_h + 0.2
    head_top, head_h = tile_top + TILE + 0.42, 0.52
    header_top = head_top + head_h + 0.5
    bars_top = header_top + 0.5
    bars_h = BAR_ROW * top_k
    height = bars_top + bars_h + 0.45
    fig = plt.figure(figsize=(figure_width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()

    def y(inches_from_top: float) -> float:
        return height - inches_from_top

    # Stage names.
    stages = [
        (chip_top + chip_h / 2 + 0.08, "masked input\n(token ids below)"),
        (encoder_top + encoder_h / 2, "encoder"),
        (tile_top + TILE / 2, f"last hidden vector\nh ({hidden.shape[1]} numbers)"),
        (head_top + head_h / 2, "MLM head"),
        (bars_top + bars_h / 2 - 0.2, f"top {top_k} tokens\nat each [MASK]"),
    ]
    for top, name in stages:
        ax.text(0.15, y(top), name, ha="left", va="center", fontsize=9, style="italic", color="0.3")

    # 1. The masked input, and every token into the encoder (unmasked tokens are the context).
    is_mask = set(positions)
    special_ids = set(tokenizer.all_special_ids) - {tokenizer.mask_token_id}
    for i, (token, token_id, cx, width) in enumerate(zip(tokens, ids, centres, chip_widths)):
        fill = MASK_FILL if i in is_mask else SPECIAL_FILL if token_id in special_ids else "white"
        ax.add_patch(
            FancyBboxPatch(
                (cx - width / 2, y(chip_top + chip_h)),
                width,
                chip_h,
                boxstyle="round,pad=0,rounding_size=0.06",
                facecolor=fill,
                edgecolor="0.35",
                linewidth=0.7,
            )
        )
        ax.text(
            cx,
            y(chip_top + chip_h / 2),
            token,
            ha="center",
            va="center",
            fontsize=9,
            family="monospace",
            weight="bold" if i in is_mask else "normal",
        )
        ax.text(cx, y(id_y), str(token_id), ha="center", va="center", fontsize=9, color="0.35")
        _arrow(ax, (cx, y(id_y + 0.12)), (cx, y(encoder_top)), "0.45", 0.7)

    config = model.config
    _box(
        ax,
        space_left,
        space_left + content_width,
        y(encoder_top + encoder_h),
        y(encoder_top),
        f"embeddings + {config.num_hidden_layers} encoder layers: "
        "every position attends to every other, on both sides",
        "#edf2f7",
    )

    # 2. The last hidden vector of every position; only the [MASK]s' go on.
    limit = _symmetric_limit(_numpy(hidden))
    for i, cx in enumerate(centres):
        asked = i in is_mask
        _arrow(
            ax,
            (cx, y(encoder_top + encoder_h)),
            (cx, y(tile_top)),
            "0.3" if asked else "0.7",
            0.9 if asked else 0.6,
        )
        ax.imshow(
            _fold(_numpy(hidden[i])),
            cmap=DIVERGING,
            vmin=-limit,
            vmax=limit,
            extent=(cx - TILE / 2, cx + TILE / 2, y(tile_top + TILE), y(tile_top)),
            aspect="auto",
            interpolation="nearest",
            alpha=1.0 if asked else 0.22,
            zorder=2,
        )
        ax.add_patch(
            FancyBboxPatch(
                (cx - TILE / 2, y(tile_top + TILE)),
                TILE,
                TILE,
                boxstyle="square,pad=0",
                facecolor="none",
                edgecolor=ANSWER_COLOR if asked else "0.8",
                linewidth=1.6 if asked else 0.6,
                zorder=3,
            )
        )
        if asked:
            _arrow(ax, (cx, y(tile_top + TILE)), (cx, y(head_top)), ANSWER_COLOR, 1.6)
    if len(positions) < len(tokens):  # a note under the stage name, where no arrow passes
        ax.text(
            0.15,
            y(tile_top + TILE + 0.12),
            "grey: no prediction,\nno loss",
            ha="left",
            va="top",
            fontsize=9,
            color=GREY,
            style="italic",
        )

    vocab_size = probabilities.shape[1]
    hidden_size = hidden.shape[1]
    head_text = (
        f"the same head at every [MASK]: dense {hidden_size}→{hidden_size}, GELU, LayerNorm; "
        f"then\neach token's score = its input embedding · that vector + a bias (tied weights); "
        f"softmax over {vocab_size:,} tokens"
    )
    _box(
        ax,
        space_left,
        space_left + content_width,
        y(head_top + head_h),
        y(head_top),
        head_text,
        "#fefcbf",
    )

    # 3. One chart per [MASK]: the top_k tokens, the true one orange.
    slot_width = min(SLOT_WIDTH, content_width / n_masks)
    slots_left = space_left + (content_width - slot_width * n_masks) / 2
    shown_max = float(probabilities.topk(top_k, dim=-1).values.max())
    label_room, value_room = 0.95, 0.45
    for m, position in enumerate(positions):
        slot_centre = slots_left + slot_width * (m + 0.5)
        _arrow(
            ax,
            (centres[position], y(head_top + head_h)),
            (slot_centre, y(header_top)),
            ANSWER_COLOR,
            1.4,
        )
        top = probabilities[m].topk(top_k)
        header = f"[MASK] at position {position}"
        if answer_ids is not None:
            answer_id = answer_ids[m]
            p_answer = float(probabilities[m, answer_id])
            rank = int((probabilities[m] > probabilities[m, answer_id]).sum()) + 1
            header += (
                f": true '{tokenizer.convert_ids_to_tokens(answer_id)}'\n"
                f"rank {rank}, p = {p_answer:.3f}, loss −ln p = {-math.log(p_answer):.2f}"
            )
        ax.text(
            slot_centre,
            y(header_top + 0.03),
            header,
            ha="center",
            va="top",
            fontsize=9,
            color="black",
        )

        chart = fig.add_axes(
            (
                (slot_centre - slot_width / 2 + label_room) / figure_width,
                y(bars_top + bars_h) / height,
                (slot_width - label_room - value_room - 0.1) / figure_width,
                bars_h / height,
            )
        )
        top_ids = top.indices.tolist()
        is_answer = [answer_ids is not None and i == answer_ids[m] for i in top_ids]
        chart.barh(
            range(top_k),
            top.values.tolist(),
            height=0.7,
            color=[ANSWER_COLOR if a else OTHER_COLOR for a in is_answer],
        )
        labels = [_short(t) for t in tokenizer.convert_ids_to_tokens(top_ids)]
        chart.set_yticks(range(top_k), labels, family="monospace", fontsize=9)
        for tick, a in zip(chart.get_yticklabels(), is_answer):
            if a:
                tick.set_color(ANSWER_COLOR)
                tick.set_fontweight("bold")
        for row, p in enumerate(top.values.tolist()):
            chart.text(p + shown_max * 0.03, row, f"{p:.3f}", va="center", fontsize=9)
        chart.set_xlim(0, shown_max * 1.05)
        chart.set_ylim(top_k - 0.5, -0.5)  # best at the top
        chart.set_xticks([])
        chart.tick_params(axis="y", length=0)
        for side in ("top", "right", "bottom"):
            chart.spines[side].set_visible(False)

    ax.set_xlim(0, figure_width)
    ax.set_ylim(0, height)
    return fig


def _short(token: str, limit: int = 11) -> str:
    return token if len(token) <= limit else token[: limit - 1] + "…"
