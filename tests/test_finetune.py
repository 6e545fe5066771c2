"""Fine-tuning (bertlab.finetune), as a specification: labelled passages, the loop, the evaluation."""

import pytest
import torch

import bertlab
from bertlab.data import Document, shakespeare_documents
from bertlab.finetune import (
    FinetuneConfig,
    Passage,
    confusion_matrix,
    evaluate_classifier,
    finetune,
    load_classifier,
    majority_baseline,
    make_passages,
)

LABELS = ["comedies", "tragedies"]


def toy_documents():
    """Two comedies scenes and a tragedy scene with sentences we can recognise."""
    return [
        Document("as-you-like-it", "comedies", "ACT I, SCENE I",
                 [f"Comedy line {i} is merry and long enough to count." for i in range(6)]),
        Document("twelfth-night", "comedies", "ACT II, SCENE I",
                 [f"Music line {i} is the food of love they say." for i in range(4)]),
        Document("othello", "tragedies", "ACT V, SCENE II",
                 [f"Tragic line {i} puts out the light and then the light." for i in range(5)]),
        Document("henry-v", "histories", "ACT III, SCENE I", ["Once more unto the breach, dear friends, once more."] * 4),
    ]


@pytest.fixture(scope="module")
def tokenizer():
    return bertlab.WordPieceTokenizer.from_vocab("shakespeare-mini")


def tiny_classifier(tokenizer, num_labels=2, seed=0):
    config = bertlab.BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                                id2label={i: f"L{i}" for i in range(num_labels)})
    torch.manual_seed(seed)
    return bertlab.BertForSequenceClassification(config)


# ------------------------------------------------------------------------------------------------
# Passages
# ------------------------------------------------------------------------------------------------

def test_passages_are_consecutive_sentences_of_one_scene_with_the_right_label():
    passages = make_passages(toy_documents(), LABELS, sentences_per_passage=2, min_words=1, seed=0)
    # Comedies give 3 + 2 passages, the tragedy 2 (its fifth sentence is a ragged end): balanced at 2 each.
    assert sorted(p.label for p in passages) == [0, 0, 1, 1]
    for p in passages:
        assert p.label == (0 if p.play in ("as-you-like-it", "twelfth-night") else 1)
        assert "henry" not in p.play  # a genre not asked for is left out
        first = int(p.text.split()[2])  # "Comedy line 2 ..." -> 2: passages start at even sentences
        assert first % 2 == 0 and p.text.count(".") == 2
        document = next(d for d in toy_documents() if d.play == p.play)
        assert p.text == " ".join(document.sentences[first:first + 2]) and p.scene == document.scene


def test_passages_are_deterministic_per_seed_and_balanced():
    documents = toy_documents()
    a = make_passages(documents, LABELS, sentences_per_passage=1, min_words=1, seed=3)
    assert a == make_passages(documents, LABELS, sentences_per_passage=1, min_words=1, seed=3)
    others = [make_passages(documents, LABELS, sentences_per_passage=1, min_words=1, seed=s) for s in range(4, 9)]
    assert any(o != a for o in others)
    assert [p.label for p in a].count(0) == [p.label for p in a].count(1) == 5  # the tragedy has 5 sentences
    fixed = make_passages(documents, LABELS, sentences_per_passage=1, min_words=1, per_label=2, seed=0)
    assert len(fixed) == 4


def test_min_words_drops_short_passages():
    documents = [Document("a", "comedies", "S", ["Ay.", "No, my good lord, not so."]),
                 Document("b", "tragedies", "S", ["O!", "Then I defy you, stars."])]
    passages = make_passages(documents, LABELS, sentences_per_passage=1, min_words=3)
    assert sorted(p.text for p in passages) == ["No, my good lord, not so.", "Then I defy you, stars."]


def test_labels_of_real_held_out_plays():
    passages = make_passages(shakespeare_documents("heldout"), LABELS, seed=0)
    genre = {"a-midsummer-night-s-dream": 0, "hamlet": 1, "macbeth": 1}
    assert {p.play for p in passages} == set(genre)  # julius-caesar is "roman": not asked for
    assert all(p.label == genre[p.play] for p in passages)
    by_play = make_passages(shakespeare_documents("heldout"), ["hamlet", "macbeth"], label_by="play", seed=0)
    assert all(p.label == ["hamlet", "macbeth"].index(p.play) for p in by_play)


@pytest.mark.parametrize("kwargs, message", [
    (dict(labels=["comedy", "tragedies"]), r"no passage has the genre \['comedy'\].*'comedies'"),
    (dict(labels=["comedies"]), "at least 2 distinct"),
    (dict(labels=["comedies", "comedies"]), "at least 2 distinct"),
    (dict(label_by="author"), 'label_by must be "genre" or "play"'),
    (dict(sentences_per_passage=0), "sentences_per_passage must be an int >= 1"),
    (dict(per_label=100), r"per_label=100 is more than some labels have: \{'comedies': \d+, 'tragedies': \d+\}"),
    (dict(seed=-1), "seed must be an int >= 0"),
])
def test_bad_passage_arguments_say_what_to_change(kwargs, message):
    arguments = dict(labels=LABELS, sentences_per_passage=1, min_words=1) | kwargs
    labels = arguments.pop("labels")
    with pytest.raises(ValueError, match=message):
        make_passages(toy_documents(), labels, **arguments)


def test_wrong_kinds_of_input_are_named():
    with pytest.raises(TypeError, match="labels must be a list of str"):
        make_passages(toy_documents(), "comedies")
    with pytest.raises(ValueError, match="documents is empty"):
        make_passages([], LABELS)


