"""Figures and widgets of chapters 3 to 5: what a model answers, drawn as probabilities.

- masked language modelling (chapter 3): the most probable tokens for a [MASK], and the
  fill-mask explorer (type a line, pick the word to hide);
- next sentence prediction (chapter 4): P(IsNext) of sentence pairs, and the next-sentence
  explorer (type A and B, see both orders);
- a fine-tuned classifier (chapter 5): the genre probabilities of passages, and the genre explorer.

The widgets (`*_explorer`) live only in a running Jupyter kernel; each chapter pairs one with a
static figure drawn by the plotting function the widget calls. matplotlib is imported with this
module, ipywidgets only inside the widget functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from ..data import IS_NEXT
from ..predict import Prediction, fill_mask
from ._common import GROUP_COLORS

ANSWER_COLOR, OTHER_COLOR = (
    "#c05621",
    "#2b6cb0",
)  # fill-mask bars: the expected token, every other token

# The next-sentence explorer's two bars: the pair as typed, and the same two sentences swapped.
NSP_COLORS = {"A → B": "#2b6cb0", "B → A": "#6b46c1"}


def _check_positive_int(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# ------------------------------------------------------------------------------------------------
# Masked language modelling (chapter 3)
# ------------------------------------------------------------------------------------------------


def plot_fill_mask(
    predictions: Sequence[Prediction],
    *,
    ax=None,
    title: str | None = None,
    answer: str | None = None,
    answer_rank: int | None = None,
    top_k: int = 8,
) -> Figure:
    """Horizontal bars of the `top_k` most probable tokens for one [MASK], best at the top.

    predictions: the Prediction list of one [MASK], best first, e.g. `bertlab.fill_mask(...)[0]`
    (ask it for the whole vocabulary, `top_k=tokenizer.vocab_size`, to place an answer that ranks
    low).
    answer: the token we would put there; its bar is orange when it is among the top_k; when it
    ranks lower (`answer_rank`, 1 = best), a note in orange gives its rank and probability instead.
    Draws into `ax` when given (returns its figure), else into a new figure.
    """
    predictions = list(predictions)
    if not predictions:
        raise ValueError(
            "predictions is empty: pass the Prediction list of one [MASK], e.g. fill_mask(...)[0]"
        )
    if not isinstance(predictions[0], Prediction):
        raise ValueError(
            "predictions must be the Prediction list of one [MASK], e.g. fill_mask(...)[0], "
            f"got a list of {type(predictions[0]).__name__}"
        )
    _check_positive_int(top_k, "top_k")
    if answer_rank is not None and not 1 <= answer_rank <= len(predictions):
        raise ValueError(
            f"answer_rank must be in 1..{len(predictions)} (a rank among the predictions given), "
            f"got {answer_rank!r}"
        )
    shown = predictions[:top_k]
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.32 * len(shown) + 1.3), layout="constrained")
    colors = [ANSWER_COLOR if p.token == answer else OTHER_COLOR for p in shown]
    ax.barh(range(len(shown)), [p.probability for p in shown], color=colors)
    ax.set_yticks(range(len(shown)), [p.token for p in shown], family="monospace", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("probability", fontsize=9)
    if answer is not None and answer_rank is not None and answer_rank > top_k:
        p = predictions[answer_rank - 1].probability
        ax.text(
            0.97,
            0.05,
            f"'{answer}': rank {answer_rank}\np = {p:.2g}",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=9,
            color=ANSWER_COLOR,
        )
    if title:
        ax.set_title(title, fontsize=9.5)
    return ax.figure


def word_spans(tokenizer, text: str) -> list[tuple[str, int, int]]:
    """The words of text as BERT's pre-tokenizer splits them (at spaces and punctuation, so "lord,"
    is two words): a list of (word, start, end), text[start:end] == word."""
    pre_tokenizer = tokenizer.backend_tokenizer.pre_tokenizer
    return [(word, start, end) for word, (start, end) in pre_tokenizer.pre_tokenize_str(text)]


def plot_word_predictions(
    model, tokenizer, text: str, word_index: int, *, top_k: int = 10, ax=None
) -> Figure:
    """Hide the `word_index`-th word of text (0-based, words as `word_spans` splits them) behind one
    [MASK], ask `bertlab.fill_mask`, and draw the model's `top_k` guesses with `plot_fill_mask`.

    The hidden word's bar is orange when it is a single WordPiece token among the top_k, or its rank
    is noted; a word of several pieces has no single right token, so nothing is marked for it.
    model: a BertForPreTraining or BertForMaskedLM. Raises ValueError when text already holds a
    [MASK], has no such word, or the word lies beyond the tokens the model reads.
    """
    if "[MASK]" in text:
        raise ValueError(
            "the text already contains [MASK]; give plain text and choose the word to hide: "
            f"{text!r}"
        )
    spans = word_spans(tokenizer, text)
    if not spans:
        raise ValueError(f"the text has no word to hide: {text!r}")
    if (
        isinstance(word_index, bool)
        or not isinstance(word_index, int)
        or not 0 <= word_index < len(spans)
    ):
        raise ValueError(
            f"word_index must be in 0..{len(spans) - 1} for the {len(spans)} words of {text!r}, "
            f"got {word_index!r}"
        )
    _check_positive_int(top_k, "top_k")
    word, start, end = spans[word_index]
    masked_text = text[:start] + "[MASK]" + text[end:]
    # One Prediction list per [MASK] that the model reads (here one; none if truncation cut it off),
    # each holding every token of the vocabulary, best first, so that the answer's rank is known.
    per_mask = fill_mask(model, tokenizer, masked_text, top_k=tokenizer.vocab_size)
    if not per_mask:
        raise ValueError(
            f"word {word_index} ({word!r}) lies beyond the {tokenizer.model_max_length} tokens "
            "the model reads; choose an earlier word or a shorter text"
        )
    predictions = per_mask[0]
    pieces = tokenizer.tokenize(word)
    answer = (
        pieces[0] if len(pieces) == 1 else None
    )  # a word of several pieces has no single right token
    rank = next((i for i, p in enumerate(predictions, start=1) if p.token == answer), None)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.32 * top_k + 1.3), layout="constrained")
    return plot_fill_mask(
        predictions, ax=ax, title=masked_text, answer=answer, answer_rank=rank, top_k=top_k
    )


def fill_mask_explorer(
    model,
    tokenizer,
    text: str = "Good morrow, my lord, how does your honour?",
    word_index: int = 1,
    top_k: int = 10,
):
    """A small ipywidgets app: type a line, pick the word to hide (a drop-down of its words), and
    see the model's `top_k` guesses as bars (`plot_word_predictions`; a slider changes top_k).

    model: a BertForPreTraining or BertForMaskedLM, e.g. from `bertlab.shakespeare_bert()`.
    Returns the widget (display it as a cell's last expression). Needs ipywidgets (the `book`
    extra). In a static page (the built book) it cannot react; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    _check_positive_int(top_k, "top_k")
    n_words = len(word_spans(tokenizer, text))  # an empty line is allowed: the widget asks for one
    if (
        isinstance(word_index, bool)
        or not isinstance(word_index, int)
        or word_index < 0
        or 0 < n_words <= word_index
    ):
        raise ValueError(
            f"word_index must be in 0..{max(n_words - 1, 0)} for the {n_words} words of {text!r}, "
            f"got {word_index!r}"
        )
    box = widgets.Text(
        value=text, description="Line", continuous_update=False, layout=widgets.Layout(width="95%")
    )
    choice = widgets.Dropdown(description="Hide")
    k = widgets.IntSlider(
        value=top_k, min=1, max=max(20, top_k), description="Top k", continuous_update=False
    )
    out = widgets.Output()

    def new_words(
        _change=None,
    ) -> None:  # a new line: offer its words, keep the chosen position if it still exists
        spans = word_spans(tokenizer, box.value)
        keep = choice.value if choice.value is not None else word_index
        choice.unobserve(draw, names="value")
        choice.options = [(f"{i}: {w}", i) for i, (w, _, _) in enumerate(spans)]
        choice.value = min(keep, len(spans) - 1) if spans else None
        choice.observe(draw, names="value")
        draw()

    def draw(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            if choice.value is None:
                print("Type a line with at least one word.")
                return
            try:
                fig = plot_word_predictions(
                    model, tokenizer, box.value, choice.value, top_k=k.value
                )
            except ValueError as e:  # a line the model cannot be asked about: say why, draw nothing
                print(e)
                return
            display(fig)
            plt.close(fig)

    box.observe(new_words, names="value")
    k.observe(draw, names="value")
    choice.observe(draw, names="value")
    new_words()
    note = widgets.HTML(
        "<small>Press Enter to update the line. A word of several WordPiece pieces is "
        "hidden behind a single [MASK], so the model can only guess one piece of it.</small>"
    )
    return widgets.VBox([box, widgets.HBox([choice, k]), note, out])


# ------------------------------------------------------------------------------------------------
# Next sentence prediction (chapter 4)
# ------------------------------------------------------------------------------------------------


@torch.no_grad()
def next_sentence_probabilities(
    model, tokenizer, pairs: Sequence[tuple[str, str]], max_length: int = 128
) -> torch.Tensor:
    """P(IsNext) for each (sentence A, sentence B) pair of texts, computed in one padded batch.

    model: a BertForPreTraining (it needs the NSP head), e.g. from `bertlab.shakespeare_bert()`.
    Each pair is cut to max_length tokens, the longer side first. Returns a (len(pairs),) tensor
    on the CPU. The model runs in eval mode; its training mode is restored afterwards.
    """
    pairs = list(pairs)
    if not pairs or not all(
        isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(s, str) for s in p)
        for p in pairs
    ):
        raise ValueError(
            "pairs must be a non-empty list of (sentence A, sentence B) pairs of strings, got "
            f"{pairs!r}"
        )
    if not hasattr(model, "nsp"):
        raise ValueError(
            f"{type(model).__name__} has no next-sentence head: pass a BertForPreTraining, "
            "e.g. the model of bertlab.shakespeare_bert()"
        )
    batch = tokenizer(
        [a for a, _ in pairs], [b for _, b in pairs], max_length=max_length
    )  # each (B, T)
    batch = {name: t.to(model.device) for name, t in batch.items()}
    was_training = model.training
    try:
        pooled = model.eval().bert(**batch).pooler_output  # (B, H): the pooled [CLS] vector
        logits = model.nsp(pooled)  # (B, 2): IsNext, NotNext
    finally:
        model.train(was_training)
    return logits.float().softmax(dim=-1)[:, IS_NEXT].cpu()  # (B,)


