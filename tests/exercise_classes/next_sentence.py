"""Exercise 4, next sentence prediction: the class graded in tests/test_exercises.py.

Three parts: the pair sampler (3 points), the pooler and NSP head (2), the joint loss written from
log_softmax (5, one point per term and one for the total with its gradient). Each part's rule
(declared in the notebook's setup cell) keeps bertlab, transformers, the setup's `model` and
PyTorch's cross-entropy out of the solution.
"""

from . import Assignment, Dodger, Mistake, Student, book_listing

ASSIGNMENT_NAME = "04_next_sentence"

# The released stub of a solution cell: what a student who finds nothing to copy leaves there.
SAMPLE_PAIR_STUB = '''def sample_pair(documents: list[list[str]], rng: random.Random, doc_index: int,
                sentence_index: int) -> tuple[str, str, int]:
    """(A, B, label): B follows A in its document (IS_NEXT) or comes from another document (NOT_NEXT)."""
    # YOUR CODE HERE
    raise NotImplementedError()'''


def _line_of(listing: str, contains: str) -> str:
    """The one line of a book listing that contains `contains`, without its indent."""
    lines = [line.strip() for line in listing.splitlines() if contains in line]
    assert len(lines) == 1, f"{len(lines)} lines of the listing contain {contains!r}"
    return lines[0]


def _copied_cells() -> dict[str, str]:
    """What a student who only copies the book writes in each solution cell (chapter 4's listings,
    adapted only by renaming)."""
    pretraining = book_listing("bertlab/model.py", "BertForPreTraining")
    # NextSentenceHead: BertForPreTraining's listing shows the NSP layer, the line that applies it to
    # the pooler's output, and submodules made from the config (`self.mlm = MaskedLMHead(config)`,
    # renamed to the exercise's `self.pooler = Pooler(config)`).
    submodule = _line_of(pretraining, "self.mlm = MaskedLMHead(config)")
    nsp_layer = _line_of(pretraining, "self.nsp = nn.Linear(config.hidden_size, 2)")
    nsp_line = _line_of(pretraining, "nsp_logits = self.nsp(out.pooler_output)")
    head = (book_listing("bertlab/model.py", "Pooler") + "\n\n\n"
            "class NextSentenceHead(nn.Module):\n"
            "    def __init__(self, config: BertConfig):\n"
            "        super().__init__()\n"
            f"        {submodule.replace('self.mlm', 'self.pooler').replace('MaskedLMHead', 'Pooler')}\n"
            f"        {nsp_layer}\n\n"
            "    def forward(self, hidden: torch.Tensor) -> torch.Tensor:\n"
            f"        {nsp_line.replace('out.pooler_output', 'self.pooler(hidden)')}\n"
            "        return nsp_logits\n")
    # The loss: the loss lines of BertForPreTraining.forward (F.cross_entropy for NSP, bertlab's
    # masked_lm_loss, listed in chapter 3, for MLM), inside the exercise's def. It would give exactly
    # bertlab's numbers; the rule of part 3 is what stops it. (chapter 4's pretraining_loss_terms has
    # another interface: out, labels, next_sentence_label, and sums instead of means.)
    # The listing's local names renamed to the exercise's arguments.
    mlm_line = (_line_of(pretraining, "mlm_loss = masked_lm_loss(")
                .replace("mlm_labels", "labels").replace("mlm_logits", "prediction_logits"))
    nsp_loss_line = (_line_of(pretraining, "nsp_loss = F.cross_entropy(")
                     .replace("nsp_logits", "seq_relationship_logits"))
    loss = (book_listing("bertlab/model.py", "masked_lm_loss") + "\n\n\n"
            "def pretraining_loss(prediction_logits, labels, seq_relationship_logits, next_sentence_label):\n"
            f"    {mlm_line}\n"
            f"    {nsp_loss_line}\n"
            f"    {_line_of(pretraining, 'losses = [l for l in')}\n"
            "    return sum(losses), mlm_loss, nsp_loss\n")
    # The pair sampler: the book lists make_pairs and _build_pairs, which pack whole documents of
    # token ids into chunks; renaming does not turn them into sample_pair(documents, rng, doc_index,
    # sentence_index), so the stub stays.
    return {"sample_pair": SAMPLE_PAIR_STUB, "nsp_head": head, "pretraining_loss": loss}


