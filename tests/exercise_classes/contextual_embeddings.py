"""Exercise 2, contextual embeddings: attention with a padding mask and an additive score bias,
multi-head self-attention with one fused q/k/v projection, a pre-LN encoder layer (the book lists
BERT's post-LN one) with dropout checked in training mode, and word vectors of one or more pieces."""

import json
import re

from . import ROOT, Assignment, Dodger, Mistake, Student, book_cell, book_listing

NAME = "02_contextual_embeddings"
CHAPTER = "02_contextual_embeddings.md"

ATTENTION = ["test_attention_worked_example", "test_attention_padding_mask", "test_attention_bias",
             "test_attention_on_minilm"]
MULTI_HEAD = ["test_self_attention_shapes", "test_self_attention_heads_independent",
              "test_self_attention_matches_bertlab"]
LAYER = ["test_encoder_layer_pre_ln", "test_encoder_layer_dropout", "test_encoder_layer_on_minilm"]
VECTORS = ["test_cosine_worked_examples", "test_word_vector_pieces", "test_word_vector_matches_bertlab"]


def _cell(folder: str, grade_id: str) -> str:
    nb = json.loads((ROOT / folder / NAME / f"{NAME}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"])


def released(grade_id: str) -> str:
    """The released stub of a solution cell: what a student who writes nothing there hands in."""
    return _cell("exercises", grade_id)


def solution(grade_id: str) -> str:
    """The instructor's solution cell, as written in solutions/."""
    return _cell("solutions", grade_id)


def zero(cells: list[str]) -> dict[str, float]:
    return dict.fromkeys(cells, 0)


# ------------------------------------------------------------------------------------------------
# The copying student: what the rendered book shows, renamed, plus at most one line of glue per
# part that the notebook's own text spells out (the strongest such student we could write)
# ------------------------------------------------------------------------------------------------

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def _lift(listing: str, first: str, last: str, renames: dict[str, str] | None = None) -> str:
    """The lines of a listing from the one containing `first` to the one containing `last`,
    dedented to column 0, with `renames` applied (dotted names too)."""
    lines = listing.splitlines()
    start = next(i for i, line in enumerate(lines) if first in line)
    end = next(i for i in range(start, len(lines)) if last in lines[i])
    chosen = lines[start:end + 1]
    indent = len(chosen[0]) - len(chosen[0].lstrip())
    body = "\n".join(line[indent:] if line.strip() else "" for line in chosen)
    for old, new in (renames or {}).items():
        body = re.sub(rf"(?<![\w.]){re.escape(old)}\b", new, body)
    return body


def _fill(stub: str, *bodies: str) -> str:
    """A released stub with its first `# YOUR CODE HERE` placeholders, in order, replaced by
    `bodies` (written at column 0, indented here as the placeholder is)."""
    for body in bodies:
        at = stub.index("# YOUR CODE HERE")
        indent = stub[stub.rindex("\n", 0, at) + 1:at]
        placeholder = STUB.replace("\n", "\n" + indent)
        assert stub[at:at + len(placeholder)] == placeholder, stub[at:]
        stub = stub[:at] + body.replace("\n", "\n" + indent) + stub[at + len(placeholder):]
    return stub


SELF_ATTENTION = book_listing("bertlab/model.py", "SelfAttention")
ENCODER_LAYER = book_listing("bertlab/model.py", "EncoderLayer",
                             {"SelfAttention": "MultiHeadSelfAttention",
                              "key_mask": "attention_mask"})
# The listing's explicit path, written for the notebook's names: D is q's last axis, and the tests
# run in eval mode (no attention dropout). Renames only.
EXPLICIT_PATH = _lift(SELF_ATTENTION, "scores = q @ k.transpose", "context = F.dropout",
                      {"self.head_size": "q.shape[-1]", "p_drop": "0.0", "self.training": "False"})

