"""Exercise 4, next sentence prediction: the class graded in tests/test_exercises.py.

Three parts: the pair sampler (3 points), the pooler and NSP head (2), the joint loss written from
log_softmax for a batch given as micro-batches (5, one point per term and one for the total with its
gradient). Each part's rule (declared in the notebook's setup cell) keeps bertlab, transformers, the
setup's `model` and PyTorch's cross-entropy out of the solution.
"""

from . import Assignment, Dodger, Mistake, Student, book_cell, book_listing

ASSIGNMENT_NAME = "04_next_sentence"

# The released stub of a solution cell: what a student who finds nothing to copy leaves there.
SAMPLE_PAIR_STUB = '''def sample_pair(documents: list[list[str]], rng: random.Random, doc_index: int,
                sentence_index: int) -> tuple[str, str, int]:
    """(A, B, label): B follows A in its document (IS_NEXT) or comes from another document (NOT_NEXT)."""
    # YOUR CODE HERE
    raise NotImplementedError()'''


def _line_of(listing: str, contains: str) -> str:
    """The one line of a book listing or cell that contains `contains`, without its indent."""
    lines = [line.strip() for line in listing.splitlines() if contains in line]
    assert len(lines) == 1, f"{len(lines)} lines of the listing contain {contains!r}"
    return lines[0]


def _copied_cells() -> dict[str, str]:
    """What the strongest copying student writes in each solution cell: the code the book shows
    (listings and cells, renamed), plus at most one line of glue per part that the notebook's own
    text spells out."""
    # Part 1, the pair sampler. Lifted: random_b inside chapter 4's _build_pairs listing (another
    # document uniformly, "draw among all but the last, and let the last stand in for doc_a", then a
    # random sentence of it) with the lines it needs (n_docs, lengths, usable_docs), renamed
    # (sentence_token_ids -> documents, doc_a -> doc_index). Glue, one line: the Part's two bullets
    # (A, the IsNext B and label with probability 0.5 from rng.random(); else the NotNext B and label).
    pairs = book_listing("bertlab/data.py", "_build_pairs", {"sentence_token_ids": "documents", "doc_a": "doc_index"})
    lifted = [_line_of(pairs, line) for line in (
        "n_docs = len(documents)", "lengths = [[len(ids) for ids in doc] for doc in documents]",
        "usable_docs = [i for i in range(n_docs) if lengths[i]]",
        "doc_b = usable_docs[rng.randrange(len(usable_docs) - 1)]", "if doc_b == doc_index:",
        "doc_b = usable_docs[-1]", "start = rng.randrange(len(lengths[doc_b]))")]
    lifted[5] = "    " + lifted[5]  # the body of the `if`
    sampler = (SAMPLE_PAIR_STUB.split("    # YOUR CODE HERE")[0]
               + "".join(f"    {line}\n" for line in lifted)
               + "    return ((documents[doc_index][sentence_index], documents[doc_index][sentence_index + 1], IS_NEXT)"
                 " if rng.random() < 0.5 else (documents[doc_index][sentence_index], documents[doc_b][start], NOT_NEXT))\n")

    # Part 2, the pooler and NSP head: chapter 4's Pooler listing, and BertForPreTraining's listing
    # for the NSP layer, the line that applies it to the pooler's output, and a submodule made from
    # the config (`self.mlm = MaskedLMHead(config)`, renamed to `self.pooler = Pooler(config)`).
    # No glue.
    pretraining = book_listing("bertlab/model.py", "BertForPreTraining")
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

    # Part 3, the joint loss over micro-batches. Lifted: chapter 4's "NSP by hand" (n_pairs, log_p,
    # nsp_by_hand, renamed to the tuple's items), BertForPreTraining's `mlm_loss = nsp_loss = None`,
    # `losses` and its return (loss=sum(losses), mlm_loss, nsp_loss). Glue, one line: the loop over
    # the tuples the Part's table names. No book code adds cross-entropies up over micro-batches
    # (pretraining_loss_terms sums with F.cross_entropy, which the rule forbids, and with the model's
    # own mlm_loss; the loop's counts over micro-batches are not shown), and with the one line spent
    # on the loop, the MLM line of "How:" (`prediction_logits[masked]`) has no room: nsp_loss is the
    # last micro-batch's mean, mlm_loss None, 0 of 5. When part 3 took one batch (four arguments),
    # the glue was that MLM line (NSP by hand applied to chapter 3's `chosen` positions), and this
    # student earned 5 of 5.
    by_hand = book_cell("04_next_sentence.md", "# NSP by hand", {"out": "self_out", "batch": "self_batch"})
    nsp = [_line_of(by_hand, line).replace('self_batch["next_sentence_label"]', "next_sentence_label")
           .replace("self_out.seq_relationship_logits", "seq_relationship_logits").replace("nsp_by_hand", "nsp_loss")
           for line in ("n_pairs = len(", "log_p = self_out.", "nsp_by_hand = -log_p")]
    loss = ("def pretraining_loss(micro_batches):\n"
            f"    {_line_of(pretraining, 'mlm_loss = nsp_loss = None')}\n"
            "    for prediction_logits, labels, seq_relationship_logits, next_sentence_label in micro_batches:\n"
            + "".join(f"        {line}\n" for line in nsp)
            + f"    {_line_of(pretraining, 'losses = [l for l in')}\n"
            "    return sum(losses), mlm_loss, nsp_loss\n")
    return {"sample_pair": sampler, "nsp_head": head, "pretraining_loss": loss}


