"""A five-minute tour of bertlab on the real pretrained encoder: ``python -m bertlab.demo``.

Tokenises a sentence pair, runs the embedded all-MiniLM-L6-v2 encoder, shows that the same word gets
different vectors in different contexts (and the same vector before any context: layer 0), shows
where one attention head looks, and runs a freshly initialised BertForPreTraining to show what an
untrained MLM loss is.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

import bertlab


def word_vector(model, tokenizer, sentence: str, word: str, layer: int) -> torch.Tensor:
    batch = tokenizer(sentence)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    position = tokens.index(word)
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states[layer]
    return hidden[0, position]


def main(argv=None):
    from ._cli import ArgumentParser

    # No options: the parser gives --help, and turns a stray argument into one line and exit 2.
    parser = ArgumentParser(
        prog="python -m bertlab.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)

    torch.manual_seed(0)
    tokenizer = bertlab.WordPieceTokenizer.default()
    model = bertlab.BertModel.from_pretrained().eval()
    c = model.config
    params = sum(p.numel() for p in model.parameters())
    print(
        f"Embedded encoder: all-MiniLM-L6-v2, {c.num_hidden_layers} layers, "
        f"hidden {c.hidden_size}, {c.num_attention_heads} heads, vocab {c.vocab_size}, "
        f"{params / 1e6:.1f}M parameters\n"
    )

    a, b = "The quick brown fox jumps over the embankment.", "It was unbelievably fast!"
    pair = tokenizer.encode(a, b)
    print("WordPiece tokens of a sentence pair, with segment ids:")
    print("  " + " ".join(f"{t}/{s}" for t, s in zip(pair.tokens, pair.token_type_ids)) + "\n")

    # "bank" is the fifth token in each, so that layer 0 (token + position + segment embedding) is
    # the same vector for all three, and any difference later comes from the context alone.
    sentences = {
        "river": "We sat by the bank of the river and watched the water.",
        "money": "She went to the bank to deposit her money.",
        "loan": "He ran to the bank to ask for a loan.",
    }
    print("'bank' in three sentences, cosine similarity of its vectors:")
    for layer in (0, c.num_hidden_layers):
        vectors = {k: word_vector(model, tokenizer, s, "bank", layer) for k, s in sentences.items()}
        sim = lambda x, y: F.cosine_similarity(vectors[x], vectors[y], dim=0).item()
        name = "layer 0 (embeddings, no context)" if layer == 0 else f"layer {layer} (contextual)"
        print(
            f"  {name:<34} river~money {sim('river', 'money'):.3f}   money~loan "
            f"{sim('money', 'loan'):.3f}"
        )
    print()

    batch = tokenizer(sentences["money"])
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    with torch.no_grad():
        attentions = model(**batch, output_attentions=True).attentions
    layer, head = 2, 5
    probs = attentions[layer][0, head]  # (T, T)
    print(f"Where layer {layer}, head {head} looks from each token (its strongest target):")
    print(
        "  "
        + ", ".join(f"{t}->{tokens[int(probs[i].argmax())]}" for i, t in enumerate(tokens))
        + "\n"
    )

    config = bertlab.BertConfig.preset("tiny")
    pretraining = bertlab.BertForPreTraining(config).eval()
    batch = tokenizer([a], [b])
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, 3] = batch["input_ids"][0, 3]
    batch["input_ids"][0, 3] = tokenizer.mask_token_id
    with torch.no_grad():
        out = pretraining(**batch, labels=labels, next_sentence_label=torch.tensor([0]))
    print(
        f"An untrained BertForPreTraining ({config.num_hidden_layers} layers, hidden "
        f"{config.hidden_size}): MLM loss {out.mlm_loss:.2f} (ln V = "
        f"{math.log(config.vocab_size):.2f}, a uniform guess), NSP loss {out.nsp_loss:.2f} (ln 2 = "
        f"{math.log(2):.2f}). Pretraining is what lowers them."
    )


if __name__ == "__main__":
    main()