# Part 1 lifts SelfAttention's explicit path (the chapter's listing) into the released stub, and
# returns its (context, probs) as the stub's docstring says. Glue: the (B, 1, 1, T) key mask the
# listing expects, built from the (B, T) mask (the listing's docstring and the notebook's step 2
# give the shape). The bias of step 1 would be a second line: the copier has none. (The other
# choice of glue, the bias and no mask, earns the same 2 points: the worked example and the bias.)
COPIED_ATTENTION = _fill(released("attention"), "key_mask = attention_mask.bool()[:, None, None, :]"
                         + "\n" + EXPLICIT_PATH + "\nreturn context, probs")

# Part 2 lifts SelfAttention (the chapter's listing) into the stub: its sizes, output projection,
# split_heads, the three projections of the forward, the explicit path (the fused one is against
# the rule) and the merge of the heads. Glue: the table's `qkv` line in place of the listing's
# query, key and value. The forward still reads self.query, which no longer exists: cutting qkv
# into the queries, keys and values (step 1) and calling Part 1 (step 3) would be two more lines
# (the explicit path, the mask renamed, would also need Part 1's key-mask line).
COPIED_MULTI_HEAD = _fill(
    released("multi_head_attention"),
    _lift(SELF_ATTENTION, "self.num_heads =", "self.head_size =")
    + "\nself.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)\n"
    + _lift(SELF_ATTENTION, "self.output =", "self.output ="),
    _lift(SELF_ATTENTION, "B, T, H = x.shape", "v = self.split_heads") + "\n"
    + EXPLICIT_PATH.replace("key_mask", "attention_mask") + "\n"
    + _lift(SELF_ATTENTION, "context = context.transpose", "return self.output"),
).replace("    def forward", "    " + _lift(SELF_ATTENTION, "def split_heads", "return x.transpose")
          .replace("\n", "\n    ") + "\n\n    def forward")

# Part 3 lifts EncoderLayer (the chapter's listing), whole, renamed. Glue: `self.act = F.gelu` in
# place of bertlab's `activation(config.hidden_act)`, which the rule forbids (the notebook: "GELU
# is F.gelu"). The listing is post-LN and returns (x, probs): pre-LN is the part's formula, two
# lines of it, and the copier has no line left.
assert "self.act = activation(config.hidden_act)" in ENCODER_LAYER
COPIED_LAYER = ENCODER_LAYER.replace("self.act = activation(config.hidden_act)",
                                     "self.act = F.gelu")

# Part 4 lifts, into word_vector, the model's hidden states (the cell after the chapter's first
# picture) and a word's position (`tokenizer.encode(text).tokens.index(word)`, the cell of
# positions), `text` renamed `sentence`. Glue: the return, the vector at that position in
# hidden_states[layer] (the selection the notebook names). cosine_similarity stays as released: the
# book computes cosines only with F.cosine_similarity or F.normalize, which the rule forbids, and
# the formula written as code would be a second line. (The other choice of glue, the cosine and no
# word_vector, earns the same 1 point.)
FIRST_CELL = book_cell(CHAPTER, contains="batch = tokenizer([river, money])")
POSITIONS_CELL = book_cell(CHAPTER, contains="positions = {word:")
assert "hidden = encoder(**batch, output_hidden_states=True).hidden_states" in FIRST_CELL
assert "tokenizer.encode(text).tokens.index(word)" in POSITIONS_CELL
COSINE_STUB, WORD_VECTOR_STUB = released("contextual_vectors").split("def word_vector")
COPIED_VECTORS = COSINE_STUB + "def word_vector" + _fill(
    WORD_VECTOR_STUB,
    "batch = tokenizer(sentence)\n"
    "with torch.no_grad():\n"
    "    hidden = encoder(**batch, output_hidden_states=True).hidden_states\n"
    "return hidden[layer][0, tokenizer.encode(sentence).tokens.index(word)]")
assert COPIED_VECTORS.count("raise NotImplementedError()") == 1

