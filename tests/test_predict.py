"""fill_mask, next_sentence_probability and the held-out evaluation, checked against the model's own full outputs."""

import pytest
import torch

import bertlab
from bertlab.data import text_file_documents
from bertlab.evaluate import evaluate_pretraining


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
    for prediction, position in zip(predictions, mask_positions):
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


def test_held_out_evaluation_counts_every_masked_token_and_pair(model, tokenizer, tmp_path):
    (tmp_path / "a.txt").write_text("The sun rose. The birds sang. The day began.\n\nRain fell all night. "
                                    "The river rose. The bridge was closed.\n\nA cat slept. A dog barked. A bell rang.\n")
    result = evaluate_pretraining(model, tokenizer, text_file_documents(tmp_path), max_seq_len=16, batch_size=2)
    assert result["pairs"] % 2 == 0 and result["masked_tokens"] >= result["pairs"]
    assert 0 <= result["mlm_top1"] <= 1 and 0 <= result["nsp_accuracy"] <= 1
    assert result["mlm_most_frequent_token_baseline"] >= 1 / result["masked_tokens"]