def shorten(text: str, width: int = 48) -> str:
    """text, cut to at most `width` characters with "…" at the end where it was cut."""
    _check_positive_int(width, "width")
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_isnext_bars(
    labels: Sequence[str],
    probabilities,
    kinds: Sequence[str],
    *,
    colors: Mapping[str, str] | None = None,
    ax=None,
    title: str | None = None,
) -> Figure:
    """One horizontal bar of P(IsNext) per pair, its value written beside it, and a dashed line at
    0.5.

    labels: the text beside each bar (e.g. the pair, shortened); probabilities: one P(IsNext) per
    bar (a list or a (B,) tensor); kinds: one name per bar (e.g. "true order", "swapped"), which
    picks its colour and makes the legend. colors: kind -> colour (default `NSP_COLORS`, the
    explorer's "A → B" and "B → A"); kinds it lacks get `GROUP_COLORS` in order of first appearance.
    Draws into `ax` when given (returns its figure), else into a new figure.
    """
    probabilities = [float(p) for p in probabilities]
    if not labels or not len(labels) == len(probabilities) == len(kinds):
        raise ValueError(
            "labels, probabilities and kinds must be non-empty and of the same length (one per "
            f"bar), got {len(labels)}, {len(probabilities)} and {len(kinds)}"
        )
    if not all(0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError(f"probabilities must lie in [0, 1], got {probabilities}")
    palette = dict(NSP_COLORS if colors is None else colors)
    others = [k for k in dict.fromkeys(kinds) if k not in palette]
    palette |= {k: GROUP_COLORS[i % len(GROUP_COLORS)] for i, k in enumerate(others)}
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.2), layout="constrained")
    y = range(len(labels))
    ax.barh(y, probabilities, color=[palette[k] for k in kinds], alpha=0.85, height=0.7)
    for i, p in zip(y, probabilities):
        ax.annotate(f"{p:.2f}", (p + 0.01, i), va="center", fontsize=9)
    ax.axvline(0.5, color="0.3", ls="--", lw=1)
    ax.set_yticks(list(y), labels, fontsize=9)
    ax.set(xlim=(0, 1.08), xlabel="P(IsNext)", title=title)
    ax.invert_yaxis()
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=palette[k], alpha=0.85) for k in dict.fromkeys(kinds)
    ]
    ax.legend(
        handles,
        list(dict.fromkeys(kinds)),
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=9,
    )
    return ax.figure


