"""HF checkpoint folders in and out: what transformers writes, bertlab reads, and the reverse."""

import json

import pytest
import torch

import bertlab
from bertlab.checkpoints import ENCODER_NAMES, HEAD_NAMES, hf_name
from conftest import hf_config, hf_twin, padded_batch

CONFIG = bertlab.BertConfig(vocab_size=211, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=72, type_vocab_size=3, max_position_embeddings=48)


def test_every_parameter_has_exactly_one_hf_name():
    model = bertlab.BertForPreTraining(CONFIG)
    names = [hf_name(k) for k in model.state_dict()]
    assert len(set(names)) == len(names)
    import transformers
    hf_keys = set(transformers.BertForPreTraining(hf_config(CONFIG)).state_dict())
    tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert set(names) == hf_keys - tied
    assert len(ENCODER_NAMES) + len(HEAD_NAMES) == 18  # the table is the whole story


def test_save_pretrained_loads_in_transformers_with_no_missing_keys_and_the_same_outputs(tmp_path):
    import transformers
    torch.manual_seed(0)
    ours = bertlab.BertForPreTraining(CONFIG).eval()
    ours.save_pretrained(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"config.json", "model.safetensors"}
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["BertForPreTraining"]

    theirs, info = transformers.BertForPreTraining.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    batch = padded_batch(CONFIG)
    a, b = ours(**batch), theirs.eval()(**batch)
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.seq_relationship_logits, b.seq_relationship_logits, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=1e-5, rtol=0)


def test_a_checkpoint_written_by_transformers_loads_into_every_bertlab_class(tmp_path):
    torch.manual_seed(1)
    reference = bertlab.BertForPreTraining(CONFIG).eval()
    hf_twin(reference).save_pretrained(tmp_path)
    batch = padded_batch(CONFIG)
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}

    pretraining = bertlab.BertForPreTraining.from_pretrained(tmp_path)
    assert not pretraining.training, "from_pretrained returns an eval-mode model, as transformers does"
    torch.testing.assert_close(pretraining(**batch).loss, reference(**batch).loss, atol=1e-6, rtol=0)
    encoder = bertlab.BertModel.from_pretrained(tmp_path).eval()  # the heads are dropped, as in HF
    torch.testing.assert_close(encoder(**inputs).pooler_output, reference.bert(**inputs).pooler_output)
    masked_lm = bertlab.BertForMaskedLM.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(masked_lm(**inputs).logits, reference(**inputs).prediction_logits)
    classifier = bertlab.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert classifier.classifier.out_features == 3  # a new head, as fine-tuning starts


def test_old_pytorch_model_bin_with_layernorm_gamma_beta_names_loads(tmp_path):
    torch.manual_seed(2)
    reference = bertlab.BertForPreTraining(CONFIG).eval()
    twin = hf_twin(reference)
    old_style = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
                 for k, v in twin.state_dict().items()}
    old_style["bert.embeddings.position_ids"] = torch.arange(CONFIG.max_position_embeddings)[None]
    assert any(k.endswith("gamma") for k in old_style) and "cls.predictions.decoder.weight" in old_style
    torch.save(old_style, tmp_path / "pytorch_model.bin")
    CONFIG.save(tmp_path)
    loaded = bertlab.BertForPreTraining.from_pretrained(tmp_path).eval()
    batch = padded_batch(CONFIG)
    torch.testing.assert_close(loaded(**batch).loss, reference(**batch).loss)


def test_the_embedded_pretrained_encoder_is_minilm_with_the_bert_base_uncased_vocab():
    model = bertlab.BertModel.from_pretrained()
    c = model.config
    assert (c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.vocab_size) == (6, 384, 12, 30522)
    tokenizer = bertlab.WordPieceTokenizer.default()
    assert tokenizer.vocab_size == c.vocab_size
    # a pretrained encoder puts a sentence nearer its paraphrase than an unrelated one
    batch = tokenizer(["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell today."])
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1)
    mean = (h * mask).sum(1) / mask.sum(1)
    sim = torch.nn.functional.cosine_similarity(mean[:, None], mean[None, :], dim=-1)
    assert sim[0, 1] > sim[0, 2] + 0.2, sim


def test_pretraining_heads_missing_from_a_bare_encoder_are_an_error_unless_allowed(minilm_folder):
    with pytest.raises(ValueError, match=r"(?s)missing \(7\): cls\.predictions.*allow_new_heads=True"):
        bertlab.BertForPreTraining.from_pretrained(minilm_folder)
    with pytest.warns(UserWarning, match="freshly initialised"):
        model = bertlab.BertForPreTraining.from_pretrained(minilm_folder, allow_new_heads=True)
    encoder = bertlab.BertModel.from_pretrained(minilm_folder)
    torch.testing.assert_close(model.bert.layers[5].ffn_out.weight, encoder.layers[5].ffn_out.weight)


def test_missing_unexpected_and_misshaped_keys_are_listed_together_in_one_error(tmp_path):
    from safetensors.torch import load_file, save_file
    torch.manual_seed(3)
    bertlab.BertForPreTraining(CONFIG).save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    del state["bert.encoder.layer.1.output.dense.weight"]
    del state["bert.pooler.dense.bias"]
    state["bert.encoder.layer.9.attention.self.query.weight"] = torch.zeros(32, 32)
    state["bert.embeddings.token_type_embeddings.weight"] = torch.zeros(2, 32)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError) as error:
        bertlab.BertForPreTraining.from_pretrained(tmp_path)
    message = str(error.value)
    assert "missing (2): bert.encoder.layer.1.output.dense.weight, bert.pooler.dense.bias" in message
    assert "unexpected (1): bert.encoder.layer.9.attention.self.query.weight" in message
    assert "wrong shape (1): bert.embeddings.token_type_embeddings.weight: checkpoint (2, 32), model (3, 32)" in message


def test_a_checkpoint_of_another_model_type_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "roberta", "vocab_size": 50265}))
    with pytest.raises(ValueError, match="'roberta' model, not a BERT"):
        bertlab.BertModel.from_pretrained(tmp_path)


def test_a_folder_without_a_checkpoint_says_what_it_should_hold(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        bertlab.BertModel.from_pretrained(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="No config.json"):
        bertlab.BertModel.from_pretrained(tmp_path)
    CONFIG.save(tmp_path)
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        bertlab.BertModel.from_pretrained(tmp_path)
