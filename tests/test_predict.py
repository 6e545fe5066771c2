"""fill_mask and next_sentence_probability, checked against the model's own full outputs; the
held-out evaluation, checked against a hand count of a stand-in model's known answers."""

from collections import Counter

import pytest
import torch
import torch.nn.functional as F

import bertlab
from bertlab.data import Document, PretrainingCollator, make_pairs
from bertlab.evaluate import evaluate_pretraining
from bertlab.model import IGNORE_INDEX, PreTrainingOutput


@pytest.fixture(scope="module")
def tokenizer():
    return bertlab.WordPieceTokenizer.default()


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return bertlab.BertForPreTraining(bertlab.BertConfig.preset("tiny")).eval()


def test_fill_mask_gives_the_top_k_of_the_full_softmax_at_each_mask(model, tokenizer):
    text = "to be , or not to [MASK] : that is the [MASK] ."
    predictions = bertlab.fill_mask(model, tokenizer, text, top_k=3)
    assert len(predictions) == 2 and all(len(p) == 3 for p in predictions)
    batch = tokenizer(text)
    with torch.no_grad():
        probs = model(**batch).prediction_logits.softmax(-1)[0]                   # (T, V)
    mask_positions = (batch["input_ids"][0] == tokenizer.mask_token_id).nonzero().flatten()
    for prediction, position in zip(predictions, mask_positions, strict=True):
        top = probs[position].topk(3)
        assert [p.token for p in prediction] == tokenizer.convert_ids_to_tokens(top.indices.tolist())
        assert [p.probability for p in prediction] == pytest.approx(top.values.tolist(), abs=1e-6)


def test_fill_mask_needs_a_mask(model, tokenizer):
    with pytest.raises(ValueError, match=r"at least one \[MASK\]"):
        bertlab.fill_mask(model, tokenizer, "no mask here")


def test_next_sentence_probability_is_the_softmax_of_the_isnext_logit(model, tokenizer):
    p = bertlab.next_sentence_probability(model, tokenizer, "The king is dead.", "Long live the king.")
    with torch.no_grad():
        logits = model(**tokenizer("The king is dead.", "Long live the king.")).seq_relationship_logits
    assert p == pytest.approx(logits.softmax(-1)[0, 0].item(), abs=1e-6)
    assert model.eval() is model and not model.training  # the helpers leave the mode as they found it


# ------------------------------------------------------------------------------------------------
# The held-out evaluation, against a hand count
# ------------------------------------------------------------------------------------------------

def four_short_documents():
    """Four documents of plain sentences: pairs of 20 tokens give 8 pairs of different lengths."""
    return [
        Document("sun", "text", "s", [
            "The sun rose over the hill.", "The birds sang in the trees.", "The day began.",
            "The farmer walked to the field.", "The cows were waiting by the gate."]),
        Document("rain", "text", "s", [
            "Rain fell all night.", "The river rose.", "The bridge was closed.",
            "The town slept through the storm.", "In the morning the sky was clear."]),
        Document("cat", "text", "s", [
            "A cat slept on the mat.", "A dog barked at the moon.", "A bell rang.",
            "The children ran to the school.", "The teacher opened the door."]),
        Document("sea", "text", "s", [
            "The ship left the harbour.", "The sailors sang.", "The wind was fair.",
            "By noon the coast was gone."]),
    ]


