"""bertlab against transformers, in one process: training steps and inference, as ratios.

A training step is forward + backward + AdamW step of BertForPreTraining on a batch of sequence
length 128 with 15% of the tokens masked and an NSP label per pair. transformers runs its own
default (SDPA attention, MLM logits at every position); bertlab runs twice, as two rows:
  train, full MLM head       logits at every position too (predict_masked_only=False): the same
                             work, so this row's ratio compares the two implementations;
  train, masked-only head *  logits only at the masked positions, as bertlab's trainer does
                             (predict_masked_only=True): the same loss and gradients, but about
                             85% less work in the MLM head. Its ratio is what that saves, not a
                             like-for-like comparison, and the table marks it with a *.
Inference is BertModel's forward under torch.inference_mode, twice: with an all-ones attention
mask (bertlab then passes no mask to attention at all) and with padded rows (lengths from the
sequence length down to a quarter of it, 37% of the batch padding), which both libraries must
mask. The models start from the same weights, and the steps of one comparison alternate step by
step in one process, their order rotating each round, so that anything else the machine does hits
all alike; the table reports medians. Both use the same optimizer (fused AdamW).

    python bench/train_step.py                    # the table in the README (tiny and base)
    python bench/train_step.py --preset mini --steps 20 --device cuda
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
import warnings

import torch

import bertlab
from bertlab.checkpoints import to_hf_state_dict

warnings.filterwarnings("ignore")

# The batch per preset that the issue fixed: 32 x 128 for small models, 8 x 128 for base.
DEFAULT_BATCH = {"tiny": 32, "mini": 32, "small": 16, "medium": 16, "base": 8, "large": 4}
NOTES = (
    "* not the same work: bertlab computes MLM logits at the masked 15% of positions only,\n"
    "  transformers at all of them. Every other row does the same work on both sides.\n"
    "tok/s counts real tokens, not padding; speed-up = HF ms / bertlab ms."
)


def make_models(preset: str, device: str):
    import transformers
    torch.manual_seed(0)
    ours = bertlab.BertForPreTraining(bertlab.BertConfig.preset(preset)).to(device)
    d = ours.config.to_dict()
    d.pop("model_type")
    theirs = transformers.BertForPreTraining(transformers.BertConfig(**d)).to(device)
    # strict=False: HF ties the decoder's weight and bias, so their keys are not in the state dict.
    theirs.load_state_dict(to_hf_state_dict(ours), strict=False)
    return ours, theirs


def make_batch(config, batch: int, seq_len: int, device: str, padded: bool = False, seed: int = 0):
    """A pretraining batch. padded: the rows' lengths run evenly from seq_len down to seq_len / 4
    (37% of the batch is padding), as when sentence pairs of different lengths share a batch."""
    g = torch.Generator().manual_seed(seed)
    if padded:
        lengths = torch.linspace(seq_len, seq_len // 4, batch).round().long()
    else:
        lengths = torch.full((batch,), seq_len)
    positions = torch.arange(seq_len).expand(batch, seq_len)
    real = positions < lengths[:, None]
    input_ids = torch.randint(5, config.vocab_size, (batch, seq_len), generator=g)
    input_ids = input_ids.masked_fill(~real, config.pad_token_id)
    token_type_ids = ((positions >= lengths[:, None] // 2) & real).long()
    attention_mask = real.long()
    masked = (torch.rand(batch, seq_len, generator=g) < 0.15) & real
    labels = torch.where(masked, input_ids, torch.full_like(input_ids, -100))
    next_sentence_label = torch.randint(0, 2, (batch,), generator=g)
    tensors = dict(input_ids=input_ids, token_type_ids=token_type_ids,
                   attention_mask=attention_mask, labels=labels,
                   next_sentence_label=next_sentence_label)
    return {k: v.to(device) for k, v in tensors.items()}


def sync(device: str):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_alternating(steps: dict, n: int, warmup: int, device: str) -> dict[str, float]:
    """Run each named step n times, interleaved, after warmup runs; return median seconds per step.
    The order rotates every round (A B C, B C A, C A B, ...; for two: A B, B A), so that no step
    always runs right after the same other one's allocations and cache traffic."""
    times = {name: [] for name in steps}
    for i in range(warmup + n):
        names = list(steps)
        first = i % len(names)
        for name in names[first:] + names[:first]:
            sync(device)
            start = time.perf_counter()
            steps[name]()
            sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_training(preset: str, batch: int, seq_len: int, n: int, warmup: int, device: str,
                   amp: bool) -> dict[str, float]:
    """Median seconds per training step: bertlab with the full MLM head, bertlab with the
    masked-only head, and transformers, the three alternating in one loop."""
    ours_full, theirs = make_models(preset, device)
    ours_masked_only = copy.deepcopy(ours_full)  # its own copy: each optimizer steps its own
    data = make_batch(ours_full.config, batch, seq_len, device)
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp)

    def training_step(model, **options):
        # The same optimizer on every side: PyTorch's fused AdamW (HF's Trainer default,
        # "adamw_torch_fused"). On this CPU it steps base's 110M parameters in ~0.07 s, against
        # ~0.4 s for the default for-loop.
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        model.train()

        def step():
            optimizer.zero_grad(set_to_none=True)
            with autocast:
                loss = model(**data, **options).loss
            loss.backward()
            optimizer.step()
        return step

    steps = {"bertlab full head": training_step(ours_full, predict_masked_only=False),
             "bertlab masked-only": training_step(ours_masked_only, predict_masked_only=True),
             "transformers": training_step(theirs)}
    return time_alternating(steps, n, warmup, device)


