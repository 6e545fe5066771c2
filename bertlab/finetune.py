"""Fine-tuning a pretrained BERT to put a label on a passage: which genre do these lines come from?

    documents ──> passages of consecutive sentences, labelled with their play's genre (or play)
                      │   balanced: as many passages of every label
                      ▼
    tokenizer ──> [CLS] passage [SEP] ──> BertForSequenceClassification ──> logits (B, num_labels)
                                          pretrained encoder + new classifier on the pooled [CLS]

Fine-tuning is pretraining's loop with a different loss: every weight of the encoder goes on
learning, with a small learning rate, while the classifier starts from scratch (Devlin et al. 2019,
section 4). The pieces here:

- `make_passages`: a seeded, balanced set of labelled passages from `bertlab.data` documents.
- `load_classifier`: a checkpoint's encoder under a fresh classifier, or the same architecture
  from random initialisation (the honest comparison: what did pretraining buy?).
- `finetune`: AdamW with warmup and linear decay, clipping, optional bf16/fp16 autocast, seeded.
- `evaluate_classifier`: accuracy and the confusion matrix on held-out passages.

    python -m bertlab.finetune --labels comedies,roman,tragedies --steps 80  # the chapter's run
    python -m bertlab.finetune --from-scratch                                # same, random weights
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .config import BertConfig, config_repr
from .data import Document, _check_documents
from .model import BertForSequenceClassification
from .train import build_optimizer, derived_seed, warmup_then_linear_decay


# ================================================================================================
# 1. Labelled passages
# ================================================================================================


@dataclass(frozen=True)
class Passage:
    """A few consecutive sentences of one scene, and the index of its label."""

    text: str
    label: int  # index into the label list the passages were made with
    play: str
    scene: str


def make_passages(
    documents: Sequence[Document],
    labels: Sequence[str],
    *,
    label_by: str = "genre",
    sentences_per_passage: int = 2,
    min_words: int = 8,
    per_label: int | None = None,
    seed: int = 0,
) -> list[Passage]:
    """Cut documents into labelled passages, the same number for every label, in a seeded random
    order.

    documents: e.g. `shakespeare_documents("train")`. A document whose `label_by` value is not in
        `labels` is left out (a genre you did not ask for).
    labels: the classes, in the order of their indices: ("comedies", "roman", "tragedies").
    label_by: "genre" or "play", the Document field that gives the label.
    sentences_per_passage: each scene is cut into non-overlapping runs of this many consecutive
        sentences (a ragged end is dropped), so passages never cross a scene and never share text.
    min_words: passages with fewer words are dropped ("Ay." says nothing about its play).
    per_label: passages per label; None takes as many as the rarest label has. Balanced classes
        give accuracy a plain baseline: always guessing one label scores 1 / len(labels).
    seed: which passages are drawn, and their order. Same arguments, same list.
    """
    documents = _check_documents(documents)
    if (
        isinstance(labels, str)
        or not isinstance(labels, Sequence)
        or not all(isinstance(l, str) for l in labels)
    ):
        raise TypeError(
            f"labels must be a list of str, e.g. ['comedies', 'tragedies'], got {labels!r}"
        )
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"labels must name at least 2 distinct classes, got {list(labels)}")
    if label_by not in ("genre", "play"):
        raise ValueError(
            f'label_by must be "genre" or "play" (the Document field that gives the label), '
            f"got {label_by!r}"
        )
    for name, value, least in (
        ("sentences_per_passage", sentences_per_passage, 1),
        ("min_words", min_words, 0),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    if per_label is not None and (
        isinstance(per_label, bool) or not isinstance(per_label, int) or per_label < 1
    ):
        raise ValueError(
            "per_label must be None (as many as the rarest label has) or an int >= 1, "
            f"got {per_label!r}"
        )

    index = {name: i for i, name in enumerate(labels)}
    by_label: list[list[Passage]] = [[] for _ in labels]
    for document in documents:
        value = getattr(document, label_by)
        if value not in index:
            continue
        n = sentences_per_passage
        for start in range(0, len(document.sentences) - n + 1, n):
            text = " ".join(document.sentences[start : start + n])
            if len(text.split()) >= min_words:
                by_label[index[value]].append(
                    Passage(text, index[value], document.play, document.scene)
                )

    counts = {name: len(found) for name, found in zip(labels, by_label)}
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        present = sorted({getattr(d, label_by) for d in documents})
        raise ValueError(
            f"no passage has the {label_by} {empty}; the documents' {label_by} values are "
            f"{present}: choose labels among them, spelled the same way, or pass documents that "
            "have them"
        )
    n_each = min(counts.values()) if per_label is None else per_label
    if n_each > min(counts.values()):
        raise ValueError(
            f"per_label={per_label} is more than some labels have: {counts}; "
            "lower it, or pass per_label=None to take as many as the rarest label has"
        )

    g = torch.Generator().manual_seed(seed)
    chosen = [
        found[i]
        for found in by_label
        for i in torch.randperm(len(found), generator=g)[:n_each].tolist()
    ]
    return [chosen[i] for i in torch.randperm(len(chosen), generator=g).tolist()]  # labels mixed


def majority_baseline(train: Sequence[Passage], test: Sequence[Passage]) -> float:
    """Accuracy on `test` of always answering the label that is most frequent in `train`."""
    if not train or not test:
        raise ValueError("majority_baseline needs non-empty train and test passages")
    most_common = Counter(p.label for p in train).most_common(1)[0][0]
    return sum(p.label == most_common for p in test) / len(test)


# ================================================================================================
# 2. The model
# ================================================================================================


def load_classifier(
    checkpoint: str = "shakespeare-mini",
    labels: Sequence[str] = ("LABEL_0", "LABEL_1"),
    *,
    pretrained: bool = True,
    dropout: float = 0.1,
    seed: int = 0,
) -> BertForSequenceClassification:
    """A BertForSequenceClassification with one output per label.

    pretrained=True: the checkpoint's encoder and pooler (a BertForPreTraining checkpoint loads:
    its MLM and NSP heads are left out), under a new classifier. pretrained=False: the same config,
    every weight from BERT's random initialisation: the baseline that shows what pretraining is
    worth.
    dropout: hidden and attention dropout while fine-tuning (BERT: 0.1; shakespeare-mini was
    pretrained without). seed: the random initialisation (the classifier's, or everything's).
    """
    from ._paths import resolve_checkpoint

    overrides = dict(
        id2label=dict(enumerate(labels)),
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)  # the new weights come from the global generator, as in nn.Module init
    if pretrained:
        return BertForSequenceClassification.from_pretrained(checkpoint, **overrides)
    config = BertConfig.load(resolve_checkpoint(checkpoint))
    config = BertConfig.from_dict({**config.to_dict(), **overrides})
    return BertForSequenceClassification(config).eval()


def encode(
    tokenizer, passages: Sequence[Passage], max_seq_len: int, device
) -> dict[str, torch.Tensor]:
    """A padded batch: input_ids, token_type_ids, attention_mask (B, T), labels (B,).
    T <= max_seq_len: longer passages lose their end."""
    texts = [p.text for p in passages]
    batch = tokenizer(texts, max_length=max_seq_len, padding=True, truncation=True)
    batch["labels"] = torch.tensor([p.label for p in passages])
    return {k: v.to(device) for k, v in batch.items()}


# ================================================================================================
# 3. Fine-tuning
# ================================================================================================

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast_for(device: torch.device, precision: str):
    """Mixed precision: under torch.autocast the matmuls run in bf16 or fp16, while softmax,
    LayerNorm and the loss stay fp32, and so do the weights and the optimizer. "fp32" turns it
    off."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be "fp32", "bf16" or "fp16", got {precision!r}')
    if PRECISIONS[precision] is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


