"""bertlab.answers: how a test cell splits into the part the student's kernel runs and the part the
grader runs, and how the student's answers cross from one to the other as plain data."""

from __future__ import annotations

import json
import math

import pytest
import torch

from bertlab.answers import (MIME, decode, encode, read_records, recorded_answers, recording_code,
                             split_test_cell)

CELL = '''\
# Hidden test: a visible first line that calls the student's code
wordpiece("play", vocab)
### INPUTS
words = ["play", "playing"]
### ANSWERS
yours = {word: wordpiece(word, vocab) for word in words}
with torch.no_grad():
    out, (first, second) = model(ids), pair()
### VERDICT
for word in words:
    check_equal(yours[word], tokenizer.tokenize(word), what=word)
'''


def test_the_kernel_runs_inputs_and_answers_and_the_grader_inputs_and_verdict():
    parts = split_test_cell(CELL)
    assert "wordpiece(\"play\"" in parts.probe and "yours = " in parts.probe and "words = " in parts.probe
    assert "check_equal" not in parts.probe
    assert "words = " in parts.judge and "check_equal" in parts.judge
    assert "wordpiece" not in parts.judge and "yours = " not in parts.judge
    assert parts.judged


def test_parts_keep_their_line_numbers():
    parts = split_test_cell(CELL)
    lines = CELL.splitlines()
    assert len(parts.probe.split("\n")) == len(parts.judge.split("\n")) == len(lines)
    check_line = next(i for i, line in enumerate(lines) if "check_equal" in line)
    assert parts.judge.split("\n")[check_line] == lines[check_line]


def test_the_names_answers_binds_are_recorded_and_nothing_else():
    assert split_test_cell(CELL).recorded == ("yours", "out", "first", "second")


def test_a_cell_without_a_verdict_part_is_not_judged():
    parts = split_test_cell("check_equal(f(1), 2, what='f(1)')")
    assert not parts.judged and "check_equal" in parts.probe


def test_the_recording_line_names_each_recorded_name_and_carries_the_cells_key():
    code = recording_code(("yours", "out"), "c0ffee42")
    assert "record({'yours': yours, 'out': out}, 'c0ffee42')" in code
    compile(code, "<recording>", "exec")


def test_a_key_that_could_be_code_is_refused():
    with pytest.raises(ValueError, match="letters and digits"):
        recording_code(("yours",), "x'); import os; ('")


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2**80, 1.5, "piece", ["a", ["b", 3]], ("tokens", [0, 1]), {1, 2},
    {"a": 1, (1, 2): [3]}, [],
])
def test_plain_data_comes_back_equal(value):
    assert decode(json.loads(json.dumps(encode(value)))) == value


@pytest.mark.parametrize("tensor", [
    torch.randn(2, 3, 4), torch.randn(3, 4).T, torch.arange(6).reshape(2, 3), torch.tensor([True, False]),
    torch.ones(2, dtype=torch.bfloat16), torch.randn(3, dtype=torch.float64), torch.empty(0, 5),
    torch.nn.Parameter(torch.randn(2, 2)), torch.randn(2, requires_grad=True) * 2,
])
def test_tensors_come_back_with_their_values_dtype_and_shape(tensor):
    back = decode(json.loads(json.dumps(encode(tensor))))
    assert type(back) is torch.Tensor and back.dtype == tensor.dtype and back.shape == tensor.shape
    assert torch.equal(back, tensor.detach()) and not back.requires_grad


def test_floats_that_json_cannot_spell_come_back():
    back = decode(json.loads(json.dumps(encode([float("nan"), float("inf"), -float("inf")]), allow_nan=False)))
    assert math.isnan(back[0]) and back[1:] == [float("inf"), -float("inf")]


def test_anything_else_comes_back_as_a_stand_in_that_names_its_type():
    module = decode(json.loads(json.dumps(encode(torch.nn.Linear(2, 2)))))
    assert type(module).__name__ == "Linear" and not isinstance(module, torch.nn.Module)
    assert not callable(module)


def test_malformed_answers_are_refused_not_run():
    for bad in [{"tensor": "AAAA", "dtype": "float32", "shape": [5]},  # 3 bytes for 5 floats
                {"tensor": "AAAA", "dtype": "object", "shape": [1]},
                {"tensor": "!!", "dtype": "uint8", "shape": [1]},
                {"__reduce__": "os.system"}]:
        with pytest.raises((ValueError, KeyError)):
            decode(bad)


def test_answers_too_large_to_record_are_refused():
    with pytest.raises(ValueError, match="larger than"):
        encode([torch.zeros(1 << 20, dtype=torch.float64)] * 9)  # 72 MiB


def record(answers: dict, nonce=None) -> dict:
    """An output as `bertlab.answers.record` shows it."""
    return {"output_type": "display_data",
            "data": {MIME: {"nonce": nonce,
                            "answers": {name: encode(value) for name, value in answers.items()}}}}


def test_only_the_first_record_with_the_cells_key_counts_and_every_other_is_named():
    """A hook, a thread or another cell can show a record too: without the key the grader gave
    this test cell, or a second time, it is ignored, and the cell says so."""
    outputs = [record({"yours": 1}),  # a thread's or a hook's, before the test's own
               {"output_type": "stream", "name": "stdout", "text": "hello"},
               record({"yours": 2}, "otherkey"),
               record({"yours": 3}, "thekey"),  # the test's own
               record({"yours": 4}, "thekey")]  # a second one (a post_run_cell hook that read the key)
    records = read_records(outputs, "thekey")
    assert records.answers == {"yours": 3}
    assert len(records.ignored) == 3
    assert "record 1 of 4 carries no key" in records.ignored[0]
    assert "record 2 of 4 carries a key that is not this test's" in records.ignored[1]
    assert "record 4 of 4 is a second record of this test's answers" in records.ignored[2]
    assert recorded_answers(outputs, "thekey") == {"yours": 3}


def test_without_a_record_that_carries_the_key_there_are_no_answers():
    outputs = [record({"yours": 1}), record({"yours": 2}, "otherkey")]
    assert read_records(outputs, "thekey").answers is None
    assert recorded_answers(outputs[:0], "thekey") is None
    # A cell the grader gave no key (its probe never ran) has no answers, whatever it shows.
    assert read_records([record({"yours": 1})], None).answers is None