SAMPLE_PAIR_TESTS = {"test_sample_pair_is_next": 0, "test_sample_pair_not_next": 0,
                     "test_sample_pair_balanced_and_seeded": 0}
NSP_HEAD_TESTS = {"test_nsp_head_worked_example": 0, "test_nsp_head_matches_bertlab": 0}
LOSS_TESTS = {"test_mlm_loss_worked_example": 0, "test_nsp_loss_worked_example": 0,
              "test_mlm_loss_matches_bertlab": 0, "test_nsp_loss_matches_bertlab": 0,
              "test_pretraining_loss_matches_bertlab": 0}

# The exercise's solution of part 3 before issue #12: F.cross_entropy, as the book's BertForPreTraining.
CROSS_ENTROPY_LOSS = '''def pretraining_loss(prediction_logits: torch.Tensor, labels: torch.Tensor, seq_relationship_logits: torch.Tensor,
                     next_sentence_label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERT's pretraining loss, and its two terms: (loss, mlm_loss, nsp_loss)."""
    vocab_size = prediction_logits.shape[-1]
    mlm_loss = F.cross_entropy(prediction_logits.float().reshape(-1, vocab_size),   # (B*T, V)
                               labels.reshape(-1), ignore_index=IGNORE_INDEX)       # mean over the M masked
    nsp_loss = F.cross_entropy(seq_relationship_logits.float(), next_sentence_label)  # mean over the B pairs
    loss = mlm_loss + nsp_loss
    return loss, mlm_loss, nsp_loss
'''

# A pair sampler that lets bertlab's pair builder draw B: A alone as a one-sentence document (which
# can only give a NotNext pair) against the other document, each sentence standing for one token.
SAMPLE_PAIR_WITH_BERTLAB = '''from bertlab.data import _build_pairs


def sample_pair(documents, rng, doc_index, sentence_index):
    a = documents[doc_index][sentence_index]
    if rng.random() < 0.5:
        return a, documents[doc_index][sentence_index + 1], IS_NEXT
    other = rng.choice([d for d in range(len(documents)) if d != doc_index])
    numbered = [[[0]], [[s] for s in range(len(documents[other]))], [[s] for s in range(len(documents[other]))]]
    built = _build_pairs(numbered, rng, max_seq_len=len(documents[other]) + 3, short_seq_prob=0.0,
                         cls_token_id=-1, sep_token_id=-2)
    b_start = next((e.sentence_b[0] for e in built if e.doc_a == 0), 0)
    return a, documents[other][b_start], NOT_NEXT
'''

# ------------------------------------------------------------------------------------------------
# Three correct students, each part in another style than the solution's
# ------------------------------------------------------------------------------------------------

REJECTION_FLOAT64 = Student(
    "alt_rejection_select_float64",
    cells={
        # A fair coin with randrange(2); the other document drawn again until it differs.
        "sample_pair": '''def sample_pair(documents, rng, doc_index, sentence_index):
    a = documents[doc_index][sentence_index]
    if rng.randrange(2) == 0:
        return (a, documents[doc_index][sentence_index + 1], IS_NEXT)
    other = doc_index
    while other == doc_index:  # rejection: uniform among the others
        other = rng.randrange(len(documents))
    sentences = documents[other]
    return (a, sentences[rng.randrange(len(sentences))], NOT_NEXT)
''',
        # select(1, 0), an nn.Tanh submodule with Hugging Face's name, a debug print.
        "nsp_head": '''class Pooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()  # as Hugging Face names it; no parameters

    def forward(self, hidden):
        first_token_tensor = hidden.select(1, 0)
        return self.activation(self.dense(first_token_tensor))


class NextSentenceHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.pooler = Pooler(config)
        self.nsp = nn.Linear(config.hidden_size, 2)

    def forward(self, hidden):
        pooled_output = self.pooler(hidden)
        print("debug: pooled", tuple(pooled_output.shape))
        return self.nsp(pooled_output)
''',
        # float64 log_softmax over every position, gather with the -100 labels clamped to a valid
        # index, the unmasked positions multiplied by 0; cast back to float32; a debug print.
        "pretraining_loss": '''def pretraining_loss(prediction_logits, labels, seq_relationship_logits, next_sentence_label):
    keep = labels.ne(IGNORE_INDEX)
    log_p = prediction_logits.double().log_softmax(-1)                # (B, T, V) in float64
    picked = log_p.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    mlm_loss = (-(picked * keep).sum() / keep.sum()).float()
    nsp_log_p = seq_relationship_logits.double().log_softmax(-1)
    nsp_loss = (-nsp_log_p.gather(1, next_sentence_label.view(-1, 1)).mean()).float()
    print(f"debug: mlm {mlm_loss.item():.4f}, nsp {nsp_loss.item():.4f}")
    return mlm_loss + nsp_loss, mlm_loss, nsp_loss
''',
    })