# ------------------------------------------------------------------------------------------------
# The model and the loop
# ------------------------------------------------------------------------------------------------

def test_a_pretraining_checkpoint_loads_under_a_new_classifier():
    pretraining = bertlab.BertForPreTraining.from_pretrained("shakespeare-mini")
    labels = ["comedies", "roman", "tragedies"]
    model = load_classifier("shakespeare-mini", labels, pretrained=True, seed=0)
    scratch = load_classifier("shakespeare-mini", labels, pretrained=False, seed=0)
    assert model.config.num_labels == 3 and model.config.id2label == dict(enumerate(labels))
    assert model.config.hidden_dropout_prob == 0.1
    encoder, pretrained = model.bert.state_dict(), pretraining.bert.state_dict()
    assert list(encoder) == list(pretrained)  # every tensor of the encoder, and no other...
    assert all(torch.equal(encoder[name], pretrained[name]) for name in encoder)  # ...as pretrained
    assert not torch.equal(scratch.bert.layers[0].ffn_in.weight, model.bert.layers[0].ffn_in.weight)
    # The same seed draws the same new classifier: runs are repeatable.
    again = load_classifier("shakespeare-mini", labels, pretrained=True, seed=0)
    assert torch.equal(again.classifier.weight, model.classifier.weight)


def tiny_set():
    return [Passage("the king is dead and the crown is lost", 0, "x", "s"),
            Passage("sweet love and merry music in the wood", 1, "x", "s"),
            Passage("blood and death upon the king's head", 0, "x", "s"),
            Passage("a merry jest and a song of love", 1, "x", "s")]


def test_a_few_steps_reduce_the_loss_and_repeat_exactly(tokenizer):
    passages = tiny_set()
    # batch_size = the whole set: every step sees the same four passages, so the losses compare.
    cfg = FinetuneConfig(steps=20, batch_size=4, lr=1e-2, warmup_fraction=0.1, seed=0)
    model = tiny_classifier(tokenizer)
    log = finetune(model, tokenizer, passages, cfg, eval_passages=passages)
    assert log[-1]["loss"] < 0.1 * log[0]["loss"]  # from ln 2 = 0.69 (a guess) to near 0
    assert [r["step"] for r in log] == list(range(1, 21))
    assert log[-1]["eval_accuracy"] == 1.0 and "eval_accuracy" not in log[0]
    assert max(r["lr"] for r in log) == pytest.approx(1e-2) and log[-1]["lr"] < 1e-2 / 10  # warmup, then decay
    again = finetune(tiny_classifier(tokenizer), tokenizer, passages, cfg, eval_passages=passages)
    assert [r["loss"] for r in again] == [r["loss"] for r in log]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_steps_run_on_the_cpu(tokenizer, precision):
    cfg = FinetuneConfig(steps=2, batch_size=4, precision=precision)
    log = finetune(tiny_classifier(tokenizer), tokenizer, tiny_set(), cfg, eval_passages=tiny_set())
    assert all(torch.isfinite(torch.tensor([r["loss"], r["grad_norm"]])).all() for r in log)


def test_an_unknown_precision_is_refused(tokenizer):
    with pytest.raises(ValueError, match='precision must be "fp32", "bf16" or "fp16"'):
        finetune(tiny_classifier(tokenizer), tokenizer, tiny_set(), FinetuneConfig(steps=1, precision="half"))


def test_labels_outside_the_model_are_refused(tokenizer):
    with pytest.raises(ValueError, match="label 2 is outside the model's 2 labels"):
        finetune(tiny_classifier(tokenizer), tokenizer, [Passage("a b c", 2, "x", "s")], FinetuneConfig(steps=1))
    with pytest.raises(ValueError, match="passages is empty"):
        finetune(tiny_classifier(tokenizer), tokenizer, [], FinetuneConfig(steps=1))


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------

class FirstWordModel(torch.nn.Module):
    """A stand-in classifier with a known answer: label 1 if the first word is 'yes', else 0."""

    def __init__(self, tokenizer):
        super().__init__()
        self.config = bertlab.BertConfig(id2label={0: "no", 1: "yes"})
        self.yes = tokenizer.convert_tokens_to_ids("yes")
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the module a device

    @property
    def device(self):
        return self.anchor.device

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        is_yes = (input_ids[:, 1] == self.yes).long()                  # position 0 is [CLS]
        return type("Out", (), {"logits": torch.nn.functional.one_hot(is_yes, 2).float()})()


def test_evaluation_counts_like_a_hand_count(tokenizer):
    passages = [Passage("yes indeed", 1, "p", "s"), Passage("yes sir", 0, "p", "s"),
                Passage("no never", 0, "p", "s"), Passage("no doubt", 1, "p", "s"), Passage("yes", 1, "p", "s")]
    result = evaluate_classifier(FirstWordModel(tokenizer), tokenizer, passages, batch_size=2)
    # predicted: 1, 1, 0, 0, 1 against true 1, 0, 0, 1, 1: three right of five.
    assert result.accuracy == pytest.approx(3 / 5)
    assert result.predictions.tolist() == [1, 1, 0, 0, 1]
    assert result.confusion.tolist() == [[1, 1],   # true 0: one predicted 0, one predicted 1
                                         [1, 2]]   # true 1: one predicted 0, two predicted 1
    assert confusion_matrix(torch.tensor([2, 0]), torch.tensor([2, 1]), 3).tolist() == [[0, 0, 0], [1, 0, 0], [0, 0, 1]]
    assert majority_baseline(passages, passages) == pytest.approx(3 / 5)  # label 1 is most common
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_classifier(FirstWordModel(tokenizer), tokenizer, [])