# 3 of 13 points (23%): the worked example and the padding mask of Part 1 (the listing's explicit
# path is masked attention without a bias), and word_vector of one-piece words (the chapter's own
# lookup). Lost: every bias test, Parts 2 and 3 (one line cannot turn three projections into a
# fused one, nor post-LN into pre-LN), the cosine and words of several pieces. Read leniently (two
# lines in Part 1, the key mask and `scores + bias`; two in Part 4, the return and the cosine's
# formula), the same copier earns 6 of 13 (46%): still at most half.
COPYING = Student("copies_the_book", {
    "attention": COPIED_ATTENTION,
    "multi_head_attention": COPIED_MULTI_HEAD,
    "encoder_layer": COPIED_LAYER,
    "contextual_vectors": COPIED_VECTORS,
}, scores={"test_attention_bias": 0, "test_attention_on_minilm": 0, **zero(MULTI_HEAD + LAYER),
           "test_cosine_worked_examples": 0, "test_word_vector_pieces": 0},
    feedback="the bias ignored")

# ------------------------------------------------------------------------------------------------
# Mistakes, each in one part
# ------------------------------------------------------------------------------------------------

BIAS_AFTER_SOFTMAX = '''\
def attention(q, k, v, attention_mask, bias=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(attention_mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)
    if bias is not None:
        probs = probs + bias
    return probs @ v, probs
'''

BIAS_SCALED = '''\
def attention(q, k, v, attention_mask, bias=None):
    scores = q @ k.transpose(-2, -1)
    if bias is not None:
        scores = scores + bias
    scores = scores / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(attention_mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
    probs = scores.softmax(dim=-1)
    return probs @ v, probs
'''

# Right numbers, from the fused kernel with the bias (and the mask) as its attn_mask.
FUSED_KERNEL = '''\
def attention(q, k, v, attention_mask, bias=None):
    allowed = attention_mask.bool()[:, None, None, :]
    additive = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
    if bias is not None:
        additive = additive + bias
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=additive)
    probs = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]) + additive).softmax(dim=-1)
    return context, probs
'''

# Megatron's layout: each head's queries, keys and values side by side, (B, T, N, 3D).
PER_HEAD_LAYOUT = '''\
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x, attention_mask, bias=None):
        B, T, H = x.shape
        per_head = self.qkv(x).view(B, T, self.num_heads, 3 * self.head_size).transpose(1, 2)  # (B, N, T, 3D)
        q, k, v = per_head.split(self.head_size, dim=-1)
        context, probs = attention(q, k, v, attention_mask, bias)
        return self.output(context.transpose(1, 2).reshape(B, T, H)), probs
'''

# The context from the fused kernel for speed, the probabilities from Part 1.
MULTI_HEAD_FUSED_KERNEL = '''\
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x, attention_mask, bias=None):
        B, T, H = x.shape
        q, k, v = (y.view(B, T, self.num_heads, self.head_size).transpose(1, 2) for y in self.qkv(x).split(H, dim=-1))
        _, probs = attention(q, k, v, attention_mask, bias)
        allowed = attention_mask.bool()[:, None, None, :]
        additive = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf")) + (0.0 if bias is None else bias)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=additive)
        return self.output(context.transpose(1, 2).reshape(B, T, H)), probs
'''

# The pre-LN forward of the solution, which the Part 3 mistakes rewrite.
_LAYER = solution("encoder_layer")
SOLUTION_FORWARD = _LAYER[_LAYER.index("attended, _ ="):_LAYER.index("return x + self.dropout(h)")]
SOLUTION_FORWARD = SOLUTION_FORWARD + _LAYER[_LAYER.index("return x + self.dropout(h)"):].splitlines()[0]

