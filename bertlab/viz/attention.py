"""Figures and the widget of chapter 2 (contextual embeddings): attention heatmaps of one head or
of all heads of a layer, values over layers, 2-D projections of vectors, and the attention explorer.

matplotlib is imported with this module, ipywidgets only inside `attention_explorer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from ._common import GROUP_COLORS, GROUP_MARKERS, _encode_for, _numpy

# Attention probabilities are in [0, 1] and most of them are small; a square-root colour scale
# (PowerNorm, gamma 0.5) keeps the small ones visible next to a few large ones.
ATTENTION_CMAP = "Blues"
ATTENTION_GAMMA = 0.5


def _attention_norm(gamma: float):
    from matplotlib.colors import PowerNorm

    return PowerNorm(gamma=gamma, vmin=0.0, vmax=1.0)


def _scale_name(gamma: float) -> str:
    return (
        ""
        if gamma == 1
        else " (square-root scale)"
        if gamma == 0.5
        else f" (power scale, gamma {gamma:g})"
    )


def plot_attention(
    probs: torch.Tensor,
    tokens: Sequence[str],
    *,
    ax=None,
    title: str | None = None,
    colorbar: bool = True,
    gamma: float = ATTENTION_GAMMA,
    xlabels: bool = True,
    ylabels: bool = True,
    fontsize: float = 8,
):
    """One head's attention probabilities (T, T) as a heatmap: row i is the token that looks
    (the query), column j the token it looks at (the key); each row sums to 1.

    The colour scale runs from 0 to 1 with a square-root shape (`gamma`; 1 is linear). Draws into
    `ax` when given (returns its figure), else into a new figure. Returns the figure.
    """
    p = _numpy(probs)
    T = len(tokens)
    if p.shape != (T, T):
        raise ValueError(f"probs must have shape (T, T) = ({T}, {T}) for {T} tokens, got {p.shape}")
    if ax is None:
        size = max(3.5, 0.3 * T + 1.8)
        fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    else:
        fig = ax.figure
    im = ax.imshow(p, cmap=ATTENTION_CMAP, norm=_attention_norm(gamma), interpolation="nearest")
    ax.set_xticks(range(T))
    ax.set_yticks(range(T))
    if xlabels:
        ax.set_xticklabels(tokens, rotation=90, fontsize=fontsize)
        ax.set_xlabel("looks at (key)", fontsize=fontsize + 1)
    else:
        ax.set_xticklabels([])
    if ylabels:
        ax.set_yticklabels(tokens, fontsize=fontsize)
        ax.set_ylabel("token (query)", fontsize=fontsize + 1)
    else:
        ax.set_yticklabels([])
    ax.tick_params(length=2)
    if title:
        ax.set_title(title, fontsize=fontsize + 2)
    if colorbar:
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, ticks=[0, 0.05, 0.2, 0.5, 1])
        cb.set_label(f"attention probability{_scale_name(gamma)}", fontsize=fontsize + 1)
        cb.ax.tick_params(labelsize=fontsize)
    return fig


def plot_attention_heads(
    probs: torch.Tensor,
    tokens: Sequence[str],
    *,
    ncols: int = 4,
    title: str | None = None,
    gamma: float = ATTENTION_GAMMA,
    panel_size: float = 2.4,
) -> Figure:
    """All heads of one layer, (N, T, T), as a grid of attention heatmaps (see `plot_attention`)
    with one shared colour bar. Tokens label the left column's rows and the bottom row's columns.

    The figure is at most 10.2 inches wide, so that its 9-pt labels stay 9 px high when the book's
    column (752 px in an 800-px window) shrinks it: panels shrink to fit `ncols`."""
    p = _numpy(probs)
    if p.ndim != 3 or p.shape[1:] != (len(tokens), len(tokens)):
        raise ValueError(
            f"probs must have shape (N, T, T) with T = {len(tokens)} tokens, got {p.shape}"
        )
    n_heads = p.shape[0]
    nrows = -(-n_heads // ncols)
    panel_size = min(panel_size, (10.2 - 1.6) / ncols)  # 1.6 in: row labels and colour bar
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel_size * ncols + 1.6, panel_size * nrows + 0.8),
        layout="constrained",
        squeeze=False,
    )
    # 9 pt, 9 px on screen in the book's narrowest column, while the rows are tall enough; long
    # inputs (the widget's, up to 32 tokens) get smaller labels rather than overlapping ones.
    fontsize = 9 if len(tokens) <= 20 else 6
    for h, ax in enumerate(axes.flat):
        if h >= n_heads:
            ax.axis("off")
            continue
        row, col = divmod(h, ncols)
        plot_attention(
            p[h],
            tokens,
            ax=ax,
            title=f"head {h}",
            colorbar=False,
            gamma=gamma,
            xlabels=row == nrows - 1 or h + ncols >= n_heads,
            ylabels=col == 0,
            fontsize=fontsize,
        )
        if col != 0:
            ax.set_ylabel("")
    im = axes.flat[0].images[0]
    cb = fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01, ticks=[0, 0.05, 0.2, 0.5, 1])
    cb.set_label(f"attention probability{_scale_name(gamma)}")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_by_layer(
    curves: Mapping[str, Sequence[float]],
    *,
    ax=None,
    ylabel: str = "cosine similarity",
    title: str | None = None,
    styles: Mapping[str, Mapping] | None = None,
    xlabel: str = "layer (0 = embedding layer output)",
) -> Figure:
    """One line per named curve of values over layers 0, 1, ..., L. styles: optional matplotlib
    line keyword arguments per curve name (color, linestyle, marker, ...)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.0), layout="constrained")
    else:
        fig = ax.figure
    n_layers = 0
    for name, values in curves.items():
        y = _numpy(values).reshape(-1)
        n_layers = max(n_layers, len(y))
        style = {
            "marker": "o",
            "markersize": 4,
            "linewidth": 1.6,
            **dict((styles or {}).get(name, {})),
        }
        ax.plot(np.arange(len(y)), y, label=name, **style)
    ax.set_xticks(range(n_layers))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def plot_projection(
    points: torch.Tensor,
    groups: Sequence[str],
    *,
    ax=None,
    title: str | None = None,
    labels: Sequence[str] | None = None,
    xlabel: str = "PC 1",
    ylabel: str = "PC 2",
    legend: bool = True,
) -> Figure:
    """A 2-D scatter plot of points (n, 2), one colour and marker per group (e.g. word sense).
    Markers are hollow, so that points which coincide stay visible. labels: optional text
    written next to each point (once, where points with the same label coincide)."""
    xy = _numpy(points)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(groups) != xy.shape[0]:
        raise ValueError(
            f"points must have shape (n, 2) with one group name per point; got {xy.shape} "
            f"and {len(groups)} group names"
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 4.2), layout="constrained")
    else:
        fig = ax.figure
    names = list(dict.fromkeys(groups))  # in order of first appearance
    for k, name in enumerate(names):
        rows = [i for i, g in enumerate(groups) if g == name]
        ax.scatter(
            xy[rows, 0],
            xy[rows, 1],
            s=55,
            marker=GROUP_MARKERS[k % len(GROUP_MARKERS)],
            facecolors="none",
            edgecolors=GROUP_COLORS[k % len(GROUP_COLORS)],
            linewidths=1.6,
            label=name,
        )
    written = set()
    tolerance = 1e-4 * max(float(np.abs(xy).max()), 1e-12)
    for i, text in enumerate(labels or []):
        key = (text, *np.round(xy[i] / tolerance).astype(np.int64).tolist())
        if key not in written:
            written.add(key)
            ax.annotate(
                text, xy[i], xytext=(5, 3), textcoords="offset points", fontsize=9, color="#444444"
            )
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=9)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


