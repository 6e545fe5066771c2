"""Figures and the widget of chapter 1 (input embeddings): embedding rows as heatmaps, similarity
matrices, one value per position, and what the embedding layer makes of a sentence (or pair).

matplotlib is imported with this module, ipywidgets only inside `embedding_explorer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ._common import DIVERGING, _encode_for, _numpy, _symmetric_limit
from .tables import encoding_table


def token_labels(tokens: Sequence[str], ids: Sequence[int] | None = None) -> list[str]:
    """Axis labels "position  token" (and "id" when ids are given): " 3  ##kka 15714"."""
    # Pad, so that the columns line up in a monospace font.
    width = max((len(t) for t in tokens), default=0)
    if ids is None:
        return [f"{i:>2}  {t:<{width}}" for i, t in enumerate(tokens)]
    return [f"{i:>2}  {t:<{width}} {int(n):>5}" for i, (t, n) in enumerate(zip(tokens, ids))]


# The book shows figures at most as wide as its column: 752 px in an 800-px window. A figure this
# wide (inches at dpi 100) is shrunk to about 73%, which leaves its 9-pt text 9 px high on screen.
MAX_FIGURE_WIDTH = 10.3


def plot_embedding_rows(
    rows: Mapping[str, torch.Tensor],
    tokens: Sequence[str],
    *,
    dims: int = 48,
    segment_ids: Sequence[int] | None = None,
    title: str | None = None,
    cell_height: float = 0.26,
    panel_width: float = 1.95,
) -> Figure:
    """Heatmaps side by side, one per named (T, H) tensor, of its first `dims` features.

    rows: e.g. {"token": (T, H), "segment": (T, H), "position": (T, H), "sum": (T, H)}; all share
    the token axis, labelled with `tokens`. Each panel gets its own symmetric colour scale (their
    magnitudes differ a lot, e.g. before and after LayerNorm) and its own colour bar.
    segment_ids: draws a line where sentence B starts.
    panel_width: inches per panel; narrowed so that the figure is at most MAX_FIGURE_WIDTH wide.
    """
    names = list(rows)
    arrays = [_numpy(rows[n]) for n in names]
    T = len(tokens)
    for name, a in zip(names, arrays):
        if a.ndim != 2 or a.shape[0] != T:
            raise ValueError(
                f"rows[{name!r}] has shape {a.shape}, expected (T, H) with T = len(tokens) = {T}"
            )
    dims = min(dims, min(a.shape[1] for a in arrays))
    labels = token_labels(tokens)
    # The row labels' column: about 0.075 inch per 9-pt monospace character, plus the ticks.
    label_width = 0.3 + 0.075 * max((len(t) for t in labels), default=0)
    panel_width = min(panel_width, (MAX_FIGURE_WIDTH - label_width) / len(names))
    height = max(3.0, cell_height * T + 1.6)
    fig, axes = plt.subplots(
        1,
        len(names),
        figsize=(label_width + panel_width * len(names), height),
        sharey=True,
        layout="constrained",
    )
    axes = np.atleast_1d(axes)
    boundary = None
    if segment_ids is not None and 1 in list(segment_ids):
        boundary = list(segment_ids).index(1) - 0.5
    for ax, name, a in zip(axes, names, arrays):
        v = _symmetric_limit(a[:, :dims])
        im = ax.imshow(
            a[:, :dims], aspect="auto", cmap=DIVERGING, vmin=-v, vmax=v, interpolation="nearest"
        )
        ax.set_title(name, fontsize=11)
        ax.set_xlabel(f"feature (first {dims} of {a.shape[1]})", fontsize=9)
        ax.set_xticks(range(0, dims, 16))
        ax.tick_params(labelsize=9)
        if boundary is not None:
            ax.axhline(boundary, color="black", linewidth=1.2)
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02, aspect=20)
        cb.set_ticks([-v, 0, v], labels=[f"{-v:.2g}", "0", f"{v:.2g}"])  # three ticks fit a panel
        cb.ax.tick_params(labelsize=9)
    axes[0].set_yticks(range(T))
    axes[0].set_yticklabels(labels, fontsize=9, family="monospace")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_similarity_matrix(
    matrix: torch.Tensor,
    labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
    ax=None,
    vmin: float = -1.0,
    vmax: float = 1.0,
    colorbar_label: str = "cosine similarity",
    tick_step: int | None = None,
    cmap: str = DIVERGING,
    group_sizes: Sequence[int] | None = None,
) -> Figure:
    """An (N, N) similarity matrix as a heatmap.

    labels: one per row/column (shown when given, e.g. words); otherwise indices every
    `tick_step`. group_sizes: draws separating lines between consecutive groups of rows/columns.
    cmap: a matplotlib colour map; the default diverging one puts white at 0 when vmin = -vmax.
    Draws into `ax` when given (returns its figure), else into a new figure.
    """
    m = _numpy(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square (N, N), got shape {m.shape}")
    n = m.shape[0]
    if ax is None:
        size = 6.0 if labels is None else max(5.0, 0.22 * n + 2.0)
        fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    else:
        fig = ax.figure
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label=colorbar_label)
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for a {n} x {n} matrix")
        ax.set_xticks(range(n))
        ax.set_xticklabels(labels, rotation=90, fontsize=9)
        ax.set_yticks(range(n))
        ax.set_yticklabels(labels, fontsize=9)
    elif tick_step:
        ticks = list(range(0, n, tick_step))
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
    if group_sizes:
        for edge in np.cumsum(group_sizes)[:-1]:
            ax.axhline(edge - 0.5, color="black", linewidth=0.8)
            ax.axvline(edge - 0.5, color="black", linewidth=0.8)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def plot_values_by_index(
    values: torch.Tensor,
    *,
    xlabel: str = "position",
    ylabel: str = "L2 norm",
    title: str | None = None,
    marks: Mapping[int, str] | None = None,
    ax=None,
    start: int = 0,
) -> Figure:
    """A line plot of one value per index (e.g. the norm of each position's embedding), with
    optional annotated indices `marks` {index: "what it is"}. The first value is index `start`."""
    y = _numpy(values).reshape(-1)
    x = np.arange(start, start + len(y))
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
    else:
        fig = ax.figure
    ax.plot(x, y, linewidth=1.2, color="#2b6cb0")
    for i, text in (marks or {}).items():
        ax.plot([i], [y[i - start]], "o", color="#c53030", markersize=5)
        right_side = i - start > 0.85 * len(
            y
        )  # write labels near the right edge to the left of their point
        ax.annotate(
            text,
            (i, y[i - start]),
            xytext=(-8 if right_side else 8, -3),
            textcoords="offset points",
            ha="right" if right_side else "left",
            va="top",
            fontsize=9,
            color="#c53030",
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    pad = max(1, len(y) // 100)
    ax.set_xlim(start - pad, start + len(y) - 1 + pad)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


@torch.no_grad()
def sentence_embeddings(
    tokenizer, model, text_a: str, text_b: str | None = None, *, max_tokens: int = 40
):
    """Encode one sentence (or pair) and run the model's embedding layer on it.

    Returns (encoding, embeddings (T, H)): the output of `model.embeddings`, i.e. token + segment +
    position embeddings after LayerNorm (and dropout, if the model is in training mode). The input
    is truncated to `max_tokens`.
    """
    encoding, ids, segments = _encode_for(model, tokenizer, text_a, text_b, max_tokens)
    return encoding, model.embeddings(ids, segments)[0]


def plot_sentence_embeddings(
    tokenizer,
    model,
    text_a: str,
    text_b: str | None = None,
    *,
    dims: int = 48,
    max_tokens: int = 40,
    color_limit: float = 1.5,
    ax=None,
) -> Figure:
    """What the embedding layer hands to the first encoder layer, for one sentence (or pair): a
    heatmap of tokens x the first `dims` features, rows labelled "position token id". The colour
    scale is fixed to [-color_limit, color_limit] (larger values saturate)."""
    encoding, x = sentence_embeddings(tokenizer, model, text_a, text_b, max_tokens=max_tokens)
    a = _numpy(x)[:, :dims]
    T = a.shape[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.27 * T + 1.2)), layout="constrained")
    else:
        fig = ax.figure
    # A fixed scale, so that the pictures of different sentences can be compared.
    im = ax.imshow(
        a,
        aspect="auto",
        cmap=DIVERGING,
        vmin=-color_limit,
        vmax=color_limit,
        interpolation="nearest",
    )
    ax.set_yticks(range(T))
    ax.set_yticklabels(
        token_labels(encoding.tokens, encoding.input_ids), fontsize=9, family="monospace"
    )
    if 1 in encoding.token_type_ids:
        ax.axhline(encoding.token_type_ids.index(1) - 0.5, color="black", linewidth=1.2)
    ax.set_xlabel(f"feature (first {dims} of {x.shape[-1]})")
    ax.set_title("embedding layer output (after LayerNorm)", fontsize=11)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    return fig


def embedding_explorer(
    tokenizer,
    model,
    text_a: str = "The quokka smiled at the photographer.",
    text_b: str = "",
    *,
    dims: int = 48,
    max_tokens: int = 40,
):
    """A small ipywidgets app: type a sentence (and optionally a second one) and see its WordPiece
    tokens, their ids and segment ids, and a heatmap of the embedding layer's output.

    Returns the widget (display it as a cell's last expression). Needs ipywidgets (the `book`
    extra).
    In a static page (the built book) it cannot react to typing; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    layout = widgets.Layout(width="95%")
    style = {"description_width": "90px"}
    box_a = widgets.Text(
        value=text_a, description="Sentence A", continuous_update=False, layout=layout, style=style
    )
    box_b = widgets.Text(
        value=text_b,
        description="Sentence B",
        placeholder="optional: a second sentence",
        continuous_update=False,
        layout=layout,
        style=style,
    )
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            encoding, _ = sentence_embeddings(
                tokenizer, model, box_a.value, box_b.value, max_tokens=max_tokens
            )
            display(encoding_table(encoding, by_token=False))
            fig = plot_sentence_embeddings(
                tokenizer, model, box_a.value, box_b.value, dims=dims, max_tokens=max_tokens
            )
            display(fig)
            plt.close(fig)

    box_a.observe(update, names="value")
    box_b.observe(update, names="value")
    update()
    note = widgets.HTML(
        f"<small>Press Enter to update. Inputs are cut to {max_tokens} tokens.</small>"
    )
    return widgets.VBox([box_a, box_b, note, out])
