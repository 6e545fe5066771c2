"""bertlab.rules: what a part's solution may not use, read from the syntax tree of the student's cells."""

from __future__ import annotations

import pytest
from required import require

from bertlab.grading import WrongAnswer
from bertlab.rules import Rule, Rules, forbidden_uses, student_code

SETUP = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\nimport bertlab\ntokenizer = object()\n"
LOSS = Rule("mlm_loss", forbidden=["torch.nn.functional.cross_entropy", "torch.nn.CrossEntropyLoss", "bertlab"],
            why="write it from log_softmax")
WORDPIECE = Rule("wordpiece", forbidden=["bertlab", "tokenizer"], why="split the word yourself")


def uses(rule, *cells, others=frozenset()):
    return forbidden_uses(rule, [SETUP, *cells], others=set(others), given=[SETUP])


def test_a_solution_that_keeps_the_rule_has_no_uses():
    assert uses(LOSS, "def mlm_loss(logits, labels):\n    return -logits.log_softmax(-1).mean()\n") == []


@pytest.mark.parametrize("code", [
    "def mlm_loss(logits, labels):\n    return F.cross_entropy(logits, labels)\n",
    "def mlm_loss(logits, labels):\n    return torch.nn.functional.cross_entropy(logits, labels)\n",
    "def mlm_loss(logits, labels):\n    return nn.CrossEntropyLoss()(logits, labels)\n",
    "def mlm_loss(logits, labels):\n    loss_fn = F.cross_entropy  # not called here, still used\n    return loss_fn(logits, labels)\n",
    "def mlm_loss(logits, labels):\n    from torch.nn.functional import cross_entropy as ce\n    return ce(logits, labels)\n",
    "def mlm_loss(logits, labels):\n    import bertlab.model\n    return bertlab.model.masked_lm_loss(logits, labels)\n",
])
def test_every_spelling_of_a_forbidden_call_is_found(code):
    found = uses(LOSS, code)
    assert found and found[0].startswith("line 2 of mlm_loss: `"), found


def test_an_import_in_another_cell_is_followed():
    found = uses(LOSS, "from bertlab.model import masked_lm_loss as reference\n",
                 "def mlm_loss(logits, labels):\n    return reference(logits, labels)\n")
    assert found == ["line 2 of mlm_loss: `reference`"]


def test_a_helper_of_the_students_in_another_cell_is_part_of_the_solution():
    helper = "def _ce(logits, labels):\n    return F.cross_entropy(logits, labels)\n"
    found = uses(LOSS, helper, "def mlm_loss(logits, labels):\n    return _ce(logits, labels)\n")
    assert found == ["line 2 of _ce: `F.cross_entropy`"]


def test_a_forbidden_call_outside_the_solution_is_the_students_own_business():
    # a scratch cell that compares the student's loss with PyTorch's: not part of mlm_loss
    scratch = "print(mlm_loss(x, y), F.cross_entropy(x, y))\ndef check():\n    return F.cross_entropy(x, y)\n"
    assert uses(LOSS, "def mlm_loss(logits, labels):\n    return logits.sum()\n", scratch) == []


def test_what_another_part_defines_is_that_parts_business():
    earlier = "def attention(q, k, v):\n    return F.scaled_dot_product_attention(q, k, v)\n"
    later = "class Layer(nn.Module):\n    def forward(self, x):\n        return attention(x, x, x)\n"
    rule = Rule("layer", forbidden=["torch.nn.functional.scaled_dot_product_attention"], why="...", defines=["Layer"])
    assert uses(rule, earlier, later, others={"attention"}) == []
    assert uses(rule, earlier, later) != []  # without the other part, the helper is followed


def test_a_setup_name_is_forbidden_but_a_local_of_the_same_name_is_not():
    assert uses(WORDPIECE, "def wordpiece(word, vocab):\n    return tokenizer.tokenize(word)\n") \
        == ["line 2 of wordpiece: `tokenizer.tokenize`"]
    assert uses(WORDPIECE, "def wordpiece(word, vocab, tokenizer=None):\n    return [tokenizer or word]\n") == []
    assert uses(WORDPIECE, "def wordpiece(word, vocab):\n    tokenizer = list\n    return tokenizer(word)\n") == []


def test_the_latest_definition_counts_and_code_that_cannot_be_parsed_is_skipped():
    old = "def mlm_loss(logits, labels):\n    return F.cross_entropy(logits, labels)\n"
    new = "def mlm_loss(logits, labels):\n    return -logits.log_softmax(-1).mean()\n"
    assert uses(LOSS, old, new) == []
    assert uses(LOSS, new, old) != []
    assert uses(LOSS, new, "def broken(:\n") == []