@dataclass
class FinetuneConfig:
    steps: int = 80  # optimizer steps; the passages are cycled in a fresh order each epoch
    batch_size: int = 32
    lr: float = 2e-4  # peak learning rate: small, the encoder should be adjusted, not relearned
    warmup_fraction: float = 0.1  # share of the steps spent warming the learning rate up from 0
    weight_decay: float = 0.01  # not on biases and LayerNorm (see bertlab.train.build_optimizer)
    clip_grad_norm: float = 1.0
    max_seq_len: int = 48  # tokens per passage, [CLS] and [SEP] included; longer ones are cut
    precision: str = "fp32"  # "fp32", "bf16" or "fp16": autocast's dtype for the forward pass
    seed: int = 0  # order of the passages and dropout masks (initialisation: load_classifier)
    eval_every: int = 0  # steps between evaluations on eval_passages (0: only after the last step)

    def __repr__(self) -> str:
        return config_repr(self)  # one field per line


def finetune(
    model: BertForSequenceClassification,
    tokenizer,
    passages: Sequence[Passage],
    cfg: FinetuneConfig,
    *,
    eval_passages: Sequence[Passage] | None = None,
) -> list[dict]:
    """Fine-tune `model` in place on `passages`; returns the log, one dict per step: step, loss,
    accuracy (of that batch), lr, grad_norm, and eval_accuracy on the steps where eval_passages
    were scored.

    Runs on the model's device: move the model first (`model.to("cuda")`); batches follow it.
    """
    if not passages:
        raise ValueError("passages is empty; build them with make_passages(documents, labels)")
    for name in ("steps", "batch_size", "max_seq_len"):
        if not isinstance(getattr(cfg, name), int) or getattr(cfg, name) < 1:
            raise ValueError(
                f"FinetuneConfig.{name} must be a positive int, got {getattr(cfg, name)!r}"
            )
    autocast = autocast_for(model.device, cfg.precision)  # checks cfg.precision first
    bad = [p.label for p in passages if not 0 <= p.label < model.config.num_labels]
    if bad:
        raise ValueError(
            f"passage label {bad[0]} is outside the model's {model.config.num_labels} labels; "
            "build the model with load_classifier(..., labels) using the passages' label list"
        )
    device = model.device
    optimizer = build_optimizer(model, cfg.lr, cfg.weight_decay)
    warmup_steps = max(1, round(cfg.warmup_fraction * cfg.steps))
    # fp16's narrow range lets small gradients underflow to 0, so its loss is scaled up before
    # backward and the gradients scaled back down before the step (GradScaler); bf16 has fp32's
    # range and needs none.
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")

    order: list[int] = []  # indices of the passages still to come, this epoch's and the next's
    epoch = 0
    log = []
    model.train()
    for step in range(cfg.steps):
        while len(order) < cfg.batch_size:  # a new epoch: a new order, from (seed, epoch)
            g = torch.Generator().manual_seed(derived_seed(cfg.seed, "order", epoch))
            order += torch.randperm(len(passages), generator=g).tolist()
            epoch += 1
        chosen = [passages[i] for i in order[: cfg.batch_size]]
        del order[: cfg.batch_size]
        batch = encode(tokenizer, chosen, cfg.max_seq_len, device)  # (B, T) each, labels (B,)
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * warmup_then_linear_decay(step, warmup_steps, cfg.steps)
        torch.manual_seed(derived_seed(cfg.seed, "dropout", step))  # reproducible dropout masks

        # logits (B, L); the loss is computed in fp32 by the model whatever the precision
        with autocast:
            out = model(**batch)  # input_ids, token_type_ids, attention_mask and labels
        scaler.scale(out.loss).backward()  # fp16: loss x scale, so gradients x scale
        scaler.unscale_(optimizer)  # clip the true gradients, not scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad_norm)
        scaler.step(optimizer)  # skips the step if fp16 overflowed
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

        row = {
            "step": step + 1,
            "loss": out.loss.item(),
            "lr": optimizer.param_groups[0]["lr"],
            "accuracy": (out.logits.argmax(-1) == batch["labels"]).float().mean().item(),
            "grad_norm": float(grad_norm),
        }
        last = step + 1 == cfg.steps
        if eval_passages and (last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)):
            evaluation = evaluate_classifier(
                model,
                tokenizer,
                eval_passages,
                max_seq_len=cfg.max_seq_len,
                precision=cfg.precision,
            )
            row["eval_accuracy"] = evaluation.accuracy
            model.train()
        log.append(row)
    return log


