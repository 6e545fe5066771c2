"""viz.draw_next_sentence: chapter 4's picture of next sentence prediction, from real tensors."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import bertlab  # noqa: E402
from bertlab import viz  # noqa: E402
from bertlab.data import IS_NEXT, NOT_NEXT  # noqa: E402

DAGGER = "Is this a dagger which I see before me, The handle toward my hand?"
SUCCESSOR = "Come, let me clutch thee."
HAMLET = "Something is rotten in the state of Denmark."
PAIRS = [(DAGGER, SUCCESSOR), (DAGGER, HAMLET)]


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return bertlab.shakespeare_bert()


@pytest.fixture(scope="module")
def figure(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    fig = viz.draw_next_sentence(model, tokenizer, PAIRS, labels=["IsNext", "NotNext"])
    yield fig
    plt.close(fig)


def figure_texts(fig) -> list[str]:
    """Every string drawn in the figure: text artists, titles, tick and axis labels."""
    texts = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    return [t for t in texts if t]


def direct_computation(model, tokenizer, text_a, text_b):
    """h_cls, pooled, logits and P(IsNext) of one pair, computed step by step with bertlab."""
    batch = tokenizer(text_a, text_b)
    with torch.no_grad():
        hidden = model.bert(**batch).last_hidden_state  # (1, T, H)
        h_cls = hidden[0, 0]  # (H,)
        dense = model.bert.pooler.dense
        pooled = torch.tanh(h_cls @ dense.weight.T + dense.bias)  # (H,)
        logits = pooled @ model.nsp.weight.T + model.nsp.bias  # (2,)
    return h_cls, pooled, logits, logits.softmax(dim=-1)[IS_NEXT].item()


def test_shows_the_probabilities_and_logits_the_model_computes(model_and_tokenizer, figure):
    model, tokenizer = model_and_tokenizer
    texts = figure_texts(figure)
    expected = viz.next_sentence_probabilities(model, tokenizer, PAIRS)
    for (text_a, text_b), p_expected in zip(PAIRS, expected, strict=True):
        h_cls, pooled, logits, p_is_next = direct_computation(model, tokenizer, text_a, text_b)
        assert p_is_next == pytest.approx(p_expected.item(), abs=1e-5)
        assert f"P(IsNext) = {p_is_next:.3f}" in texts
        for value in logits.tolist():
            assert f"{value:+.3f}" in texts
        # The first values of h and of the pooled vector, printed under their tiles
        assert any(
            t.startswith("first: " + " ".join(f"{v:+.2f}" for v in h_cls[:3])) for t in texts
        )
        assert any(
            t.startswith("first: " + " ".join(f"{v:+.2f}" for v in pooled[:3])) for t in texts
        )
        n_tokens = len(tokenizer.encode(text_a, text_b).input_ids)
        assert f"[CLS] A [SEP] B [SEP]: {n_tokens} tokens" in texts


def test_tiles_hold_the_real_vectors(model_and_tokenizer, figure):
    model, tokenizer = model_and_tokenizer
    h_cls, pooled, _, _ = direct_computation(model, tokenizer, *PAIRS[0])
    images = [im for ax in figure.axes for im in ax.get_images()]
    first_h, first_pooled = images[0].get_array(), images[1].get_array()
    assert first_h.shape == first_pooled.shape == (16, 16)  # H = 256, folded
    assert torch.allclose(torch.tensor(first_h.ravel(), dtype=torch.float32), h_cls, atol=1e-5)
    assert torch.allclose(
        torch.tensor(first_pooled.ravel(), dtype=torch.float32), pooled, atol=1e-5
    )
    assert images[1].get_clim() == (-1.0, 1.0)  # tanh's range


def test_labels_and_answers_are_written(figure):
    texts = figure_texts(figure)
    assert "true: IsNext" in texts and "true: NotNext" in texts
    assert sum(t.startswith("model says ") for t in texts) == 2
    assert any(t.startswith("A: Is this a dagger") for t in texts)
    assert any(t.startswith("B: Come, let me clutch") for t in texts)


def test_fits_the_page(figure):
    width, _ = figure.get_size_inches()
    assert width <= 11.5
    sizes = [t.get_fontsize() for t in figure.findobj(matplotlib.text.Text) if t.get_text()]
    assert min(sizes) >= 8


def test_long_texts_are_shortened_and_labels_may_be_ids(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    long_a = " ".join([DAGGER] * 6)
    fig = viz.draw_next_sentence(model, tokenizer, [(long_a, SUCCESSOR)], labels=[NOT_NEXT])
    try:
        texts = figure_texts(fig)
        a_lines = [t for t in texts if t.startswith(("A: ", "   "))]
        assert len(a_lines) == 2 and a_lines[-1].endswith("…")
        assert "true: NotNext" in texts
    finally:
        plt.close(fig)


def test_the_model_is_left_in_its_mode(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    model.train()
    try:
        fig = viz.draw_next_sentence(model, tokenizer, PAIRS[:1])
        plt.close(fig)
        assert model.training
    finally:
        model.eval()


@pytest.mark.parametrize(
    "pairs, message",
    [
        ((DAGGER, SUCCESSOR), "single text"),  # one pair, not a list of pairs
        ([(DAGGER,)], "pair of two texts"),
        ([(DAGGER, SUCCESSOR, HAMLET)], "pair of two texts"),
        ([(DAGGER, "")], "non-empty strings"),
        ([(DAGGER, 3)], "non-empty strings"),
        ([], "1 to 4"),
        ([(DAGGER, SUCCESSOR)] * 5, "1 to 4"),
        (DAGGER, "list of"),
    ],
)
def test_rejects_what_is_not_pairs_of_two_texts(model_and_tokenizer, pairs, message):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(ValueError, match=message):
        viz.draw_next_sentence(model, tokenizer, pairs)
    plt.close("all")


def test_rejects_bad_labels_and_models_without_nsp_head(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    with pytest.raises(ValueError, match="one label per pair"):
        viz.draw_next_sentence(model, tokenizer, PAIRS, labels=["IsNext"])
    with pytest.raises(ValueError, match="IsNext"):
        viz.draw_next_sentence(model, tokenizer, PAIRS, labels=["yes", "no"])
    with pytest.raises(ValueError, match="next-sentence head"):
        viz.draw_next_sentence(model.bert, tokenizer, PAIRS)
    plt.close("all")
