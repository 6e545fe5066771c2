"""Exercise 1, input embeddings: WordPiece, a pair's layout, and input embeddings whose positions are
the fixed sinusoids of the original Transformer and whose dropout is the student's own (a variant the
book does not list)."""

import json

from . import ROOT, Assignment, Dodger, Mistake, Student, book_cell, book_listing

NAME = "01_input_embeddings"


def released(grade_id: str) -> str:
    """The released stub of a solution cell: what a student who writes nothing there hands in."""
    nb = json.loads((ROOT / "exercises" / NAME / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"])


WORDPIECE = ["test_wordpiece_worked_examples", "test_wordpiece_unknown_words", "test_wordpiece_matches_bertlab"]
PAIR_LAYOUT = ["test_pair_layout_tokens", "test_pair_layout_segment_ids", "test_pair_layout_matches_bertlab"]
SINUSOIDS = ["test_embeddings_sinusoids", "test_embeddings_sinusoids_table"]
MODULE = ["test_embeddings_module", "test_embeddings_worked_example", "test_embeddings_match_bertlab",
          "test_embeddings_dropout"]

SINES_AND_COSINES = ("table[:, 0::2] = torch.sin(angles)  # columns 2i\n"
                     "    table[:, 1::2] = torch.cos(angles)  # columns 2i + 1: the same frequency as column 2i")

# ------------------------------------------------------------------------------------------------
# Students who break a part's rule: the right answers, had from what the rule forbids
# ------------------------------------------------------------------------------------------------

WORDPIECE_BY_THE_TOKENIZER = '''\
def wordpiece(word: str, vocab: set[str], max_chars: int = 100) -> list[str]:
    """The setup's tokenizer does the splitting."""
    if len(word) > max_chars:
        return ["[UNK]"]
    return tokenizer.tokenize(word)
'''

PAIR_LAYOUT_BY_THE_TOKENIZER = '''\
def pair_layout(tokens_a, tokens_b=None):
    """The tokenizer's encode lays the pair out (from the pieces joined back into text)."""
    encoding = tokenizer.encode(" ".join(tokens_a), None if tokens_b is None else " ".join(tokens_b))
    return encoding.tokens, encoding.token_type_ids
'''

SINUSOIDS_FROM_BERTLAB = '''\
def sinusoidal_positions(num_positions, hidden_size):
    from bertlab.train import sinusoidal_positions_

    table = sinusoidal_positions_(nn.Embedding(num_positions, hidden_size)).weight.detach()
    return table / table[0, 1]  # bertlab scales the table to a std of 0.02; cos(0) = 1 undoes that
'''

# The likeliest way to break the rule: the right module, with the nn.Dropout of the book's listing.
EMBEDDINGS_WITH_NN_DROPOUT = '''\
class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("positions", sinusoidal_positions(config.max_position_embeddings, config.hidden_size))

    def forward(self, input_ids, token_type_ids):
        x = self.token(input_ids) + self.segment(token_type_ids) + self.positions[:input_ids.shape[1]]
        return self.dropout(self.norm(x))
'''

EMBEDDINGS_FROM_BERTLAB = '''\
import bertlab.model


class Embeddings(bertlab.model.Embeddings):
    """bertlab's module, its learned position table overwritten by the sinusoids and frozen."""

    def __init__(self, config):
        super().__init__(config)
        with torch.no_grad():
            self.position.weight.copy_(sinusoidal_positions(config.max_position_embeddings, config.hidden_size))
        self.position.weight.requires_grad_(False)
'''

# ------------------------------------------------------------------------------------------------
# Correct students who write differently from the solution
# ------------------------------------------------------------------------------------------------

# (a) Hugging Face's style: position ids and the table as registered buffers, recursion, unpacking,
# torch.bernoulli for the dropout.
HF_STYLE = {
    "wordpiece": '''\
def wordpiece(word: str, vocab: set[str], max_chars: int = 100) -> list[str]:
    """Greedy longest-match-first, written recursively (no backtracking: the longest piece is kept)."""
    if len(word) > max_chars:
        return ["[UNK]"]

    def rest(start: int):
        if start == len(word):
            return []
        for end in range(len(word), start, -1):
            piece = ("##" if start else "") + word[start:end]
            if piece in vocab:
                tail = rest(end)
                return None if tail is None else [piece, *tail]
        return None

    pieces = rest(0)
    return ["[UNK]"] if pieces is None else pieces
''',
    "pair_layout": '''\
def pair_layout(tokens_a, tokens_b=None):
    first = ["[CLS]", *tokens_a, "[SEP]"]
    second = [] if tokens_b is None else [*tokens_b, "[SEP]"]
    return [*first, *second], [*[0] * len(first), *[1] * len(second)]
''',
    "sinusoidal_positions": '''\
def sinusoidal_positions(num_positions: int, hidden_size: int) -> torch.Tensor:
    position_ids = torch.arange(num_positions).unsqueeze(1)                                   # (P, 1)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, hidden_size, 2).float() / hidden_size))      # (H/2,)
    angles = position_ids * inv_freq                                                          # (P, H/2)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)                       # sin, cos, sin, cos, ...
''',
    "embeddings": '''\
class Embeddings(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout_prob = config.hidden_dropout_prob
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)),
                             persistent=False)
        self.register_buffer("position_embeddings",
                             sinusoidal_positions(config.max_position_embeddings, config.hidden_size))

    def forward(self, input_ids, token_type_ids):
        seq_length = input_ids.size(1)
        position_ids = self.position_ids[:, :seq_length]
        embeddings = self.token(input_ids) + self.segment(token_type_ids) + self.position_embeddings[position_ids]
        embeddings = self.norm(embeddings)
        if self.training and self.dropout_prob > 0:
            keep = torch.bernoulli(torch.full_like(embeddings, 1 - self.dropout_prob))  # 1 with probability 1 - p
            embeddings = embeddings * keep / (1 - self.dropout_prob)
        return embeddings
''',
}

# (b) float64 with torch.outer, cast back; a frozen nn.Embedding for the positions (a parameter that
# does not train, named position.weight); helpers in cells of their own (the dropout one); debug prints.
FROZEN_TABLE = {
    "wordpiece": '''\
def wordpiece(word, vocab, max_chars=100):
    if not len(word) <= max_chars:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        found = longest_piece(word, start, vocab)
        if found is None:
            return ["[UNK]"]
        piece, start = found
        pieces.append(piece)
    return pieces
''',
    "pair_layout": '''\
def pair_layout(tokens_a, tokens_b=None):
    parts = [(["[CLS]"] + list(tokens_a) + ["[SEP]"], 0)]
    if tokens_b is not None:
        parts.append((list(tokens_b) + ["[SEP]"], 1))
    tokens = [token for part, _ in parts for token in part]
    segments = [segment for part, segment in parts for _ in part]
    return tokens, segments
''',
    "sinusoidal_positions": '''\
def sinusoidal_positions(num_positions, hidden_size):
    p = torch.arange(num_positions, dtype=torch.float64)
    two_i = torch.arange(0, hidden_size, 2, dtype=torch.float64)
    angles = torch.outer(p, torch.pow(10000.0, -two_i / hidden_size))  # (P, H/2), in float64
    print("debug: angles", tuple(angles.shape), angles.dtype)
    return interleave(angles.sin(), angles.cos()).to(torch.float32)
''',
    "embeddings": '''\
class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config.hidden_size
        self.token = nn.Embedding(config.vocab_size, H, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, H)
        table = sinusoidal_positions(config.max_position_embeddings, H)
        self.position = nn.Embedding.from_pretrained(table, freeze=True)  # a parameter that never trains
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.p = config.hidden_dropout_prob
        print("debug:", sum(p.numel() for p in self.parameters() if p.requires_grad), "trainable numbers")

    def forward(self, input_ids, token_type_ids):
        T = input_ids.shape[-1]
        summed = self.token(input_ids) + self.segment(token_type_ids)
        summed = summed + self.position(torch.arange(T, device=input_ids.device))[None]
        print("debug: sum", tuple(summed.shape))
        return drop_out(self.norm(summed), self.p, self.training)
''',
}
FROZEN_TABLE_HELPERS = {
    "wordpiece": '''\
def longest_piece(word, start, vocab):
    """The longest piece of the vocabulary that starts at `start` in `word`, and where it ends; or None."""
    prefix = "##" if start > 0 else ""
    end = len(word)
    while end > start:
        if prefix + word[start:end] in vocab:
            return prefix + word[start:end], end
        end -= 1
    return None
''',
    "sinusoidal_positions": '''\
def interleave(evens, odds):
    """Columns evens[:, 0], odds[:, 0], evens[:, 1], odds[:, 1], ..."""
    table = torch.empty(evens.shape[0], 2 * evens.shape[1], dtype=evens.dtype)
    table[:, ::2], table[:, 1::2] = evens, odds
    return table
''',
    "embeddings": '''\
def drop_out(x, p, training):
    """Dropout: in training, each number zeroed with probability p and the rest scaled up by 1 / (1 - p)."""
    if not training:
        return x
    dropped = torch.empty_like(x).uniform_() < p
    return x.masked_fill(dropped, 0.0) / (1 - p)
''',
}

# (c) numpy for the table, in-place additions, submodules without parameters (one of them the dropout, in
# place), the table computed in forward, and a plot of the table in a cell of its own.
NUMPY_INPLACE = {
    "wordpiece": '''\
def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    out, remaining, prefix = [], word, ""
    while remaining:
        for cut in range(len(remaining), 0, -1):
            if prefix + remaining[:cut] in vocab:
                out.append(prefix + remaining[:cut])
                remaining, prefix = remaining[cut:], "##"
                break
        else:
            return ["[UNK]"]
    return out
''',
    "pair_layout": '''\
def pair_layout(tokens_a, tokens_b=None):
    tokens, segments = ["[CLS]"], [0]
    for segment_id, part in enumerate([tokens_a] if tokens_b is None else [tokens_a, tokens_b]):
        tokens.extend(part)
        tokens.append("[SEP]")
        segments.extend([segment_id] * (len(part) + 1))
    return tokens, segments
''',
    "sinusoidal_positions": '''\
import numpy as np


def sinusoidal_positions(num_positions, hidden_size):
    pos = np.arange(num_positions)[:, np.newaxis]
    i = np.arange(hidden_size)[np.newaxis, :]
    angle_rates = 1 / np.power(10000, (2 * (i // 2)) / np.float64(hidden_size))
    angles = pos * angle_rates
    angles[:, 0::2] = np.sin(angles[:, 0::2])
    angles[:, 1::2] = np.cos(angles[:, 1::2])
    return torch.from_numpy(angles).float()
''',
    "embeddings": '''\
class HandMadeDropout(nn.Module):
    """A submodule without parameters; .train() and .eval() reach it through the module that holds it."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training:
            return x
        mask = (torch.rand(x.shape, device=x.device) > self.p).to(x.dtype)
        return x.mul_(mask).div_(1.0 - self.p)


class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = HandMadeDropout(config.hidden_dropout_prob)
        self.summed = nn.Identity()  # a place to hook the sum, when looking inside
        self.hidden_size = config.hidden_size

    def forward(self, input_ids, token_type_ids):
        x = self.token(input_ids)
        x += self.segment(token_type_ids)
        x += sinusoidal_positions(input_ids.shape[1], self.hidden_size).to(x.device, x.dtype)
        return self.dropout(self.norm(self.summed(x)))
''',
}
NUMPY_INPLACE_PLOT = {
    "embeddings": '''\
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3))
ax.imshow(sinusoidal_positions(64, 32).T, aspect="auto", cmap="RdBu")
ax.set_xlabel("position")
ax.set_ylabel("feature")
plt.close(fig)
''',
}

# Students who use the setup's tokenizer or bertlab by a route other than writing it in the part (#20).
DODGERS = [
    Dodger("tokenizer_new_name", "wordpiece", "a setup object bound to a new name",
           before=["tok = tokenizer"],
           cells={"wordpiece": "def wordpiece(word: str, vocab: set[str], max_chars: int = 100) -> list[str]:\n"
                               "    return tok.tokenize(word)\n"}),
    Dodger("wordpiece_rebound", "wordpiece", "a rule-clean def rebound in a try-it cell after it",
           after=["def quick(word, vocab, max_chars=100):\n    return tokenizer.tokenize(word)\n\n\n"
                  "wordpiece = quick\nprint(wordpiece('unaffable', vocab))"]),
    Dodger("sinusoids_lambda", "sinusoidal_positions", "the part defined as a lambda",
           cells={"sinusoidal_positions": "import bertlab.train\n\n"
                                          "sinusoidal_positions = lambda num_positions, hidden_size: "
                                          "bertlab.train.sinusoidal_positions_(nn.Embedding(num_positions, hidden_size)).weight.detach()\n"}),
    Dodger("embeddings_by_assignment", "embeddings", "a subclass of bertlab's class bound by assignment",
           cells={"embeddings": "Embeddings = type('Embeddings', (bertlab.model.Embeddings,), {})\n"}),
    Dodger("dropout_by_another_name", "embeddings", "a ready-made dropout bound to a new name in another cell",
           before=["drop = nn.functional.dropout"],
           cells={"embeddings": "class Embeddings(nn.Module):\n"
                                "    def __init__(self, config):\n"
                                "        super().__init__()\n"
                                "        self.token = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)\n"
                                "        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)\n"
                                "        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)\n"
                                "        self.p = config.hidden_dropout_prob\n"
                                "        self.register_buffer('pe', sinusoidal_positions(config.max_position_embeddings, config.hidden_size))\n\n"
                                "    def forward(self, input_ids, token_type_ids):\n"
                                "        x = self.token(input_ids) + self.segment(token_type_ids) + self.pe[:input_ids.shape[1]]\n"
                                "        return drop(self.norm(x), self.p, self.training)\n"}),
    Dodger("embeddings_object_elsewhere", "embeddings", "bertlab reached through an object built in another cell",
           before=["reference = bertlab.BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,\n"
                   "                                        num_attention_heads=2, intermediate_size=64))"],
           cells={"embeddings": "class Embeddings(nn.Module):\n"
                                "    def __init__(self, config):\n"
                                "        super().__init__()\n"
                                "        self.inner = type(reference.embeddings)(config)\n\n"
                                "    def forward(self, input_ids, token_type_ids):\n"
                                "        return self.inner(input_ids, token_type_ids)\n"}),
]


# ------------------------------------------------------------------------------------------------
# The copying student: what the book shows, renamed, plus at most one line of glue per part that the
# notebook's own text spells out (the strongest such student we could write). The def line of the
# released stub, and a `return` of what the lifted lines computed, count as no glue. 4 of 12 points: the
# pair's layout (3), which chapter 4 lists, and the dropout test (1). (With nn.Dropout allowed, the
# listing plus the frozen sinusoids earned all 4 points of 3b: 7 of 12.)
# ------------------------------------------------------------------------------------------------

def listed_line(code: str, start: str) -> str:
    """The one line of `code` (a listing or a cell the book shows) that starts, once stripped, with `start`."""
    found = [line.strip() for line in code.splitlines() if line.strip().startswith(start)]
    assert len(found) == 1, f"{len(found)} lines start with {start!r}"
    return found[0]


# Part 1: chapter 1's cell that lists the beginnings of "unbelievably" in the vocabulary, longest first,
# made a function of `word`; glue: "the longest one wins" (the book), and the notebook's [UNK] bullets.
# Only the first piece: no test passes (the book lists no loop over the rest of the word).
COPIED_WORDPIECE = f'''\
def wordpiece(word: str, vocab: set[str], max_chars: int = 100) -> list[str]:
    {listed_line(book_cell("01_input_embeddings.md", "beginnings = "), "beginnings = ")}
    return beginnings[:1] if beginnings and len(word) <= max_chars else ["[UNK]"]
'''

# Part 2: the two lines of `_build_pairs` (chapter 4's listing) that lay out [CLS] A [SEP] B [SEP] and its
# segment ids, renamed (the special ids are the special tokens here, keep_a and keep_b the lengths of A and
# B, which are not truncated); glue: the single text, which the notebook writes out as
# "[CLS] tokens of A [SEP]", with segment 0 for all of it. All 3 points.
_PAIR_RENAMES = {"cls_token_id": '"[CLS]"', "sep_token_id": '"[SEP]"', "keep_a": "len(tokens_a)",
                 "keep_b": "len(tokens_b)", "input_ids": "tokens", "token_type_ids": "segments"}
_PAIRS = book_listing("bertlab/data.py", "_build_pairs", _PAIR_RENAMES)
COPIED_PAIR_LAYOUT = f'''\
def pair_layout(tokens_a: list[str], tokens_b: list[str] | None = None) -> tuple[list[str], list[int]]:
    if tokens_b is None: return ["[CLS]", *tokens_a, "[SEP]"], [0] * (len(tokens_a) + 2)
    {listed_line(_PAIRS, "tokens = ")}
    {listed_line(_PAIRS, "segments = ")}
    return tokens, segments
'''

# Part 3b: bertlab's Embeddings (chapter 1's listing), whose nn.Dropout line the rule forbids; glue: that line
# replaced by the dropout the notebook describes (zero each number with probability p, divide the others by
# 1 - p, in training mode). Its learned position table stays: no point but the dropout test's. (The other
# one-line glue, the listing's table swapped for the frozen sinusoids of config.max_position_embeddings rows
# that the notebook names, keeps nn.Dropout, breaks the rule and earns nothing.)
_EMBEDDINGS = book_listing("bertlab/model.py", "Embeddings")
_LISTED_DROPOUT = "self.dropout = nn.Dropout(config.hidden_dropout_prob)"
assert _LISTED_DROPOUT in _EMBEDDINGS
COPIED_EMBEDDINGS = _EMBEDDINGS.replace(
    _LISTED_DROPOUT, "self.dropout = lambda x: x * (torch.rand_like(x) >= config.hidden_dropout_prob) "
                     "/ (1 - config.hidden_dropout_prob) if self.training else x")

# Part 3a: no code of the book computes sines and cosines of positions: the released stub.
COPYING = Student("copies_the_book", {
    "wordpiece": COPIED_WORDPIECE,
    "pair_layout": COPIED_PAIR_LAYOUT,
    "sinusoidal_positions": released("sinusoidal_positions"),
    "embeddings": COPIED_EMBEDDINGS,
}, scores={**dict.fromkeys(WORDPIECE + SINUSOIDS, 0), "test_embeddings_module": 0,
           "test_embeddings_worked_example": 0, "test_embeddings_match_bertlab": 0},
    feedback="Likely mistake: a learned position table")


ASSIGNMENT = Assignment(
    NAME,
    points={"test_wordpiece_worked_examples": 1, "test_wordpiece_unknown_words": 1,
            "test_wordpiece_matches_bertlab": 1, "test_pair_layout_tokens": 1,
            "test_pair_layout_segment_ids": 1, "test_pair_layout_matches_bertlab": 1,
            "test_embeddings_sinusoids": 1, "test_embeddings_sinusoids_table": 1,
            "test_embeddings_module": 1, "test_embeddings_worked_example": 1, "test_embeddings_match_bertlab": 1,
            "test_embeddings_dropout": 1},
    dodgers=DODGERS,
    mistakes=[
        Mistake("forgets_hashes", "wordpiece",
                replace='piece = word[start:end] if start == 0 else "##" + word[start:end]',
                by="piece = word[start:end]",
                scores={"test_wordpiece_worked_examples": 0, "test_wordpiece_matches_bertlab": 0},
                feedback="continuation pieces looked up without their '##'"),
        # The shortest piece first gives [UNK] on the worked example's "unaffable", as a missing '##' does:
        # the visible test tells the two apart by all three words at once, before grading.
        Mistake("shortest_first", "wordpiece",
                replace="for end in range(len(word), start, -1):  # the longest candidate first",
                by="for end in range(start + 1, len(word) + 1):",
                scores={"test_wordpiece_worked_examples": 0, "test_wordpiece_matches_bertlab": 0},
                feedback="Likely mistake: the shortest matching piece taken instead of the longest", validate=True),
        Mistake("max_chars_off_by_one", "wordpiece",
                replace="if len(word) > max_chars:", by="if len(word) >= max_chars:",
                scores={"test_wordpiece_unknown_words": 0},
                feedback="Likely mistake: words of exactly max_chars characters are allowed"),
        Mistake("sep_in_segment_b", "pair_layout",
                replace="segments = [0] * len(tokens)",
                by="segments = [0] * (len(tokens) - 1) + [1]",
                scores={"test_pair_layout_segment_ids": 0, "test_pair_layout_matches_bertlab": 0},
                feedback="the first [SEP] was given segment 1"),
        Mistake("sin_cos_swapped", "sinusoidal_positions",
                replace=SINES_AND_COSINES,
                by="table[:, 0::2] = torch.cos(angles)\n    table[:, 1::2] = torch.sin(angles)",
                scores=dict.fromkeys(SINUSOIDS, 0),
                feedback="Likely mistake: sin and cos swapped"),
        Mistake("halves_concatenated", "sinusoidal_positions",
                replace="table = torch.zeros(num_positions, hidden_size)\n    " + SINES_AND_COSINES,
                by="table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)",
                scores=dict.fromkeys(SINUSOIDS, 0),
                feedback="Likely mistake: the sines and the cosines concatenated"),
        Mistake("layernorm_before_sum", "embeddings",
                replace="x = self.token(input_ids) + self.segment(token_type_ids) + self.positions[:T]  # (B, T, H)\n"
                        "        x = self.norm(x)",
                by="x = self.norm(self.token(input_ids)) + self.norm(self.segment(token_type_ids))"
                   " + self.norm(self.positions[:T])",
                scores={"test_embeddings_worked_example": 0, "test_embeddings_match_bertlab": 0},
                feedback="LayerNorm applied to each embedding before the sum", validate=True),
        # The dropout written by hand (#20): its two likely mistakes.
        Mistake("dropout_not_rescaled", "embeddings",
                replace=" / (1 - self.dropout_prob)", by="",
                scores={"test_embeddings_dropout": 0},
                feedback="Likely mistake: the numbers kept were not divided by 1 - p"),
        # Dropout in eval mode too: every output the tests compare in eval mode is noisy.
        Mistake("dropout_in_eval_mode", "embeddings",
                replace="if self.training:  # dropout: each number kept with probability 1 - p, and divided by 1 - p\n"
                        "            x = x *", by="x = x *",
                scores={"test_embeddings_worked_example": 0, "test_embeddings_match_bertlab": 0,
                        "test_embeddings_dropout": 0},
                feedback="in eval mode (self.training is False), dropout must change nothing"),
        # Not a mistake: a right answer whose code writes to stderr and raises a warning each call, as
        # libraries do. nbgrader alone would score every test cell that calls it 0; it keeps full marks.
        Mistake("right_but_noisy", "wordpiece",
                replace="if len(word) > max_chars:",
                by='import sys, warnings\n    print("a library writes to stderr", file=sys.stderr)\n'
                   '    warnings.warn("a library warns")\n    if len(word) > max_chars:',
                scores={},
                feedback="[stderr] a library writes to stderr"),
        # One student per rule: right answers, had from what the part may not use. (Each feedback is the
        # start of the rule's message that `nbgrader validate` shows whole: it cuts the first line of an
        # error at 83 characters, and that line starts with "WrongAnswer: ".)
        Student("wordpiece_by_the_tokenizer", {"wordpiece": WORDPIECE_BY_THE_TOKENIZER},
                scores=dict.fromkeys(WORDPIECE, 0), validate=True,
                feedback="Rule broken: wordpiece may not use `bertlab`, `tokenizers`"),
        Student("pair_layout_by_the_tokenizer", {"pair_layout": PAIR_LAYOUT_BY_THE_TOKENIZER},
                scores=dict.fromkeys(PAIR_LAYOUT, 0), validate=True,
                feedback="Rule broken: pair_layout may not use `bertlab`, `tokenizers`"),
        Student("sinusoids_from_bertlab", {"sinusoidal_positions": SINUSOIDS_FROM_BERTLAB},
                scores=dict.fromkeys(SINUSOIDS, 0), validate=True,
                feedback="Rule broken: sinusoidal_positions may not use `bertlab`"),
        Student("embeddings_from_bertlab", {"embeddings": EMBEDDINGS_FROM_BERTLAB},
                scores=dict.fromkeys(MODULE, 0), validate=True,
                feedback="Rule broken: Embeddings may not use `bertlab`, `transformers`"),
        Student("embeddings_with_nn_dropout", {"embeddings": EMBEDDINGS_WITH_NN_DROPOUT},
                scores=dict.fromkeys(MODULE, 0), validate=True,
                feedback="Rule broken: Embeddings may not use `bertlab`, `transformers`"),
    ],
    copying=COPYING,
    alternatives=[
        Student("hugging_face_style", HF_STYLE),
        Student("float64_frozen_table_helpers_prints", FROZEN_TABLE, extra_cells=FROZEN_TABLE_HELPERS),
        Student("numpy_in_place_plot", NUMPY_INPLACE, extra_cells=NUMPY_INPLACE_PLOT),
    ])