MISTAKES = [
    # Part 1 ---------------------------------------------------------------------------------------
    # The mask lined up with the queries' axis: the padding rows are masked, the padding keys not.
    Mistake("masks_queries", "attention",
            replace="padding_keys = attention_mask[:, None, None, :] == 0",
            by="padding_keys = attention_mask[:, None, :, None] == 0",
            scores={"test_attention_padding_mask": 0, "test_attention_on_minilm": 0},
            feedback="the mask applied to the queries (rows of the score matrix) instead of the keys"),
    # The same, written with -inf: the padding queries' rows are all -inf, and their softmax NaN. The visible
    # test names it before anything else; Part 2's visible tests have no padding, so it costs nothing there.
    Mistake("masks_queries_with_inf", "attention",
            replace="padding_keys = attention_mask[:, None, None, :] == 0             # (B, 1, 1, T): one column per key\n"
                    "    scores = scores.masked_fill(padding_keys, torch.finfo(scores.dtype).min)",
            by="padding_queries = attention_mask[:, None, :, None] == 0\n"
               "    scores = scores.masked_fill(padding_queries, float(\"-inf\"))",
            scores={"test_attention_padding_mask": 0, "test_attention_on_minilm": 0},
            feedback="Likely mistake: the mask applied to the queries (rows of the score matrix) with -inf",
            validate=True),
    Student("bias_after_softmax", {"attention": BIAS_AFTER_SOFTMAX},
            scores={"test_attention_bias": 0, "test_attention_on_minilm": 0},
            feedback="Likely mistake: the bias added after the softmax"),
    Student("bias_scaled_too", {"attention": BIAS_SCALED},
            scores={"test_attention_bias": 0, "test_attention_on_minilm": 0},
            feedback="Likely mistake: the bias scaled by 1/sqrt(D) too"),
    Student("attention_by_the_fused_kernel", {"attention": FUSED_KERNEL}, scores=zero(ATTENTION),
            feedback="Rule broken: attention may not use", validate=True),
    # Part 2 ---------------------------------------------------------------------------------------
    # Heads cut with one reshape to (B, N, T, D): the right shape, but tokens and heads mixed.
    Mistake("split_heads_without_transpose", "multi_head_attention",
            replace="y.view(B, T, self.num_heads, self.head_size).transpose(1, 2)",
            by="y.reshape(B, self.num_heads, T, self.head_size)",
            scores={"test_self_attention_heads_independent": 0, "test_self_attention_matches_bertlab": 0},
            feedback="heads split with a plain view or reshape to (B, N, T, D)"),
    Mistake("keys_first", "multi_head_attention",
            replace="q, k, v = (split_heads(y)", by="k, q, v = (split_heads(y)",
            scores={"test_self_attention_matches_bertlab": 0},
            feedback="read as the keys, the queries and the values"),
    Student("per_head_qkv_layout", {"multi_head_attention": PER_HEAD_LAYOUT},
            scores={"test_self_attention_heads_independent": 0, "test_self_attention_matches_bertlab": 0},
            feedback="each head's queries, keys and values taken as consecutive slices of qkv's outputs"),
    Mistake("bias_not_passed_on", "multi_head_attention",
            replace="attention(q, k, v, attention_mask, bias)", by="attention(q, k, v, attention_mask)",
            scores={"test_self_attention_matches_bertlab": 0},
            feedback="the bias not passed on to attention"),
    Student("multi_head_by_the_fused_kernel", {"multi_head_attention": MULTI_HEAD_FUSED_KERNEL},
            scores=zero(MULTI_HEAD), feedback="Rule broken: MultiHeadSelfAttention may not use", validate=True),
    # Part 3 ---------------------------------------------------------------------------------------
    # BERT's post-LN, as the book lists it: LayerNorm after each residual sum.
    Mistake("post_ln", "encoder_layer", replace=SOLUTION_FORWARD,
            by="attended, _ = self.attention(x, attention_mask)\n"
               "        x = self.attention_norm(x + self.dropout(attended))\n"
               "        h = self.ffn_out(F.gelu(self.ffn_in(x)))\n"
               "        return self.ffn_norm(x + self.dropout(h))",
            scores=zero(LAYER), feedback="post-LN (LayerNorm after each residual sum"),
    # The mistake: right in eval mode, wrong in training.
    Mistake("dropout_after_layernorm", "encoder_layer", replace=SOLUTION_FORWARD,
            by="attended, _ = self.attention(self.dropout(self.attention_norm(x)), attention_mask)\n"
               "        x = x + attended\n"
               "        h = self.ffn_out(F.gelu(self.ffn_in(self.dropout(self.ffn_norm(x)))))\n"
               "        return x + h",
            scores={"test_encoder_layer_dropout": 0}, feedback="Likely mistake: Dropout placed after a LayerNorm"),
    Mistake("dropout_on_the_sum", "encoder_layer", replace=SOLUTION_FORWARD,
            by="attended, _ = self.attention(self.attention_norm(x), attention_mask)\n"
               "        x = self.dropout(x + attended)\n"
               "        h = self.ffn_out(F.gelu(self.ffn_in(self.ffn_norm(x))))\n"
               "        return self.dropout(x + h)",
            scores={"test_encoder_layer_dropout": 0},
            feedback="Likely mistake: dropout applied to the residual sum"),
    Mistake("relu", "encoder_layer", replace="F.gelu(self.ffn_in(", by="F.relu(self.ffn_in(",
            scores={"test_encoder_layer_on_minilm": 0}, feedback="ReLU instead of GELU"),
    # The listing's `activation`, taken from bertlab.
    Mistake("layer_with_bertlab_activation", "encoder_layer", replace="F.gelu(self.ffn_in(",
            by="bertlab.model.activation(\"gelu\")(self.ffn_in(", scores=zero(LAYER),
            feedback="Rule broken: EncoderLayer may not use", validate=True),
    # Part 4 ---------------------------------------------------------------------------------------
    Mistake("dot_product", "contextual_vectors",
            replace="return (torch.dot(a, b) / (a.norm() * b.norm())).item()",
            by="return torch.dot(a, b).item()",
            scores={"test_cosine_worked_examples": 0},
            feedback="the dot product a . b, not divided by the lengths |a| |b|"),
    Mistake("cosine_over_squared_lengths", "contextual_vectors",
            replace="return (torch.dot(a, b) / (a.norm() * b.norm())).item()",
            by="return (torch.dot(a, b) / (torch.dot(a, a) * torch.dot(b, b))).item()",
            scores={"test_cosine_worked_examples": 0},
            feedback="Likely mistake: a . b divided by the squared lengths |a|^2 |b|^2", validate=True),
    Mistake("first_piece_only", "contextual_vectors",
            replace="return hidden_states[layer][0, start:start + n].mean(dim=0)",
            by="return hidden_states[layer][0, start]",
            scores={"test_word_vector_pieces": 0}, feedback="only the word's first piece"),
    Mistake("sum_of_pieces", "contextual_vectors",
            replace="return hidden_states[layer][0, start:start + n].mean(dim=0)",
            by="return hidden_states[layer][0, start:start + n].sum(dim=0)",
            scores={"test_word_vector_pieces": 0}, feedback="the sum of the pieces' vectors instead of their mean"),
    Mistake("positions_without_cls", "contextual_vectors",
            replace="tokens = tokenizer.convert_ids_to_tokens(batch[\"input_ids\"][0].tolist())",
            by="tokens = tokenizer.tokenize(sentence) + [\"[SEP]\"]",
            scores={"test_word_vector_pieces": 0, "test_word_vector_matches_bertlab": 0},
            feedback="counted without [CLS]"),
    Mistake("library_cosine", "contextual_vectors",
            replace="return (torch.dot(a, b) / (a.norm() * b.norm())).item()",
            by="return F.cosine_similarity(a, b, dim=0).item()",
            scores=zero(VECTORS), feedback="Rule broken: cosine_similarity/word_vector may not use", validate=True),
]