SAMPLE_PAIR_TESTS = {"test_sample_pair_is_next": 0, "test_sample_pair_not_next": 0,
                     "test_sample_pair_balanced_and_seeded": 0}
NSP_HEAD_TESTS = {"test_nsp_head_worked_example": 0, "test_nsp_head_matches_bertlab": 0}
LOSS_TESTS = {"test_mlm_loss_worked_example": 0, "test_nsp_loss_worked_example": 0,
              "test_mlm_loss_matches_bertlab": 0, "test_nsp_loss_matches_bertlab": 0,
              "test_pretraining_loss_matches_bertlab": 0}

# Part 3 with F.cross_entropy, as the book's BertForPreTraining (the solution before issue #12), over
# the micro-batches' rows put together: right numbers, broken rule.
CROSS_ENTROPY_LOSS = '''def pretraining_loss(micro_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERT's pretraining loss of a batch given as micro-batches, and its two terms: (loss, mlm_loss, nsp_loss)."""
    vocab_size = micro_batches[0][0].shape[-1]
    logits = torch.cat([p.float().reshape(-1, vocab_size) for p, _, _, _ in micro_batches])  # (sum of B*T, V)
    labels = torch.cat([l.reshape(-1) for _, l, _, _ in micro_batches])
    mlm_loss = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX)       # mean over the M masked
    nsp_loss = F.cross_entropy(torch.cat([z.float() for _, _, z, _ in micro_batches]),
                               torch.cat([y for _, _, _, y in micro_batches]))  # mean over all the pairs
    loss = mlm_loss + nsp_loss
    return loss, mlm_loss, nsp_loss
'''

