"""viz.draw_masked_lm: chapter 3's picture of BERT (masked language modelling) is drawn from the
shipped model's own tensors: the ids of the real sentence, the last hidden vectors, and at each
[MASK] the probabilities that bertlab.fill_mask computes; only the [MASK] positions flow into the
head. Checked here against a direct computation with bertlab."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

import bertlab  # noqa: E402
from bertlab import viz  # noqa: E402
from bertlab.viz.predictions import ANSWER_COLOR  # noqa: E402

TEXT = "O Romeo, Romeo! wherefore [MASK] thou [MASK]?"
ANSWERS = ["art", "romeo"]


@pytest.fixture(scope="module")
def shakespeare():
    return bertlab.shakespeare_bert()


@pytest.fixture(scope="module")
def figure(shakespeare):
    fig = viz.draw_masked_lm(*shakespeare, TEXT, answers=ANSWERS)
    yield fig
    plt.close(fig)


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_the_picture_shows_the_real_sentence_and_its_ids(figure, shakespeare):
    _, tokenizer = shakespeare
    encoding = tokenizer.encode(TEXT)
    shown = texts(figure)
    for token, token_id in zip(encoding.tokens, encoding.input_ids, strict=True):
        assert token in shown and str(token_id) in shown, (token, token_id)
    assert shown.count("[MASK]") == 2 and shown.count(str(tokenizer.mask_token_id)) == 2


def test_the_bars_are_the_probabilities_that_fill_mask_computes(figure, shakespeare):
    model, tokenizer = shakespeare
    expected = bertlab.fill_mask(model, tokenizer, TEXT, top_k=5)
    charts = figure.axes[1:]
    assert len(charts) == len(expected) == 2
    for chart, predictions in zip(charts, expected, strict=True):
        tokens = [label.get_text() for label in chart.get_yticklabels()]
        assert tokens == [p.token for p in predictions]
        widths = [bar.get_width() for bar in chart.patches]
        assert widths == pytest.approx([p.probability for p in predictions], abs=1e-6)
        printed = [t.get_text() for t in chart.texts]
        assert printed == [f"{p.probability:.3f}" for p in predictions]


def test_the_true_token_is_marked_with_its_rank_probability_and_loss(figure, shakespeare):
    model, tokenizer = shakespeare
    everything = bertlab.fill_mask(model, tokenizer, TEXT, top_k=tokenizer.vocab_size)
    headers = [t for t in texts(figure) if t.startswith("[MASK] at position")]
    assert len(headers) == 2
    rows = zip(headers, ANSWERS, everything, figure.axes[1:], strict=True)
    for header, answer, predictions, chart in rows:
        rank = next(i for i, p in enumerate(predictions, start=1) if p.token == answer)
        p = predictions[rank - 1].probability
        assert f"true '{answer}'" in header
        assert f"rank {rank}, p = {p:.3f}, loss −ln p = {-math.log(p):.2f}" in header
        orange = [bar for bar in chart.patches if to_hex(bar.get_facecolor()) == ANSWER_COLOR]
        assert len(orange) == (1 if rank <= 5 else 0)
    assert "rank 1," in headers[0]  # 'art' is the model's first guess, 'romeo' is not in its top 5
    assert "rank 1," not in headers[1]


def test_only_the_masked_positions_flow_into_the_head(figure, shakespeare):
    model, tokenizer = shakespeare
    encoding = tokenizer.encode(TEXT)
    tiles = [image for image in figure.axes[0].get_children() if isinstance(image, AxesImage)]
    assert len(tiles) == len(encoding.input_ids)
    full = [i for i, tile in enumerate(tiles) if tile.get_alpha() == 1.0]
    masks = [i for i, t in enumerate(encoding.input_ids) if t == tokenizer.mask_token_id]
    assert full == masks  # the others are greyed
    # the tiles are the real last hidden vectors, folded 16 x 16
    with torch.no_grad():
        hidden = model.bert(torch.tensor([encoding.input_ids])).last_hidden_state[0]
    assert tiles[masks[0]].get_array().shape == (16, 16)
    assert torch.allclose(
        torch.tensor(tiles[masks[0]].get_array().data).flatten(), hidden[masks[0]], atol=1e-5
    )
    # into the head and out of it: one orange arrow each per [MASK], none from other positions
    arrows = [p for p in figure.axes[0].patches if isinstance(p, FancyArrowPatch)]
    orange = [a for a in arrows if to_hex(a.get_edgecolor()) == ANSWER_COLOR]
    assert len(orange) == 2 * len(masks)


def test_it_fits_the_book(figure):
    width, _ = figure.get_size_inches()
    assert width <= 11.5
    sizes = [t.get_fontsize() for ax in figure.axes for t in ax.texts]
    sizes += [t.get_fontsize() for ax in figure.axes for t in ax.get_yticklabels()]
    assert min(sizes) >= 8


def test_without_answers_it_marks_nothing_and_restores_training_mode(shakespeare):
    model, tokenizer = shakespeare
    model.train()
    try:
        fig = viz.draw_masked_lm(model, tokenizer, "Good [MASK], my lord.", top_k=3)
        assert model.training
    finally:
        model.eval()
    assert [t for t in texts(fig) if t.startswith("[MASK] at")] == ["[MASK] at position 2"]
    assert not any("true" in t for t in texts(fig))
    assert [label.get_text() for label in fig.axes[1].get_yticklabels()][0] == "morrow"
    plt.close(fig)


@pytest.mark.parametrize(
    "text, answers, message",
    [
        ("Good morrow, my lord.", None, "needs at least one \\[MASK\\]"),
        ("[MASK] [MASK] [MASK] [MASK] [MASK] lord.", None, "5 \\[MASK\\]s, too many to draw"),
        ("Good [MASK], my lord. " + "How does your honour? " * 5, None, "too long for the picture"),
        ("Good [MASK], my lord.", ["morrow", "sir"], "2 tokens for 1 \\[MASK\\]s"),
        ("Good [MASK], my lord.", ["morrowful"], "not tokens of the vocabulary"),
    ],
)
def test_bad_input_is_refused_clearly(shakespeare, text, answers, message):
    open_before = len(plt.get_fignums())
    with pytest.raises(ValueError, match=message):
        viz.draw_masked_lm(*shakespeare, text, answers=answers)
    assert len(plt.get_fignums()) == open_before  # refused before drawing anything
