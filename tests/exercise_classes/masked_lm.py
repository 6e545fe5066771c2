"""Exercise 3, masked language modelling: whole-word masking on token strings, ALBERT's factorized tied
head, and the loss split by what the model read (with a question answered by running it).

The book lists bertlab's `mask_tokens`, `MaskedLMHead` and `masked_lm_loss`, and chapter 3 splits a
batch's loss by fate in a cell (`fates`). Part 1 (lists and `random.Random`, torch's random functions
forbidden) and Part 2 (a head with an `embedding_size`) are not what those show; Part 3 is close to
the chapter's split, which the copying student below lifts.
"""

import json

from . import ROOT, Assignment, Dodger, Mistake, Student, book_cell, book_listing

PART1_TESTS = ("test_mask_words_labels", "test_mask_words_count", "test_mask_words_seeded", "test_mask_words_split")
PART2_TESTS = ("test_mlm_head_parameters", "test_mlm_head_tied", "test_mlm_head_matches_bertlab")
PART3_TESTS = ("test_loss_by_kind_small_case", "test_loss_by_kind_matches_bertlab")

# ------------------------------------------------------------------------------------------------
# The copying student: what the rendered book shows, renamed, plus one line of glue per part that
# the notebook's own text spells out
# ------------------------------------------------------------------------------------------------

NAME = "03_masked_lm"
CHAPTER = "03_masked_lm.md"


