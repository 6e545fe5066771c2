"""Figures, tables and widgets for the book.

Everything here draws real tensors that the caller computed with bertlab; nothing is computed
behind the reader's back except what a function's docstring says. matplotlib is imported with this
module, and ipywidgets only inside the widget functions (`embedding_explorer`,
`attention_explorer`), so `import bertlab` pulls in neither.

    from bertlab import viz
    fig = viz.plot_embedding_rows({"token": tok, "sum": tok + seg + pos}, tokens)
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")

# One diverging colour map for every signed quantity (embeddings, similarities): blue < 0 < red.
DIVERGING = "RdBu_r"


def _numpy(x) -> np.ndarray:
    """A float numpy array from a tensor (any device or dtype, with or without grad) or array-like."""
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def _symmetric_limit(values: np.ndarray, percentile: float = 99.0) -> float:
    """A colour limit v such that [-v, v] covers `percentile`% of |values| (outliers saturate)."""
    v = float(np.percentile(np.abs(values), percentile))
    return v if v > 0 else 1.0


def token_labels(tokens: Sequence[str], ids: Sequence[int] | None = None) -> list[str]:
    """Axis labels "position  token" (and "id" when ids are given): " 3  ##kka 15714"."""
    width = max((len(t) for t in tokens), default=0)  # pad, so that columns line up in a monospace font
    if ids is None:
        return [f"{i:>2}  {t:<{width}}" for i, t in enumerate(tokens)]
    return [f"{i:>2}  {t:<{width}} {int(n):>5}" for i, (t, n) in enumerate(zip(tokens, ids))]


# ------------------------------------------------------------------------------------------------
# Tables (HTML in Jupyter and in the built book, plain text elsewhere)
# ------------------------------------------------------------------------------------------------

class HTMLTable:
    """A small table that Jupyter shows as HTML; `str()` gives a plain-text version."""

    def __init__(self, header: Sequence[str], rows: Sequence[Sequence], caption: str | None = None):
        self.header = list(header)
        self.rows = [list(r) for r in rows]
        self.caption = caption

    @staticmethod
    def _cell_html(cell) -> str:
        if isinstance(cell, (list, tuple)):  # a list of tokens: one chip each
            return " ".join(token_chip(str(t)) for t in cell)
        return html.escape(str(cell))

    def _repr_html_(self) -> str:
        th = "padding:4px 10px;text-align:left;border-bottom:2px solid #999;"
        td = "padding:4px 10px;text-align:left;border-bottom:1px solid #ddd;vertical-align:top;"
        parts = ['<div style="overflow-x:auto"><table style="border-collapse:collapse;margin:0.5em 0;">']
        if self.caption:
            parts.append(f'<caption style="caption-side:top;text-align:left;font-weight:bold;padding:4px 0">'
                         f"{html.escape(self.caption)}</caption>")
        parts.append("<tr>" + "".join(f'<th style="{th}">{html.escape(h)}</th>' for h in self.header) + "</tr>")
        for row in self.rows:
            parts.append("<tr>" + "".join(f'<td style="{td}">{self._cell_html(c)}</td>' for c in row) + "</tr>")
        parts.append("</table></div>")
        return "".join(parts)

    def __str__(self) -> str:
        cells = [[" ".join(map(str, c)) if isinstance(c, (list, tuple)) else str(c) for c in row] for row in self.rows]
        widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(self.header)]
        lines = ["  ".join(str(h).ljust(w) for h, w in zip(self.header, widths))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
        return ((self.caption + "\n") if self.caption else "") + "\n".join(lines)

    __repr__ = __str__


def token_chip(token: str) -> str:
    """One WordPiece token as a small coloured HTML box: special tokens grey, [UNK] red,
    word-continuation pieces ("##...") blue, word-initial pieces yellow."""
    if token == "[UNK]":
        bg = "#f8c9c4"
    elif token in SPECIAL_TOKENS:
        bg = "#dddddd"
    elif token.startswith("##"):
        bg = "#cfe3f7"
    else:
        bg = "#fbefc5"
    return (f'<code style="background:{bg};color:#111;padding:1px 4px;margin:1px;border-radius:3px;'
            f'white-space:nowrap">{html.escape(token)}</code>')


def tokenization_table(tokenizer, sentences: Sequence[str]) -> HTMLTable:
    """Each sentence next to its WordPiece tokens (as coloured chips) and their count."""
    rows = []
    for text in sentences:
        pieces = tokenizer.tokenize(text)
        rows.append([text, pieces, len(pieces)])
    return HTMLTable(["text", "WordPiece tokens", "count"], rows)


def encoding_table(encoding, *, by_token: bool = True) -> HTMLTable:
    """An encoded example (a `bertlab.tokenizer.Encoding`) as a table of position, token, id and
    segment id: one row per token (`by_token=True`), or one row per field (compact, for long inputs)."""
    fields = {
        "position": list(range(len(encoding.input_ids))),
        "token": [[t] for t in encoding.tokens],
        "input_id": encoding.input_ids,
        "token_type_id (segment)": encoding.token_type_ids,
    }
    if by_token:
        return HTMLTable(list(fields), [list(r) for r in zip(*fields.values())])
    return HTMLTable([""] + [str(p) for p in fields["position"]],
                     [[name] + list(values) for name, values in list(fields.items())[1:]])


# ------------------------------------------------------------------------------------------------
# Figures
# ------------------------------------------------------------------------------------------------

def plot_embedding_rows(rows: Mapping[str, torch.Tensor], tokens: Sequence[str], *, dims: int = 64,
                        segment_ids: Sequence[int] | None = None, title: str | None = None,
                        cell_height: float = 0.26) -> Figure:
    """Heatmaps side by side, one per named (T, H) tensor, of its first `dims` features.

    rows: e.g. {"token": (T, H), "segment": (T, H), "position": (T, H), "sum": (T, H)}; all share
    the token axis, labelled with `tokens`. Each panel gets its own symmetric colour scale (their
    magnitudes differ a lot, e.g. before and after LayerNorm) and its own colour bar.
    segment_ids: draws a line where sentence B starts.
    """
    names = list(rows)
    arrays = [_numpy(rows[n]) for n in names]
    T = len(tokens)
    for name, a in zip(names, arrays):
        if a.ndim != 2 or a.shape[0] != T:
            raise ValueError(f"rows[{name!r}] has shape {a.shape}, expected (T, H) with T = len(tokens) = {T}")
    dims = min(dims, min(a.shape[1] for a in arrays))
    height = max(3.0, cell_height * T + 1.6)
    fig, axes = plt.subplots(1, len(names), figsize=(2.9 * len(names) + 1.2, height), sharey=True,
                             layout="constrained")
    axes = np.atleast_1d(axes)
    boundary = None
    if segment_ids is not None and 1 in list(segment_ids):
        boundary = list(segment_ids).index(1) - 0.5
    for ax, name, a in zip(axes, names, arrays):
        v = _symmetric_limit(a[:, :dims])
        im = ax.imshow(a[:, :dims], aspect="auto", cmap=DIVERGING, vmin=-v, vmax=v, interpolation="nearest")
        ax.set_title(name, fontsize=11)
        ax.set_xlabel(f"feature (first {dims} of {a.shape[1]})", fontsize=9)
        ax.set_xticks(range(0, dims, 16))
        ax.tick_params(labelsize=8)
        if boundary is not None:
            ax.axhline(boundary, color="black", linewidth=1.2)
        cb = fig.colorbar(im, ax=ax, orientation="horizontal", fraction=0.04, pad=0.02, aspect=25)
        cb.ax.tick_params(labelsize=7)
    axes[0].set_yticks(range(T))
    axes[0].set_yticklabels(token_labels(tokens), fontsize=9, family="monospace")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_similarity_matrix(matrix: torch.Tensor, labels: Sequence[str] | None = None, *,
                           title: str | None = None, ax=None, vmin: float = -1.0, vmax: float = 1.0,
                           colorbar_label: str = "cosine similarity", tick_step: int | None = None,
                           cmap: str = DIVERGING,
                           group_sizes: Sequence[int] | None = None) -> Figure:
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
        size = 6.0 if labels is None else max(5.0, 0.24 * n + 2.0)
        fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    else:
        fig = ax.figure
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, label=colorbar_label)
    if labels is not None:
        if len(labels) != n:
            raise ValueError(f"got {len(labels)} labels for a {n} x {n} matrix")
        ax.set_xticks(range(n))
        ax.set_xticklabels(labels, rotation=90, fontsize=8)
        ax.set_yticks(range(n))
        ax.set_yticklabels(labels, fontsize=8)
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


def plot_values_by_index(values: torch.Tensor, *, xlabel: str = "position", ylabel: str = "L2 norm",
                         title: str | None = None, marks: Mapping[int, str] | None = None, ax=None,
                         start: int = 0) -> Figure:
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
        right_side = i - start > 0.85 * len(y)  # write labels near the right edge to the left of their point
        ax.annotate(text, (i, y[i - start]), xytext=(-8 if right_side else 8, -3), textcoords="offset points",
                    ha="right" if right_side else "left", va="top", fontsize=9, color="#c53030")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    pad = max(1, len(y) // 100)
    ax.set_xlim(start - pad, start + len(y) - 1 + pad)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def _encode_for(model, tokenizer, text_a: str, text_b: str | None, max_tokens: int):
    """One sentence (or pair), truncated to max_tokens: the encoding and its (1, T) ids and segment
    ids on the model's device."""
    encoding = tokenizer.encode(text_a, text_b or None, max_length=max_tokens, truncation=True)
    ids = torch.tensor([encoding.input_ids], device=model.device)
    segments = torch.tensor([encoding.token_type_ids], device=model.device)
    return encoding, ids, segments