def test_check_names_the_rule_and_what_to_do_in_lines_a_terminal_shows_whole():
    rules = Rules(LOSS, WORDPIECE)
    with student_code([SETUP, "def mlm_loss(logits, labels):\n    return F.cross_entropy(logits, labels)\n"], given=[SETUP]):
        with pytest.raises(WrongAnswer) as error:
            rules.check("mlm_loss")
        rules.check("wordpiece")  # not defined at all: nothing to break
    message = str(error.value)
    assert message.startswith("Rule broken: mlm_loss may not use `torch.nn.functional.cross_entropy`")
    assert "write it from log_softmax" in message and "line 2 of mlm_loss: `F.cross_entropy`" in message
    assert max(len(line) for line in message.splitlines()) <= 80


def test_in_the_kernel_the_check_reads_the_input_history_without_the_test_cells(monkeypatch):
    history = ["", SETUP, "def mlm_loss(logits, labels):\n    return -logits.log_softmax(-1).mean()\n",
               "### ANSWERS\nyours = mlm_loss(x, y)\n### VERDICT\nF.cross_entropy(x, y)\n"]

    class Shell:
        user_ns = {"In": history}

    import IPython
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    Rules(LOSS).check("mlm_loss")
    history.append("def mlm_loss(logits, labels):\n    return bertlab.model.masked_lm_loss(logits, labels)\n")
    with pytest.raises(WrongAnswer, match="line 2 of mlm_loss: `bertlab.model.masked_lm_loss`"):
        Rules(LOSS).check("mlm_loss")


def test_type_hints_constants_and_allowed_names_are_not_uses():
    code = ("from bertlab.config import BertConfig\nfrom bertlab.model import IGNORE_INDEX\n"
            "def mlm_loss(logits: torch.Tensor, labels, config: BertConfig = None) -> bertlab.Thing:\n"
            "    x: BertConfig = None\n    return logits[labels != IGNORE_INDEX].sum()\n")
    assert uses(LOSS, code) == []
    allowed = Rule("mlm_loss", forbidden=["bertlab"], why="...", allowed=["bertlab.config.BertConfig"])
    assert uses(allowed, code.replace("x: BertConfig = None", "x = BertConfig()")) == []
    assert uses(LOSS, code.replace("x: BertConfig = None", "x = BertConfig()")) == ["line 2 of mlm_loss: `BertConfig`"]


def test_the_grader_names_a_broken_rule_even_where_the_students_code_also_raised():
    require("nbgrader")
    from bertlab.answers import split_test_cell
    from bertlab.autograde import JudgeVerdicts

    parts = split_test_cell("### ANSWERS\nyours = mlm_loss(x, y)\n### VERDICT\nrules.check('mlm_loss')\nassert False\n")
    setup = {"rules": Rules(LOSS)}
    with student_code([SETUP, "def mlm_loss(logits, labels):\n    return F.cross_entropy(logits, labels)\n"]):
        [error] = JudgeVerdicts._broken_rules("test_loss", parts, setup)
    assert error["ename"] == "WrongAnswer" and error["evalue"].startswith("Rule broken: mlm_loss")
    with student_code([SETUP, "def mlm_loss(logits, labels):\n    return logits.sum()\n"]):
        assert JudgeVerdicts._broken_rules("test_loss", parts, setup) == []


def test_a_forbidden_function_bound_to_a_name_at_the_top_of_a_cell_is_still_that_function():
    for binding in ("ce = F.cross_entropy", "ce = torch.nn.functional.cross_entropy"):
        found = uses(LOSS, binding + "\n", "def mlm_loss(logits, labels):\n    return ce(logits, labels)\n")
        assert found == [f"`{binding}` (used by line 2 of mlm_loss)"], binding
    assert uses(LOSS, "config = encoder.config\n", "def mlm_loss(logits, labels):\n    return config(logits)\n") == []


# ------------------------------------------------------------------------------------------------
# A determined student: every way of reaching a forbidden function that plain code offers
# ------------------------------------------------------------------------------------------------
CLEAN_LOSS = "def mlm_loss(logits, labels):\n    return -logits.log_softmax(-1).mean()\n"
USES_CE = "def mlm_loss(logits, labels):\n    return ce(logits, labels)\n"

