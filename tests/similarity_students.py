"""Students of exercise 1 (01_input_embeddings) for tests/test_similarity.py: two who wrote their
own solutions, and one whose solution two others copied, disguised as copiers do.

Each dict maps the grade_id of a solution cell to the student's whole code for it. The honest ones
write each part in a style of their own (and unlike the instructor's and the alternative students'
of tests/exercise_classes/input_embeddings.py), as students who worked alone would.
"""

import re

# Honest: helper functions beside each part, pure Python loops, math instead of torch for the table.
ORIGINAL_AUTHOR = {
    "wordpiece": '''\
UNKNOWN = "[UNK]"


def longest_match(word, begin, vocab):
    """The longest vocabulary piece that starts at `begin`, and where it stops; None if there is none."""
    for stop in range(len(word), begin, -1):
        candidate = word[begin:stop]
        if begin > 0:
            candidate = "##" + candidate  # a piece inside a word carries the ## mark
        if candidate in vocab:
            return candidate, stop
    return None


def wordpiece(word, vocab, max_chars=100):
    # a word longer than max_chars is unknown as a whole
    if len(word) > max_chars:
        return [UNKNOWN]
    result = []
    position = 0
    while position < len(word):
        match = longest_match(word, position, vocab)
        if match is None:
            return [UNKNOWN]
        candidate, position = match
        result.append(candidate)
    return result
''',
    "pair_layout": '''\
def segment_of(index, length_a):
    """[CLS], A and the first [SEP] are segment 0; the rest segment 1."""
    return 0 if index < length_a + 2 else 1


def pair_layout(tokens_a, tokens_b=None):
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    if tokens_b is not None:
        tokens = tokens + [*tokens_b, "[SEP]"]
    segment_ids = [segment_of(index, len(tokens_a)) for index in range(len(tokens))]
    return tokens, segment_ids
''',
    "sinusoidal_positions": '''\
import math


def frequency(column, hidden_size):
    """The angular frequency of a column: columns 2i and 2i + 1 share 1 / 10000^(2i / H)."""
    return math.exp(-math.log(10000.0) * (2 * (column // 2)) / hidden_size)


def sinusoidal_positions(num_positions, hidden_size):
    rows = []
    for p in range(num_positions):
        row = []
        for column in range(hidden_size):
            angle = p * frequency(column, hidden_size)
            row.append(math.sin(angle) if column % 2 == 0 else math.cos(angle))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32)
''',
    "embeddings": '''\
class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        table = sinusoidal_positions(config.max_position_embeddings, config.hidden_size)
        self.register_buffer("table", table, persistent=False)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.drop_rate = config.hidden_dropout_prob

    def forward(self, input_ids, token_type_ids):
        length = input_ids.size(-1)
        total = self.token(input_ids)
        total = total + self.segment(token_type_ids)
        total = total + self.table[:length].unsqueeze(0)
        normalized = self.norm(total)
        if self.training:
            survivors = (torch.rand(normalized.shape) > self.drop_rate).float()
            normalized = normalized * survivors / (1.0 - self.drop_rate)
        return normalized
''',
}

# A copy of ORIGINAL_AUTHOR with every name of the student's own renamed (the names the exercise
# asks for, and the parameters the tests read, kept).
RENAMED = {
    "UNKNOWN": "UNK_TOKEN", "longest_match": "find_piece", "begin": "i", "stop": "j", "candidate": "sub",
    "result": "output", "position": "pos", "match": "found", "segment_of": "which_segment", "index": "k",
    "length_a": "n_first", "frequency": "inv_freq", "column": "c", "rows": "matrix", "row": "vec",
    "angle": "theta", "table": "pe", "length": "seq_len", "total": "h", "normalized": "h_norm",
    "drop_rate": "rate", "survivors": "keep_mask",
}


def renamed_copy(cells: dict[str, str], renames: dict[str, str]) -> dict[str, str]:
    """`cells` with each whole-word name in `renames` replaced (strings and comments too, as a
    find-and-replace in an editor does)."""
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b")
    return {grade_id: pattern.sub(lambda m: renames[m.group(1)], code) for grade_id, code in cells.items()}


COPY_WITH_RENAMED_VARIABLES = renamed_copy(ORIGINAL_AUTHOR, RENAMED)