@torch.no_grad()
def sentence_embeddings(tokenizer, model, text_a: str, text_b: str | None = None, *, max_tokens: int = 40):
    """Encode one sentence (or pair) and run the model's embedding layer on it.

    Returns (encoding, embeddings (T, H)): the output of `model.embeddings`, i.e. token + segment +
    position embeddings after LayerNorm (and dropout, if the model is in training mode). The input
    is truncated to `max_tokens`.
    """
    encoding, ids, segments = _encode_for(model, tokenizer, text_a, text_b, max_tokens)
    return encoding, model.embeddings(ids, segments)[0]


def plot_sentence_embeddings(tokenizer, model, text_a: str, text_b: str | None = None, *, dims: int = 48,
                             max_tokens: int = 40, color_limit: float = 1.5, ax=None) -> Figure:
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
    im = ax.imshow(a, aspect="auto", cmap=DIVERGING, vmin=-color_limit, vmax=color_limit, interpolation="nearest")
    ax.set_yticks(range(T))
    ax.set_yticklabels(token_labels(encoding.tokens, encoding.input_ids), fontsize=9, family="monospace")
    if 1 in encoding.token_type_ids:
        ax.axhline(encoding.token_type_ids.index(1) - 0.5, color="black", linewidth=1.2)
    ax.set_xlabel(f"feature (first {dims} of {x.shape[-1]})")
    ax.set_title("embedding layer output (after LayerNorm)", fontsize=11)
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    return fig


