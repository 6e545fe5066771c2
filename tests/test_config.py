"""BertConfig: HF's field names and defaults, config.json in and out, presets, and clear errors."""

import dataclasses
import json

import pytest

from bertlab import PRESETS, BertConfig


def test_defaults_are_those_of_hf_bert_config():
    import transformers
    ours, theirs = BertConfig(), transformers.BertConfig()
    for field in dataclasses.fields(BertConfig):
        if field.name == "id2label":
            assert ours.num_labels == theirs.num_labels == 2
            continue
        assert getattr(ours, field.name) == getattr(theirs, field.name), field.name
    assert (ours.vocab_size, ours.hidden_size, ours.num_hidden_layers, ours.num_attention_heads) == (30522, 768, 12, 12)
    assert (ours.intermediate_size, ours.hidden_act, ours.layer_norm_eps) == (3072, "gelu", 1e-12)


def test_config_json_round_trip_and_transformers_reads_it(tmp_path):
    import transformers
    config = BertConfig(vocab_size=8000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                        intermediate_size=1000, type_vocab_size=3, id2label={0: "comedy", 1: "tragedy"})
    config.save(tmp_path)
    assert BertConfig.load(tmp_path) == config
    theirs = transformers.BertConfig.from_pretrained(tmp_path)
    assert (theirs.vocab_size, theirs.intermediate_size, theirs.type_vocab_size) == (8000, 1000, 3)
    assert theirs.id2label == {0: "comedy", 1: "tragedy"}


def test_a_config_json_written_by_transformers_loads(tmp_path):
    import transformers
    transformers.BertConfig(hidden_size=96, num_attention_heads=3, num_labels=4).save_pretrained(tmp_path)
    config = BertConfig.load(tmp_path / "config.json")
    assert (config.hidden_size, config.num_attention_heads, config.num_labels) == (96, 3, 4)


@pytest.mark.parametrize("name,layers,hidden", [("tiny", 2, 128), ("mini", 4, 256), ("small", 4, 512),
                                                ("medium", 8, 512), ("base", 12, 768), ("large", 24, 1024)])
def test_presets_from_tiny_to_large(name, layers, hidden):
    config = BertConfig.preset(name)
    assert (config.num_hidden_layers, config.hidden_size) == (layers, hidden)
    assert config.head_size == 64 and config.intermediate_size == 4 * hidden
    assert BertConfig.preset(name, vocab_size=8000).vocab_size == 8000
    assert name in PRESETS


def test_base_preset_is_bert_base():
    assert BertConfig.preset("base") == BertConfig()


@pytest.mark.parametrize("kwargs,message", [
    (dict(hidden_size=100, num_attention_heads=12), r"hidden_size \(100\) must be divisible by num_attention_heads \(12\).*choose e.g."),
    (dict(hidden_size=0), r"hidden_size must be a positive integer, got 0"),
    (dict(num_hidden_layers=-2), r"num_hidden_layers must be a positive integer, got -2"),
    (dict(vocab_size=3.5), r"vocab_size must be a positive integer, got 3.5"),
    (dict(hidden_act="gelu_fast_new"), r"hidden_act 'gelu_fast_new' is not supported; use one of"),
    (dict(hidden_dropout_prob=1.5), r"hidden_dropout_prob must be in \[0, 1\)"),
    (dict(layer_norm_eps=0), r"layer_norm_eps must be positive"),
    (dict(pad_token_id=40000), r"pad_token_id \(40000\) must be a token id in \[0, vocab_size=30522\)"),
])
def test_invalid_values_say_what_to_change(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BertConfig(**kwargs)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown preset 'huge'; choose one of \['tiny', 'mini'"):
        BertConfig.preset("huge")


def test_another_model_type_or_position_embedding_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "distilbert"}))
    with pytest.raises(ValueError, match="'distilbert' model, not a BERT"):
        BertConfig.load(tmp_path)
    with pytest.raises(ValueError, match="position_embedding_type 'relative_key' is not supported"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})


def _configs_as_the_book_prints_them():
    from bertlab.finetune import FinetuneConfig
    from bertlab.train import TrainConfig

    return [BertConfig(), BertConfig.preset("mini", vocab_size=8192), TrainConfig(),
            FinetuneConfig(), FinetuneConfig(steps=80, eval_every=20, precision="bf16")]


@pytest.mark.parametrize("config", _configs_as_the_book_prints_them(), ids=lambda c: type(c).__name__)
def test_a_printed_config_has_one_field_a_line_and_rebuilds_the_config(config):
    """print(config) fits the book's 100-character code column and is the Python that rebuilds it."""
    text = repr(config)
    assert str(config) == text
    lines = text.splitlines()
    fields = [f.name for f in dataclasses.fields(config)]
    assert lines[0] == f"{type(config).__name__}(" and lines[-1] == ")"
    assert [line.split("=")[0] for line in lines[1:-1]] == [f"    {name}" for name in fields]
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    assert eval(text, {type(config).__name__: type(config)}) == config


def test_a_config_repr_splits_a_value_too_long_for_its_line():
    from bertlab.train import TrainConfig

    config = TrainConfig(corpus=",".join(f"/data/a rather long folder/{'play-' * 9}{i}.txt" for i in range(30)))
    labelled = BertConfig(id2label={i: f"the label of class number {i} " * 3 for i in range(4)})
    for long in (config, labelled):
        text = repr(long)
        assert all(len(line) <= 100 for line in text.splitlines()), max(text.splitlines(), key=len)
        assert eval(text, {type(long).__name__: type(long)}) == long
