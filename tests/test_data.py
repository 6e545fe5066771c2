"""Specification of bertlab.data: BERT's pretraining data, as the BERT paper built it.

corpus (Shakespeare scenes, or the user's text files) -> sentences -> NSP pairs -> MLM-masked batches.
"""

import math
from collections import Counter

import pytest
import torch

from bertlab import data
from bertlab.data import (HELDOUT_PLAYS, IS_NEXT, NOT_NEXT, Document, PairExample, PretrainingCollator,
                          PretrainingPairs, make_pairs, mask_tokens, shakespeare_documents, split_sentences,
                          text_file_documents, tokenize_documents)
from bertlab.model import IGNORE_INDEX
from bertlab.tokenizer import WordPieceTokenizer

GENRES = {"comedies", "histories", "problems", "roman", "romances", "tragedies"}


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer.default()


@pytest.fixture(scope="module")
def all_scenes():
    return shakespeare_documents("all")


@pytest.fixture(scope="module")
def heldout_scenes():
    return shakespeare_documents("heldout")


@pytest.fixture(scope="module")
def heldout_pairs(heldout_scenes, tokenizer):
    """An epoch of pairs over the four held-out plays (about 1,100 pairs: quick, and real text)."""
    return PretrainingPairs(heldout_scenes, tokenizer, max_seq_len=128, seed=0)


def scene(documents, play, label):
    return next(d for d in documents if d.play == play and d.scene == label)


# ================================================================================================
# Sentences
# ================================================================================================