def bench_inference(preset: str, batch: int, seq_len: int, n: int, warmup: int, device: str,
                    amp: bool, padded: bool) -> tuple[dict[str, float], int]:
    """Median seconds per BertModel forward for each library, and the batch's real tokens."""
    ours, theirs = make_models(preset, device)
    encoder_ours, encoder_theirs = ours.bert.eval(), theirs.bert.eval()
    data = make_batch(ours.config, batch, seq_len, device, padded=padded)
    inputs = {k: data[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    autocast = torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=amp)

    def forward(model):
        def run():
            with torch.inference_mode(), autocast:
                model(**inputs)
        return run

    times = time_alternating({"bertlab": forward(encoder_ours),
                              "transformers": forward(encoder_theirs)}, n, warmup, device)
    return times, int(data["attention_mask"].sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", action="append", choices=list(bertlab.PRESETS),
                        help="model size (repeatable; default: tiny and base)")
    parser.add_argument("--batch", type=int,
                        help="sequences per batch (default: 32 small presets, 8 base)")
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per library")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per library first")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast for both")
    parser.add_argument("--no-inference", action="store_true", help="skip the inference rows")
    args = parser.parse_args()
    presets = args.preset or ["tiny", "base"]

    on_cuda = args.device.startswith("cuda")
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if on_cuda else ""))
    print(f"torch {torch.__version__}, transformers {__import__('transformers').__version__}, "
          f"{'bf16 autocast' if args.bf16 else 'fp32'}, seq_len {args.seq_len}, "
          f"median of {args.steps} steps\n")
    header = (f"{'preset':<8}{'what':<27}{'batch':>6}{'bertlab ms':>12}{'HF ms':>10}"
              f"{'bertlab tok/s':>15}{'HF tok/s':>10}{'speed-up':>10}")
    print(header)
    print("-" * len(header))

    def print_row(preset, what, batch, ours, theirs, tokens):
        print(f"{preset:<8}{what:<27}{batch:>6}{ours * 1e3:>12.1f}{theirs * 1e3:>10.1f}"
              f"{tokens / ours:>15,.0f}{tokens / theirs:>10,.0f}{theirs / ours:>9.2f}x",
              flush=True)

    for preset in presets:
        batch = args.batch or DEFAULT_BATCH[preset]
        timing = (args.steps, args.warmup, args.device, args.bf16)
        t = bench_training(preset, batch, args.seq_len, *timing)
        tokens = batch * args.seq_len
        print_row(preset, "train, full MLM head", batch, t["bertlab full head"],
                  t["transformers"], tokens)
        print_row(preset, "train, masked-only head *", batch, t["bertlab masked-only"],
                  t["transformers"], tokens)
        if args.no_inference:
            continue
        for padded in (False, True):
            t, tokens = bench_inference(preset, batch, args.seq_len, *timing, padded=padded)
            padding = 1 - tokens / (batch * args.seq_len)
            what = f"inference, {padding:.0%} padding" if padded else "inference, no padding"
            print_row(preset, what, batch, t["bertlab"], t["transformers"], tokens)
    print("\n" + NOTES)


if __name__ == "__main__":
    main()
