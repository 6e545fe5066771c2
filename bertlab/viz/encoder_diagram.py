"""Chapter 2's picture of BERT: tokens -> ids -> the encoder's layers -> one vector per token, for
two sentences that share a word, drawn from the model's own hidden states.

The classic picture shows one box labelled "BERT" with one arrow per token going in and one
vector per token coming out. Ours opens the box: every stage (the embedding layer's output, then
each encoder layer's) is a column of vector strips, and the shared word is followed through all
of them in both sentences, with the cosine similarity of its two vectors printed at each stage.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from ._common import DIVERGING, _numpy, _symmetric_limit

# Geometry, in inches: the figure's one axes uses inches as data units (aspect 1), so that these
# sizes are what the reader sees at 100%.
_ROW = 0.19  # height of one token's row
_DIM = 0.027  # width of one number of a vector strip
_GAP = 0.30  # space between columns, where the arrows go
_ID_WIDTH = 0.5
_MAX_WIDTH = 11.5  # the book's widest figure

HIGHLIGHT_EDGE = "#111111"  # outline of the shared word's row in every strip
HIGHLIGHT_FACE = "#fde68a"  # background of the shared word's token and id


def _word_piece(tokenizer, word: str) -> str:
    pieces = tokenizer.tokenize(word)
    if len(pieces) != 1:
        raise ValueError(
            f"word {word!r} must be a single WordPiece token to be followed through the layers; "
            f"it splits into {pieces}. Pick a word that is one token of the vocabulary."
        )
    return pieces[0]


def _position_of(piece: str, tokens: list[str], sentence: str, name: str) -> int:
    if piece not in tokens:
        raise ValueError(
            f"word {piece!r} is not a token of {name} {sentence!r} (its tokens: {tokens}); "
            "both sentences must contain the shared word."
        )
    return tokens.index(piece)


@torch.no_grad()
def draw_contextual_embeddings(
    model,
    tokenizer,
    sentence_a: str,
    sentence_b: str,
    word: str,
    *,
    n_dims: int = 32,
    max_tokens: int = 16,
) -> Figure:
    """Picture 2 of BERT: the same word in two sentences, identical at the input and different
    after the encoder's layers.

    Computed inside: each sentence is encoded on its own as `[CLS] sentence [SEP]` (segment 0, no
    padding) and run through `model` (a `BertModel`) with `output_hidden_states=True`; stage 0 is
    the embedding layer's output, stage l the output of encoder layer l. For every token and
    stage the first `n_dims` numbers of its vector are drawn as a strip, on one symmetric colour
    scale (`DIVERGING`) for the whole figure. `word` (one WordPiece token; its first occurrence
    in each sentence) is outlined in both sentences, and between them the cosine similarity of
    its two full vectors (all H numbers) is printed for every stage. A footnote says which input
    rows the two occurrences share (token id, position, segment).

    Raises ValueError if `word` is not one WordPiece token, is missing from either sentence, or
    a sentence has more than `max_tokens` tokens (the rows would not fit). Returns the figure,
    at most 11.5 inches wide.
    """
    piece = _word_piece(tokenizer, word)
    encodings, hidden = [], []
    for name, sentence in (("sentence_a", sentence_a), ("sentence_b", sentence_b)):
        encoding = tokenizer.encode(sentence, truncation=False)
        if len(encoding) > max_tokens:
            raise ValueError(
                f"{name} has {len(encoding)} tokens, more than max_tokens={max_tokens} rows fit "
                f"in the picture: {sentence!r}. Use a shorter sentence."
            )
        ids = torch.tensor([encoding.input_ids], device=model.device)  # (1, T)
        segments = torch.tensor([encoding.token_type_ids], device=model.device)  # (1, T)
        states = model(ids, segments, output_hidden_states=True).hidden_states  # L + 1 of (1, T, H)
        encodings.append(encoding)
        hidden.append(torch.stack([h[0] for h in states]))  # (L + 1, T, H)
    positions = [
        _position_of(piece, e.tokens, s, n)
        for e, s, n in zip(encodings, (sentence_a, sentence_b), ("sentence_a", "sentence_b"))
    ]
    word_vectors = [h[:, p] for h, p in zip(hidden, positions)]  # 2 of (L + 1, H)
    cosines = F.cosine_similarity(word_vectors[0], word_vectors[1], dim=-1).tolist()  # L + 1
    n_stages, hidden_size = hidden[0].shape[0], hidden[0].shape[-1]
    n_dims = min(n_dims, hidden_size)
    strips = [_numpy(h[:, :, :n_dims]) for h in hidden]  # 2 of (L + 1, T, n_dims)
    limit = _symmetric_limit(np.concatenate([s.reshape(-1) for s in strips]))

    # Columns, left to right: tokens | ids | stage 0 | stage 1 | ... | stage L.
    token_width = max(0.6, 0.085 * max(len(t) for e in encodings for t in e.tokens) + 0.15)
    strip_width = n_dims * _DIM
    x_ids = token_width + _GAP
    x_stages = [x_ids + _ID_WIDTH + _GAP + s * (strip_width + _GAP) for s in range(n_stages)]
    width = x_stages[-1] + strip_width + 0.1
    if width > _MAX_WIDTH - 0.3:
        raise ValueError(
            f"n_dims={n_dims} makes the picture {width:.1f} in wide for {n_stages} stages; "
            f"at most {_MAX_WIDTH} in fit the book. Use a smaller n_dims."
        )

    # Rows, top to bottom (y grows downwards): header, sentence A, cosines, sentence B, footnote.
    lengths = [len(e) for e in encodings]
    y_a = 1.05  # top of sentence A's first row
    y_band = y_a + lengths[0] * _ROW + 0.12
    y_b = y_band + 0.95
    y_note = y_b + lengths[1] * _ROW + 0.15
    height = y_note + 0.55

    fig = plt.figure(figsize=(width + 0.3, height + 1.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlim(-0.05, width)
    ax.set_ylim(height, 0)
    ax.set_aspect("equal")
    ax.axis("off")

    # Header: what each column is; a bracket over the encoder's layers.
    header_y = y_a - 0.32
    ax.text(token_width, header_y, "WordPiece\ntokens", ha="right", va="bottom", fontsize=9)
    ax.text(x_ids + _ID_WIDTH / 2, header_y, "ids", ha="center", va="bottom", fontsize=9)
    for s, x in enumerate(x_stages):
        label = "embedding\nlayer" if s == 0 else f"layer {s}"
        ax.text(x + strip_width / 2, header_y, label, ha="center", va="bottom", fontsize=9)
    bracket_y = header_y - 0.42
    left, right = x_stages[1], x_stages[-1] + strip_width
    ax.plot(
        [left, left, right, right],
        [bracket_y + 0.08, bracket_y, bracket_y, bracket_y + 0.08],
        color="#555555",
        linewidth=1,
    )
    ax.text(
        (left + right) / 2,
        bracket_y - 0.04,
        f"the encoder: {n_stages - 1} layers of self-attention + feed-forward",
        ha="center",
        va="bottom",
        fontsize=9,
        color="#333333",
    )

    image = None
    for k, (encoding, strip, y0, position) in enumerate(
        zip(encodings, strips, (y_a, y_b), positions)
    ):
        T = len(encoding)
        sentence = (sentence_a, sentence_b)[k]
        ax.text(
            -0.02,
            y0 - 0.06,
            f"{'AB'[k]}: “{sentence}”",
            ha="left",
            va="bottom",
            fontsize=9,
            style="italic",
            color="#333333",
        )
        for i, (token, token_id) in enumerate(zip(encoding.tokens, encoding.input_ids)):
            y = y0 + (i + 0.5) * _ROW
            box = None
            if i == position:
                box = {
                    "boxstyle": "round,pad=0.15",
                    "facecolor": HIGHLIGHT_FACE,
                    "edgecolor": "none",
                }
            # The token and its id, in the same style (the shared word highlighted in both).
            weight = "bold" if i == position else "normal"
            style = dict(va="center", fontsize=9, family="monospace", weight=weight, bbox=box)
            ax.text(token_width, y, token, ha="right", **style)
            ax.text(x_ids + _ID_WIDTH / 2, y, str(token_id), ha="center", **style)
        for s, x in enumerate(x_stages):
            image = ax.imshow(
                strip[s],
                cmap=DIVERGING,
                vmin=-limit,
                vmax=limit,
                extent=(x, x + strip_width, y0 + T * _ROW, y0),
                interpolation="nearest",
                aspect="auto",
            )
            ax.add_patch(
                Rectangle(
                    (x, y0 + position * _ROW),
                    strip_width,
                    _ROW,
                    fill=False,
                    edgecolor=HIGHLIGHT_EDGE,
                    linewidth=1.6,
                )
            )
        # The flow: one arrow into every column, at the block's middle.
        middle = y0 + T * _ROW / 2
        starts = [token_width + 0.04, x_ids + _ID_WIDTH] + [x + strip_width for x in x_stages[:-1]]
        ends = [x_ids, x_stages[0]] + x_stages[1:]
        for x_start, x_end in zip(starts, ends):
            ax.add_patch(
                FancyArrowPatch(
                    (x_start + 0.03, middle),
                    (x_end - 0.03, middle),
                    arrowstyle="-|>",
                    mutation_scale=10,
                    color="#444444",
                    linewidth=1.1,
                )
            )

    # Between the sentences, for every stage: the cosine similarity of the word's two vectors
    # (all H numbers), and the difference A - B of the numbers drawn, on the strips' scale.
    y_cos, y_diff = y_band + 0.13, y_band + 0.36
    label_x = x_ids + _ID_WIDTH
    ax.text(
        label_x, y_cos, f"cosine of the two\n“{piece}” vectors", ha="right", va="center", fontsize=9
    )
    ax.text(label_x, y_diff + _ROW / 2, "difference A − B", ha="right", va="center", fontsize=9)
    for s, x in enumerate(x_stages):
        ax.text(
            x + strip_width / 2,
            y_cos,
            f"{cosines[s]:.3f}",
            ha="center",
            va="center",
            fontsize=10,
            weight="bold",
        )
        difference = strips[0][s, positions[0]] - strips[1][s, positions[1]]  # (n_dims,)
        ax.imshow(
            difference[None, :],
            cmap=DIVERGING,
            vmin=-limit,
            vmax=limit,
            extent=(x, x + strip_width, y_diff + _ROW, y_diff),
            interpolation="nearest",
            aspect="auto",
        )
        ax.add_patch(
            Rectangle(
                (x, y_diff), strip_width, _ROW, fill=False, edgecolor="#999999", linewidth=0.8
            )
        )

    # Footnote: what the two occurrences share at the input.
    ids = [e.input_ids[p] for e, p in zip(encodings, positions)]
    segs = [e.token_type_ids[p] for e, p in zip(encodings, positions)]
    if positions[0] == positions[1]:
        same = (
            f"same token id {ids[0]}, same position {positions[0]}, same segment {segs[0]}: "
            "the same three embedding rows, so the same vector at the input"
        )
    else:
        same = (
            f"same token id {ids[0]} and segment {segs[0]}, but positions {positions[0]} and "
            f"{positions[1]}: the position rows differ already at the input"
        )
    after = (
        f"After {n_stages - 1} layers, each of which reads the other words of the sentence: "
        f"cosine {cosines[-1]:.3f}."
    )
    ax.text(
        -0.02, y_note, f"“{piece}” in A and B: {same}.\n{after}", ha="left", va="top", fontsize=9
    )

    colorbar = fig.colorbar(
        image, ax=ax, orientation="horizontal", location="bottom", shrink=0.35, aspect=35, pad=0.01
    )
    colorbar.set_label(
        f"the first {n_dims} of the {hidden_size} numbers of each vector "
        f"(colours saturate beyond ±{limit:.1f})",
        fontsize=9,
    )
    colorbar.ax.tick_params(labelsize=9)
    fig.suptitle(f"One vector per token, stage by stage: “{piece}” in two sentences", fontsize=11)
    return fig