# ------------------------------------------------------------------------------------------------
# Correct students who write differently from the solution
# ------------------------------------------------------------------------------------------------

# (a) einsum in float64 with -inf masks by torch.where, cast back; qkv cut by torch.chunk and heads
# by reshape/permute, Hugging Face-style extra names and an attention dropout without parameters;
# the encoder layer's sums from helper functions in a cell of their own; a numpy cosine (np.float32)
# and a word_vector with loops.
EINSUM_NUMPY = {
    "attention": '''\
def attention(q, k, v, attention_mask, bias=None):
    scores = torch.einsum("bnid,bnjd->bnij", q.double(), k.double()) / q.shape[-1] ** 0.5
    if bias is not None:
        scores = scores + bias.double()
    keep = attention_mask.bool()[:, None, None, :]
    scores = torch.where(keep, scores, torch.tensor(float("-inf"), dtype=torch.float64))
    probs = torch.softmax(scores, dim=-1)
    context = torch.einsum("bnij,bnjd->bnid", probs, v.double())
    return context.to(q.dtype), probs.to(q.dtype)
''',
    "multi_head_attention": '''\
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_heads * self.head_size
        self.qkv = nn.Linear(config.hidden_size, 3 * self.all_head_size)
        self.output = nn.Linear(self.all_head_size, config.hidden_size)
        self.attention_dropout = nn.Dropout(config.attention_probs_dropout_prob)  # no parameters

    def transpose_for_scores(self, y):
        B, T, _ = y.shape
        return y.reshape(B, T, self.num_heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x, attention_mask, bias=None):
        B, T, _ = x.shape
        query_layer, key_layer, value_layer = map(self.transpose_for_scores, self.qkv(x).chunk(3, dim=-1))
        context_layer, probs = attention(query_layer, key_layer, value_layer, attention_mask, bias)
        context_layer = self.attention_dropout(context_layer)
        context_layer = context_layer.permute(0, 2, 1, 3).contiguous().view(B, T, self.all_head_size)
        return self.output(context_layer), probs
''',
    "encoder_layer": '''\
class EncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, config.hidden_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, attention_mask):
        x = residual(x, self.attention(self.attention_norm(x), attention_mask)[0], self.dropout)
        return residual(x, feed_forward(self, self.ffn_norm(x)), self.dropout)
''',
    "contextual_vectors": '''\
import numpy as np


def cosine_similarity(a, b):
    a, b = a.detach().numpy(), b.detach().numpy()
    return np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))  # a np.float32


def word_vector(encoder, tokenizer, sentence, word, layer):
    batch = tokenizer(sentence)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    pieces = tokenizer.tokenize(word)
    for start in range(len(tokens)):
        end = start + len(pieces)
        if tokens[start:end] == pieces and not tokens[end].startswith("##"):
            break
    else:
        raise ValueError(f"{word!r} is not a word of {sentence!r}")
    with torch.no_grad():
        states = encoder(**batch, output_hidden_states=True).hidden_states[layer][0]
    total = torch.zeros(states.shape[-1])
    for i in range(start, end):
        total += states[i]
    return total / len(pieces)
''',
}
EINSUM_NUMPY_HELPERS = {"encoder_layer": '''\
# My helpers for the encoder layer.
def residual(x, update, dropout):
    """The residual sum, with dropout on the sublayer's output."""
    return x + dropout(update)


def feed_forward(layer, h):
    return layer.ffn_out(F.gelu(layer.ffn_in(h)))
'''}