OTHERS_LIST_ONE_HOT = Student(
    "alt_others_list_one_hot_helpers",
    cells={
        # rng.choice over the list of the other documents' indices; the coin the other way up.
        "sample_pair": '''def sample_pair(documents, rng, doc_index, sentence_index):
    here = documents[doc_index]
    if rng.random() >= 0.5:
        others = [d for d in range(len(documents)) if d != doc_index]
        there = documents[rng.choice(others)]
        return here[sentence_index], rng.choice(there), NOT_NEXT
    return here[sentence_index], here[sentence_index + 1], IS_NEXT
''',
        # [:, :1].squeeze(1), an nn.Tanh submodule, the NSP layer applied by hand in a helper method.
        "nsp_head": '''class Pooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = nn.Tanh()

    def forward(self, hidden):
        return self.act(self.dense(hidden[:, :1].squeeze(1)))


class NextSentenceHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.nsp = nn.Linear(config.hidden_size, 2)   # declared in the other order
        self.pooler = Pooler(config)

    def logits_from_pooled(self, pooled):
        return pooled @ self.nsp.weight.T + self.nsp.bias

    def forward(self, hidden):
        return self.logits_from_pooled(self.pooler(hidden))
''',
        # Both terms through one helper of an extra cell: log_softmax times a one-hot mask.
        "pretraining_loss": '''def pretraining_loss(prediction_logits, labels, seq_relationship_logits, next_sentence_label):
    V = prediction_logits.shape[-1]
    flat_logits, flat_labels = prediction_logits.reshape(-1, V), labels.reshape(-1)
    rows = flat_labels != IGNORE_INDEX
    mlm_loss = mean_cross_entropy(flat_logits[rows], flat_labels[rows])
    nsp_loss = mean_cross_entropy(seq_relationship_logits, next_sentence_label)
    return mlm_loss + nsp_loss, mlm_loss, nsp_loss
''',
    },
    extra_cells={
        # A plot of the sampler's labels (matplotlib, Agg), in a cell of the student's own.
        "nsp_head": '''import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

plot_rng = random.Random(5)
drawn_labels = [sample_pair(corpus, plot_rng, 0, 3)[2] for _ in range(200)]
fig, ax = plt.subplots(figsize=(3, 2))
ax.hist(drawn_labels, bins=[-0.5, 0.5, 1.5])
ax.set_xticks([IS_NEXT, NOT_NEXT], ["IsNext", "NotNext"])
plt.close(fig)
''',
        "pretraining_loss": '''def mean_cross_entropy(logits, targets):
    """-log softmax(logits)[target] of each row, then the mean: log-probabilities times a one-hot mask."""
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    one_hot = F.one_hot(targets, num_classes=logits.shape[-1]).to(log_probs.dtype)
    return -(one_hot * log_probs).sum(dim=-1).mean()
''',
    })

SKIP_BUFFER_IN_PLACE = Student(
    "alt_skip_index_buffer_in_place",
    cells={
        # A helper of an extra cell that skips A's document among len(documents) - 1 draws.
        "sample_pair": '''def sample_pair(documents, rng, doc_index, sentence_index):
    a = documents[doc_index][sentence_index]
    is_next = rng.random() < 0.5
    if is_next:
        b = documents[doc_index][sentence_index + 1]
    else:
        doc_b = documents[other_document(len(documents), rng, doc_index)]
        b = doc_b[rng.randrange(len(doc_b))]
    return a, b, IS_NEXT if is_next else NOT_NEXT
''',
        # The [CLS] position in a registered buffer (not a parameter), index_select, tanh in place.
        "nsp_head": '''class Pooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.register_buffer("cls_position", torch.tensor([0]))

    def forward(self, hidden):
        cls = hidden.index_select(1, self.cls_position).squeeze(1)
        pooled = self.dense(cls)
        pooled.tanh_()
        return pooled


class NextSentenceHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.pooler = Pooler(config)
        self.nsp = nn.Linear(config.hidden_size, 2)

    def forward(self, hidden):
        return self.nsp(self.pooler(hidden))
''',
        # Boolean indexing, log_softmax written out with logsumexp, indexing, in-place operations.
        "pretraining_loss": '''def pretraining_loss(prediction_logits, labels, seq_relationship_logits, next_sentence_label):
    mask = labels != IGNORE_INDEX
    logits = prediction_logits[mask].float()                              # (M, V)
    log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)   # log softmax, written out
    nll = log_probs[torch.arange(len(logits)), labels[mask]]
    nll.neg_()
    mlm_loss = nll.sum()
    mlm_loss /= mask.sum()
    z = seq_relationship_logits.float()
    nsp_loss = -z.log_softmax(-1)[torch.arange(z.shape[0]), next_sentence_label].mean()
    loss = mlm_loss.clone()
    loss += nsp_loss
    return loss, mlm_loss, nsp_loss
''',
    },
    extra_cells={
        "sample_pair": '''def other_document(n_documents, rng, skip):
    """One of range(n_documents) other than skip, uniformly: draw among n - 1 and step over skip."""
    d = rng.randrange(n_documents - 1)
    return d + (d >= skip)
''',
    })

