"""bertlab computes what real BERT computes: transformers is the oracle, number for number.

Outputs must agree within 1e-5 absolute in fp32; gradients within 1e-4 relative, measured per
parameter tensor as ||g_bertlab - g_hf|| <= 1e-4 ||g_hf|| + 1e-8. The tiny absolute floor is there
for the key bias, whose gradient is zero in exact arithmetic (softmax does not change when the same
number is added to all of a query's scores), so both libraries return rounding noise of ~1e-10.
"""

import pytest
import torch

import bertlab
from conftest import hf_grads, hf_twin, our_grads_by_hf_name, padded_batch

ATOL = 1e-5
GRAD_RTOL = 1e-4

CONFIGS = {
    # intermediate not 4x hidden, an odd vocab, three segment types, another layer_norm_eps
    "odd-sizes": bertlab.BertConfig(vocab_size=101, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                                    intermediate_size=100, type_vocab_size=3, layer_norm_eps=1e-7),
    "tiny-vocab-997": bertlab.BertConfig(vocab_size=997, hidden_size=64, num_hidden_layers=3, num_attention_heads=2,
                                         intermediate_size=256, max_position_embeddings=64),
    "tanh-gelu-8-heads": bertlab.BertConfig(vocab_size=503, hidden_size=32, num_hidden_layers=1, num_attention_heads=8,
                                            intermediate_size=64, type_vocab_size=5, layer_norm_eps=1e-5,
                                            max_position_embeddings=40, hidden_act="gelu_new"),
}


def assert_grads_close(ours: dict, theirs: dict, rtol=GRAD_RTOL, floor=1e-8):
    assert set(ours) == set(theirs), set(ours) ^ set(theirs)
    for name, g in theirs.items():
        error, scale = (ours[name] - g).norm().item(), g.norm().item()
        assert error <= rtol * scale + floor, f"gradient of {name}: |difference| {error:.2e} vs |gradient| {scale:.2e}"


@pytest.mark.parametrize("name", CONFIGS)
def test_pretraining_outputs_loss_and_gradients_match_transformers(name):
    torch.manual_seed(0)
    ours = bertlab.BertForPreTraining(CONFIGS[name]).eval()
    theirs = hf_twin(ours)
    batch = padded_batch(ours.config)

    a = ours(**batch, output_hidden_states=True)
    b = theirs(**batch, output_hidden_states=True)
    a.loss.backward()
    b.loss.backward()

    assert len(a.hidden_states) == ours.config.num_hidden_layers + 1  # the embeddings, then each layer
    for layer, (x, y) in enumerate(zip(a.hidden_states, b.hidden_states, strict=True)):
        torch.testing.assert_close(x, y, atol=ATOL, rtol=0, msg=f"hidden state {layer} differs")
    torch.testing.assert_close(a.prediction_logits, b.prediction_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(a.seq_relationship_logits, b.seq_relationship_logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=ATOL, rtol=0)
    assert_grads_close(our_grads_by_hf_name(ours), hf_grads(theirs))


@pytest.mark.parametrize("name", CONFIGS)
def test_encoder_last_hidden_state_and_pooled_output_match_transformers(name):
    torch.manual_seed(1)
    ours = bertlab.BertModel(CONFIGS[name]).eval()
    theirs = hf_twin(ours)
    batch = padded_batch(ours.config, seed=1)
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    a, b = ours(**inputs), theirs(**inputs)
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, atol=ATOL, rtol=0)
    torch.testing.assert_close(a.pooler_output, b.pooler_output, atol=ATOL, rtol=0)


def test_logits_at_masked_positions_only_give_the_same_loss_and_gradients():
    torch.manual_seed(2)
    model = bertlab.BertForPreTraining(CONFIGS["tiny-vocab-997"]).eval()
    batch = padded_batch(model.config, seed=2)

    full = model(**batch)
    full.loss.backward()
    full_grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    sparse = model(**batch, predict_masked_only=True)
    sparse.loss.backward()

    labelled = batch["labels"] != -100
    assert sparse.prediction_logits.shape == (int(labelled.sum()), model.config.vocab_size)
    torch.testing.assert_close(sparse.prediction_logits, full.prediction_logits[labelled], atol=ATOL, rtol=0)
    torch.testing.assert_close(sparse.loss, full.loss, atol=ATOL, rtol=0)
    assert_grads_close({n: p.grad for n, p in model.named_parameters()}, full_grads)