# (b) In place: the queries scaled in place (the caller's tensor), the scores biased and masked in
# place, a hand-written softmax; qkv viewed as (B, T, 3, N, D) and permuted (GPT-2's way) with a
# debug print; the layer with an nn.GELU submodule, a registered buffer and F.dropout; a cosine from
# sums in plain Python floats and a word_vector through Encoding.tokens and torch.stack, in float64
# cast back.
IN_PLACE = {
    "attention": '''\
def attention(q, k, v, attention_mask, bias=None):
    q.mul_(1.0 / math.sqrt(q.size(-1)))  # in place, on the caller's tensor
    scores = torch.matmul(q, k.transpose(-1, -2))
    if bias is not None:
        scores.add_(bias)
    scores.masked_fill_(attention_mask[:, None, None, :] == 0, torch.finfo(scores.dtype).min)
    scores.sub_(scores.amax(dim=-1, keepdim=True))
    probs = scores.exp_()
    probs.div_(probs.sum(dim=-1, keepdim=True))
    return torch.matmul(probs, v), probs
''',
    "multi_head_attention": '''\
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.debug = True

    def forward(self, x, attention_mask, bias=None):
        B, T, H = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.num_heads, self.head_size).permute(2, 0, 3, 1, 4)  # (3, B, N, T, D)
        if self.debug:
            print("q, k, v:", tuple(qkv.shape))
            self.debug = False
        context, probs = attention(qkv[0], qkv[1], qkv[2], attention_mask, bias)
        return self.output(context.permute(0, 2, 1, 3).reshape(B, T, H)), probs
''',
    "encoder_layer": '''\
class EncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = nn.GELU()
        self.ffn_out = nn.Linear(config.intermediate_size, config.hidden_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x, attention_mask):
        self.calls += 1
        p = self.dropout.p
        attended, _ = self.attention(self.attention_norm(x), attention_mask)
        x = x + F.dropout(attended, p, self.training)
        return x + F.dropout(self.ffn_out(self.act(self.ffn_in(self.ffn_norm(x)))), p, self.training)
''',
    "contextual_vectors": '''\
def cosine_similarity(a, b):
    dot = float((a * b).sum())
    return dot / math.sqrt(float((a * a).sum()) * float((b * b).sum()))


def word_vector(encoder, tokenizer, sentence, word, layer):
    tokens = tokenizer.encode(sentence).tokens
    pieces = tokenizer.tokenize(word)
    n = len(pieces)
    whole = [i for i in range(len(tokens) - n) if tokens[i:i + n] == pieces and not tokens[i + n].startswith("##")]
    with torch.no_grad():
        states = encoder(**tokenizer(sentence), output_hidden_states=True).hidden_states[layer][0]
    return torch.stack([states[i] for i in range(whole[0], whole[0] + n)]).double().mean(dim=0).float()
''',
}

