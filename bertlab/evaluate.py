"""How well a pretrained BERT does its two pretraining tasks on text it never saw.

    python -m bertlab.evaluate shakespeare-mini   # the shipped checkpoint, on the held-out plays
    python -m bertlab.evaluate runs/mini/model    # a run's model

Prints MLM top-1 accuracy beside the most-frequent-token baseline (always guessing the commonest
masked token), and NSP accuracy beside chance (50%: the pairs are exactly balanced).
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch

from ._cli import ArgumentParser, user_input
from .model import IGNORE_INDEX


@torch.no_grad()
def evaluate_pretraining(
    model, tokenizer, documents, *, max_seq_len: int = 128, batch_size: int = 64, seed: int = 0
) -> dict:
    """MLM top-1 and NSP accuracy over one seeded epoch of pairs (and masks) built from
    `documents`."""
    from .data import PretrainingCollator, make_pairs

    pairs = make_pairs(documents, tokenizer, max_seq_len=max_seq_len, seed=seed)
    collate = PretrainingCollator(tokenizer)
    generator = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    mlm_correct = nsp_correct = n_masked = 0
    targets = Counter()
    for start in range(0, len(pairs), batch_size):
        masked = collate(pairs[start : start + batch_size], generator=generator)
        batch = {k: v.to(model.device) for k, v in masked.items()}
        out = model(
            batch["input_ids"],
            batch["token_type_ids"],
            batch["attention_mask"],
            labels=batch["labels"],
            predict_masked_only=True,
        )
        masked_targets = batch["labels"][batch["labels"] != IGNORE_INDEX]
        mlm_predicted = out.prediction_logits.argmax(-1)  # (M,)
        nsp_predicted = out.seq_relationship_logits.argmax(-1)  # (B,)
        mlm_correct += int((mlm_predicted == masked_targets).sum())
        nsp_correct += int((nsp_predicted == batch["next_sentence_label"]).sum())
        n_masked += len(masked_targets)
        targets.update(masked_targets.tolist())
    model.train(was_training)
    top_token, top_count = targets.most_common(1)[0]
    return {
        "mlm_top1": mlm_correct / n_masked,
        "mlm_most_frequent_token_baseline": top_count / n_masked,
        "most_frequent_token": tokenizer.convert_ids_to_tokens(top_token),
        "nsp_accuracy": nsp_correct / len(pairs),
        "masked_tokens": n_masked,
        "pairs": len(pairs),
    }


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m bertlab.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model",
        help="an HF checkpoint folder of a BertForPreTraining, with its vocab.txt, "
        "or 'shakespeare-mini' (the shipped one)",
    )
    parser.add_argument(
        "--max-seq-len", type=int, default=128, help="tokens per pair (default: 128)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the pairs and masks (default: 0)"
    )
    args = parser.parse_args(argv)

    from .data import MIN_SEQ_LEN, shakespeare_documents
    from .model import BertForPreTraining
    from .tokenizer import WordPieceTokenizer

    # Reading the model and checking the options against it: a bad one is one line and exit 2
    # (bertlab._cli). An error once the evaluation runs is a bug, and keeps its traceback.
    with user_input(parser.prog):
        if args.seed < 0:
            raise ValueError(f"--seed must be 0 or more, got {args.seed}")
        model = BertForPreTraining.from_pretrained(args.model)
        tokenizer = WordPieceTokenizer.from_vocab(args.model)
        longest = model.config.max_position_embeddings
        if not MIN_SEQ_LEN <= args.max_seq_len <= longest:
            raise ValueError(
                f"--max-seq-len must be between {MIN_SEQ_LEN} ([CLS] a [SEP] b [SEP]) and the "
                f"model's {longest} positions, got {args.max_seq_len}"
            )
    result = evaluate_pretraining(
        model,
        tokenizer,
        shakespeare_documents("heldout"),
        max_seq_len=args.max_seq_len,
        seed=args.seed,
    )
    print(f"held-out plays: {result['pairs']} pairs, {result['masked_tokens']} masked tokens")
    print(
        f"MLM top-1 accuracy  {result['mlm_top1']:.3f}   (most frequent token "
        f"{result['most_frequent_token']!r}: {result['mlm_most_frequent_token_baseline']:.3f})"
    )
    print(f"NSP accuracy        {result['nsp_accuracy']:.3f}   (chance: 0.500)")


if __name__ == "__main__":
    main()