def released(grade_id: str) -> str:
    """The released stub of a solution cell: what a student who writes nothing there hands in."""
    nb = json.loads((ROOT / "exercises" / NAME / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"])


def replaced(code: str, replacements: dict[str, str]) -> str:
    """`code` with each text replaced (each must occur): renames of expressions, and the glue."""
    for old, new in replacements.items():
        assert old in code, f"the book's code no longer holds {old!r}"
        code = code.replace(old, new)
    return code


STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"
# Chapter 3's cell that sorts positions by fate (0 not chosen, 1 [MASK], 2 random, 3 unchanged), up to
# the end of its `fates`, and the first lines of its cell that splits the held-out loss by fate.
FATES_CELL = book_cell(CHAPTER, contains="def fates(")
FATES = FATES_CELL[:FATES_CELL.index("    return fate\n") + len("    return fate\n")]
SPLIT_CELL = book_cell(CHAPTER, contains="fate = fates(masked[\"input_ids\"], labels, original)")
SPLIT_FIRST_LINES = "\n".join(SPLIT_CELL.splitlines()[:3])
assert SPLIT_FIRST_LINES.endswith('nll = F.cross_entropy(logits.transpose(1, 2), original, reduction="none")')

# Part 1: nothing in the book masks token strings with lists and a random.Random. Its mask_tokens
# draws with torch.rand and torch.randint from a torch.Generator, which the part's rule forbids (a
# copier who pastes it, seeded from rng, breaks the rule: `copying_mask_tokens_with_a_generator`
# below), and it needs ids, not strings: the copying student leaves the part as released.
COPIED_MASK_WORDS = released("mask_words")

# Part 2: the book's MaskedLMHead listing. Its `activation(config.hidden_act)` is bertlab's, not in
# the notebook; glue: `F.gelu` in its place (the part's text: "GELU is the exact one, `F.gelu`").
# Its dense and LayerNorm are of size H and it takes no embedding_size: BERT's head, right with E = H
# only (the factorization changes two lines of it, and `activation` a third).
COPIED_HEAD = replaced(book_listing("bertlab/model.py", "MaskedLMHead"),
                       {"activation(config.hidden_act)": "F.gelu"})

# Part 3: chapter 3's `fates` and the masked_lm_loss listing, and the chapter's
# `fate = fates(masked["input_ids"], labels, original)` renamed (what the model read is
# masked_input_ids; at a chosen position the original token is the label). The chapter's `nll` line
# (`logits.transpose(1, 2)`) fails on (M, V) logits; masked_lm_loss takes any (..., V). Glue: the
# dict of the part's table, each kind's positions kept in the labels (-100 elsewhere).
COPIED_LOSS = (FATES + "\n\n" + book_listing("bertlab/model.py", "masked_lm_loss") + "\n\n\n"
               + released("loss_by_kind").replace(STUB, (
                   "    " + replaced(SPLIT_FIRST_LINES.splitlines()[0],
                                     {'masked["input_ids"]': "masked_input_ids", "original": "labels"}) + "\n"
                   "    return {kind: masked_lm_loss(logits, torch.where(where, labels, IGNORE_INDEX)) for kind, where in "
                   '(("all", fate > 0), ("mask", fate == 1), ("random", fate == 2), ("kept", fate == 3))}')))

# The question (a solution cell of its own: the benefit of the doubt, a line of glue of its own): the
# chapter's split cell's first lines on the held-out batch, renamed; glue: the question's formula for
# mask_share. No line is left for lowest_kind (the chapter's table has "unchanged" lowest: a second
# line would write it down).
COPIED_ANSWER = released("mask_share").replace("# YOUR CODE HERE\nraise NotImplementedError()", (
    replaced(SPLIT_FIRST_LINES, {'masked["input_ids"]': "heldout_masked", "labels": "heldout_labels",
                                 "original": "heldout_labels", "logits": "heldout_logits"}) + "\n"
    "mask_share = (nll[fate == 1].sum() / nll[fate > 0].sum()).item()"))

# mask_words by way of a tensor masker `mask_tokens` (bertlab's, imported or pasted): the strings as
# ids of vocab (tokens outside it after), drawn with a torch.Generator seeded from rng.
_MASK_WORDS_THROUGH_TENSORS = """    names = list(vocab) + sorted({token for token in tokens if token not in vocab})
    index = {token: i for i, token in enumerate(names)}
    ids = torch.tensor([[index[token] for token in tokens]])
    special = torch.tensor([[token in SPECIAL_TOKENS for token in tokens]])
    starts = torch.tensor([[not token.startswith("##") for token in tokens]])
    never_drawn = [i for i, token in enumerate(names) if token in SPECIAL_TOKENS or i >= len(vocab)]
    masked, labels = mask_tokens(ids, special, vocab_size=len(names), mask_token_id=index["[MASK]"],
                                 generator=torch.Generator().manual_seed(rng.getrandbits(62)),
                                 mlm_probability=mlm_probability, word_starts=starts, special_token_ids=never_drawn)
    return [names[i] for i in masked[0].tolist()], [None if i == -100 else names[i] for i in labels[0].tolist()]
"""

# The copier of Part 1 (#20): the book's mask_tokens pasted whole (its Sequence hint made a
# list), called on ids of the strings with a torch.Generator seeded from rng. Right numbers, but
# torch's random functions: the rule gives the part 0.
PASTED_MASK_TOKENS = (replaced(book_listing("bertlab/data.py", "mask_tokens"), {"Sequence[int]": "list[int]"})
                      + "\n\n\ndef mask_words(tokens, vocab, rng, mlm_probability=0.15):\n"
                      + _MASK_WORDS_THROUGH_TENSORS)

# ------------------------------------------------------------------------------------------------
# Rule breakers: correct results, by way of bertlab (or the setup's model)
# ------------------------------------------------------------------------------------------------

MASK_WORDS_BY_BERTLAB = ("def mask_words(tokens, vocab, rng, mlm_probability=0.15):\n"
                         "    from bertlab.data import mask_tokens  # bertlab's own whole-word masking\n\n"
                         + _MASK_WORDS_THROUGH_TENSORS)

HEAD_BY_MODEL = '''class MaskedLMHead(nn.Module):
    def __init__(self, config, embedding_size=None):
        super().__init__()
        E = embedding_size or config.hidden_size
        self.dense = nn.Linear(config.hidden_size, E)
        self.act = nn.GELU()
        self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden, word_embeddings):
        return type(model.mlm).forward(self, hidden, word_embeddings)   # bertlab's head's forward, on my weights
'''

# ------------------------------------------------------------------------------------------------
# Correct students in other styles
# ------------------------------------------------------------------------------------------------

# 1. Word lists from a helper in a cell of its own, rng.sample instead of rng.shuffle, Google's two
#    draws for 80/10/10; a head with F.linear, an nn.GELU module, an nn.Identity "decoder" without
#    weights and Hugging Face's name transform_act_fn; the loss from F.cross_entropy(reduction="none",
#    ignore_index) and masked sums; the answer in numpy numbers.
GROUPS_HELPER = '''def split_into_words(tokens):
    """The positions of each word's pieces: a "##" token joins the word right before it."""
    words, after_special = [], True
    for position, token in enumerate(tokens):
        if token in SPECIAL_TOKENS:
            after_special = True
            continue
        if token.startswith("##") and not after_special:
            words[-1].append(position)
        else:
            words.append([position])
        after_special = False
    return words
'''

GROUPS_MASK_WORDS = '''def mask_words(tokens, vocab, rng, mlm_probability=0.15):
    words = split_into_words(tokens)
    n = sum(map(len, words))
    k = max(int(mlm_probability * n + 0.5), 1) if n else 0     # int() floors a positive number
    order = rng.sample(words, len(words))                       # a shuffled copy
    picked = []
    for word in order:
        if len(picked) + len(word) <= k:
            picked.extend(word)
    if not picked and order:
        picked = list(order[0])
    allowed = [token for token in vocab if token not in SPECIAL_TOKENS]
    out, labels = tokens.copy(), [None for _ in tokens]
    for position in picked:
        labels[position] = tokens[position]
        if rng.random() < 0.8:
            out[position] = "[MASK]"
        elif rng.random() < 0.5:                                # Google's way: half of the other 20%
            out[position] = allowed[rng.randrange(len(allowed))]
    return out, labels
'''

IDENTITY_HEAD = '''class MaskedLMHead(nn.Module):
    def __init__(self, config, embedding_size=None):
        super().__init__()
        embedding_size = embedding_size or config.hidden_size
        self.dense = nn.Linear(config.hidden_size, embedding_size)
        self.transform_act_fn = nn.GELU()
        self.norm = nn.LayerNorm(embedding_size, eps=config.layer_norm_eps)
        self.decoder = nn.Identity()          # the decoder's weight is the table passed to forward
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden, word_embeddings):
        h = self.decoder(self.norm(self.transform_act_fn(self.dense(hidden))))
        return F.linear(h, word_embeddings, self.bias)
'''

SUMS_LOSS = '''def loss_by_kind(logits, labels, masked_input_ids, mask_token_id):
    V = logits.shape[-1]
    flat_labels, flat_inputs = labels.reshape(-1), masked_input_ids.reshape(-1)
    nll = F.cross_entropy(logits.reshape(-1, V).float(), flat_labels, reduction="none", ignore_index=IGNORE_INDEX)
    chosen = flat_labels != IGNORE_INDEX
    kinds = {"all": chosen, "mask": chosen & (flat_inputs == mask_token_id)}
    kinds["kept"] = chosen & ~kinds["mask"] & (flat_inputs == flat_labels)
    kinds["random"] = chosen & ~kinds["mask"] & ~kinds["kept"]
    return {kind: (nll * where).sum() / where.sum() for kind, where in kinds.items()}   # 0 / 0 is NaN
'''

NUMPY_ANSWER = '''import numpy as np

heldout_masked, heldout_labels, heldout_logits = heldout_batch(seed=0)
losses = {kind: np.float32(value.item())
          for kind, value in loss_by_kind(heldout_logits, heldout_labels, heldout_masked,
                                          tokenizer.mask_token_id).items()}
chosen = (heldout_labels != IGNORE_INDEX).numpy()
n_mask = np.sum(chosen & (heldout_masked.numpy() == tokenizer.mask_token_id))
mask_share = losses["mask"] * n_mask / (losses["all"] * chosen.sum())       # a numpy number
lowest_kind = ["mask", "random", "kept"][int(np.argmin([losses["mask"], losses["random"], losses["kept"]]))]
'''

# 2. Word starts and ends by index arithmetic, a set of chosen positions, draws in reverse order; a
#    head with GELU from its erf formula, a registered buffer, an nn.Dropout(0.0) and an in-place
#    bias; the loss from log_softmax and gather in float64, cast back; the answer from a helper in a
#    cell of its own, with a matplotlib chart (Agg) there.
INDEX_MASK_WORDS = '''def mask_words(tokens, vocab, rng, mlm_probability=0.15):
    maskable = [token not in SPECIAL_TOKENS for token in tokens]
    starts = [i for i in range(len(tokens))
              if maskable[i] and not (tokens[i].startswith("##") and i > 0 and maskable[i - 1])]
    ends = [next((j for j in range(s + 1, len(tokens)) if not (maskable[j] and tokens[j].startswith("##"))),
                 len(tokens)) for s in starts]
    n = sum(maskable)
    k = max(math.floor(mlm_probability * n + 0.5), 1) if n else 0
    order = list(range(len(starts)))
    rng.shuffle(order)
    chosen = set()
    for w in order:
        if len(chosen) + ends[w] - starts[w] > k:
            continue
        chosen.update(range(starts[w], ends[w]))
        if len(chosen) == k:
            break
    if not chosen and order:
        chosen.update(range(starts[order[0]], ends[order[0]]))
    pool = [token for token in vocab if token not in SPECIAL_TOKENS]
    masked = [token for token in tokens]
    labels = [tokens[i] if i in chosen else None for i in range(len(tokens))]
    for i in sorted(chosen, reverse=True):
        u = rng.random()
        masked[i] = "[MASK]" if u < 0.8 else pool[int(rng.random() * len(pool))] if u < 0.9 else tokens[i]
    return masked, labels
'''

BUFFER_HEAD = '''class MaskedLMHead(nn.Module):
    def __init__(self, config, embedding_size=None):
        super().__init__()
        E = config.hidden_size if embedding_size is None else embedding_size
        self.dense = nn.Linear(config.hidden_size, E)
        self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.dropout = nn.Dropout(0.0)
        self.register_buffer("sqrt_half", torch.tensor(0.5 ** 0.5))

    def forward(self, hidden, word_embeddings):
        x = self.dense(hidden)
        x = 0.5 * x * (1 + torch.erf(x * self.sqrt_half))      # the exact GELU, from its formula
        x = self.dropout(self.norm(x))
        logits = x.matmul(word_embeddings.t())
        logits += self.bias                                     # in place
        return logits
'''

FLOAT64_LOSS = '''def loss_by_kind(logits, labels, masked_input_ids, mask_token_id):
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    chosen = labels != IGNORE_INDEX
    safe = torch.where(chosen, labels, torch.zeros_like(labels))
    nll = -torch.gather(log_probs, -1, safe.unsqueeze(-1)).squeeze(-1)
    read_mask, read_label = masked_input_ids == mask_token_id, masked_input_ids == labels
    out = {}
    for kind, where in (("all", chosen), ("mask", chosen & read_mask), ("random", chosen & ~read_mask & ~read_label),
                        ("kept", chosen & ~read_mask & read_label)):
        out[kind] = nll[where].mean().float()
    return out
'''

ANSWER_HELPER = '''import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt


def summed_by_kind(masked_input_ids, labels, logits):
    """Each kind's summed loss: its mean times its count."""
    means = loss_by_kind(logits, labels, masked_input_ids, tokenizer.mask_token_id)
    chosen = labels != IGNORE_INDEX
    is_mask = masked_input_ids == tokenizer.mask_token_id
    counts = {"all": chosen, "mask": chosen & is_mask, "kept": chosen & ~is_mask & (masked_input_ids == labels)}
    counts["random"] = chosen & ~is_mask & ~counts["kept"]
    return {kind: means[kind].item() * int(where.sum()) for kind, where in counts.items()}, means


sums, means = summed_by_kind(*heldout_batch(seed=0))
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(list(means), [m.item() for m in means.values()])
ax.set(ylabel="mean loss (nats)", title="loss by kind")
plt.close(fig)
print("debug:", sums)
'''

HELPER_ANSWER = '''heldout_masked, heldout_labels, heldout_logits = heldout_batch(seed=0)
sums, means = summed_by_kind(heldout_masked, heldout_labels, heldout_logits)
mask_share = sums["mask"] / sums["all"]
lowest_kind = min(("mask", "random", "kept"), key=lambda kind: means[kind].item())
print("debug:", mask_share, lowest_kind)
'''

# 3. Helpers in a cell of their own (how many, what a chosen token becomes), a while loop over the
#    shuffled words, debug prints; a head with einsum, an nn.GELU module named act and a plain
#    attribute; the loss from logsumexp minus the label's logit, kinds as integer codes, NaN made
#    by hand; the answer in Python floats, and a widget in a cell of its own.
HELPERS = '''def how_many(n, p=0.15):
    """p n rounded half up, at least 1 when n > 0."""
    return max(1, math.floor(p * n + 0.5)) if n else 0


def becomes(token, rng, pool):
    u = rng.random()
    if u < 0.8:
        return "[MASK]"
    if u < 0.9:
        return rng.choice(pool)
    return token


print("how_many(30) =", how_many(30), " how_many(70) =", how_many(70))
'''

LOOP_MASK_WORDS = '''def mask_words(tokens, vocab, rng, mlm_probability=0.15):
    words, current = [], None
    for i, token in enumerate(tokens):
        if token in SPECIAL_TOKENS:
            current = None
        elif token.startswith("##") and current is not None:
            current.append(i)
        else:
            current = [i]
            words.append(current)
    k = how_many(sum(len(word) for word in words), mlm_probability)
    rng.shuffle(words)
    queue, taken = list(words), []
    while queue and len(taken) < k:
        word = queue.pop(0)
        if len(taken) + len(word) <= k:
            taken += word
    if words and not taken:
        taken = words[0]
    pool = [token for token in vocab if token not in SPECIAL_TOKENS]
    masked, labels = [], []
    for i, token in enumerate(tokens):
        labels.append(token if i in taken else None)
        masked.append(becomes(token, rng, pool) if i in taken else token)
    return masked, labels
'''

EINSUM_HEAD = '''class MaskedLMHead(nn.Module):
    def __init__(self, config, embedding_size=None):
        super().__init__()
        size = config.hidden_size if embedding_size is None else embedding_size
        self.dense = nn.Linear(config.hidden_size, size)
        self.act = nn.GELU(approximate="none")
        self.norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.tied = True   # a plain attribute: the decoder is the table passed to forward

    def forward(self, hidden, word_embeddings):
        h = self.norm(self.act(self.dense(hidden)))
        return torch.einsum("...e,ve->...v", h, word_embeddings) + self.bias
'''

LOGSUMEXP_LOSS = '''def loss_by_kind(logits, labels, masked_input_ids, mask_token_id):
    logits = logits.float()
    chosen = labels != IGNORE_INDEX
    picked, targets, read = logits[chosen], labels[chosen], masked_input_ids[chosen]     # (M, V), (M,), (M,)
    nll = torch.logsumexp(picked, dim=-1) - picked.gather(1, targets[:, None]).squeeze(1)
    code = torch.ones_like(targets)         # 1: random
    code[read == targets] = 2               # 2: kept
    code[read == mask_token_id] = 0         # 0: [MASK]
    result = {"all": nll.mean()}
    for number, kind in enumerate(("mask", "random", "kept")):
        here = nll[code == number]
        result[kind] = here.mean() if here.numel() else torch.tensor(float("nan"))
    return result
'''

WIDGET = '''import ipywidgets as widgets

widgets.IntSlider(value=0, min=0, max=9, description="seed")
'''

FLOAT_ANSWER = '''heldout_masked, heldout_labels, heldout_logits = heldout_batch(seed=0)
heldout_losses = loss_by_kind(heldout_logits, heldout_labels, heldout_masked, tokenizer.mask_token_id)
chosen_count = int((heldout_labels != IGNORE_INDEX).sum())
mask_count = int(((heldout_labels != IGNORE_INDEX) & (heldout_masked == tokenizer.mask_token_id)).sum())
mask_share = float(heldout_losses["mask"]) * mask_count / (float(heldout_losses["all"]) * chosen_count)
lowest_kind = sorted(["kept", "random", "mask"], key=lambda kind: float(heldout_losses[kind]))[0]
print(f"debug: {mask_count=} {chosen_count=} {mask_share=:.4f} {lowest_kind=}")
'''

# Students who use bertlab's pieces by a route other than writing them in the part (#20).
DODGERS = [
    Dodger("head_from_model_elsewhere", "mlm_head", "the setup's model reached under a new name",
           before=["trained = model"],
           cells={"mlm_head": "class MaskedLMHead(nn.Module):\n"
                              "    def __init__(self, config, embedding_size=None):\n"
                              "        super().__init__()\n"
                              "        self.inner = type(trained.mlm)(config)\n\n"
                              "    def forward(self, hidden, word_embeddings):\n"
                              "        return self.inner(hidden, word_embeddings)\n"}),
    Dodger("head_magic_cell", "mlm_head", "the part in a cell that begins with %%time",
           cells={"mlm_head": "%%time\n"
                              "class MaskedLMHead(nn.Module):\n"
                              "    def __init__(self, config, embedding_size=None):\n"
                              "        super().__init__()\n"
                              "        E = embedding_size or config.hidden_size\n"
                              "        self.dense = nn.Linear(config.hidden_size, E)\n"
                              "        self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)\n"
                              "        self.bias = nn.Parameter(torch.zeros(config.vocab_size))\n"
                              "        self.act = bertlab.model.activation(config.hidden_act)\n\n"
                              "    def forward(self, hidden, word_embeddings):\n"
                              "        return self.norm(self.act(self.dense(hidden))) @ word_embeddings.T + self.bias\n"}),
    Dodger("kinds_through_dict", "loss_by_kind", "a forbidden function kept in a dictionary of another cell",
           before=["helpers = {}\nhelpers['nll'] = bertlab.model.masked_lm_loss"],
           cells={"loss_by_kind": "def loss_by_kind(logits, labels, masked_input_ids, mask_token_id):\n"
                                  "    shown = masked_input_ids\n"
                                  "    def kind(keep):\n"
                                  "        return helpers['nll'](logits, labels.masked_fill(~keep, IGNORE_INDEX))\n"
                                  "    is_mask = shown == mask_token_id\n"
                                  "    is_kept = ~is_mask & (shown == labels)\n"
                                  "    return {'all': kind(labels != IGNORE_INDEX), 'mask': kind(is_mask),\n"
                                  "            'random': kind(~is_mask & ~is_kept & (labels != IGNORE_INDEX)),\n"
                                  "            'kept': kind(is_kept)}\n"}),
]


ASSIGNMENT = Assignment(
    "03_masked_lm",
    points={"test_mask_words_labels": 1, "test_mask_words_count": 1, "test_mask_words_seeded": 1,
            "test_mask_words_split": 1, "test_mlm_head_parameters": 1, "test_mlm_head_tied": 1,
            "test_mlm_head_matches_bertlab": 1, "test_loss_by_kind_small_case": 1,
            "test_loss_by_kind_matches_bertlab": 1, "test_mask_share": 0.5, "test_lowest_kind": 0.5},
    dodgers=DODGERS,
    mistakes=[
        # Part 1: Python's round() (halves to even: round(4.5) == 4) for the count.
        Mistake("round_half_to_even", "mask_words",
                replace="k = math.floor(mlm_probability * n + 0.5)   # rounded half up: round() would round halves to even",
                by="k = round(mlm_probability * n)",
                scores={"test_mask_words_count": 0},
                feedback="round(), which rounds halves to even"),
        # Part 1: every token a word of its own: token-level masking, which cuts words.
        Mistake("token_level_masking", "mask_words",
                replace="words[-1].append(i)                  # a piece of the word right before it",
                by="words.append([i])",
                scores={"test_mask_words_count": 0},
                feedback="tokens chosen one by one (token-level masking)"),
        # Part 1: bertlab's way (stop at the first word that does not fit) instead of Google's (skip it).
        Mistake("stop_at_first_word_that_does_not_fit", "mask_words",
                replace="        if len(chosen) + len(word) <= k:         # a word that does not fit is skipped, "
                        "and we go on\n            chosen += word",
                by="        if len(chosen) + len(word) > k:\n            break\n        chosen += word",
                scores={"test_mask_words_count": 0},
                feedback="stopping at the first word that does not fit (break)"),
        # Part 1: the 80/10/10 draw from Python's global generator.
        Mistake("global_random", "mask_words",
                replace="u = rng.random()", by="u = random.random()",
                scores={"test_mask_words_seeded": 0},
                feedback="a draw from the module random instead of rng"),
        # Part 1: a random replacement may be [PAD], [CLS], ...
        Mistake("random_token_from_whole_vocab", "mask_words",
                replace="masked_tokens[i] = rng.choice(replacements)", by="masked_tokens[i] = rng.choice(vocab)",
                scores={"test_mask_words_split": 0},
                feedback="the random token drawn from the whole vocabulary, special tokens included"),
        # Part 1 (rule): the copier, the book's mask_tokens pasted with a generator seeded from rng.
        Student("copying_mask_tokens_with_a_generator", cells={"mask_words": PASTED_MASK_TOKENS},
                scores={test: 0 for test in PART1_TESTS},
                feedback="Rule broken: mask_words may not use `bertlab`, `transformers`, `torch.Generator`, `torch.rand`",
                validate=True),
        Student("mask_words_by_bertlab", cells={"mask_words": MASK_WORDS_BY_BERTLAB},
                scores={test: 0 for test in PART1_TESTS},
                feedback="Rule broken: mask_words may not use `bertlab`, `transformers`, `torch.Generator`",
                validate=True),
        # Part 2: LayerNorm and GELU swapped in the head's transform.
        Mistake("layernorm_before_gelu", "mlm_head",
                replace="h = self.norm(F.gelu(self.dense(hidden)))",
                by="h = F.gelu(self.norm(self.dense(hidden)))",
                scores={"test_mlm_head_matches_bertlab": 0},
                feedback="LayerNorm before GELU"),
        # Part 2: the table detached: the logits are right, but training would never update it.
        Mistake("detached_embeddings", "mlm_head",
                replace="return h @ word_embeddings.T + self.bias",
                by="return h @ word_embeddings.detach().T + self.bias",
                scores={"test_mlm_head_tied": 0},
                feedback="no gradient reached word_embeddings"),
        # Part 2: LayerNorm over H, as in BERT's head: wrong with E != H (forward fails there), right with E = H.
        Mistake("layernorm_over_hidden_size", "mlm_head",
                replace="self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)",
                by="self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)",
                scores={"test_mlm_head_parameters": 0, "test_mlm_head_tied": 0},
                feedback="LayerNorm over hidden_size instead of embedding_size"),
        Student("head_by_model", cells={"mlm_head": HEAD_BY_MODEL},
                scores={test: 0 for test in PART2_TESTS},
                feedback="Rule broken: MaskedLMHead may not use `bertlab`, `transformers`", validate=True),
        # Part 3: random and kept swapped; the answer's lowest kind (computed with it) is then wrong too.
        Mistake("random_kept_confused", "loss_by_kind",
                replace='"random": nll[is_random].mean(), "kept": nll[is_kept].mean()',
                by='"random": nll[is_kept].mean(), "kept": nll[is_random].mean()',
                scores={"test_loss_by_kind_small_case": 0, "test_loss_by_kind_matches_bertlab": 0,
                        "test_lowest_kind": 0},
                feedback="random and kept confused"),
        # Part 3 (rule): "all" from bertlab's loss. Right numbers, so the answers (no rule) keep their points.
        Mistake("all_from_bertlab", "loss_by_kind",
                replace='"all": nll.mean()', by='"all": bertlab.model.masked_lm_loss(logits, labels)',
                scores={test: 0 for test in PART3_TESTS},
                feedback="Rule broken: loss_by_kind may not use `bertlab` or `transformers`", validate=True),
        # The question: the ratio of the means instead of the ratio of the sums.
        Mistake("share_of_means", "mask_share",
                replace='mask_share = (heldout_losses["mask"] * heldout_n_mask / (heldout_losses["all"] * '
                        'heldout_chosen.sum())).item()',
                by='mask_share = (heldout_losses["mask"] / heldout_losses["all"]).item()',
                scores={"test_mask_share": 0},
                feedback="the ratio of the mean losses"),
    ],
    # What the book shows, renamed, plus one line of glue per part that the notebook spells out (the
    # parts above, COPIED_...): 3.5 of 10.
    copying=Student(
        "copying_the_book",
        cells={"mask_words": COPIED_MASK_WORDS, "mlm_head": COPIED_HEAD, "loss_by_kind": COPIED_LOSS,
               "mask_share": COPIED_ANSWER},
        scores={**{test: 0 for test in PART1_TESTS}, "test_mlm_head_parameters": 0, "test_mlm_head_tied": 0,
                "test_lowest_kind": 0}),
    alternatives=[
        Student("groups_identity_numpy",
                cells={"mask_words": GROUPS_MASK_WORDS, "mlm_head": IDENTITY_HEAD, "loss_by_kind": SUMS_LOSS,
                       "mask_share": NUMPY_ANSWER},
                extra_cells={"mask_words": GROUPS_HELPER}),
        Student("indices_buffer_float64_plot",
                cells={"mask_words": INDEX_MASK_WORDS, "mlm_head": BUFFER_HEAD, "loss_by_kind": FLOAT64_LOSS,
                       "mask_share": HELPER_ANSWER},
                extra_cells={"mask_share": ANSWER_HELPER}),
        Student("helpers_einsum_logsumexp_widget",
                cells={"mask_words": LOOP_MASK_WORDS, "mlm_head": EINSUM_HEAD, "loss_by_kind": LOGSUMEXP_LOSS,
                       "mask_share": FLOAT_ANSWER},
                extra_cells={"mask_words": HELPERS, "mask_share": WIDGET}),
    ],
)