# ------------------------------------------------------------------------------------------------
# Widgets (live only in a running Jupyter kernel)
# ------------------------------------------------------------------------------------------------

def embedding_explorer(tokenizer, model, text_a: str = "The quokka smiled at the photographer.",
                       text_b: str = "", *, dims: int = 48, max_tokens: int = 40):
    """A small ipywidgets app: type a sentence (and optionally a second one) and see its WordPiece
    tokens, their ids and segment ids, and a heatmap of the embedding layer's output.

    Returns the widget (display it as a cell's last expression). Needs ipywidgets (the `book` extra).
    In a static page (the built book) it cannot react to typing; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    layout = widgets.Layout(width="95%")
    style = {"description_width": "90px"}
    box_a = widgets.Text(value=text_a, description="Sentence A", continuous_update=False, layout=layout, style=style)
    box_b = widgets.Text(value=text_b, description="Sentence B", placeholder="optional: a second sentence",
                         continuous_update=False, layout=layout, style=style)
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            encoding, _ = sentence_embeddings(tokenizer, model, box_a.value, box_b.value, max_tokens=max_tokens)
            display(encoding_table(encoding, by_token=False))
            fig = plot_sentence_embeddings(tokenizer, model, box_a.value, box_b.value, dims=dims, max_tokens=max_tokens)
            display(fig)
            plt.close(fig)

    box_a.observe(update, names="value")
    box_b.observe(update, names="value")
    update()
    note = widgets.HTML(f"<small>Press Enter to update. Inputs are cut to {max_tokens} tokens.</small>")
    return widgets.VBox([box_a, box_b, note, out])


# ------------------------------------------------------------------------------------------------
# Attention and contextual vectors (chapter 2)
# ------------------------------------------------------------------------------------------------

# Attention probabilities are in [0, 1] and most of them are small; a square-root colour scale
# (PowerNorm, gamma 0.5) keeps the small ones visible next to a few large ones.
ATTENTION_CMAP = "Blues"
ATTENTION_GAMMA = 0.5

# Colours and markers for groups of points (e.g. the senses of a word), in order of first appearance.
GROUP_COLORS = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#4a5568")
GROUP_MARKERS = ("o", "s", "^", "D", "v", "P")


def _attention_norm(gamma: float):
    from matplotlib.colors import PowerNorm
    return PowerNorm(gamma=gamma, vmin=0.0, vmax=1.0)


def _scale_name(gamma: float) -> str:
    return "" if gamma == 1 else " (square-root scale)" if gamma == 0.5 else f" (power scale, gamma {gamma:g})"


def plot_attention(probs: torch.Tensor, tokens: Sequence[str], *, ax=None, title: str | None = None,
                   colorbar: bool = True, gamma: float = ATTENTION_GAMMA, xlabels: bool = True,
                   ylabels: bool = True, fontsize: float = 8):
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


def plot_attention_heads(probs: torch.Tensor, tokens: Sequence[str], *, ncols: int = 4,
                         title: str | None = None, gamma: float = ATTENTION_GAMMA,
                         panel_size: float = 3.1) -> Figure:
    """All heads of one layer, (N, T, T), as a grid of attention heatmaps (see `plot_attention`)
    with one shared colour bar. Tokens label the left column's rows and the bottom row's columns."""
    p = _numpy(probs)
    if p.ndim != 3 or p.shape[1:] != (len(tokens), len(tokens)):
        raise ValueError(f"probs must have shape (N, T, T) with T = {len(tokens)} tokens, got {p.shape}")
    n_heads = p.shape[0]
    nrows = -(-n_heads // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size * ncols + 1.6, panel_size * nrows + 0.8),
                             layout="constrained", squeeze=False)
    fontsize = 7 if len(tokens) <= 20 else 5.5
    for h, ax in enumerate(axes.flat):
        if h >= n_heads:
            ax.axis("off")
            continue
        row, col = divmod(h, ncols)
        plot_attention(p[h], tokens, ax=ax, title=f"head {h}", colorbar=False, gamma=gamma,
                       xlabels=row == nrows - 1 or h + ncols >= n_heads, ylabels=col == 0, fontsize=fontsize)
        if col != 0:
            ax.set_ylabel("")
    im = axes.flat[0].images[0]
    cb = fig.colorbar(im, ax=axes, fraction=0.02, pad=0.01, ticks=[0, 0.05, 0.2, 0.5, 1])
    cb.set_label(f"attention probability{_scale_name(gamma)}")
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def plot_by_layer(curves: Mapping[str, Sequence[float]], *, ax=None, ylabel: str = "cosine similarity",
                  title: str | None = None, styles: Mapping[str, Mapping] | None = None,
                  xlabel: str = "layer (0 = embedding layer output)") -> Figure:
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
        style = {"marker": "o", "markersize": 4, "linewidth": 1.6, **dict((styles or {}).get(name, {}))}
        ax.plot(np.arange(len(y)), y, label=name, **style)
    ax.set_xticks(range(n_layers))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def plot_projection(points: torch.Tensor, groups: Sequence[str], *, ax=None, title: str | None = None,
                    labels: Sequence[str] | None = None, xlabel: str = "PC 1", ylabel: str = "PC 2",
                    legend: bool = True) -> Figure:
    """A 2-D scatter plot of points (n, 2), one colour and marker per group (e.g. word sense).
    Markers are hollow, so that points which coincide stay visible. labels: optional text
    written next to each point (once, where points with the same label coincide)."""
    xy = _numpy(points)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(groups) != xy.shape[0]:
        raise ValueError(f"points must have shape (n, 2) with one group name per point; got {xy.shape} "
                         f"and {len(groups)} group names")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 4.2), layout="constrained")
    else:
        fig = ax.figure
    names = list(dict.fromkeys(groups))  # in order of first appearance
    for k, name in enumerate(names):
        rows = [i for i, g in enumerate(groups) if g == name]
        ax.scatter(xy[rows, 0], xy[rows, 1], s=55, marker=GROUP_MARKERS[k % len(GROUP_MARKERS)],
                   facecolors="none", edgecolors=GROUP_COLORS[k % len(GROUP_COLORS)], linewidths=1.6,
                   label=name)
    written = set()
    tolerance = 1e-4 * max(float(np.abs(xy).max()), 1e-12)
    for i, text in enumerate(labels or []):
        key = (text, *np.round(xy[i] / tolerance).astype(np.int64).tolist())
        if key not in written:
            written.add(key)
            ax.annotate(text, xy[i], xytext=(5, 3), textcoords="offset points", fontsize=7, color="#444444")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


@torch.no_grad()
def sentence_attentions(tokenizer, model, text_a: str, text_b: str | None = None, *, max_tokens: int = 40):
    """Encode one sentence (or pair) and run the whole encoder on it with output_attentions=True.

    Returns (encoding, probs (L, N, T, T)): the attention probabilities of every layer and head.
    The input is truncated to `max_tokens`.
    """
    encoding, ids, segments = _encode_for(model, tokenizer, text_a, text_b, max_tokens)
    out = model(ids, segments, output_attentions=True)
    return encoding, torch.stack([a[0] for a in out.attentions])


def attention_explorer(tokenizer, model, text: str = "The fisherman sat on the bank of the river.", *,
                       layer: int = 1, head: int = 0, max_tokens: int = 32):
    """A small ipywidgets app: type a sentence, pick a layer and a head with sliders, and see that
    head's attention heatmap (or, with "all heads" ticked, every head of the layer). Layers are
    numbered 1..L as in `hidden_states` (layer l is `attentions[l - 1]`), heads 0..N-1.

    Returns the widget (display it as a cell's last expression). Needs ipywidgets (the `book` extra).
    In a static page (the built book) it cannot react; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    n_layers, n_heads = model.config.num_hidden_layers, model.config.num_attention_heads
    if not 1 <= layer <= n_layers or not 0 <= head < n_heads:
        raise ValueError(f"layer must be in 1..{n_layers} and head in 0..{n_heads - 1}, got layer={layer}, head={head}")
    style = {"description_width": "70px"}
    box = widgets.Text(value=text, description="Sentence", continuous_update=False,
                       layout=widgets.Layout(width="95%"), style=style)
    layer_slider = widgets.IntSlider(value=layer, min=1, max=n_layers, description="Layer",
                                     continuous_update=False, style=style)
    head_slider = widgets.IntSlider(value=head, min=0, max=n_heads - 1, description="Head",
                                    continuous_update=False, style=style)
    all_heads = widgets.Checkbox(value=False, description="all heads of the layer", indent=False)
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            encoding, probs = sentence_attentions(tokenizer, model, box.value, max_tokens=max_tokens)
            l, h = layer_slider.value, head_slider.value
            if all_heads.value:
                fig = plot_attention_heads(probs[l - 1], encoding.tokens, title=f"layer {l}, all heads")
            else:
                fig = plot_attention(probs[l - 1, h], encoding.tokens, title=f"layer {l}, head {h}")
            display(fig)
            plt.close(fig)

    for control in (box, layer_slider, head_slider, all_heads):
        control.observe(update, names="value")
    update()
    note = widgets.HTML(f"<small>Press Enter to update the sentence. Inputs are cut to {max_tokens} tokens. "
                        "Rows: the token that looks; columns: the tokens it looks at.</small>")
    return widgets.VBox([box, widgets.HBox([layer_slider, head_slider, all_heads]), note, out])