# (c) finfo.min masks through torch.where in float64, a debug print; a heatmap of attention
# probabilities in a cell of its own (matplotlib, Agg); q, k and v by F.linear on slices of qkv's
# weight, heads by unflatten/flatten; a layer with a sublayer helper method and gelu(approximate="none");
# a cosine by torch.inner and vector norms, and a word_vector that finds the pieces' ids.
SLICES_AND_PLOTS = {
    "attention": '''\
def attention(q, k, v, attention_mask, bias=None):
    D = q.shape[-1]
    scores = (q.double() @ k.double().transpose(-2, -1)) * (1.0 / math.sqrt(D))
    if bias is not None:
        scores = torch.add(scores, bias)
    real = attention_mask[:, None, None, :].bool()
    scores = torch.where(real, scores, torch.full_like(scores, torch.finfo(torch.float64).min))
    probs = F.softmax(scores, dim=-1).to(q.dtype)
    if probs.shape[-1] > 100:
        print("a long sequence:", probs.shape[-1], "tokens")
    return probs @ v, probs
''',
    "multi_head_attention": '''\
class MultiHeadSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x, attention_mask, bias=None):
        H = x.shape[-1]
        w, b = self.qkv.weight, self.qkv.bias
        q, k, v = (F.linear(x, w[i * H:(i + 1) * H], b[i * H:(i + 1) * H])
                   .unflatten(-1, (self.num_heads, self.head_size)).transpose(1, 2) for i in range(3))
        context, probs = attention(q, k, v, attention_mask, bias)
        return self.output(context.transpose(1, 2).flatten(2)), probs
''',
    "encoder_layer": '''\
class EncoderLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = MultiHeadSelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, config.hidden_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def sublayer(self, x, norm, function):
        return x + self.dropout(function(norm(x)))

    def forward(self, x, attention_mask):
        x = self.sublayer(x, self.attention_norm, lambda h: self.attention(h, attention_mask)[0])
        return self.sublayer(x, self.ffn_norm,
                             lambda h: self.ffn_out(torch.nn.functional.gelu(self.ffn_in(h), approximate="none")))
''',
    "contextual_vectors": '''\
def cosine_similarity(a, b):
    return float(torch.inner(a, b) / (torch.linalg.vector_norm(a) * torch.linalg.vector_norm(b)))


def word_vector(encoder, tokenizer, sentence, word, layer):
    batch = tokenizer(sentence)
    ids = batch["input_ids"][0].tolist()
    piece_ids = tokenizer.convert_tokens_to_ids(tokenizer.tokenize(word))
    n = len(piece_ids)
    for start in range(len(ids) - n):
        if ids[start:start + n] == piece_ids and not tokenizer.convert_ids_to_tokens(ids[start + n]).startswith("##"):
            break
    with torch.no_grad():
        hidden_states = encoder(**batch, output_hidden_states=True).hidden_states
    return hidden_states[layer][0, start:start + n].sum(dim=0) / n
''',
}
SLICES_AND_PLOTS_EXTRA = {"multi_head_attention": '''\
# What my attention does with a causal bias (a picture for me, not for the tests).
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

T = 6
causal = torch.full((T, T), float("-inf")).triu(1)[None, None]
g = torch.Generator().manual_seed(0)
_, picture = attention(torch.randn(1, 1, T, 4, generator=g), torch.randn(1, 1, T, 4, generator=g),
                       torch.randn(1, 1, T, 4, generator=g), torch.ones(1, T, dtype=torch.long), causal)
fig, ax = plt.subplots(figsize=(3, 3))
ax.imshow(picture[0, 0], cmap="viridis")
ax.set_title("causal attention")
plt.close(fig)
'''}

