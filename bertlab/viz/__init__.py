"""Figures, tables and widgets for the book.

Everything here draws real tensors that the caller computed with bertlab; nothing is computed
behind the reader's back except what a function's docstring says. Import it as one namespace:

    from bertlab import viz
    fig = viz.plot_embedding_rows({"token": tok, "sum": tok + seg + pos}, tokens)

The modules, by subject:

- `tables`: HTML tables (plain text outside Jupyter) and WordPiece tokens as coloured chips;
- `embeddings`: embedding rows, similarity matrices, values by position, the embedding explorer
  (chapter 1);
- `attention`: attention heatmaps, values over layers, 2-D projections, the attention explorer
  (chapter 2);
- `predictions`: what a model answers: fill-mask bars, P(IsNext) bars, genre probabilities and
  their explorers (chapters 3 to 5);
- `input_diagram`, `encoder_diagram`, `mlm_diagram`, `nsp_diagram`: the four pictures of BERT, one
  per chapter, each drawn from a real sentence or pair and the model's own tensors;
- `_common`: what they share (array conversion, colour palettes, encoding one sentence or pair).

matplotlib is imported with this package, and ipywidgets only inside the widget functions
(`*_explorer`); `import bertlab` imports neither, since it does not import `bertlab.viz`.
"""

from ._common import DIVERGING, GROUP_COLORS, GROUP_MARKERS
from .attention import (
    ATTENTION_CMAP,
    ATTENTION_GAMMA,
    attention_explorer,
    plot_attention,
    plot_attention_heads,
    plot_by_layer,
    plot_projection,
    sentence_attentions,
)
from .embeddings import (
    embedding_explorer,
    plot_embedding_rows,
    plot_sentence_embeddings,
    plot_similarity_matrix,
    plot_values_by_index,
    sentence_embeddings,
    token_labels,
)
from .predictions import (
    NSP_COLORS,
    fill_mask_explorer,
    genre_explorer,
    genre_probabilities,
    next_sentence_explorer,
    next_sentence_probabilities,
    plot_fill_mask,
    plot_genre_probabilities,
    plot_isnext_bars,
    plot_word_predictions,
    shorten,
    word_spans,
)
from .encoder_diagram import draw_contextual_embeddings
from .input_diagram import draw_input_embeddings
from .mlm_diagram import draw_masked_lm
from .nsp_diagram import draw_next_sentence
from .tables import SPECIAL_TOKENS, HTMLTable, encoding_table, token_chip, tokenization_table

# Grouped by subject, as the imports above (one name a line would hide the groups).
# fmt: off
__all__ = [
    # tables
    "SPECIAL_TOKENS", "HTMLTable", "token_chip", "tokenization_table", "encoding_table",
    # embeddings (chapter 1)
    "DIVERGING", "token_labels", "plot_embedding_rows", "plot_similarity_matrix",
    "plot_values_by_index", "sentence_embeddings", "plot_sentence_embeddings", "embedding_explorer",
    # attention and contextual vectors (chapter 2)
    "ATTENTION_CMAP", "ATTENTION_GAMMA", "GROUP_COLORS", "GROUP_MARKERS", "plot_attention",
    "plot_attention_heads", "plot_by_layer", "plot_projection", "sentence_attentions",
    "attention_explorer",
    # predictions (chapters 3 to 5)
    "plot_fill_mask", "word_spans", "plot_word_predictions", "fill_mask_explorer",
    "NSP_COLORS", "next_sentence_probabilities", "shorten", "plot_isnext_bars",
    "next_sentence_explorer", "genre_probabilities", "plot_genre_probabilities", "genre_explorer",
    # the four pictures of BERT (one per chapter)
    "draw_input_embeddings", "draw_contextual_embeddings", "draw_masked_lm", "draw_next_sentence",
]
# fmt: on