# Students who keep PyTorch's cross-entropy in part 3 by a route other than writing its name in the
# part (issue #20): each loses that part's five points, and only them.
_LOSS_WITH = """def pretraining_loss(prediction_logits, labels, seq_relationship_logits, next_sentence_label):
    masked = labels != IGNORE_INDEX
    mlm_loss = {ce}(prediction_logits.float()[masked], labels[masked])
    nsp_loss = {ce}(seq_relationship_logits.float(), next_sentence_label)
    return mlm_loss + nsp_loss, mlm_loss, nsp_loss
"""
DODGERS = [
    Dodger("loss_object_elsewhere", "pretraining_loss", "a loss object made in another cell",
           before=["criterion = nn.CrossEntropyLoss()"], cells={"pretraining_loss": _LOSS_WITH.format(ce="criterion")}),
    Dodger("loss_lambda", "pretraining_loss", "a lambda over the forbidden function",
           before=["ce = lambda logits, target: F.cross_entropy(logits, target)"],
           cells={"pretraining_loss": _LOSS_WITH.format(ce="ce")}),
    Dodger("loss_partial", "pretraining_loss", "functools.partial over the forbidden function",
           before=["import functools\n\nmean_ce = functools.partial(F.cross_entropy, reduction='mean')"],
           cells={"pretraining_loss": _LOSS_WITH.format(ce="mean_ce")}),
    Dodger("loss_tuple", "pretraining_loss", "two names bound in one tuple assignment",
           before=["ce, log_probs_of = F.cross_entropy, F.log_softmax"],
           cells={"pretraining_loss": _LOSS_WITH.format(ce="ce")}),
    Dodger("loss_annotated", "pretraining_loss", "an annotated assignment",
           before=["from typing import Callable\n\nce: Callable[..., torch.Tensor] = F.cross_entropy"],
           cells={"pretraining_loss": _LOSS_WITH.format(ce="ce")}),
    Dodger("loss_own_class", "pretraining_loss", "a class of one's own around the call, instantiated elsewhere",
           before=["class MeanNLL(nn.Module):\n    def forward(self, logits, target):\n"
                   "        return F.cross_entropy(logits, target)",
                   "mean_nll = MeanNLL()"],
           cells={"pretraining_loss": _LOSS_WITH.format(ce="mean_nll")}),
    Dodger("loss_module_path", "pretraining_loss", "the class by its longer module path",
           cells={"pretraining_loss": _LOSS_WITH.format(ce="torch.nn.modules.loss.CrossEntropyLoss()")}),
    Dodger("loss_torch_c", "pretraining_loss", "torch's private twin, torch._C._nn",
           cells={"pretraining_loss": _LOSS_WITH.format(ce="torch._C._nn.cross_entropy_loss").replace(
               "next_sentence_label)\n", "next_sentence_label, None, 1)\n").replace("labels[masked])", "labels[masked], None, 1)")}),
    Dodger("loss_aten", "pretraining_loss", "the aten operator, torch.ops.aten",
           cells={"pretraining_loss": _LOSS_WITH.format(ce="torch.ops.aten.cross_entropy_loss")}),
    Dodger("loss_magic", "pretraining_loss", "a binding in a cell that begins with %%time",
           before=["%%time\nce = F.cross_entropy"], cells={"pretraining_loss": _LOSS_WITH.format(ce="ce")}),
]


