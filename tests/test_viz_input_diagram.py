"""viz.draw_input_embeddings: chapter 1's picture of BERT (the BERT paper's Figure 2) is drawn
from the model's own tensors: every tile is the real vector of its stage, and every label the
real id or spread, checked here against a direct computation with bertlab."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from bertlab import viz  # noqa: E402
from bertlab.viz.input_diagram import MAX_TOKENS  # noqa: E402

TEXT_A, TEXT_B = "The quokka was friendly.", "It smiled."


@pytest.fixture
def figure(tokenizer, encoder):
    fig = viz.draw_input_embeddings(encoder, tokenizer, TEXT_A, TEXT_B)
    yield fig
    plt.close(fig)


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def tiles(fig) -> dict[str, torch.Tensor]:
    """Every tile's image data, by its gid "stage:position"."""
    return {
        im.get_gid(): torch.from_numpy(im.get_array().data.copy())
        for ax in fig.axes
        for im in ax.images
    }


def test_tiles_are_the_models_own_vectors(figure, tokenizer, encoder):
    pair = tokenizer.encode(TEXT_A, TEXT_B)
    ids, segments = torch.tensor([pair.input_ids]), torch.tensor([pair.token_type_ids])
    T, H = ids.shape[1], encoder.config.hidden_size
    embeddings = encoder.embeddings
    with torch.no_grad():
        expected = {
            "token": embeddings.token.weight[ids[0]],
            "segment": embeddings.segment.weight[segments[0]],
            "position": embeddings.position.weight[:T],
        }
        expected["sum"] = expected["token"] + expected["segment"] + expected["position"]
        expected["output"] = embeddings(ids, segments)[0]  # eval mode: the module's output
    drawn = tiles(figure)
    assert len(drawn) == 5 * T
    for stage, rows in expected.items():
        for i in range(T):
            tile = drawn[f"{stage}:{i}"]
            assert tile.numel() == H, f"{stage}:{i} shows {tile.numel()} of {H} features"
            assert torch.allclose(tile.reshape(-1).float(), rows[i].float(), atol=1e-5), (stage, i)


def test_labels_are_the_real_ids_and_spreads(figure, tokenizer, encoder):
    pair = tokenizer.encode(TEXT_A, TEXT_B)
    shown = texts(figure)
    for token, token_id in zip(pair.tokens, pair.input_ids, strict=True):
        assert token in shown and str(token_id) in shown
    assert shown.count("$E_A$ (0)") == pair.token_type_ids.count(0)
    assert shown.count("$E_B$ (1)") == pair.token_type_ids.count(1)
    assert all(f"$E_{{{i}}}$" in shown for i in range(len(pair.tokens)))
    with torch.no_grad():
        output = encoder.embeddings(
            torch.tensor([pair.input_ids]), torch.tensor([pair.token_type_ids])
        )[0]
    cls_spread = output[0].std(unbiased=False).item()  # [CLS] after LayerNorm
    assert f"σ {cls_spread:.3f}" in shown


def test_fits_the_book_and_its_text_is_readable(figure):
    width, _ = figure.get_size_inches()
    assert width <= 11.5
    # As Jupyter saves it for the book: cropped to its content plus a 0.1-inch margin.
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=100, bbox_inches="tight")
    assert plt.imread(io.BytesIO(png.getvalue())).shape[1] <= 1150
    sizes = [t.get_fontsize() for ax in figure.axes for t in ax.texts]
    assert min(sizes) >= 8


def test_accepts_the_embeddings_module_and_a_single_sentence(tokenizer, encoder):
    fig = viz.draw_input_embeddings(encoder.embeddings, tokenizer, "The quokka smiled.")
    try:
        assert len(tiles(fig)) == 5 * len(tokenizer.encode("The quokka smiled.").tokens)
        assert "$E_B$ (1)" not in texts(fig)
    finally:
        plt.close(fig)


def test_rejects_what_does_not_fit(tokenizer, encoder):
    long_a = "The quokka was unbelievably friendly."
    with pytest.raises(ValueError, match=f"room for {MAX_TOKENS} columns"):
        viz.draw_input_embeddings(encoder, tokenizer, long_a, "It smiled at the photographer.")
    with pytest.raises(TypeError, match="BertModel or its Embeddings"):
        viz.draw_input_embeddings(torch.nn.Linear(2, 2), tokenizer, TEXT_A, TEXT_B)
    assert not plt.get_fignums()  # nothing left open by the failures
