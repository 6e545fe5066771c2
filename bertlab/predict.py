"""Asking a pretrained BERT its two pretraining questions: what is behind each [MASK], and does B
follow A?"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def shakespeare_bert(device: str | torch.device | None = None):
    """bertlab's pretrained Shakespeare BERT (a BertForPreTraining: MLM and NSP heads), in eval
    mode, and its tokenizer. How it was trained, and how well it does:
    bertlab/pretrained/shakespeare-mini/.

        model, tokenizer = bertlab.shakespeare_bert()
        bertlab.fill_mask(model, tokenizer, "Friends, Romans, countrymen, lend me your [MASK].")
    """
    from .model import BertForPreTraining
    from .tokenizer import WordPieceTokenizer

    model = BertForPreTraining.from_pretrained("shakespeare-mini")
    if device is not None:
        model = model.to(device)
    return model, WordPieceTokenizer.from_vocab("shakespeare-mini")


@dataclass
class Prediction:
    token: str
    probability: float


@torch.no_grad()
def fill_mask(model, tokenizer, text: str, top_k: int = 5) -> list[list[Prediction]]:
    """The top_k tokens and their probabilities for each [MASK] in text, left to right.

    model: a BertForPreTraining or BertForMaskedLM. Example:
        fill_mask(model, tokenizer, "To be, or not to be: that is the [MASK].")
    """
    if "[MASK]" not in text:
        raise ValueError(
            f"fill_mask needs at least one [MASK] in the text, got {text!r}; "
            "write e.g. 'To be, or not to [MASK].'"
        )
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}")
    batch = {k: v.to(model.device) for k, v in tokenizer(text).items()}
    labels = torch.full_like(batch["input_ids"], -100)
    is_mask = batch["input_ids"] == tokenizer.mask_token_id  # (1, T)
    labels[is_mask] = 0  # any id: only says "predict here", so the head runs at the masks alone
    was_training = model.training
    out = model.eval()(**batch, labels=labels, predict_masked_only=True)
    model.train(was_training)
    logits = out.prediction_logits if hasattr(out, "prediction_logits") else out.logits  # (M, V)
    probs = logits.float().softmax(dim=-1)
    top = probs.topk(min(top_k, probs.shape[-1]), dim=-1)
    return [
        [Prediction(tokenizer.convert_ids_to_tokens(int(i)), float(p)) for p, i in zip(ps, ids)]
        for ps, ids in zip(top.values, top.indices)
    ]


@torch.no_grad()
def next_sentence_probability(model, tokenizer, sentence_a: str, sentence_b: str) -> float:
    """P(IsNext): the model's probability that sentence_b follows sentence_a
    (BertForPreTraining)."""
    batch = {k: v.to(model.device) for k, v in tokenizer(sentence_a, sentence_b).items()}
    was_training = model.training
    out = model.eval()(**batch)
    model.train(was_training)
    return float(out.seq_relationship_logits.float().softmax(dim=-1)[0, 0])  # index 0 = IsNext


def main(argv=None):
    import argparse

    from ._cli import ArgumentParser, user_input

    parser = ArgumentParser(
        prog="python -m bertlab.predict",
        description=(
            "Ask a pretrained BERT what is behind each [MASK], or whether one sentence follows "
            "another."
        ),
        epilog=(
            "examples:\n"
            '  python -m bertlab.predict "Friends, Romans, countrymen, lend me your [MASK]."\n'
            '  python -m bertlab.predict "Is this a dagger which I see before me?" '
            '--next "The handle toward my hand?"'
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("text", help="a sentence with one or more [MASK]s; with --next, sentence A")
    parser.add_argument(
        "--next", metavar="SENTENCE_B", help="print P(IsNext) for (text, SENTENCE_B) instead"
    )
    parser.add_argument(
        "--model",
        default="shakespeare-mini",
        help=(
            "a BertForPreTraining checkpoint folder with its vocab.txt (default: the shipped "
            "shakespeare-mini)"
        ),
    )
    parser.add_argument("--top-k", type=int, default=5, help="predictions per [MASK] (default: 5)")
    args = parser.parse_args(argv)

    from .model import BertForPreTraining
    from .tokenizer import WordPieceTokenizer

    # Everything here reads the user's text and model: a text without [MASK] or too long for the
    # model, or a folder that is not a checkpoint, is one line and exit 2 (bertlab._cli).
    with user_input(parser.prog):
        if args.next is None and "[MASK]" not in args.text:  # checked before the model loads
            raise ValueError(
                f"no [MASK] in the text {args.text!r}: put [MASK] where a word should be "
                "predicted, e.g. 'To be, or not to [MASK].', or give --next SENTENCE_B"
            )
        if args.top_k < 1:
            raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
        model, tokenizer = (
            BertForPreTraining.from_pretrained(args.model),
            WordPieceTokenizer.from_vocab(args.model),
        )
        if args.next is not None:
            probability = next_sentence_probability(model, tokenizer, args.text, args.next)
            print(f"P(IsNext) = {probability:.3f}")
            return
        predictions = fill_mask(model, tokenizer, args.text, top_k=args.top_k)
    for i, top in enumerate(predictions, start=1):
        print(f"[MASK] {i}: " + "  ".join(f"{p.token} {p.probability:.3f}" for p in top))


if __name__ == "__main__":
    main()
