"""bertlab.web: what the website runs computes what bertlab's PyTorch model computes.

The exported ONNX graphs are run by ONNX Runtime's Python package (the same runtime as the page's,
without a browser) on real sentences and pairs; the saved tokenizer.json is read back by HF
tokenizers. tests/test_live_book.py then checks the pages themselves in Chromium.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import bertlab
from bertlab import web
from bertlab.finetune import load_classifier

ort = pytest.importorskip("onnxruntime")

SENTENCES = [
    ("Good morrow, my [MASK], how does your honour?", "I thank you, well."),
    ("Is this a dagger which I see before me?", None),
    ("Café naïve [MASK]; zxqvbnm 🤖 東京!", "The [MASK] of the river."),
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site-files")
    sizes = web.write_site_files(folder)
    return folder, sizes


def test_the_site_files_are_the_model_and_the_two_tokenizers_within_the_size_aims(exported):
    folder, sizes = exported
    assert set(sizes) == {
        "shakespeare-mini/model.onnx", "shakespeare-mini/tokenizer.json",
        "shakespeare-mini/tokenizer_config.json", "bert-base-uncased/tokenizer.json",
        "bert-base-uncased/tokenizer_config.json",
    }
    # One copy of the tied embedding: the graph is the size of the fp32 weights, under 25 MB.
    n_weights = sum(p.numel() for p in bertlab.BertForPreTraining.from_pretrained(
        "shakespeare-mini").parameters())
    assert 4 * n_weights <= sizes["shakespeare-mini/model.onnx"] <= 4 * n_weights * 1.02 + 200_000
    assert sizes["shakespeare-mini/model.onnx"] < 25e6


def test_an_export_is_the_same_bytes_on_every_machine(exported, tmp_path):
    """The exporter notes each node's stack trace, with this checkout's paths: a build in another
    folder then wrote a file of another size (CI's classifier was 22.05 MB, this machine's 22.04).
    The site's files carry no path and are the same bytes wherever they are built."""
    folder, _ = exported
    model_bytes = (folder / "shakespeare-mini" / "model.onnx").read_bytes()
    checkout = str(Path(bertlab.__file__).resolve().parent.parent).encode()
    assert checkout not in model_bytes and b"stack_trace" not in model_bytes
    again = web.export_pretraining(bertlab.BertForPreTraining.from_pretrained("shakespeare-mini"),
                                   tmp_path / "somewhere" / "else" / "model.onnx")
    assert again.read_bytes() == model_bytes


def test_the_exported_pretraining_graph_computes_what_bertlab_computes(exported):
    folder, _ = exported
    model, tokenizer = bertlab.shakespeare_bert()
    session = ort.InferenceSession(str(folder / "shakespeare-mini" / "model.onnx"))
    for a, b in SENTENCES:
        encoding = tokenizer.encode(a, b)
        ids = torch.tensor([encoding.input_ids])
        segments = torch.tensor([encoding.token_type_ids])
        at = (ids[0] == tokenizer.mask_token_id).nonzero()[:, 0]
        if len(at) == 0:
            at = torch.tensor([0])
        mlm, nsp, attentions, hidden = session.run(None, {
            "input_ids": ids.numpy(), "token_type_ids": segments.numpy(), "predict_at": at.numpy()})
        with torch.no_grad():
            out = model(ids, segments, output_attentions=True, output_hidden_states=True)
        np.testing.assert_allclose(mlm[0], out.prediction_logits[0, at].numpy(), atol=1e-4)
        np.testing.assert_allclose(nsp, out.seq_relationship_logits.numpy(), atol=1e-5)
        np.testing.assert_allclose(attentions, torch.stack(out.attentions).numpy(), atol=1e-5)
        np.testing.assert_allclose(hidden, torch.stack(out.hidden_states).numpy(), atol=1e-4)
        T = ids.shape[1]
        assert attentions.shape == (4, 1, 4, T, T) and hidden.shape == (5, 1, T, 256)


def test_the_exported_classifier_computes_what_bertlab_computes(tmp_path):
    labels = ["comedies", "roman", "tragedies"]
    model = load_classifier("shakespeare-mini", labels, seed=3).train()
    tokenizer = bertlab.WordPieceTokenizer.from_vocab("shakespeare-mini")
    folder = web.export_genre_classifier(model, tokenizer, labels, tmp_path / "genre")
    assert model.training, "exporting must give the model back in the mode it was in"
    assert json.loads((folder / "labels.json").read_text()) == labels
    reloaded = type(model).from_pretrained(folder / "pytorch").eval()
    session = ort.InferenceSession(str(folder / "model.onnx"))
    model.eval()
    for text in ("Friends, Romans, countrymen, lend me your ears.", "Out, damned spot!"):
        batch = tokenizer(text, max_length=48)
        (logits,) = session.run(None, {"input_ids": batch["input_ids"].numpy(),
                                       "token_type_ids": batch["token_type_ids"].numpy()})
        with torch.no_grad():
            ours = model(**batch).logits.numpy()
            again = reloaded(**batch).logits.numpy()
        np.testing.assert_allclose(logits, ours, atol=1e-5)
        np.testing.assert_array_equal(again, ours)


def test_the_saved_tokenizer_json_encodes_as_bertlabs_tokenizer(exported):
    from tokenizers import Tokenizer

    folder, _ = exported
    for name, ours in (("shakespeare-mini", bertlab.WordPieceTokenizer.from_vocab("shakespeare-mini")),
                       ("bert-base-uncased", bertlab.WordPieceTokenizer.default())):
        saved = Tokenizer.from_file(str(folder / name / "tokenizer.json"))
        assert saved.truncation is None and saved.padding is None
        for a, b in SENTENCES:
            assert saved.encode(a, b).ids == ours.encode(a, b).input_ids
        config = json.loads((folder / name / "tokenizer_config.json").read_text())
        assert config["do_lower_case"] is True and config["mask_token"] == "[MASK]"


def test_outside_a_book_build_there_is_no_site_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(web.SITE_FILES_ENV, raising=False)
    assert web.site_files_folder() is None
    monkeypatch.setenv(web.SITE_FILES_ENV, str(tmp_path))
    assert web.site_files_folder() == tmp_path
