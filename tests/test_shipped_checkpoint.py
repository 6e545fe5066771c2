"""The pretrained Shakespeare BERT that bertlab ships: it loads, it is what its card says, and it
meets its quality figures on the plays it never saw in training.

The floors sit a little below what the shipped weights reached (see the checkpoint's README.md):
the evaluation is seeded, so the figures move only if the weights, the data pipeline or the
held-out split change, and a change that costs accuracy must show up here.
"""

import gzip
import json
import re
import shlex

import pytest
import torch
from required import require

import bertlab
from bertlab._paths import shakespeare_dir
from bertlab.data import HELDOUT_PLAYS, shakespeare_documents
from bertlab.evaluate import evaluate_pretraining
from bertlab.train import parse_args

# The shipped weights reached MLM top-1 0.343 (most-frequent-token baseline 0.072) and NSP 0.623
# on the held-out plays (README.md of the checkpoint); the floors tested here:
MLM_TOP1_FLOOR = 0.33
MLM_BASELINE_RATIO_FLOOR = 4.0  # MLM top-1 / most-frequent-token baseline
NSP_ACCURACY_FLOOR = 0.60


@pytest.fixture(scope="module")
def shipped():
    return bertlab.shakespeare_bert()


@pytest.fixture(scope="module")
def heldout_result(shipped):
    model, tokenizer = shipped
    return evaluate_pretraining(model, tokenizer, shakespeare_documents("heldout"), max_seq_len=128, seed=0)


def test_it_is_a_safetensors_checkpoint_of_at_most_25_mb_with_its_vocab_and_card():
    folder = shakespeare_dir()
    assert (folder / "model.safetensors").stat().st_size <= 25 * 1024 * 1024
    for name in ("config.json", "vocab.txt", "README.md", "train_config.json", "metrics.jsonl.gz"):
        assert (folder / name).is_file(), name


def test_one_short_call_and_from_pretrained_give_the_same_model_in_eval_mode(shipped):
    model, tokenizer = shipped
    assert isinstance(model, bertlab.BertForPreTraining) and not model.training
    again = bertlab.BertForPreTraining.from_pretrained("shakespeare-mini")
    ours, theirs = model.state_dict(), again.state_dict()
    assert list(ours) == list(theirs)  # the same tensors, in the same order...
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name  # ...holding the same values
    assert tokenizer.vocab_size == model.config.vocab_size


def test_transformers_loads_the_shipped_folder_and_computes_the_same(shipped):
    transformers = require("transformers")
    model, tokenizer = shipped
    theirs = transformers.BertForPreTraining.from_pretrained(str(shakespeare_dir())).eval()
    batch = tokenizer("Friends, Romans, countrymen, lend me your ears;", "I come to bury Caesar, not to praise him.")
    with torch.no_grad():
        ours_out, theirs_out = model(**batch), theirs(**batch)
    torch.testing.assert_close(ours_out.prediction_logits, theirs_out.prediction_logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours_out.seq_relationship_logits, theirs_out.seq_relationship_logits, atol=1e-4, rtol=1e-4)


def test_the_card_gives_the_exact_command_that_made_the_training_config():
    folder = shakespeare_dir()
    card = (folder / "README.md").read_text()
    commands = re.findall(r"^python -m bertlab\.train (.+)$", card, flags=re.M)
    assert len(commands) == 1, "the card must give the training command exactly once, on a line of its own"
    from_command = vars(parse_args(shlex.split(commands[0])))
    shipped_config = json.loads((folder / "train_config.json").read_text())
    for key in ("out", "minutes", "stop_after", "quiet"):  # where it ran, how it was sized and shown: not the recipe
        from_command.pop(key), shipped_config.pop(key, None)
    assert from_command == shipped_config


def test_the_log_covers_every_step_of_the_run():
    folder = shakespeare_dir()
    steps = json.loads((folder / "train_config.json").read_text())["steps"]
    with gzip.open(folder / "metrics.jsonl.gz", "rt") as f:
        logged = [json.loads(line)["step"] for line in f]
    assert logged == list(range(1, steps + 1))


def test_on_the_held_out_plays_mlm_beats_the_most_frequent_token_by_far(heldout_result):
    assert {p for p in HELDOUT_PLAYS} == {d.play for d in shakespeare_documents("heldout")}
    r = heldout_result
    assert r["mlm_top1"] >= MLM_TOP1_FLOOR, r
    assert r["mlm_top1"] >= MLM_BASELINE_RATIO_FLOOR * r["mlm_most_frequent_token_baseline"], r


def test_on_the_held_out_plays_nsp_is_well_above_chance(heldout_result):
    assert heldout_result["pairs"] > 1000
    assert heldout_result["nsp_accuracy"] >= NSP_ACCURACY_FLOOR, heldout_result
