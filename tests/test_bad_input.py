"""Bad input gets a clear error that names the value, the limit and the fix: never an IndexError
from deep inside torch (or, on a GPU, a device-side assert that kills the process)."""

import pytest
import torch

import bertlab

CONFIG = bertlab.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                            intermediate_size=64, max_position_embeddings=16, type_vocab_size=2)


@pytest.fixture(scope="module")
def model():
    return bertlab.BertForPreTraining(CONFIG).eval()


def ids(batch=2, seq_len=8):
    return torch.randint(5, 100, (batch, seq_len))


def test_a_sequence_longer_than_max_position_embeddings(model):
    with pytest.raises(ValueError, match=r"17 tokens, more than max_position_embeddings=16; truncate"):
        model(ids(seq_len=17))


@pytest.mark.parametrize("bad_id", [100, 5000, -1])
def test_a_token_id_outside_the_vocabulary(model, bad_id):
    input_ids = ids()
    input_ids[1, 3] = bad_id
    with pytest.raises(ValueError, match=rf"Token id {bad_id} is outside the vocabulary \[0, vocab_size=100\)"):
        model(input_ids)


@pytest.mark.parametrize("bad_segment", [2, -1])
def test_a_segment_id_outside_type_vocab_size(model, bad_segment):
    segments = torch.zeros(2, 8, dtype=torch.long)
    segments[0, 5] = bad_segment
    with pytest.raises(ValueError, match=rf"Segment id {bad_segment} .* type_vocab_size=2"):
        model(ids(), token_type_ids=segments)


@pytest.mark.parametrize("shape", [(2, 7), (8,), (2, 1, 1, 8)])
def test_an_attention_mask_of_the_wrong_shape(model, shape):
    with pytest.raises(ValueError, match=r"attention_mask has shape .* must match input_ids, \(batch, seq_len\) = \(2, 8\)"):
        model(ids(), attention_mask=torch.ones(shape))


def test_a_sequence_with_nothing_to_attend_to(model):
    mask = torch.ones(2, 8)
    mask[1] = 0
    with pytest.raises(ValueError, match="attention_mask row 1 is all 0"):
        model(ids(), attention_mask=mask)


def test_segment_ids_of_another_shape(model):
    with pytest.raises(ValueError, match=r"token_type_ids has shape \(2, 5\), but input_ids has \(2, 8\)"):
        model(ids(), token_type_ids=torch.zeros(2, 5, dtype=torch.long))


def test_input_ids_that_are_not_a_batch_of_integer_ids(model):
    with pytest.raises(ValueError, match=r"for a single sequence use input_ids.unsqueeze\(0\)"):
        model(torch.tensor([2, 7, 9, 3]))
    with pytest.raises(TypeError, match="integer token ids, got dtype torch.float32"):
        model(torch.rand(2, 8))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        model([[2, 7, 9, 3]])


def test_predict_masked_only_without_labels(model):
    with pytest.raises(ValueError, match="predict_masked_only=True needs labels"):
        model(ids(), predict_masked_only=True)


def test_bad_input_is_caught_the_same_way_in_every_model_class():
    for cls in (bertlab.BertModel, bertlab.BertForMaskedLM, bertlab.BertForSequenceClassification):
        with pytest.raises(ValueError, match="Token id 100 is outside the vocabulary"):
            cls(CONFIG)(torch.full((1, 4), 100))