DODGES = {
    "an instance made in another cell": ["criterion = nn.CrossEntropyLoss()\n",
                                         "def mlm_loss(logits, labels):\n    return criterion(logits, labels)\n"],
    "a lambda": ["ce = lambda a, b: F.cross_entropy(a, b)\n", USES_CE],
    "functools.partial": ["import functools\nce = functools.partial(F.cross_entropy, reduction='mean')\n", USES_CE],
    "a tuple assignment": ["ce, other = F.cross_entropy, len\n", USES_CE],
    "an unpacked list": ["[ce, *others] = [F.cross_entropy, len]\n", USES_CE],
    "an annotated assignment": ["from typing import Callable\nce: Callable = F.cross_entropy\n", USES_CE],
    "a walrus": ["print(ce := F.cross_entropy)\n", USES_CE],
    "a for target": ["for ce in [F.cross_entropy]:\n    pass\n", USES_CE],
    "a binding inside if": ["if True:\n    ce = F.cross_entropy\nelse:\n    ce = None\n", USES_CE],
    "a binding inside try": ["try:\n    ce = F.cross_entropy\nexcept Exception:\n    pass\n", USES_CE],
    "a dictionary entry": ["table = {}\ntable['ce'] = F.cross_entropy\n",
                           "def mlm_loss(logits, labels):\n    return table['ce'](logits, labels)\n"],
    "a class of one's own, instantiated elsewhere": [
        "class Loss:\n    def __call__(self, a, b):\n        return F.cross_entropy(a, b)\n",
        "ce = Loss()\n", USES_CE],
    "the longer module path": ["def mlm_loss(logits, labels):\n"
                               "    return torch.nn.modules.loss.CrossEntropyLoss()(logits, labels)\n"],
    "an import of the longer module path": ["from torch.nn.modules.loss import CrossEntropyLoss as L\n",
                                            "def mlm_loss(logits, labels):\n    return L()(logits, labels)\n"],
    "torch._C": ["def mlm_loss(logits, labels):\n    return torch._C._nn.cross_entropy_loss(logits, labels)\n"],
    "torch.ops": ["def mlm_loss(logits, labels):\n    return torch.ops.aten.cross_entropy_loss(logits, labels)\n"],
    "a star import": ["from torch.nn.functional import *\n",
                      "def mlm_loss(logits, labels):\n    return cross_entropy(logits, labels)\n"],
    "getattr with the name written out": ["def mlm_loss(logits, labels):\n"
                                          "    return getattr(F, 'cross_entropy')(logits, labels)\n"],
    "getattr with a computed name": ["def mlm_loss(logits, labels):\n"
                                     "    return getattr(F, 'cross_' + 'entropy')(logits, labels)\n"],
    "eval": ["def mlm_loss(logits, labels):\n    return eval('F.cross_entropy')(logits, labels)\n"],
    "the module's __dict__": ["def mlm_loss(logits, labels):\n    return F.__dict__['cross_entropy'](logits, labels)\n"],
    "importlib": ["import importlib\n", "def mlm_loss(logits, labels):\n"
                  "    return importlib.import_module('torch.nn.functional').cross_entropy(logits, labels)\n"],
    "a clean def rebound later": [CLEAN_LOSS, "def other(logits, labels):\n    return F.cross_entropy(logits, labels)\n",
                                  "mlm_loss = other\n"],
    "the part as a lambda": ["mlm_loss = lambda logits, labels: F.cross_entropy(logits, labels)\n"],
    "the part imported": ["from bertlab.model import masked_lm_loss as mlm_loss\n"],
    "a method patched in": ["class Loss:\n    def __call__(self, a, b):\n        return -a.log_softmax(-1).mean()\n",
                            "Loss.__call__ = lambda self, a, b: F.cross_entropy(a, b)\n", "ce = Loss()\n", USES_CE],
    "a %%time cell": ["%%time\nce = F.cross_entropy\n", USES_CE],
    "a %time line": ["%time ce = F.cross_entropy\n", USES_CE],
    "a line magic inside the part": ["def mlm_loss(logits, labels):\n    loss = %time F.cross_entropy(logits, labels)\n"
                                     "    return loss\n"],
}


@pytest.mark.parametrize("dodge", DODGES)
def test_a_forbidden_function_counts_however_the_code_reaches_it(dodge):
    import torch  # noqa: F401  (the names resolve to torch's objects, as in the grader's process)

    assert uses(LOSS, *DODGES[dodge]) != [], f"{dodge} dodged the rule"


@pytest.mark.parametrize("dodge", DODGES)
def test_each_dodge_is_named_where_the_student_wrote_it(dodge):
    rules = Rules(LOSS)
    with student_code([SETUP, *DODGES[dodge]], given=[SETUP]):
        with pytest.raises(WrongAnswer) as error:
            rules.check("mlm_loss")
    assert "Where your code uses it:\n- " in str(error.value)


def test_a_setup_object_under_a_new_name_is_still_the_setup_object():
    assert uses(WORDPIECE, "tok = tokenizer\n", "def wordpiece(word, vocab):\n    return tok.tokenize(word)\n") \
        == ["`tok = tokenizer` (used by line 2 of wordpiece)"]
    assert uses(WORDPIECE, "def wordpiece(word, vocab):\n    return getattr(tokenizer, 'tokenize')(word)\n") != []