# A copy of ORIGINAL_AUTHOR with its functions and methods reordered (each helper after the function
# that calls it, forward before __init__) and its comments and docstrings rewritten.
COPY_REORDERED = {
    "wordpiece": '''\
def wordpiece(word, vocab, max_chars=100):
    """Split a word into WordPiece tokens (greedy)."""
    if len(word) > max_chars:  # too long -> [UNK]
        return [UNKNOWN]
    result = []
    position = 0
    while position < len(word):
        match = longest_match(word, position, vocab)
        if match is None:
            return [UNKNOWN]  # no piece fits
        candidate, position = match
        result.append(candidate)
    return result


def longest_match(word, begin, vocab):
    # try the longest substring first, then shorter ones
    for stop in range(len(word), begin, -1):
        candidate = word[begin:stop]
        if begin > 0:
            candidate = "##" + candidate
        if candidate in vocab:
            return candidate, stop
    return None


UNKNOWN = "[UNK]"
''',
    "pair_layout": '''\
def pair_layout(tokens_a, tokens_b=None):
    # build [CLS] A [SEP] B [SEP]
    tokens = ["[CLS]", *tokens_a, "[SEP]"]
    if tokens_b is not None:
        tokens = tokens + [*tokens_b, "[SEP]"]
    segment_ids = [segment_of(index, len(tokens_a)) for index in range(len(tokens))]
    return tokens, segment_ids


def segment_of(index, length_a):
    return 0 if index < length_a + 2 else 1  # everything after the first SEP is B
''',
    "sinusoidal_positions": '''\
import math


def sinusoidal_positions(num_positions, hidden_size):
    """Positional encoding from "Attention is all you need"."""
    rows = []
    for p in range(num_positions):
        row = []
        for column in range(hidden_size):
            angle = p * frequency(column, hidden_size)
            row.append(math.sin(angle) if column % 2 == 0 else math.cos(angle))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32)


def frequency(column, hidden_size):
    # even and odd columns use the same frequency
    return math.exp(-math.log(10000.0) * (2 * (column // 2)) / hidden_size)
''',
    "embeddings": '''\
class Embeddings(nn.Module):
    def forward(self, input_ids, token_type_ids):
        # sum the three embeddings, then normalize and drop out
        length = input_ids.size(-1)
        total = self.token(input_ids)
        total = total + self.segment(token_type_ids)
        total = total + self.table[:length].unsqueeze(0)
        normalized = self.norm(total)
        if self.training:  # inverted dropout: zero some, scale up the rest
            survivors = (torch.rand(normalized.shape) > self.drop_rate).float()
            normalized = normalized * survivors / (1.0 - self.drop_rate)
        return normalized

    def __init__(self, config):
        super().__init__()
        self.token = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        table = sinusoidal_positions(config.max_position_embeddings, config.hidden_size)
        self.register_buffer("table", table, persistent=False)  # not a parameter
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.drop_rate = config.hidden_dropout_prob
''',
}

# Honest: list comprehensions and slicing, complex numbers for the table, F.embedding for positions.
COMPREHENSIONS_COMPLEX = {
    "wordpiece": '''\
def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ["[UNK]"]
    out, rest, first = [], word, True
    while rest:
        prefix = "" if first else "##"
        fits = [n for n in range(len(rest), 0, -1) if prefix + rest[:n] in vocab]
        if not fits:
            return ["[UNK]"]
        out.append(prefix + rest[:fits[0]])
        rest, first = rest[fits[0]:], False
    return out
''',
    "pair_layout": '''\
def pair_layout(tokens_a, tokens_b=None):
    a = ["[CLS]"] + list(tokens_a) + ["[SEP]"]
    b = [] if tokens_b is None else list(tokens_b) + ["[SEP]"]
    return a + b, [0 for _ in a] + [1 for _ in b]
''',
    "sinusoidal_positions": '''\
import math


def sinusoidal_positions(num_positions, hidden_size):
    half = hidden_size // 2
    p = torch.arange(num_positions, dtype=torch.float64).reshape(-1, 1)
    w = torch.exp(torch.arange(half, dtype=torch.float64) * (-2.0 * math.log(10000.0) / hidden_size))
    z = torch.polar(torch.ones(num_positions, half, dtype=torch.float64), p * w)  # e^(i p w): cos + i sin
    return torch.stack([z.imag, z.real], dim=-1).reshape(num_positions, hidden_size).float()
''',
    "embeddings": '''\
class Embeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        H = config.hidden_size
        self.token = nn.Embedding(config.vocab_size, H, padding_idx=config.pad_token_id)
        self.segment = nn.Embedding(config.type_vocab_size, H)
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.rate = config.hidden_dropout_prob
        self.register_buffer("sinusoids", sinusoidal_positions(config.max_position_embeddings, H), persistent=False)

    def forward(self, input_ids, token_type_ids):
        where = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
        pieces = [self.token(input_ids), self.segment(token_type_ids), nn.functional.embedding(where, self.sinusoids)]
        out = self.norm(torch.stack(pieces).sum(dim=0))
        if not self.training:
            return out
        return torch.where(torch.rand_like(out) < self.rate, torch.zeros_like(out), out / (1 - self.rate))
''',
}