ASSIGNMENT = Assignment(
    ASSIGNMENT_NAME,
    points={"test_sample_pair_is_next": 1, "test_sample_pair_not_next": 1,
            "test_sample_pair_balanced_and_seeded": 1, "test_nsp_head_worked_example": 1,
            "test_nsp_head_matches_bertlab": 1, "test_mlm_loss_worked_example": 1,
            "test_nsp_loss_worked_example": 1, "test_mlm_loss_matches_bertlab": 1,
            "test_nsp_loss_matches_bertlab": 1, "test_pretraining_loss_matches_bertlab": 1},
    dodgers=DODGERS,
    mistakes=[
        # B of a NotNext pair taken from anywhere in A's own document: still half and half, still
        # reproducible, and the IsNext pairs are right; only the NotNext property breaks.
        Mistake("not_next_from_same_document", "sample_pair",
                replace="rng.choice(documents[other])",
                by="rng.choice(sentences)",
                scores={"test_sample_pair_not_next": 0},
                feedback="NotNext drawn from the same document as A"),
        # Mean pooling over all tokens (as sentence-transformers do) instead of BERT's [CLS] vector:
        # the parameters are right, the values are not.
        Mistake("pools_the_mean_of_the_tokens", "nsp_head",
                replace="hidden[:, 0]",
                by="hidden.mean(dim=1)",
                scores=NSP_HEAD_TESTS,
                feedback="the mean over the tokens instead of the [CLS] vector"),
        # Both terms right, combined as an average: the terms' tests pass, the total does not.
        Mistake("averages_the_two_losses", "pretraining_loss",
                replace="loss = mlm_loss + nsp_loss",
                by="loss = (mlm_loss + nsp_loss) / 2",
                scores={"test_pretraining_loss_matches_bertlab": 0},
                feedback="the mean of the MLM and NSP losses instead of their sum"),
        # The double softmax: NSP's log_softmax applied to probabilities. The NSP term and the
        # total are wrong; the MLM term keeps its two points.
        Mistake("double_softmax_nsp", "pretraining_loss",
                replace="nsp_log_probs = seq_relationship_logits.float().log_softmax(dim=-1)",
                by="nsp_log_probs = seq_relationship_logits.float().softmax(dim=-1).log_softmax(dim=-1)",
                scores={"test_nsp_loss_worked_example": 0, "test_nsp_loss_matches_bertlab": 0,
                        "test_pretraining_loss_matches_bertlab": 0},
                feedback="a double softmax"),
        # The MLM term divided by all B*T positions: its two tests and the total; NSP keeps its points.
        Mistake("mlm_mean_over_all_positions", "pretraining_loss",
                replace=".squeeze(-1).mean()    # (M,) -> mean over the M",
                by=".sum() / labels.numel()",
                scores={"test_mlm_loss_worked_example": 0, "test_mlm_loss_matches_bertlab": 0,
                        "test_pretraining_loss_matches_bertlab": 0},
                feedback="the mean over all B*T positions, the unmasked ones counted as 0"),
        # The rules: each costs exactly its part, and nbgrader validate says so before handing in.
        Student("sample_pair_with_bertlab_builder", cells={"sample_pair": SAMPLE_PAIR_WITH_BERTLAB},
                scores=SAMPLE_PAIR_TESTS, feedback="Rule broken: sample_pair may not use `bertlab`", validate=True),
        Mistake("nsp_head_from_the_setup_model", "nsp_head",
                replace="return self.nsp(self.pooler(hidden))",
                by="return model.nsp(model.bert.pooler(hidden))",
                scores=NSP_HEAD_TESTS, feedback="Rule broken: Pooler/NextSentenceHead may not use",
                validate=True),
        Student("loss_with_f_cross_entropy", cells={"pretraining_loss": CROSS_ENTROPY_LOSS},
                scores=LOSS_TESTS, feedback="Rule broken: pretraining_loss may not use", validate=True),
    ],
    # The book lists Pooler and BertForPreTraining: the head's 2 points are what copying earns (20%).
    copying=Student("copies_the_book", cells=_copied_cells(), scores={**SAMPLE_PAIR_TESTS, **LOSS_TESTS},
                    feedback="Rule broken: pretraining_loss may not use"),
    alternatives=[REJECTION_FLOAT64, OTHERS_LIST_ONE_HOT, SKIP_BUFFER_IN_PLACE],
)
