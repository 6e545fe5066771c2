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
    return forbidden_uses(rule, [SETUP, *cells], others=set(others))


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
    with student_code([SETUP, "def mlm_loss(logits, labels):\n    return F.cross_entropy(logits, labels)\n"]):
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
        assert found == ["line 2 of mlm_loss: `ce`"], binding
    assert uses(LOSS, "config = encoder.config\n", "def mlm_loss(logits, labels):\n    return config(logits)\n") == []