# Students who reach a ready-made piece by a route other than writing its name in the part (#20).
_COSINE_WITH = """def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    return float({cos}(a, b))


def word_vector(encoder, tokenizer, sentence, word, layer):
    batch = tokenizer(sentence)
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0].tolist())
    pieces = tokenizer.tokenize(word)
    n = len(pieces)
    start = next(i for i in range(len(tokens) - n) if tokens[i:i + n] == pieces and not tokens[i + n].startswith("##"))
    with torch.no_grad():
        hidden_states = encoder(**batch, output_hidden_states=True).hidden_states
    return hidden_states[layer][0, start:start + n].mean(dim=0)
"""
DODGERS = [
    Dodger("cosine_module_elsewhere", "contextual_vectors", "a module object made in another cell",
           before=["cos = nn.CosineSimilarity(dim=0)"], cells={"contextual_vectors": _COSINE_WITH.format(cos="cos")}),
    Dodger("cosine_getattr", "contextual_vectors", "getattr with the name written out",
           cells={"contextual_vectors": _COSINE_WITH.format(cos="getattr(F, 'cosine_similarity')")}
           ),
    Dodger("cosine_computed_name", "contextual_vectors", "getattr with a name computed at run time",
           cells={"contextual_vectors": _COSINE_WITH.format(cos="getattr(torch, 'cosine' + '_similarity')")}),
    Dodger("attention_module_elsewhere", "multi_head_attention", "a ready-made class bound to a new name elsewhere",
           before=["ReadyMade = nn.MultiheadAttention"],
           cells={"multi_head_attention": (
               "class MultiHeadSelfAttention(nn.Module):\n"
               "    def __init__(self, config):\n"
               "        super().__init__()\n"
               "        self.inner = ReadyMade(config.hidden_size, config.num_attention_heads, batch_first=True)\n\n"
               "    def forward(self, x, attention_mask, bias=None):\n"
               "        return self.inner(x, x, x, key_padding_mask=attention_mask == 0)\n")}),
    Dodger("attention_star_import", "attention", "a star import",
           before=["from torch.nn.functional import *"],
           cells={"attention": (
               "def attention(q, k, v, attention_mask, bias=None):\n"
               "    keep = attention_mask[:, None, None, :].bool()\n"
               "    return scaled_dot_product_attention(q, k, v, attn_mask=keep), None\n")}),
]


ASSIGNMENT = Assignment(
    NAME,
    points={cell: 1 for cell in ATTENTION + MULTI_HEAD + LAYER + VECTORS},
    dodgers=DODGERS,
    mistakes=MISTAKES,
    copying=COPYING,
    alternatives=[
        Student("einsum_float64_numpy_helpers", EINSUM_NUMPY, extra_cells=EINSUM_NUMPY_HELPERS),
        Student("in_place_gpt2_split_buffer", IN_PLACE),
        Student("slices_finfo_where_plot", SLICES_AND_PLOTS, extra_cells=SLICES_AND_PLOTS_EXTRA),
    ],
)