def test_bertlab_reached_through_an_object_built_in_another_cell():
    found = uses(WORDPIECE, "splitter = bertlab.WordPieceTokenizer.default()\n",
                 "def wordpiece(word, vocab):\n    return splitter.tokenize(word)\n")
    assert found == ["`splitter = bertlab.WordPieceTokenizer.default()` (used by line 2 of wordpiece)"]


def test_a_subclass_of_bertlabs_class_bound_by_assignment():
    rule = Rule("embeddings", forbidden=["bertlab"], defines=["Embeddings"], why="...")
    assert uses(rule, "Embeddings = type('Embeddings', (bertlab.model.Embeddings,), {})\n") != []
    assert uses(rule, "Base = bertlab.model.Embeddings\n", "class Embeddings(Base):\n    pass\n") != []


def test_a_name_the_student_defines_is_the_students_even_where_the_setup_uses_it():
    # The setup imports bertlab's mask_tokens inside one of its functions, and binds `tokenizer`:
    # a helper of the student's with either name is the student's own code, read as such.
    setup = SETUP + "def _batch():\n    from bertlab.data import mask_tokens\n    return mask_tokens\n"
    rule = Rule("mask_words", forbidden=["bertlab", "transformers"], why="...")
    helper = "def mask_tokens(words, rng):\n    return [w for w in words if rng.random() < 0.15]\n"
    part = "def mask_words(words, rng):\n    return mask_tokens(words, rng)\n"
    assert forbidden_uses(rule, [setup, helper, part], given=[setup]) == []
    own_tokenizer = "def tokenizer(word):\n    return [word]\n"
    assert uses(WORDPIECE, own_tokenizer, "def wordpiece(word, vocab):\n    return tokenizer(word)\n") == []
    # ...and the student's own helper is read: a forbidden call in it still counts.
    cheat = "def mask_tokens(words, rng):\n    return bertlab.data.mask_tokens(words)\n"
    assert forbidden_uses(rule, [setup, cheat, part], given=[setup]) != []


def test_code_in_a_function_of_the_cell_is_not_a_global_binding():
    # `ce` inside a function of another cell is that function's local: the part's `ce` is the builtin-free
    # name of the top level, which here is the student's own clean function.
    cells = ["def scratch():\n    ce = F.cross_entropy\n    return ce\n",
             "def ce(a, b):\n    return -a.log_softmax(-1).mean()\n", USES_CE]
    assert uses(LOSS, *cells) == []


def test_what_correct_code_writes_is_not_flagged():
    # Helpers, comprehensions, lambdas of the student's own, getattr on the student's own objects.
    cells = ["import math\nsquare = lambda x: x * x\nLAYERS = ['a', 'b']\n",
             "class Scale(nn.Module):\n    def forward(self, x):\n        return x / math.sqrt(x.shape[-1])\n",
             "scale = Scale()\nsettings = Scale()\n",
             "def mlm_loss(logits, labels):\n    parts = [getattr(logits, name) for name in ('float',)]\n"
             "    knobs = [getattr(settings, name) for name in ('training',)] + [settings.__dict__]\n"
             "    picked = scale(square(logits)).log_softmax(-1)\n"
             "    return -torch.stack([picked[i, l] for i, l in enumerate(labels)]).mean()\n"]
    assert uses(LOSS, *cells) == []


def test_in_a_kernel_the_setup_cell_is_the_one_that_made_the_rules():
    """In the student's Jupyter (and nbgrader validate), Rules() learns its own cell from IPython, so
    that the setup's names are the setup's and a student's later binding of them is the student's."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        setup = SETUP + "from bertlab.rules import Rule, Rules\nrules = Rules(Rule('wordpiece', "
        setup += "forbidden=['bertlab', 'tokenizer'], why='split it yourself'))\n"
        for cell in (setup, "tok = tokenizer\n", "def wordpiece(word, vocab):\n    return tok.tokenize(word)\n",
                     "try:\n    rules.check('wordpiece')\nexcept AssertionError as error:\n    message = str(error)\n"):
            assert shell.run_cell(cell, store_history=True).success, cell
        assert "`tok = tokenizer` (used by line 2 of wordpiece)" in shell.user_ns["message"]
        for cell in ("tokenizer = str.split\n", "tok = tokenizer\n",
                     "message = None\ntry:\n    rules.check('wordpiece')\nexcept AssertionError as error:\n"
                     "    message = str(error)\n"):
            assert shell.run_cell(cell, store_history=True).success, cell
        assert shell.user_ns["message"] is None  # the student's own `tokenizer` now
    finally:
        InteractiveShell.clear_instance()