# ================================================================================================
# 4. Evaluation
# ================================================================================================


@dataclass
class Evaluation:
    accuracy: float
    confusion: torch.Tensor  # (L, L) counts: row = true label, column = predicted label
    predictions: torch.Tensor  # (N,) predicted label of each passage, in order


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, num_labels: int) -> torch.Tensor:
    """(L, L) counts of (true, predicted) pairs: entry [i, j] = passages of label i predicted as
    j."""
    pair_index = true * num_labels + predicted  # (N,) in [0, L * L)
    counts = torch.bincount(pair_index, minlength=num_labels * num_labels)  # (L * L,)
    return counts.view(num_labels, num_labels)


@torch.no_grad()
def evaluate_classifier(
    model,
    tokenizer,
    passages: Sequence[Passage],
    *,
    batch_size: int = 128,
    max_seq_len: int = 64,
    precision: str = "fp32",
) -> Evaluation:
    """Accuracy and confusion matrix of `model` on `passages`, in eval mode (no dropout)."""
    if not passages:
        raise ValueError("passages is empty: there is nothing to evaluate")
    autocast = autocast_for(model.device, precision)
    model.eval()
    predicted = []
    for start in range(0, len(passages), batch_size):
        batch = encode(tokenizer, passages[start : start + batch_size], max_seq_len, model.device)
        with autocast:
            inputs = (batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
            logits = model(*inputs).logits  # (B, L)
        predicted.append(logits.argmax(-1).cpu())
    predictions = torch.cat(predicted)  # (N,)
    true = torch.tensor([p.label for p in passages])  # (N,)
    return Evaluation(
        accuracy=(predictions == true).float().mean().item(),
        confusion=confusion_matrix(predictions, true, model.config.num_labels),
        predictions=predictions,
    )


# ================================================================================================
# Command line
# ================================================================================================

HELP = {
    "steps": "optimizer steps",
    "batch_size": "passages per step",
    "lr": "peak learning rate of AdamW",
    "warmup_fraction": "share of the steps spent warming up the learning rate",
    "weight_decay": "AdamW weight decay (not on biases and LayerNorm)",
    "clip_grad_norm": "clip the gradient norm to this",
    "max_seq_len": "tokens per passage, [CLS] and [SEP] included (longer ones are cut)",
    "precision": "fp32, bf16 or fp16 (autocast; fp16 with a gradient scaler)",
    "seed": "seed of the passages, their order, dropout and the new weights",
}


def main(argv=None):
    from ._cli import ArgumentParser, user_input

    parser = ArgumentParser(
        prog="python -m bertlab.finetune",
        description=(
            "Fine-tune a pretrained BERT to tell the genre of a Shakespeare passage: fine-tunes on "
            "passages of the plays that pretraining saw, tests on the held-out plays "
            "(bertlab.data.HELDOUT_PLAYS), with the same number of passages of each genre."
        ),
    )
    parser.add_argument(
        "--checkpoint",
        default="shakespeare-mini",
        help="checkpoint folder with its vocab.txt, or 'shakespeare-mini' (default)",
    )
    parser.add_argument(
        "--labels",
        default="comedies,roman,tragedies",
        help="comma-separated genres; the held-out plays must include each (default: %(default)s)",
    )
    parser.add_argument(
        "--from-scratch", action="store_true", help="same architecture, random initialisation"
    )
    parser.add_argument(
        "--out", help="save the fine-tuned model and its vocab.txt here (an HF checkpoint folder)"
    )
    for f in dataclasses.fields(FinetuneConfig):  # the defaults are the chapter's settings
        if f.name in HELP:
            parser.add_argument(
                "--" + f.name.replace("_", "-"),
                type=type(f.default),
                default=f.default,
                choices=list(PRECISIONS) if f.name == "precision" else None,
                help=f"{HELP[f.name]} (default: {f.default})",
            )
    args = parser.parse_args(argv)
    cfg = FinetuneConfig(**{name: getattr(args, name) for name in HELP})

    from .data import shakespeare_documents
    from .tokenizer import WordPieceTokenizer

    # Reading the passages and the checkpoint, and checking the options against them: a bad one
    # (an unknown genre, a folder that is not a checkpoint) is one line and exit 2
    # (bertlab._cli). An error once fine-tuning runs is a bug, and keeps its traceback.
    with user_input(parser.prog):
        for name in ("steps", "batch_size", "max_seq_len"):
            if getattr(cfg, name) < 1:
                option = "--" + name.replace("_", "-")
                raise ValueError(f"{option} must be at least 1, got {getattr(cfg, name)}")
        labels = args.labels.split(",")
        train = make_passages(shakespeare_documents("train"), labels, seed=cfg.seed)
        test = make_passages(shakespeare_documents("heldout"), labels, seed=cfg.seed)
        pretrained = not args.from_scratch
        model = load_classifier(args.checkpoint, labels, pretrained=pretrained, seed=cfg.seed)
        tokenizer = WordPieceTokenizer.from_vocab(args.checkpoint)
        if cfg.max_seq_len > model.config.max_position_embeddings:
            raise ValueError(
                f"--max-seq-len {cfg.max_seq_len} is more than the model's "
                f"{model.config.max_position_embeddings} positions"
            )
    model = model.to("cuda" if torch.cuda.is_available() else "cpu")
    print(
        f"{len(train)} passages to fine-tune on, {len(test)} to test on, labels {labels}, "
        f"device {model.device}"
    )
    started = time.perf_counter()
    log = finetune(model, tokenizer, train, cfg)
    result = evaluate_classifier(
        model, tokenizer, test, max_seq_len=cfg.max_seq_len, precision=cfg.precision
    )
    seconds = time.perf_counter() - started
    last_losses = [r["loss"] for r in log[-10:]]
    print(
        f"{cfg.steps} steps in {seconds:.0f} s, mean loss of the last 10 steps "
        f"{sum(last_losses) / len(last_losses):.3f}"
    )
    baseline = majority_baseline(train, test)
    print(f"test accuracy {result.accuracy:.3f}   (majority class: {baseline:.3f})")
    print("confusion matrix (rows: true label, columns: predicted):")
    for label, row in zip(labels, result.confusion.tolist()):
        print(f"  {label:>12s} " + " ".join(f"{n:6d}" for n in row))
    if args.out:
        model.save_pretrained(args.out)
        tokenizer.save(f"{args.out}/vocab.txt")


if __name__ == "__main__":
    main()
