"""Is data loading ever the bottleneck of pretraining, and how close does the loop get to the
machine's peak?

Measures, in one process:
  1. the machine's fp32 (or bf16 on a GPU) matmul throughput: a 2048^3 (CPU) or 8192^3 (GPU)
     torch.mm;
  2. the bare model step: forward + backward + AdamW on pre-built batches (the loop's kind of
     batch, cycled), no data work at all;
  3. the whole loop: bertlab.train's steps (pairs, shuffling, masking, collation, step), from its
     metrics.
2 and 3 alternate, loop, bare step, loop, bare step, ... for --rounds rounds of --steps steps
each, so that a machine that slowly speeds up or slows down (other work, heat) moves both alike.
It prints the loop's speed as a fraction of the bare step's, the median of the per-round ratios
(target >= 0.9), and the model FLOP/s the loop achieves as a fraction of the matmul peak (model
FLOPs utilisation, MFU).

    python bench/pretrain_loop.py              # the shipped recipe: mini, 8k vocab, no dropout
    python bench/pretrain_loop.py --vocab bert-base-uncased --dropout 0.1  # BERT's vocab, dropout
    python bench/pretrain_loop.py --preset base --batch-size 64 --steps 40  # a GPU: bf16 autocast
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

import bertlab
from bertlab.data import PretrainingCollator, PretrainingPairs, shakespeare_documents
from bertlab.model import IGNORE_INDEX
from bertlab.train import TrainConfig, build_optimizer, pretraining_loss_terms, train


def matmul_peak(device: torch.device) -> float:
    n, dtype = (8192, torch.bfloat16) if device.type == "cuda" else (2048, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    reps, start = 5, time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def model_flops(config: bertlab.BertConfig, batch: dict) -> float:
    """FLOPs of one training step (forward + backward = 3x forward) counted from the shapes:
    the encoder's matmuls on every position (padding included: it is computed), attention's two
    T x T products, and the MLM head on the masked positions only."""
    B, T = batch["input_ids"].shape
    H, L = config.hidden_size, config.num_hidden_layers
    I, V = config.intermediate_size, config.vocab_size
    masked = int((batch["labels"] != IGNORE_INDEX).sum())
    per_token_layer = 2 * (4 * H * H + 2 * H * I)                # q, k, v, output; ffn in and out
    encoder = B * T * L * per_token_layer + L * 2 * (2 * B * T * T * H)
    heads = masked * 2 * (H * H + H * V) + B * 2 * (H * H + 2 * H)
    return 3 * (encoder + heads)


def whole_loop_step(cfg: TrainConfig) -> float:
    """Run the whole loop, exactly as `python -m bertlab.train` runs it, and return its mean
    seconds per step after the first few (warm-up), from the loop's own metrics: the elapsed time
    at each step follows from its cumulative token count and rate."""
    train(cfg)
    metrics = (Path(cfg.out) / "metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in metrics]
    elapsed, total = [], 0
    for r in rows:
        total += r["tokens"]
        elapsed.append(total / r["tokens_per_s"])
    skip = min(5, len(rows) // 3)  # warm-up steps
    return (elapsed[-1] - elapsed[skip - 1]) / (len(rows) - skip)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--vocab", default="train:8192", help="as bertlab.train's --vocab")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30,
                        help="steps of the loop, and of the bare step, per round")
    parser.add_argument("--rounds", type=int, default=4,
                        help="rounds of loop then bare step; the ratio is their median")
    parser.add_argument("--bare-batches", type=int, default=8,
                        help="pre-built batches the bare step cycles through")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    with tempfile.TemporaryDirectory() as tmp:
        vocab, loop_steps, bare_steps = args.vocab, [], []
        for round_ in range(args.rounds):
            # A fresh run folder per round: in the same one, train() would resume the finished run.
            cfg = TrainConfig(out=str(Path(tmp) / f"loop-{round_}"), preset=args.preset,
                              vocab=vocab, max_seq_len=args.max_seq_len,
                              batch_size=args.batch_size, steps=args.steps, warmup_steps=5,
                              save_every=10**9, dropout=args.dropout, log_every=10**9, quiet=True)
            loop_steps.append(whole_loop_step(cfg))
            if round_ == 0:
                # Later rounds reuse the vocab the first one learned: the same tokens, the same
                # batches, and no time spent learning it again.
                vocab = str(Path(cfg.out) / "model" / "vocab.txt")
                bare_step, config, batches = make_bare_step(args, vocab, device, autocast)
                for i in range(3):  # warm-up
                    bare_step(i)
            sync(device)
            start = time.perf_counter()
            for i in range(args.steps):
                bare_step(i)
            sync(device)
            bare_steps.append((time.perf_counter() - start) / args.steps)

    ratios = [bare / loop for bare, loop in zip(bare_steps, loop_steps)]
    bare, loop_step = statistics.median(bare_steps), statistics.median(loop_steps)
    peak = matmul_peak(device)
    flops = sum(model_flops(config, batch) for batch in batches) / len(batches)  # per step, mean
    if device.type == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.preset}, vocab {config.vocab_size}, dropout {args.dropout}, "
          f"batch {args.batch_size} x {args.max_seq_len}, {name}")
    print(f"{args.rounds} rounds of {args.steps} steps, loop and bare step alternating; "
          f"step times are medians over the rounds")
    print(f"matmul peak ({'bf16' if device.type == 'cuda' else 'fp32'}):  "
          f"{peak / 1e9:10,.0f} GFLOP/s")
    print(f"bare model step:        {bare * 1e3:10.1f} ms   {flops / bare / 1e9:8,.0f} GFLOP/s")
    print(f"whole loop step:        {loop_step * 1e3:10.1f} ms   "
          f"{flops / loop_step / 1e9:8,.0f} GFLOP/s"
          f"   ({args.batch_size * args.max_seq_len / loop_step:,.0f} token slots/s)")
    print(f"loop / bare step speed: {statistics.median(ratios):10.2f}   "
          f"(target >= 0.90; median of the rounds' ratios)")
    print(f"  per round:            {' '.join(f'{r:.2f}' for r in ratios)}")
    print(f"loop MFU:               {flops / loop_step / peak:10.2f}   "
          f"(model FLOP/s / matmul peak)")


def make_bare_step(args, vocab_file: str, device: torch.device, autocast):
    """The bare step, on batches built the way the loop builds them, beforehand. Several of them,
    cycled: the number of masked positions (the MLM head's rows) changes from batch to batch in
    the loop too. Returns the step (its argument picks the batch), the config and the batches."""
    tokenizer = bertlab.WordPieceTokenizer.from_vocab(vocab_file)
    config = bertlab.BertConfig.preset(args.preset, vocab_size=tokenizer.vocab_size,
                                       pad_token_id=tokenizer.pad_token_id,
                                       hidden_dropout_prob=args.dropout,
                                       attention_probs_dropout_prob=args.dropout)
    pairs = PretrainingPairs(shakespeare_documents("train"), tokenizer,
                             max_seq_len=args.max_seq_len)
    collate = PretrainingCollator(tokenizer)
    size = args.batch_size
    batches = [collate(pairs.examples[i * size:(i + 1) * size],
                       generator=torch.Generator().manual_seed(i))
               for i in range(args.bare_batches)]
    batches = [{k: v.to(device) for k, v in batch.items()} for batch in batches]
    model = bertlab.BertForPreTraining(config).to(device).train()
    optimizer = build_optimizer(model, 1e-4, 0.01)

    def bare_step(i):
        batch = batches[i % len(batches)]
        n_masked = int((batch["labels"] != IGNORE_INDEX).sum())
        n_pairs = len(batch["next_sentence_label"])
        with autocast:
            out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                        labels=batch["labels"], predict_masked_only=True)
        terms = pretraining_loss_terms(out, batch["labels"], batch["next_sentence_label"])
        (terms["mlm_loss_sum"] / n_masked + terms["nsp_loss_sum"] / n_pairs).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return bare_step, config, batches


if __name__ == "__main__":
    main()