# The mistake the micro-batches are about: each micro-batch's means, then the mean of those, as if
# every micro-batch held as many masked tokens and pairs as the others.
MEAN_OF_MEANS = '''def pretraining_loss(micro_batches):
    mlm_means, nsp_means = [], []
    for prediction_logits, labels, seq_relationship_logits, next_sentence_label in micro_batches:
        masked = labels != IGNORE_INDEX
        log_probs = prediction_logits.float()[masked].log_softmax(dim=-1)
        mlm_means.append(-log_probs.gather(-1, labels[masked].unsqueeze(-1)).mean())
        nsp_log_probs = seq_relationship_logits.float().log_softmax(dim=-1)
        nsp_means.append(-nsp_log_probs.gather(-1, next_sentence_label.unsqueeze(-1)).mean())
    mlm_loss, nsp_loss = torch.stack(mlm_means).mean(), torch.stack(nsp_means).mean()
    return mlm_loss + nsp_loss, mlm_loss, nsp_loss
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
        # Sums and counts over the micro-batches: float64 log_softmax over every position, gather with
        # the -100 labels clamped to a valid index, the unmasked positions multiplied by 0; cast back to
        # float32 after the one division; a debug print.
        "pretraining_loss": '''def pretraining_loss(micro_batches):
    mlm_total = nsp_total = 0.0
    n_masked = n_pairs = 0
    for logits, labels, nsp_logits, nsp_labels in micro_batches:
        keep = labels.ne(IGNORE_INDEX)
        log_p = logits.double().log_softmax(-1)                       # (B, T, V) in float64
        picked = log_p.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        mlm_total = mlm_total - (picked * keep).sum()
        n_masked += int(keep.sum())
        nsp_log_p = nsp_logits.double().log_softmax(-1)
        nsp_total = nsp_total - nsp_log_p.gather(1, nsp_labels.view(-1, 1)).sum()
        n_pairs += nsp_labels.numel()
    mlm_loss, nsp_loss = (mlm_total / n_masked).float(), (nsp_total / n_pairs).float()
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
        # The micro-batches' masked rows and pairs put together first (torch.cat), then both terms
        # through one helper of an extra cell: log_softmax times a one-hot mask.
        "pretraining_loss": '''def pretraining_loss(micro_batches):
    V = micro_batches[0][0].shape[-1]
    flat = [(logits.reshape(-1, V), labels.reshape(-1)) for logits, labels, _, _ in micro_batches]
    masked_logits = torch.cat([logits[labels != IGNORE_INDEX] for logits, labels in flat])   # (M, V)
    masked_labels = torch.cat([labels[labels != IGNORE_INDEX] for _, labels in flat])        # (M,)
    mlm_loss = mean_cross_entropy(masked_logits, masked_labels)
    nsp_loss = mean_cross_entropy(torch.cat([z for _, _, z, _ in micro_batches]),
                                  torch.cat([y for _, _, _, y in micro_batches]))
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
        # Each micro-batch's mean weighed by its count, added up in place into zero tensors; boolean
        # indexing, log_softmax written out with logsumexp, indexing, in-place operations.
        "pretraining_loss": '''def pretraining_loss(micro_batches):
    mlm_loss, nsp_loss = torch.zeros(()), torch.zeros(())
    n_masked = n_pairs = 0
    for prediction_logits, labels, seq_relationship_logits, next_sentence_label in micro_batches:
        mask = labels != IGNORE_INDEX
        logits = prediction_logits[mask].float()                              # (M_k, V)
        log_probs = logits - torch.logsumexp(logits, dim=-1, keepdim=True)   # log softmax, written out
        nll = log_probs[torch.arange(len(logits)), labels[mask]]
        nll.neg_()
        mlm_loss += nll.mean() * len(nll)      # this micro-batch's mean, weighed by its masked tokens
        n_masked += len(nll)
        z = seq_relationship_logits.float()
        nsp_loss += -z.log_softmax(-1)[torch.arange(z.shape[0]), next_sentence_label].mean() * z.shape[0]
        n_pairs += z.shape[0]
    mlm_loss /= n_masked
    nsp_loss /= n_pairs
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
_LOSS_WITH = """def pretraining_loss(micro_batches):
    logits = torch.cat([p.float()[l != IGNORE_INDEX] for p, l, _, _ in micro_batches])
    targets = torch.cat([l[l != IGNORE_INDEX] for _, l, _, _ in micro_batches])
    nsp_logits = torch.cat([z.float() for _, _, z, _ in micro_batches])
    nsp_labels = torch.cat([y for _, _, _, y in micro_batches])
    mlm_loss = {ce}(logits, targets)
    nsp_loss = {ce}(nsp_logits, nsp_labels)
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
               "(logits, targets)", "(logits, targets, None, 1)").replace("(nsp_logits, nsp_labels)",
                                                                          "(nsp_logits, nsp_labels, None, 1)")}),
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
                replace="n_masked += int(masked.sum())",
                by="n_masked += labels.numel()",
                scores={"test_mlm_loss_worked_example": 0, "test_mlm_loss_matches_bertlab": 0,
                        "test_pretraining_loss_matches_bertlab": 0},
                feedback="the mean over all B*T positions, the unmasked ones counted as 0"),
        # The rules: each costs exactly its part, and nbgrader validate says so before handing in.
        # Each micro-batch's means, then the mean of those: every term and the total are off.
        Student("mean_of_micro_batch_means", cells={"pretraining_loss": MEAN_OF_MEANS}, scores=LOSS_TESTS,
                feedback="the mean of the micro-batches' means"),
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
    # The strongest copier (_copied_cells): parts 1 and 2 whole (5 of 10, 50%), nothing of part 3, whose
    # NSP term is the last micro-batch's. Before the micro-batches it earned 10 of 10.
    copying=Student("copies_the_book", cells=_copied_cells(), scores=LOSS_TESTS,
                    feedback="only the last micro-batch"),
    alternatives=[REJECTION_FLOAT64, OTHERS_LIST_ONE_HOT, SKIP_BUFFER_IN_PLACE],
)