def test_attention_probabilities_of_the_explicit_path_equal_transformers_output_attentions():
    torch.manual_seed(3)
    ours = bertlab.BertModel(CONFIGS["odd-sizes"]).eval()
    theirs = hf_twin(ours, attn_implementation="eager")
    batch = padded_batch(ours.config, seed=3)
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
    a = ours(**inputs, output_attentions=True)
    b = theirs(**inputs, output_attentions=True)
    assert len(a.attentions) == ours.config.num_hidden_layers
    for layer, (x, y) in enumerate(zip(a.attentions, b.attentions, strict=True)):
        assert x.shape == (4, ours.config.num_attention_heads, 12, 12)
        torch.testing.assert_close(x, y, atol=ATOL, rtol=0, msg=f"attention of layer {layer} differs")
    # padding keys get no attention, and each row is a distribution
    assert a.attentions[0][3, :, :, 3:].abs().max() == 0
    torch.testing.assert_close(a.attentions[0].sum(-1), torch.ones(4, 4, 12))
    # the explicit path and the fused kernel compute the same hidden states
    torch.testing.assert_close(a.last_hidden_state, ours(**inputs).last_hidden_state, atol=ATOL, rtol=0)


def test_masked_lm_and_sequence_classification_match_transformers():
    torch.manual_seed(4)
    config = CONFIGS["odd-sizes"]
    batch = padded_batch(config, seed=4)
    inputs = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}

    mlm = bertlab.BertForMaskedLM(config).eval()
    hf_mlm = hf_twin(mlm)
    a, b = mlm(**inputs, labels=batch["labels"]), hf_mlm(**inputs, labels=batch["labels"])
    torch.testing.assert_close(a.logits, b.logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=ATOL, rtol=0)

    three_labels = bertlab.BertConfig(**{**config.__dict__, "id2label": {0: "comedy", 1: "history", 2: "tragedy"}})
    clf = bertlab.BertForSequenceClassification(three_labels).eval()
    hf_clf = hf_twin(clf)
    labels = torch.tensor([0, 2, 1, 2])
    a, b = clf(**inputs, labels=labels), hf_clf(**inputs, labels=labels)
    torch.testing.assert_close(a.logits, b.logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(a.loss, b.loss, atol=ATOL, rtol=0)
    a.loss.backward()
    b.loss.backward()
    assert_grads_close(our_grads_by_hf_name(clf), hf_grads(hf_clf))


def test_the_embedded_minilm_encoder_matches_transformers_loading_the_same_folder(minilm_folder):
    import transformers
    ours = bertlab.BertModel.from_pretrained().eval()
    theirs = transformers.BertModel.from_pretrained(str(minilm_folder)).eval()
    tokenizer = bertlab.WordPieceTokenizer.default()
    batch = tokenizer(["The quick brown fox jumps over the lazy dog.", "To be, or not to be?"],
                      ["It was the bank of the river.", "That is the question."])
    a, b = ours(**batch), theirs(**batch)
    torch.testing.assert_close(a.last_hidden_state, b.last_hidden_state, atol=ATOL, rtol=0)
    torch.testing.assert_close(a.pooler_output, b.pooler_output, atol=ATOL, rtol=0)
    # and the gradients of a loss on its outputs
    (a.last_hidden_state.square().mean() + a.pooler_output.mean()).backward()
    (b.last_hidden_state.square().mean() + b.pooler_output.mean()).backward()
    assert_grads_close(our_grads_by_hf_name(ours), hf_grads(theirs))


def test_dropout_is_the_only_difference_between_train_and_eval_mode():
    config = bertlab.BertConfig(**{**CONFIGS["odd-sizes"].__dict__, "hidden_dropout_prob": 0.0,
                                   "attention_probs_dropout_prob": 0.0})
    model = bertlab.BertForPreTraining(config)
    batch = padded_batch(config)
    torch.testing.assert_close(model.train()(**batch).loss, model.eval()(**batch).loss)
    with_dropout = bertlab.BertForPreTraining(CONFIGS["odd-sizes"]).train()
    first, second = with_dropout(**batch).loss, with_dropout(**batch).loss
    assert first != second, "dropout should make two training-mode passes differ"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_on_cpu_stays_close_to_fp32(dtype):
    torch.manual_seed(5)
    model = bertlab.BertForPreTraining(CONFIGS["tiny-vocab-997"]).eval()
    batch = padded_batch(model.config, seed=5)
    exact = model(**batch)
    with torch.autocast("cpu", dtype=dtype):
        fast = model(**batch)
    assert fast.prediction_logits.dtype == dtype
    assert fast.loss.dtype == torch.float32  # losses are always taken in fp32
    torch.testing.assert_close(fast.loss, exact.loss, atol=0.05, rtol=0.02)


def test_bert_initialisation():
    torch.manual_seed(6)
    model = bertlab.BertForPreTraining(bertlab.BertConfig.preset("mini", vocab_size=5000))
    layer = model.bert.layers[0]
    assert abs(layer.ffn_in.weight.std().item() - 0.02) < 0.001
    assert abs(model.bert.embeddings.token.weight[1:].std().item() - 0.02) < 0.001
    assert model.bert.embeddings.token.weight[0].abs().max() == 0, "the [PAD] row starts at zero"
    assert layer.ffn_in.bias.abs().max() == 0 and model.mlm.bias.abs().max() == 0
    assert (layer.ffn_norm.weight == 1).all() and (layer.ffn_norm.bias == 0).all()


# ------------------------------------------------------------------------------------------------
# The same fidelity under bf16 autocast, on the CPU and on a GPU (the CUDA cases are skipped where
# there is none). bf16 keeps 8 bits of mantissa, so the tolerances are those of bf16 rounding:
# measured on the CPU, logits differ by < 0.006, losses by < 4e-4, gradients by < 4% (key bias
# aside: ~1e-7 of noise on both sides).
# ------------------------------------------------------------------------------------------------

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", CONFIGS)
def test_bf16_autocast_pretraining_matches_transformers(name, device):
    torch.manual_seed(7)
    ours = bertlab.BertForPreTraining(CONFIGS[name]).eval().to(device)
    theirs = hf_twin(ours).to(device)
    batch = {k: v.to(device) for k, v in padded_batch(ours.config, seed=7).items()}
    with torch.autocast(device, dtype=torch.bfloat16):
        a = ours(**batch)
        b = theirs(**batch)
    a.loss.backward()
    b.loss.backward()
    assert a.prediction_logits.dtype == torch.bfloat16
    torch.testing.assert_close(a.prediction_logits.float(), b.prediction_logits.float(), atol=0.05, rtol=0.05)
    torch.testing.assert_close(a.seq_relationship_logits.float(), b.seq_relationship_logits.float(), atol=0.05, rtol=0.05)
    torch.testing.assert_close(a.loss, b.loss, atol=0.01, rtol=0.01)
    assert_grads_close(our_grads_by_hf_name(ours), hf_grads(theirs), rtol=0.1, floor=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_fp32_matches_cpu():
    torch.manual_seed(8)
    model = bertlab.BertForPreTraining(CONFIGS["odd-sizes"]).eval()
    batch = padded_batch(model.config, seed=8)
    cpu = model(**batch)
    gpu = model.cuda()(**{k: v.cuda() for k, v in batch.items()})
    # TF32 matmuls are off by default for fp32 in PyTorch, so the GPU computes in full fp32 too
    torch.testing.assert_close(gpu.prediction_logits.cpu(), cpu.prediction_logits, atol=1e-4, rtol=0)
    torch.testing.assert_close(gpu.loss.cpu(), cpu.loss, atol=1e-5, rtol=0)