@torch.no_grad()
def sentence_attentions(
    tokenizer, model, text_a: str, text_b: str | None = None, *, max_tokens: int = 40
):
    """Encode one sentence (or pair) and run the whole encoder on it with output_attentions=True.

    Returns (encoding, probs (L, N, T, T)): the attention probabilities of every layer and head.
    The input is truncated to `max_tokens`.
    """
    encoding, ids, segments = _encode_for(model, tokenizer, text_a, text_b, max_tokens)
    out = model(ids, segments, output_attentions=True)
    return encoding, torch.stack([a[0] for a in out.attentions])


def attention_explorer(
    tokenizer,
    model,
    text: str = "The fisherman sat on the bank of the river.",
    *,
    layer: int = 1,
    head: int = 0,
    max_tokens: int = 32,
):
    """A small ipywidgets app: type a sentence, pick a layer and a head with sliders, and see that
    head's attention heatmap (or, with "all heads" ticked, every head of the layer). Layers are
    numbered 1..L as in `hidden_states` (layer l is `attentions[l - 1]`), heads 0..N-1.

    Returns the widget (display it as a cell's last expression). Needs ipywidgets (the `book`
    extra). In a static page (the built book) it cannot react; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    n_layers, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads
    if not 1 <= layer <= n_layers or not 0 <= head < n_heads:
        raise ValueError(
            f"layer must be in 1..{n_layers} and head in 0..{n_heads - 1}, "
            f"got layer={layer}, head={head}"
        )
    style = {"description_width": "70px"}
    box = widgets.Text(
        value=text,
        description="Sentence",
        continuous_update=False,
        layout=widgets.Layout(width="95%"),
        style=style,
    )
    layer_slider = widgets.IntSlider(
        value=layer, min=1, max=n_layers, description="Layer", continuous_update=False, style=style
    )
    head_slider = widgets.IntSlider(
        value=head, min=0, max=n_heads - 1, description="Head", continuous_update=False, style=style
    )
    all_heads = widgets.Checkbox(value=False, description="all heads of the layer", indent=False)
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            encoding, probs = sentence_attentions(
                tokenizer, model, box.value, max_tokens=max_tokens
            )
            l, h = layer_slider.value, head_slider.value
            if all_heads.value:
                fig = plot_attention_heads(
                    probs[l - 1], encoding.tokens, title=f"layer {l}, all heads"
                )
            else:
                fig = plot_attention(probs[l - 1, h], encoding.tokens, title=f"layer {l}, head {h}")
            display(fig)
            plt.close(fig)

    for control in (box, layer_slider, head_slider, all_heads):
        control.observe(update, names="value")
    update()
    note = widgets.HTML(
        f"<small>Press Enter to update the sentence. Inputs are cut to {max_tokens} tokens. "
        "Rows: the token that looks; columns: the tokens it looks at.</small>"
    )
    return widgets.VBox([box, widgets.HBox([layer_slider, head_slider, all_heads]), note, out])