def next_sentence_explorer(
    model,
    tokenizer,
    text_a: str = "Is this a dagger which I see before me, The handle toward my hand?",
    text_b: str = "Come, let me clutch thee.",
    *,
    max_length: int = 128,
):
    """A small ipywidgets app: type sentences A and B, and see P(IsNext) for (A, B) and for (B, A)
    as two bars (`next_sentence_probabilities`, `plot_isnext_bars`).

    model: a BertForPreTraining, e.g. from `bertlab.shakespeare_bert()`. Pairs are cut to
    max_length. Returns the widget (display it as a cell's last expression). Needs ipywidgets (the
    `book` extra). In a static page (the built book) it cannot react; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    if not hasattr(model, "nsp"):
        raise ValueError(
            f"{type(model).__name__} has no next-sentence head: pass a BertForPreTraining, "
            "e.g. the model of bertlab.shakespeare_bert()"
        )
    _check_positive_int(max_length, "max_length")
    layout, style = widgets.Layout(width="95%"), {"description_width": "90px"}
    box_a = widgets.Text(
        value=text_a, description="Sentence A", continuous_update=False, layout=layout, style=style
    )
    box_b = widgets.Text(
        value=text_b, description="Sentence B", continuous_update=False, layout=layout, style=style
    )
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            a, b = box_a.value, box_b.value
            if not a.strip() or not b.strip():
                print("Type two sentences, A and B.")
                return
            p = next_sentence_probabilities(
                model, tokenizer, [(a, b), (b, a)], max_length=max_length
            ).tolist()
            fig = plot_isnext_bars(
                [
                    f"A → B: {shorten(a, 30)} | {shorten(b, 30)}",
                    f"B → A: {shorten(b, 30)} | {shorten(a, 30)}",
                ],
                p,
                ["A → B", "B → A"],
                title="P(IsNext)",
            )
            display(fig)
            plt.close(fig)

    box_a.observe(update, names="value")
    box_b.observe(update, names="value")
    update()
    note = widgets.HTML(
        f"<small>Press Enter to update. The pair is cut to {max_length} tokens.</small>"
    )
    return widgets.VBox([box_a, box_b, note, out])


# ------------------------------------------------------------------------------------------------
# A fine-tuned classifier (chapter 5)
# ------------------------------------------------------------------------------------------------


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise ValueError(f"texts must be a list of passages, not one string; write [{texts!r}]")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError(f"texts must be a non-empty list of strings, got {texts!r}")
    return texts


def _check_labels(model, labels: Sequence[str]) -> None:
    n = model.config.num_labels
    if len(labels) != n:
        raise ValueError(
            f"the model has {n} outputs but {len(labels)} labels were given: {list(labels)}"
        )


@torch.no_grad()
def genre_probabilities(
    model, tokenizer, texts: Sequence[str], max_seq_len: int = 48
) -> torch.Tensor:
    """The classifier's probability of each label for each text: a (len(texts), num_labels) tensor
    on the CPU, each row summing to 1.

    model: a BertForSequenceClassification (e.g. fine-tuned by `bertlab.finetune`). Texts are cut
    to max_seq_len tokens. The model runs in eval mode; its training mode is restored afterwards.
    """
    texts = _check_texts(texts)
    batch = tokenizer(texts, max_length=max_seq_len)  # each (N, T)
    batch = {name: t.to(model.device) for name, t in batch.items()}
    was_training = model.training
    try:
        logits = model.eval()(**batch).logits  # (N, num_labels)
    finally:
        model.train(was_training)
    return logits.float().softmax(dim=-1).cpu()


def plot_genre_probabilities(
    model,
    tokenizer,
    texts: Sequence[str],
    labels: Sequence[str],
    row_labels: Sequence[str] | None = None,
    ax=None,
    *,
    max_seq_len: int = 48,
) -> Figure:
    """The classifier's probabilities (`genre_probabilities`) as a table of shaded cells: one row
    per text, one column per label, the value written in each cell.

    labels: the name of each of the model's outputs, in order. row_labels: the name of each row
    (default: the texts, cut to 60 characters). Draws into `ax` when given, else into a new figure.
    """
    texts = _check_texts(texts)
    _check_labels(model, labels)
    if row_labels is not None and len(row_labels) != len(texts):
        raise ValueError(f"got {len(row_labels)} row_labels for {len(texts)} texts")
    probs = genre_probabilities(model, tokenizer, texts, max_seq_len=max_seq_len)  # (N, num_labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.55 * len(texts) + 1.2), layout="constrained")
    ax.imshow(probs, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(texts)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{probs[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if probs[i, j] > 0.6 else "black",
            )
    short = row_labels or [t if len(t) <= 60 else t[:57] + "..." for t in texts]
    ax.set(
        xticks=range(len(labels)), xticklabels=labels, yticks=range(len(texts)), yticklabels=short
    )
    ax.xaxis.tick_top()
    return ax.figure


def genre_explorer(
    model,
    tokenizer,
    labels: Sequence[str],
    text: str = "The course of true love never did run smooth.",
    *,
    max_seq_len: int = 48,
):
    """A small ipywidgets app: type a passage and see the classifier's probability of each label
    (`plot_genre_probabilities`, one row).

    model: a BertForSequenceClassification; labels: the name of each of its outputs, in order.
    Returns the widget (display it as a cell's last expression). Needs ipywidgets (the `book`
    extra). In a static page (the built book) it cannot react; pair it with a static figure.
    """
    import ipywidgets as widgets
    from IPython.display import display

    _check_labels(model, labels)
    _check_positive_int(max_seq_len, "max_seq_len")
    box = widgets.Textarea(
        value=text,
        description="Passage",
        continuous_update=False,
        layout=widgets.Layout(width="95%", height="70px"),
    )
    out = widgets.Output()

    def update(_change=None) -> None:
        with out:
            out.clear_output(wait=True)
            passage = box.value.strip()
            if not passage:
                print("Type a passage.")
                return
            fig = plot_genre_probabilities(
                model, tokenizer, [passage], labels, max_seq_len=max_seq_len
            )
            display(fig)
            plt.close(fig)

    box.observe(update, names="value")
    update()
    note = widgets.HTML(
        f"<small>Click outside the box to update. Passages are cut to {max_seq_len} tokens.</small>"
    )
    return widgets.VBox([box, note, out])
