"""Chapter 2's picture of BERT (`viz.draw_contextual_embeddings`): what it shows is what the
model computes, it fits the book, and it rejects what it cannot draw."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bertlab import viz  # noqa: E402

RIVER = "The bank of the river was covered in reeds."
MONEY = "The bank raised its interest rates again."


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@torch.no_grad()
def hidden_states(encoder, tokenizer, sentence):
    encoding = tokenizer.encode(sentence)
    ids = torch.tensor([encoding.input_ids])
    segments = torch.tensor([encoding.token_type_ids])
    states = encoder(ids, segments, output_hidden_states=True).hidden_states  # L + 1 of (1, T, H)
    return encoding, torch.stack([h[0] for h in states])  # (L + 1, T, H)


def test_picture_prints_the_real_ids_and_cosines(encoder, tokenizer):
    fig = viz.draw_contextual_embeddings(encoder, tokenizer, RIVER, MONEY, "bank")
    shown = texts(fig)
    river, river_states = hidden_states(encoder, tokenizer, RIVER)
    money, money_states = hidden_states(encoder, tokenizer, MONEY)
    for encoding in (river, money):  # every token and id of both sentences, in order
        for token, token_id in zip(encoding.tokens, encoding.input_ids, strict=True):
            assert token in shown and str(token_id) in shown
    i, j = river.tokens.index("bank"), money.tokens.index("bank")
    cosines = F.cosine_similarity(river_states[:, i], money_states[:, j], dim=-1)  # (L + 1,)
    numbers = [text for text in shown if text.replace(".", "").isdigit() and "." in text]
    assert numbers == [f"{c:.3f}" for c in cosines.tolist()]
    assert numbers[0] == "1.000" and cosines[-1] < 0.95  # identical at the input, not at the top
    assert torch.equal(river_states[0, i], money_states[0, j])
    note = next(text for text in shown if text.startswith("“bank” in A and B"))
    assert "same token id 2924, same position 2, same segment 0" in note
    # one image per stage and sentence, plus one difference strip per stage
    stages = encoder.config.num_hidden_layers + 1
    assert len(fig.axes[0].images) == 3 * stages
    assert fig.get_size_inches()[0] <= 11.5
    plt.close(fig)


def test_picture_says_when_the_positions_differ(encoder, tokenizer):
    fig = viz.draw_contextual_embeddings(encoder, tokenizer, "A bank.", "The river bank.", "bank")
    note = next(text for text in texts(fig) if text.startswith("“bank” in A and B"))
    assert "but positions 2 and 3" in note
    assert fig.get_size_inches()[0] <= 11.5
    plt.close(fig)


def test_picture_rejects_what_it_cannot_draw(encoder, tokenizer):
    with pytest.raises(ValueError, match="not a token of sentence_b"):
        viz.draw_contextual_embeddings(encoder, tokenizer, RIVER, "The loan was approved.", "bank")
    with pytest.raises(ValueError, match="single WordPiece token"):
        viz.draw_contextual_embeddings(encoder, tokenizer, RIVER, MONEY, "bankruptcies")
    with pytest.raises(ValueError, match="more than max_tokens=8"):
        viz.draw_contextual_embeddings(encoder, tokenizer, RIVER, MONEY, "bank", max_tokens=8)
    with pytest.raises(ValueError, match="smaller n_dims"):
        viz.draw_contextual_embeddings(encoder, tokenizer, RIVER, MONEY, "bank", n_dims=64)
    plt.close("all")
