"""The pretraining loop: reproducible, exactly resumable, the same on 1 or 2 processes, and clear about bad input."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bertlab.train import (Batches, Prefetcher, SequenceLengthSchedule, TrainConfig, parse_args, sinusoidal_positions_,
                           train, warmup_then_linear_decay)

ROOT = Path(__file__).resolve().parents[1]

TEXT = """\
The river ran slowly past the old mill. Its water was brown with the rain of the night. A heron stood at the edge.
It did not move for a long time. Then it struck, and a fish was gone. The miller watched from his door.

The market opened at dawn. Farmers brought eggs, cheese and apples from the hills. The baker sold bread still warm.
Children ran between the stalls. A dog barked at the geese. By noon the square was empty again.

The ship left the harbour in a storm. Its sails were torn before it passed the light. The captain held the wheel.
The sailors prayed and bailed the water out. At last the wind fell and the stars came out. They saw the coast at dawn.

The king called his council to the hall. He asked who would ride to the north. No lord answered him at first.
Then the youngest knight stood up. He said he would go alone. The king gave him a horse and a sword.
"""


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 6)
    return path


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    # Trained once and shared: HF tokenizers' vocab training breaks ties in hash order, so two
    # trainings can differ; a run that must repeat exactly takes a saved vocab.txt.
    from bertlab.tokenizer import WordPieceTokenizer
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    WordPieceTokenizer.train(TEXT.split("\n"), vocab_size=300, min_frequency=1).save(path)
    return path


def tiny_run(out, corpus, vocab, **overrides):
    settings = dict(out=str(out), preset="tiny", corpus=str(corpus), vocab=str(vocab), max_seq_len=48,
                    batch_size=8, lr=1e-3, warmup_steps=2, steps=8, save_every=100, log_every=1)
    return TrainConfig(**{**settings, **overrides})


def losses(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_the_learning_rate_warms_up_then_decays_linearly_to_zero():
    factors = [warmup_then_linear_decay(s, warmup_steps=4, total_steps=12) for s in range(12)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[-1] == pytest.approx(1 / 8)
    assert all(a > b for a, b in itertools.pairwise(factors[4:]))


def test_the_same_seed_gives_the_same_loss_sequence(tmp_path, corpus, vocab):
    train(tiny_run(tmp_path / "a", corpus, vocab))
    train(tiny_run(tmp_path / "b", corpus, vocab))
    a, b = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert len(a) == 8
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    train(tiny_run(tmp_path / "c", corpus, vocab, seed=1))
    assert [r["loss"] for r in losses(tmp_path / "c")] != [r["loss"] for r in a]


SHORT_FIRST = dict(short_seq_len=16, short_seq_fraction=0.5, sinusoidal_positions=True)


@pytest.mark.parametrize("recipe,stop", [({}, 3), (SHORT_FIRST, 3), (SHORT_FIRST, 5)],
                         ids=["plain", "short-first-stopped-before-the-switch", "short-first-stopped-after-it"])
def test_a_run_stopped_and_resumed_matches_the_uninterrupted_run_step_for_step(tmp_path, corpus, vocab, recipe, stop):
    train(tiny_run(tmp_path / "whole", corpus, vocab, **recipe))
    train(tiny_run(tmp_path / "split", corpus, vocab, stop_after=stop, **recipe))
    assert len(losses(tmp_path / "split")) == stop and (tmp_path / "split" / "checkpoint.pt").exists()
    train(tiny_run(tmp_path / "split", corpus, vocab, **recipe))  # resumes from step `stop`
    whole, split = losses(tmp_path / "whole"), losses(tmp_path / "split")
    for key in ("step", "loss", "mlm_loss", "nsp_loss", "mlm_acc", "nsp_acc", "lr", "grad_norm"):
        assert [r[key] for r in split] == [r[key] for r in whole], key
    for folder in ("whole", "split"):
        assert (tmp_path / folder / "model" / "model.safetensors").exists()
        assert (tmp_path / folder / "metrics.png").stat().st_size > 0


def test_gradient_accumulation_computes_the_same_steps(tmp_path, corpus, vocab):
    train(tiny_run(tmp_path / "one", corpus, vocab, dropout=0.0, steps=4))
    train(tiny_run(tmp_path / "two", corpus, vocab, dropout=0.0, steps=4, grad_accum=2))
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert [r["step"] for r in one] == [r["step"] for r in two] == [1, 2, 3, 4]
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5)


def test_torchrun_with_two_cpu_processes_matches_one_process(tmp_path, corpus, vocab):
    """2 processes (gloo), each half of every global batch, against 1 process with the whole batch.
    Dropout is off so that both compute the same function; the loss is normalised by the counts of
    the global batch, so the two differ only by float rounding: within 1e-5 per step."""
    args = ["--preset", "tiny", "--corpus", str(corpus), "--vocab", str(vocab), "--max-seq-len", "48",
            "--batch-size", "8", "--warmup-steps", "2", "--steps", "5", "--dropout", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    single = subprocess.run([sys.executable, "-m", "bertlab.train", *args, "--out", str(tmp_path / "one")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]
    double = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "bertlab.train", *args, "--out", str(tmp_path / "two")],
                            env=env, capture_output=True, text=True, timeout=300)
    assert double.returncode == 0, double.stderr[-3000:]
    one, two = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(one) == len(two) == 5
    for a, b in zip(one, two, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-5), (a, b)
        assert b["mlm_acc"] == a["mlm_acc"] and b["nsp_acc"] == a["nsp_acc"]


@pytest.mark.parametrize("change,message", [(dict(lr=2e-3), "lr: checkpoint 0.001, now 0.002"),
                                            (dict(preset="mini"), "preset: checkpoint 'tiny', now 'mini'")])
def test_resuming_with_a_changed_configuration_is_refused(tmp_path, corpus, vocab, change, message):
    train(tiny_run(tmp_path / "run", corpus, vocab, stop_after=2))
    with pytest.raises(ValueError, match=r"(?s)Cannot resume .*" + message):
        train(tiny_run(tmp_path / "run", corpus, vocab, **change))


def test_a_sequence_length_too_short_for_a_pair(tmp_path, corpus, vocab):
    with pytest.raises(ValueError, match=r"max_seq_len=4 is too short for a pair: the minimum is 5"):
        train(tiny_run(tmp_path / "run", corpus, vocab, max_seq_len=4))


def test_a_run_needs_a_length(tmp_path, corpus, vocab):
    with pytest.raises(ValueError, match="--steps N, or --minutes M"):
        train(tiny_run(tmp_path / "run", corpus, vocab, steps=0))


def test_a_missing_corpus_is_a_clear_error(tmp_path, vocab):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        train(tiny_run(tmp_path / "run", tmp_path / "nowhere.txt", vocab))


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = capsys.readouterr().out
    for name in TrainConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in text
    assert "torchrun" in text


def test_no_weight_decay_on_biases_and_layernorm():
    import bertlab
    from bertlab.train import build_optimizer
    model = bertlab.BertForPreTraining(bertlab.BertConfig.preset("tiny", vocab_size=100))
    decay, no_decay = build_optimizer(model, lr=1e-3, weight_decay=0.01).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    assert {names[id(p)] for p in no_decay["params"]} == {
        n for n, _ in model.named_parameters() if n.endswith("bias") or ".norm." in n or "_norm." in n}
    assert "bert.layers.0.ffn_in.weight" in {names[id(p)] for p in decay["params"]}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_the_prefetcher_hands_out_the_items_in_step_order_and_passes_on_errors():
    made = []

    def make(step):
        if step == 5:
            raise ValueError("bad batch at step 5")
        made.append(step)
        return step * 10

    prefetcher = Prefetcher(make, range(3, 8), depth=2)
    assert [prefetcher.get(), prefetcher.get()] == [30, 40]
    with pytest.raises(ValueError, match="bad batch at step 5"):
        prefetcher.get()
    prefetcher.close()
    assert made == [3, 4]  # in order, and nothing after the error


def test_the_prefetcher_stops_early_when_closed():
    prefetcher = Prefetcher(lambda step: step, range(10**9), depth=2)
    assert prefetcher.get() == 0
    prefetcher.close()  # returns: the thread does not wait for a reader that is gone
    assert not prefetcher._thread.is_alive()


def test_short_sequences_first_hold_the_same_tokens_per_step_then_full_length(corpus, vocab):
    from bertlab.data import text_file_documents
    from bertlab.tokenizer import WordPieceTokenizer
    cfg = tiny_run("unused", corpus, vocab, **SHORT_FIRST)  # 8 steps, the first half at 16 tokens
    documents, tokenizer = text_file_documents(corpus), WordPieceTokenizer.from_vocab(vocab)
    full = Batches(documents, tokenizer, max_seq_len=cfg.max_seq_len, batch_size=cfg.batch_size, seed=cfg.seed)
    schedule = SequenceLengthSchedule(documents, tokenizer, cfg, full)
    shapes = [(len(b), max(len(e.input_ids) for e in b)) for b in (schedule.next(step) for step in range(8))]
    assert [n for n, _ in shapes] == [24] * 4 + [8] * 4  # 8 sequences of 48 tokens = 24 of 16
    assert all(longest <= 16 for _, longest in shapes[:4]) and all(16 < longest <= 48 for _, longest in shapes[4:])


def test_a_short_length_must_divide_the_full_one(tmp_path, corpus, vocab):
    with pytest.raises(ValueError, match="--short-seq-len 20 must divide --max-seq-len 48"):
        train(tiny_run(tmp_path / "run", corpus, vocab, short_seq_len=20, short_seq_fraction=0.5))
    with pytest.raises(ValueError, match="--short-seq-fraction must be between 0 and 1"):
        train(tiny_run(tmp_path / "run", corpus, vocab, short_seq_len=16, short_seq_fraction=0.0))


def test_sinusoidal_positions_know_only_distance_and_keep_berts_scale():
    table = sinusoidal_positions_(torch.nn.Embedding(64, 32)).weight.detach()
    gram = table @ table.T                                          # (64, 64): p_i . p_j
    for offset in (0, 1, 5):  # constant along each diagonal: depends on i - j only
        diagonal = torch.diagonal(gram, offset)
        assert torch.allclose(diagonal, diagonal[0].expand_as(diagonal), atol=1e-6)
    assert table.std().item() == pytest.approx(0.02, rel=1e-4)
    assert gram[0, 1] > gram[0, 10]  # near positions are more alike than far ones