@pytest.mark.parametrize("text, expected", [
    ("Who's there? Nay, answer me: stand, and unfold yourself.",
     ["Who's there?", "Nay, answer me: stand, and unfold yourself."]),
    # "!" or "?" before a lowercase word is Elizabethan punctuation inside a sentence.
    ("O cross! too high to be enthrall'd to low. How now! what news?",
     ["O cross! too high to be enthrall'd to low.", "How now! what news?"]),
    # ":" and ";" join clauses of one sentence.
    ("To be, or not to be: that is the question; whether 'tis nobler.",
     ["To be, or not to be: that is the question; whether 'tis nobler."]),
    ("Mr. Page went to St. Albans, viz. the town. He came back.",
     ["Mr. Page went to St. Albans, viz. the town.", "He came back."]),
    ("He read 'Most fair Pyramus.' Then he slept.", ["He read 'Most fair Pyramus.'", "Then he slept."]),
    ("'Tis late. 'Tis cold.", ["'Tis late.", "'Tis cold."]),
    ("a full stop ends a sentence. even before lowercase.", ["a full stop ends a sentence.", "even before lowercase."]),
    ("Line one,\n   line two.  ", ["Line one, line two."]),
    ("Oh. — ...", ["Oh. — ..."]),  # a fragment without a letter joins the sentence before it
    ("He.", ["He."]),
    ("", []),
    ("  ... ", []),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_split_sentences_rejects_non_text():
    with pytest.raises(TypeError, match="text must be a str"):
        split_sentences(["a list"])


# ================================================================================================
# The Shakespeare corpus
# ================================================================================================

def test_all_38_plays_parse_into_scenes(all_scenes):
    plays = data.shakespeare_plays()
    assert len(plays) == 38 and set(plays.values()) == GENRES
    scenes_per_play = Counter(d.play for d in all_scenes)
    assert set(scenes_per_play) == set(plays)
    assert min(scenes_per_play.values()) >= 8  # five acts of one scene or more (the file of The Tempest runs I.i and I.ii together)
    assert all(d.genre == plays[d.play] for d in all_scenes)
    assert all(d.sentences and all(s.strip() == s and s for s in d.sentences) for d in all_scenes)
    assert sum(len(d.sentences) for d in all_scenes) > 45_000


def test_sentences_hold_only_the_spoken_text(all_scenes):
    for document in all_scenes:
        for sentence in document.sentences:
            # no bold speaker names, no italic stage directions, no headings, no escapes or brackets
            assert not any(mark in sentence for mark in ("*", "_", "#", "[", "]", "\\")), (document.scene, sentence)
            assert "--" not in sentence  # Shakespeare's dash is written as one "—"
    hamlet = scene(all_scenes, "hamlet", "ACT I, SCENE I")
    # The speakers (BERNARDO, FRANCISCO) and "_FRANCISCO at his post. Enter to him BERNARDO_" are gone.
    assert hamlet.sentences[:5] == ["Who's there?", "Nay, answer me: stand, and unfold yourself.",
                                    "Long live the king!", "Bernardo?", "He."]
    # Verse lines of one speech are joined.
    assert "For this relief much thanks: 'tis bitter cold, And I am sick at heart." in hamlet.sentences


def test_known_lines_and_scene_labels(all_scenes):
    hamlet = [s for d in all_scenes if d.play == "hamlet" for s in d.sentences]
    assert any(s.startswith("To be, or not to be: that is the question:") for s in hamlet)
    assert "Fair is foul, and foul is fair: Hover through the fog and filthy air." in \
        scene(all_scenes, "macbeth", "ACT I, SCENE I").sentences
    assert scene(all_scenes, "henry-v", "ACT I, PROLOGUE").sentences[0].startswith("O for a Muse of fire")
    assert scene(all_scenes, "as-you-like-it", "EPILOGUE").sentences[0].startswith("It is not the fashion")
    # An inline direction (__\[Awaking]_) is dropped from its line, the words around it kept.
    assert "What angel wakes me from my flowery bed?" in \
        scene(all_scenes, "a-midsummer-night-s-dream", "ACT III, SCENE I").sentences
    # A stage direction over two lines (*Enter King Edward, ... and\nArtois.*) is dropped whole.
    assert scene(all_scenes, "edward-iii", "ACT I, SCENE I").sentences[0].startswith("Robert of Artois")


def test_heldout_split_is_whole_plays_never_seen_in_training(all_scenes):
    train, heldout = shakespeare_documents("train"), shakespeare_documents("heldout")
    train_plays, heldout_plays = {d.play for d in train}, {d.play for d in heldout}
    assert heldout_plays == set(HELDOUT_PLAYS) and not train_plays & heldout_plays
    assert len(train) + len(heldout) == len(all_scenes)
    assert len({d.genre for d in heldout}) >= 3  # spread over genres
    n_heldout = sum(len(d.sentences) for d in heldout)
    assert 0.05 < n_heldout / sum(len(d.sentences) for d in all_scenes) < 0.15  # about 10% of the text


def test_heldout_plays_can_be_chosen():
    heldout = shakespeare_documents("heldout", heldout_plays=("the-tempest",))
    assert {d.play for d in heldout} == {"the-tempest"}
    assert "the-tempest" not in {d.play for d in shakespeare_documents("train", heldout_plays=("the-tempest",))}


def test_corpus_errors_name_the_fix():
    with pytest.raises(ValueError, match=r"unknown plays \['hamlett'\].*hamlet"):
        shakespeare_documents(heldout_plays=("hamlett",))
    with pytest.raises(TypeError, match=r"\('hamlet',\)"):
        shakespeare_documents(heldout_plays="hamlet")
    with pytest.raises(ValueError, match='"train", "heldout" or "all"'):
        shakespeare_documents("test")


def test_returned_documents_are_copies():
    first = shakespeare_documents("heldout")
    first[0].sentences.clear()
    assert shakespeare_documents("heldout")[0].sentences


def test_describe_corpus(heldout_scenes, tokenizer):
    stats = data.describe_corpus(heldout_scenes, tokenizer)
    assert stats["plays"] == 4 and stats["documents"] == len(heldout_scenes)
    assert stats["sentences"] == sum(len(d.sentences) for d in heldout_scenes)
    assert stats["words"] < stats["tokens"] < 2 * stats["words"]


# ================================================================================================
# The user's own text files
# ================================================================================================

def test_text_files_give_a_document_per_block(tmp_path):
    (tmp_path / "notes.txt").write_text("First line of a paragraph,\nwrapped. Second sentence!\n\n\n"
                                        "Another block.\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("Nested file. Two sentences.", encoding="utf-8")
    (tmp_path / "ignored.md").write_text("Not a .txt file.", encoding="utf-8")

    documents = text_file_documents(tmp_path)
    assert documents == [
        Document("notes", "text", "lines 1-2", ["First line of a paragraph, wrapped.", "Second sentence!"]),
        Document("notes", "text", "lines 5-5", ["Another block."]),
        Document("more", "text", "lines 1-1", ["Nested file.", "Two sentences."]),
    ]
    assert text_file_documents([tmp_path / "notes.txt"]) == documents[:2]
    assert text_file_documents(str(tmp_path / "sub" / "more.txt")) == documents[2:]


def test_text_file_errors(tmp_path):
    missing = tmp_path / "missing.txt"
    with pytest.raises(FileNotFoundError, match="missing.txt does not exist"):
        text_file_documents([missing])
    (tmp_path / "empty.txt").write_text("\n  \n...\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentences found in .*empty.txt"):
        text_file_documents(tmp_path / "empty.txt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no .txt files"):
        text_file_documents(tmp_path / "folder")
    with pytest.raises(ValueError, match="paths is empty"):
        text_file_documents([])


# ================================================================================================
# Next-sentence prediction pairs
# ================================================================================================

def sides(example: PairExample, sep_token_id: int) -> tuple[list[int], list[int]]:
    """The token ids of A and of B."""
    first_sep = example.input_ids.index(sep_token_id)
    return example.input_ids[1:first_sep], example.input_ids[first_sep + 1:-1]


@pytest.mark.parametrize("max_seq_len, short_seq_prob, seed, epoch", [
    (128, 0.1, 0, 0), (128, 0.1, 0, 1), (64, 0.5, 3, 2), (512, 0.1, 1, 0),
])
def test_every_epoch_is_exactly_half_isnext_half_notnext(heldout_scenes, tokenizer, max_seq_len, short_seq_prob,
                                                         seed, epoch):
    examples = make_pairs(heldout_scenes, tokenizer, max_seq_len=max_seq_len, short_seq_prob=short_seq_prob,
                          seed=seed, epoch=epoch)
    labels = Counter(e.next_sentence_label for e in examples)
    assert labels[IS_NEXT] == labels[NOT_NEXT] > 100
    assert set(labels) == {IS_NEXT, NOT_NEXT}


def test_isnext_b_is_the_continuation_of_a(heldout_pairs):
    is_next = [e for e in heldout_pairs.examples if e.next_sentence_label == IS_NEXT]
    for e in is_next:
        assert e.doc_a == e.doc_b
        assert e.sentence_a[0] < e.sentence_a[1] == e.sentence_b[0] < e.sentence_b[1]  # A's last + 1 == B's first


def test_notnext_b_comes_from_another_document(heldout_pairs):
    not_next = [e for e in heldout_pairs.examples if e.next_sentence_label == NOT_NEXT]
    assert all(e.doc_a != e.doc_b for e in not_next)
    assert all(e.sentence_a[0] < e.sentence_a[1] and e.sentence_b[0] < e.sentence_b[1] for e in not_next)


def test_pair_layout(heldout_pairs, tokenizer):
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for e in heldout_pairs.examples:
        assert len(e.input_ids) == len(e.token_type_ids) <= 128
        assert e.input_ids[0] == cls and e.input_ids[-1] == sep and e.input_ids.count(sep) == 2
        assert e.input_ids.count(cls) == 1 and tokenizer.pad_token_id not in e.input_ids
        tokens_a, tokens_b = sides(e, sep)
        assert tokens_a and tokens_b
        assert e.token_type_ids == [0] * (len(tokens_a) + 2) + [1] * (len(tokens_b) + 1)


def test_pair_tokens_are_the_source_sentences(heldout_pairs, heldout_scenes, tokenizer):
    """A is (the end of) its sentences, B (the start of) its own: truncation cuts A's front and B's back."""
    sentence_ids = tokenize_documents(heldout_scenes, tokenizer)
    for e in heldout_pairs.examples:
        source_a = [t for ids in sentence_ids[e.doc_a][slice(*e.sentence_a)] for t in ids]
        source_b = [t for ids in sentence_ids[e.doc_b][slice(*e.sentence_b)] for t in ids]
        tokens_a, tokens_b = sides(e, tokenizer.sep_token_id)
        assert source_a[len(source_a) - len(tokens_a):] == tokens_a
        assert source_b[:len(tokens_b)] == tokens_b


def test_no_text_is_wasted(heldout_pairs):
    """Every sentence is used once as A or as a true B: a NotNext chunk's rest is not thrown away."""
    uses = Counter()
    for e in heldout_pairs.examples:
        uses.update((e.doc_a, i) for i in range(*e.sentence_a))
        if e.next_sentence_label == IS_NEXT:
            uses.update((e.doc_b, i) for i in range(*e.sentence_b))
    assert max(uses.values()) == 1
    # All are used but, at most, one run of consecutive sentences of one document: those of the
    # one pair dropped to make the labels exactly even.
    unused = sorted((doc, i) for doc, sentences in enumerate(heldout_pairs.sentence_token_ids)
                    for i in range(len(sentences)) if (doc, i) not in uses)
    assert len({doc for doc, _ in unused}) <= 1
    assert [i for _, i in unused] == list(range(unused[0][1], unused[0][1] + len(unused))) if unused else True


def test_same_seed_same_pairs_other_seed_or_epoch_other_pairs(heldout_scenes, tokenizer, heldout_pairs):
    assert make_pairs(heldout_scenes, tokenizer, seed=0) == heldout_pairs.examples
    assert make_pairs(heldout_scenes, tokenizer, seed=1) != heldout_pairs.examples
    epoch_1 = make_pairs(heldout_scenes, tokenizer, seed=0, epoch=1)
    assert epoch_1 != heldout_pairs.examples
    pairs = PretrainingPairs(heldout_scenes, tokenizer, seed=0)
    pairs.set_epoch(1)
    assert pairs.examples == epoch_1 and pairs.epoch == 1
    pairs.set_epoch(0)
    assert pairs.examples == heldout_pairs.examples
    assert len(pairs) == len(pairs.examples) and pairs[0] == pairs.examples[0]


def test_short_seq_prob_makes_shorter_pairs(heldout_scenes, tokenizer):
    def mean_length(p):
        examples = make_pairs(heldout_scenes, tokenizer, short_seq_prob=p)
        return sum(len(e.input_ids) for e in examples) / len(examples)
    assert mean_length(1.0) < 0.7 * mean_length(0.0)


def test_notnext_pairs_are_as_long_as_isnext_pairs(heldout_pairs):
    """B is filled up to the target length, so a pair's length does not give its label away."""
    def mean_length(label):
        lengths = [len(e.input_ids) for e in heldout_pairs.examples if e.next_sentence_label == label]
        return sum(lengths) / len(lengths)
    assert abs(mean_length(IS_NEXT) - mean_length(NOT_NEXT)) < 5


def test_the_longer_side_is_truncated_first(tokenizer):
    long_sentence = "The " + " and the ".join(["king", "queen", "prince", "duke", "earl"] * 6) + " came in."
    short_sentence = "They left."
    documents = [Document("play", "text", f"scene {i}", [long_sentence, short_sentence]) for i in range(6)]
    documents.append(Document("other", "text", "scene", ["Something else.", "Quite different."]))
    n_long = len(tokenizer.tokenize(long_sentence))
    n_short = len(tokenizer.tokenize(short_sentence))
    max_seq_len = 24  # room for 21 tokens of text: less than the long sentence alone
    assert n_long > max_seq_len and n_short < 10
    n_checked = 0
    for seed in range(4):
        for e in make_pairs(documents, tokenizer, max_seq_len=max_seq_len, short_seq_prob=0.0, seed=seed):
            tokens_a, tokens_b = sides(e, tokenizer.sep_token_id)
            assert len(e.input_ids) <= max_seq_len
            if e.next_sentence_label == IS_NEXT and e.doc_a < 6:  # A = the long sentence, B = the short one
                assert len(e.input_ids) == max_seq_len
                assert len(tokens_b) == n_short and len(tokens_a) == max_seq_len - 3 - n_short
                assert tokenizer.decode(tokens_a).endswith("came in.")  # cut from the front
                n_checked += 1
    assert n_checked >= 4
    # Two long sides: cut the longer until both are equal, then both in turn.
    documents = [Document("play", "text", f"scene {i}", [long_sentence, long_sentence]) for i in range(4)]
    for e in make_pairs(documents, tokenizer, max_seq_len=max_seq_len, short_seq_prob=0.0):
        tokens_a, tokens_b = sides(e, tokenizer.sep_token_id)
        assert abs(len(tokens_a) - len(tokens_b)) <= 1 and len(e.input_ids) == max_seq_len


def test_one_sentence_documents_serve_only_as_notnext(tokenizer):
    documents = [Document("play", "text", f"scene {i}", ["One sentence here.", "And a second one.",
                                                         "A third.", "Then a fourth."]) for i in range(5)]
    documents += [Document("lonely", "text", f"scene {i}", ["Only one sentence."]) for i in range(3)]
    for seed in range(5):
        examples = make_pairs(documents, tokenizer, max_seq_len=16, seed=seed)
        labels = Counter(e.next_sentence_label for e in examples)
        assert labels[IS_NEXT] == labels[NOT_NEXT] > 0
        assert all(documents[e.doc_a].play == "play" for e in examples if e.next_sentence_label == IS_NEXT)


def test_pair_errors_name_the_fix(heldout_scenes, tokenizer):
    with pytest.raises(ValueError, match="minimum is 5"):
        make_pairs(heldout_scenes, tokenizer, max_seq_len=4)
    assert make_pairs(heldout_scenes[:3], tokenizer, max_seq_len=5)  # [CLS] a [SEP] b [SEP] is enough
    with pytest.raises(ValueError, match="documents is empty"):
        make_pairs([], tokenizer)
    with pytest.raises(ValueError, match="at least 2 documents"):
        make_pairs(heldout_scenes[:1], tokenizer)
    one_sentence_each = [Document("p", "text", str(i), ["Just this."]) for i in range(3)]
    with pytest.raises(ValueError, match="no IsNext pair"):
        make_pairs(one_sentence_each, tokenizer)
    with pytest.raises(TypeError, match="list of Document"):
        make_pairs(heldout_scenes[0], tokenizer)
    with pytest.raises(ValueError, match="short_seq_prob"):
        make_pairs(heldout_scenes, tokenizer, short_seq_prob=1.5)


# ================================================================================================
# Masked language model
# ================================================================================================

SPECIAL_IDS = [0, 100, 101, 102, 103]  # [PAD], [UNK], [CLS], [SEP], [MASK] in bert-base-uncased
VOCAB_SIZE, MASK_ID, PAD_ID, CLS_ID, SEP_ID = 30522, 103, 0, 101, 102


def random_batch(batch_size=2048, max_len=128, seed=0):
    """[CLS] a [SEP] b [SEP] [PAD]... with real-token ids drawn from the non-special vocab."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1000, VOCAB_SIZE, (batch_size, max_len), generator=g)   # (B, T)
    lengths = torch.randint(max_len // 2, max_len + 1, (batch_size,), generator=g)    # (B,)
    positions = torch.arange(max_len)
    input_ids[:, 0] = CLS_ID
    input_ids[torch.arange(batch_size), lengths // 2] = SEP_ID
    input_ids[torch.arange(batch_size), lengths - 1] = SEP_ID
    input_ids[positions >= lengths[:, None]] = PAD_ID
    special_tokens_mask = torch.isin(input_ids, torch.tensor(SPECIAL_IDS))
    return input_ids, special_tokens_mask


def mask(input_ids, special_tokens_mask, seed=0, **options):
    return mask_tokens(input_ids, special_tokens_mask, vocab_size=VOCAB_SIZE, mask_token_id=MASK_ID,
                       generator=torch.Generator().manual_seed(seed), special_token_ids=SPECIAL_IDS, **options)


def binomial_tolerance(p, n, sigmas=6):
    """How far a fraction of n independent draws of probability p strays, at `sigmas` standard deviations."""
    return sigmas * math.sqrt(p * (1 - p) / n)


def test_fifteen_percent_of_each_sequence_is_chosen():
    input_ids, special = random_batch()
    _, labels = mask(input_ids, special)
    chosen, maskable = labels != IGNORE_INDEX, ~special
    # Exactly round(15% of the maskable tokens) in every row, as in the original BERT code.
    assert torch.equal(chosen.sum(1), torch.floor(0.15 * maskable.sum(1) + 0.5).long())
    # Overall: 15% up to rounding, which is at most half a token per row.
    fraction = chosen.sum().item() / maskable.sum().item()
    assert abs(fraction - 0.15) < 0.5 / maskable.sum(1).float().mean().item()


def test_chosen_tokens_become_mask_80_random_10_unchanged_10():
    input_ids, special = random_batch()
    masked_input_ids, labels = mask(input_ids, special)
    chosen = labels != IGNORE_INDEX
    n = chosen.sum().item()  # about 29,000
    was_masked = (masked_input_ids == MASK_ID) & chosen
    unchanged = (masked_input_ids == input_ids) & chosen
    replaced = chosen & ~was_masked & ~unchanged
    # 6 standard deviations of a binomial fraction over ~29,000 draws: +-1.4 points for 80%, +-1.1 for 10%.
    for count, p in ((was_masked, 0.8), (replaced, 0.1), (unchanged, 0.1)):
        assert abs(count.sum().item() / n - p) < binomial_tolerance(p, n)
    # Random replacements come from the ordinary vocab: never [PAD], [CLS], [SEP], [MASK] or [UNK].
    assert not torch.isin(masked_input_ids[replaced], torch.tensor(SPECIAL_IDS)).any()
    assert masked_input_ids[replaced].unique().numel() > 1000


def test_special_and_padding_tokens_are_never_chosen():
    input_ids, special = random_batch()
    masked_input_ids, labels = mask(input_ids, special)
    chosen = labels != IGNORE_INDEX
    assert not (chosen & special).any()
    assert torch.equal(masked_input_ids[special], input_ids[special])
    # Labels: the original token where chosen, -100 exactly everywhere else.
    assert torch.equal(labels[chosen], input_ids[chosen])
    assert (labels[~chosen] == IGNORE_INDEX).all()
    assert torch.equal(masked_input_ids[~chosen], input_ids[~chosen])


def test_every_sequence_with_a_maskable_token_gets_a_prediction():
    input_ids = torch.tensor([[CLS_ID, 2000, SEP_ID, 2001, SEP_ID],     # 2 maskable: round(0.3) = 0 -> 1
                              [CLS_ID, SEP_ID, SEP_ID, PAD_ID, PAD_ID]])  # nothing to mask
    special = torch.isin(input_ids, torch.tensor(SPECIAL_IDS))
    for seed in range(20):
        _, labels = mask(input_ids, special, seed=seed)
        assert (labels[0] != IGNORE_INDEX).sum() == 1 and (labels[1] == IGNORE_INDEX).all()


def test_same_generator_seed_same_masks():
    input_ids, special = random_batch(batch_size=64)
    first, second, other = mask(input_ids, special, seed=7), mask(input_ids, special, seed=7), mask(input_ids, special)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert not torch.equal(first[1], other[1])


def test_whole_word_masking_masks_every_piece_of_a_word_or_none():
    input_ids, special = random_batch()
    g = torch.Generator().manual_seed(1)
    word_starts = torch.rand(input_ids.shape, generator=g) < 0.6  # 40% of tokens continue a word
    _, labels = mask(input_ids, special, word_starts=word_starts)
    chosen, maskable = labels != IGNORE_INDEX, ~special
    # A word: a maskable token that starts a word (or follows a special token), and the
    # maskable continuation tokens after it.
    previous_maskable = torch.nn.functional.pad(maskable[:, :-1], (1, 0), value=False)
    starts = maskable & (word_starts | ~previous_maskable)
    word_id = starts.long().cumsum(1)
    n_target = torch.floor(0.15 * maskable.sum(1) + 0.5).long()  # round(15%) of the row's tokens
    for row in range(0, input_ids.shape[0], 8):
        words = {}
        for t in maskable[row].nonzero().flatten().tolist():
            words.setdefault(word_id[row, t].item(), set()).add(chosen[row, t].item())
        assert all(len(states) == 1 for states in words.values())  # all pieces alike
        n_chosen_words = sum(states == {True} for states in words.values())
        # Words are added in random order while they fit in round(15%); at least one word.
        assert n_chosen_words >= 1 and (chosen[row].sum() <= n_target[row] or n_chosen_words == 1)
    # So a little under 15% of the tokens.
    assert 0.12 < chosen.sum().item() / maskable.sum().item() <= 0.15


def test_zero_probability_masks_nothing():
    input_ids, special = random_batch(batch_size=8)
    masked_input_ids, labels = mask(input_ids, special, mlm_probability=0.0)
    assert torch.equal(masked_input_ids, input_ids) and (labels == IGNORE_INDEX).all()


def test_mask_tokens_checks_its_arguments():
    input_ids, special = random_batch(batch_size=2)
    with pytest.raises(TypeError, match=r"input_ids must be a \(B, T\) torch.long"):
        mask(input_ids.int(), special)
    with pytest.raises(TypeError, match="special_tokens_mask must be a bool tensor"):
        mask(input_ids, special.long())
    with pytest.raises(ValueError, match="mlm_probability must be a probability"):
        mask(input_ids, special, mlm_probability=15)
    with pytest.raises(ValueError, match="at most 1"):
        mask(input_ids, special, mask_replace_prob=0.9, random_replace_prob=0.2)
    with pytest.raises(ValueError, match=r"token ids \[40000\].*outside the vocab"):
        mask_tokens(input_ids, special, vocab_size=VOCAB_SIZE, mask_token_id=40000, generator=None)


# ================================================================================================
# The collator: pairs -> a padded, masked batch
# ================================================================================================

def test_collator_pads_and_masks_a_batch(heldout_pairs, tokenizer):
    examples = sorted(heldout_pairs.examples[:64], key=lambda e: len(e.input_ids))[:-20]  # rows of varied length
    batch = PretrainingCollator(tokenizer, pad_to_multiple_of=8)(examples, torch.Generator().manual_seed(0))
    B, T = len(examples), batch["input_ids"].shape[1]
    lengths = torch.tensor([len(e.input_ids) for e in examples])
    assert T % 8 == 0 and T - 8 < lengths.max() <= T
    for name in ("input_ids", "token_type_ids", "attention_mask", "labels"):
        assert batch[name].shape == (B, T) and batch[name].dtype == torch.long, name
    assert batch["next_sentence_label"].tolist() == [e.next_sentence_label for e in examples]
    assert batch["next_sentence_label"].dtype == torch.long

    real = torch.arange(T) < lengths[:, None]
    assert torch.equal(batch["attention_mask"], real.long())
    assert (batch["input_ids"][~real] == tokenizer.pad_token_id).all()
    assert (batch["token_type_ids"][~real] == 0).all() and (batch["labels"][~real] == IGNORE_INDEX).all()
    for row, e in enumerate(examples):
        assert batch["token_type_ids"][row, :len(e.input_ids)].tolist() == e.token_type_ids
        original = torch.tensor(e.input_ids)
        labels, shown = batch["labels"][row, :len(e.input_ids)], batch["input_ids"][row, :len(e.input_ids)]
        chosen = labels != IGNORE_INDEX
        assert torch.equal(labels[chosen], original[chosen]) and torch.equal(shown[~chosen], original[~chosen])
        assert not torch.isin(original[chosen], torch.tensor(tokenizer.all_special_ids)).any()
        n_maskable = (~torch.isin(original, torch.tensor(tokenizer.all_special_ids))).sum().item()
        assert chosen.sum() == max(1, math.floor(0.15 * n_maskable + 0.5))


def test_collator_whole_word_masking_uses_the_wordpiece_continuations(tokenizer):
    # "unbelievably" and "tokenization" are several pieces each: un ##bel ##ie ##va ##bly, token ##ization.
    text = "unbelievably fine tokenization of every shakespearean word"
    ids = tokenizer.encode(text, "and more tokenization").input_ids
    tokens = tokenizer.convert_ids_to_tokens(ids)
    example = PairExample(ids, tokenizer.encode(text, "and more tokenization").token_type_ids, IS_NEXT, 0, 0, (0, 1), (1, 2))
    collate = PretrainingCollator(tokenizer, mlm_probability=0.3, whole_word_masking=True)
    g = torch.Generator().manual_seed(0)
    seen_chosen = Counter()
    for _ in range(200):
        chosen = (collate([example], g)["labels"][0] != IGNORE_INDEX).tolist()
        for t in range(1, len(tokens)):
            if tokens[t].startswith("##"):
                assert chosen[t] == chosen[t - 1], tokens  # a piece goes with the piece before it
        seen_chosen.update(t for t, c in enumerate(chosen) if c)
    assert seen_chosen[tokens.index("##ization")] > 0


def test_collator_errors(tokenizer):
    collate = PretrainingCollator(tokenizer)
    with pytest.raises(ValueError, match="non-empty list of PairExample"):
        collate([], torch.Generator())
    with pytest.raises(TypeError, match=r"examples\[0\] must be a PairExample"):
        collate([{"input_ids": [101, 102]}], torch.Generator())
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        PretrainingCollator(tokenizer, pad_to_multiple_of=0)