class KnownAnswers(torch.nn.Module):
    """A stand-in BertForPreTraining (same call, same outputs) whose every answer is known:

    - MLM: at a masked position (a label that is not -100) in an odd column of its row, the true
      token; in an even column, the next token id, which is wrong;
    - NSP: NotNext (1) where segment B ([SEP] included) has an odd number of tokens, else IsNext (0).

    It records what it is called with, and whether it was in eval mode."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device
        self.calls = []

    @property
    def device(self):
        return self.anchor.device

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None,
                next_sentence_label=None, *, predict_masked_only=False):
        self.calls.append({"input_ids": input_ids.clone(), "labels": labels.clone(),
                           "eval": not self.training})
        masked = labels != IGNORE_INDEX                                            # (B, T)
        odd_column = torch.arange(labels.shape[1]) % 2 == 1                        # (T,)
        wrong = (labels + 1) % self.vocab_size
        predicted = torch.where(odd_column, labels, wrong)                         # (B, T)
        predicted = predicted[masked] if predict_masked_only else predicted.where(masked, 0)
        not_next = token_type_ids.sum(dim=1) % 2                                   # (B,)
        return PreTrainingOutput(loss=None,
                                 prediction_logits=F.one_hot(predicted, self.vocab_size).float(),
                                 seq_relationship_logits=F.one_hot(not_next, 2).float())


def test_held_out_evaluation_is_a_count_over_every_masked_token_and_every_pair(tokenizer):
    """evaluate_pretraining's figures are counts over one seeded epoch: every pair of
    make_pairs(documents, seed) once, in batches of batch_size (the last one shorter), masked by
    PretrainingCollator from torch.Generator().manual_seed(seed). MLM top-1 is the share of the
    masked tokens (no padding, no [CLS] or [SEP], no unmasked token) whose top logit is the true
    token, counted per token over all batches, not averaged per batch; the baseline is the share of
    the commonest masked token; NSP accuracy is the share of the pairs whose top logit is their
    label. The model is evaluated in eval mode and left in the mode it was in."""
    documents, seed, batch_size = four_short_documents(), 0, 3
    model = KnownAnswers(tokenizer.vocab_size).train()
    result = evaluate_pretraining(model, tokenizer, documents, max_seq_len=20, batch_size=batch_size,
                                  seed=seed)

    # The hand count. The pairs, and the masks drawn for them batch by batch:
    pairs = make_pairs(documents, tokenizer, max_seq_len=20, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    batches = [PretrainingCollator(tokenizer)(pairs[start:start + batch_size], generator=generator)
               for start in range(0, len(pairs), batch_size)]
    masked_tokens = mlm_correct = 0
    targets = Counter()
    for batch in batches:
        for row, column in (batch["labels"] != IGNORE_INDEX).nonzero().tolist():
            token = batch["labels"][row, column].item()
            assert batch["attention_mask"][row, column] == 1  # a real token...
            assert token not in tokenizer.all_special_ids     # ...and not [CLS], [SEP] or [PAD]
            masked_tokens += 1
            mlm_correct += column % 2 == 1
            targets[token] += 1
    # NotNext is predicted for an odd segment B: right where that matches the pair's label.
    nsp_correct = sum(sum(p.token_type_ids) % 2 == p.next_sentence_label for p in pairs)
    (commonest, top), (_, second) = targets.most_common(2)
    assert top > second  # one commonest token, no tie

    # The model saw exactly those batches, in eval mode, and was put back in train mode.
    assert len(model.calls) == len(batches), f"{len(model.calls)} calls for {len(batches)} batches"
    for call, batch in zip(model.calls, batches, strict=True):
        assert torch.equal(call["input_ids"], batch["input_ids"]) and call["eval"]
        assert torch.equal(call["labels"], batch["labels"])
    assert model.training

    assert result["pairs"] == len(pairs) == 8
    assert result["masked_tokens"] == masked_tokens
    assert result["mlm_top1"] == mlm_correct / masked_tokens
    assert result["nsp_accuracy"] == nsp_correct / len(pairs) == 3 / 8
    assert result["mlm_most_frequent_token_baseline"] == top / masked_tokens
    assert result["most_frequent_token"] == tokenizer.convert_ids_to_tokens(commonest)

    # The case has teeth: a last batch that is shorter, padding in a batch, some right and some
    # wrong answers, and per-batch means that differ from the per-token (and per-pair) ones.
    assert len(pairs) % batch_size != 0
    assert any((batch["attention_mask"] == 0).any() for batch in batches)
    assert 0 < mlm_correct < masked_tokens and 0 < nsp_correct < len(pairs)
    per_batch_mlm = [((b["labels"] != IGNORE_INDEX) & (torch.arange(b["labels"].shape[1]) % 2 == 1))
                     .sum() / (b["labels"] != IGNORE_INDEX).sum() for b in batches]
    assert sum(per_batch_mlm) / len(batches) != pytest.approx(mlm_correct / masked_tokens)
    per_batch_nsp = [sum(sum(p.token_type_ids) % 2 == p.next_sentence_label for p in part) / len(part)
                     for part in (pairs[i:i + batch_size] for i in range(0, len(pairs), batch_size))]
    assert sum(per_batch_nsp) / len(batches) != pytest.approx(nsp_correct / len(pairs))
