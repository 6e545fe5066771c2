"""bertlab's command-line tools, as a specification: a bad argument or a bad input is one line on
stderr, `python -m bertlab.<tool>: error: <what is wrong>`, and exit status 2; a real bug keeps its
traceback and exits 1 (bertlab/_cli.py says which errors count as the user's).

- Every tool (predict, train, evaluate, finetune, demo, autograde, autograde.similarity) turns a
  bad argument or input into that one line, naming the problem, without a traceback, and before
  any work: nothing is trained, graded or written.
- A message of several lines (a resumed run whose settings changed) is joined onto one.
- An argparse error (a malformed option) is one line too, and points to --help.
- A RuntimeError, a ValueError raised outside bertlab's own code, or bertlab's own input error
  raised once the real work has begun, is a bug: it prints its traceback and exits 1.

Each tool runs as `python -m ...` in the repository root, as a user types it; each bad input fails
within seconds (importing torch is most of it).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bertlab import _cli
from bertlab.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=180)


def tool(module: str, *args: str) -> subprocess.CompletedProcess:
    return run("-m", module, *args)


def assert_one_line_error(result: subprocess.CompletedProcess, module: str, problem: str) -> str:
    """Exit status 2 and exactly one line on stderr, `python -m module: error: ...`, that names the
    problem; no traceback. Returns the line."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"not one line on stderr:\n{result.stderr}"
    assert lines[0].startswith(f"python -m {module}: error: "), lines[0]
    assert problem in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------------------
# A bad argument or input: one line, exit 2, nothing done
# ------------------------------------------------------------------------------------------------

def test_predict_a_text_without_a_mask():
    result = tool("bertlab.predict", "no mask here")
    assert_one_line_error(result, "bertlab.predict", "no [MASK] in the text 'no mask here'")
    assert result.stdout == ""


def test_predict_a_model_folder_that_is_not_a_checkpoint(tmp_path):
    result = tool("bertlab.predict", "To be, or not to [MASK].", "--model", str(tmp_path))
    assert_one_line_error(result, "bertlab.predict", f"No config.json at {tmp_path}")


def test_train_a_corpus_that_does_not_exist(tmp_path):
    out = tmp_path / "run"
    result = tool("bertlab.train", "--corpus", str(tmp_path / "nowhere.txt"), "--steps", "1", "--out", str(out))
    assert_one_line_error(result, "bertlab.train", f"--corpus: {tmp_path / 'nowhere.txt'} does not exist")
    assert not out.exists()  # checked before the run folder is made


def test_train_resumed_with_other_settings_joins_the_message_onto_one_line(tmp_path):
    # Only the settings of a checkpoint are read before the run: a file holding them is enough.
    saved = dataclasses.asdict(TrainConfig(out=str(tmp_path), preset="tiny", steps=10))
    torch.save({"train_config": saved}, tmp_path / "checkpoint.pt")
    result = tool("bertlab.train", "--out", str(tmp_path), "--preset", "tiny", "--steps", "10", "--lr", "0.002")
    line = assert_one_line_error(result, "bertlab.train", "Cannot resume the run")
    assert "changed configuration: lr: checkpoint 0.001, now 0.002; Use the original settings" in line


def test_train_a_malformed_option_is_one_line_that_points_to_help():
    result = tool("bertlab.train", "--steps", "many")
    line = assert_one_line_error(result, "bertlab.train", "argument --steps: invalid int value: 'many'")
    assert line.endswith("(see python -m bertlab.train --help)")


def test_evaluate_a_model_folder_that_does_not_exist(tmp_path):
    result = tool("bertlab.evaluate", str(tmp_path / "no_model"))
    assert_one_line_error(result, "bertlab.evaluate", f"Checkpoint folder {tmp_path / 'no_model'} does not exist")


def test_finetune_a_genre_the_plays_do_not_have():
    result = tool("bertlab.finetune", "--labels", "comedies,westerns")
    assert_one_line_error(result, "bertlab.finetune", "no passage has the genre ['westerns']")
    assert result.stdout == ""  # stopped before fine-tuning began


def test_demo_takes_no_arguments():
    result = tool("bertlab.demo", "--fast")
    assert_one_line_error(result, "bertlab.demo", "unrecognized arguments: --fast")
    assert result.stdout == ""


def test_autograde_an_assignment_the_course_does_not_have():
    result = tool("bertlab.autograde", "screen", "99_no_such_assignment")
    line = assert_one_line_error(result, "bertlab.autograde", "no assignment '99_no_such_assignment' in this course")
    assert "01_input_embeddings" in line  # and it names the ones there are


def test_autograde_a_student_id_that_is_a_path():
    result = tool("bertlab.autograde", "autograde", "01_input_embeddings", "--student", "../alice")
    assert_one_line_error(result, "bertlab.autograde", "--student '../alice' is not a student id")


def test_autograde_on_a_cluster_with_a_gradebook_its_workers_cannot_share():
    # The repository's gradebook is SQLite in grading/: refused before any scheduler is reached.
    result = tool("bertlab.autograde", "autograde", "01_input_embeddings", "--scheduler", "tcp://127.0.0.1:9")
    assert_one_line_error(result, "bertlab.autograde",
                          "--scheduler tcp://127.0.0.1:9 needs a gradebook every worker can reach")


def test_similarity_an_assignment_that_was_not_released(tmp_path):
    result = tool("bertlab.autograde.similarity", "99_no_such_assignment", "--out", str(tmp_path / "reports"))
    line = assert_one_line_error(result, "bertlab.autograde.similarity",
                                 "no released assignment exercises/99_no_such_assignment")
    assert "01_input_embeddings" in line
    assert not (tmp_path / "reports").exists()


# ------------------------------------------------------------------------------------------------
# A bug: its traceback, exit 1
# ------------------------------------------------------------------------------------------------

def test_a_runtime_error_while_loading_the_model_keeps_its_traceback():
    result = run("-c", "import bertlab.model, bertlab.predict\n"
                       "def broken(*args, **kwargs):\n"
                       "    raise RuntimeError('a bug while loading')\n"
                       "bertlab.model.BertForPreTraining.from_pretrained = broken\n"
                       "bertlab.predict.main(['To be, or not to [MASK].'])\n")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" in result.stderr and "RuntimeError: a bug while loading" in result.stderr


def test_a_value_error_from_outside_bertlab_keeps_its_traceback():
    # Not one of bertlab's input checks (json's, here), even while the inputs are read: a bug.
    result = run("-c", "import json, bertlab.model, bertlab.predict\n"
                       "bertlab.model.BertForPreTraining.from_pretrained = lambda folder: json.loads('{')\n"
                       "bertlab.predict.main(['To be, or not to [MASK].'])\n")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" in result.stderr and "json.decoder.JSONDecodeError" in result.stderr


def test_bertlabs_own_input_error_once_training_has_begun_keeps_its_traceback(tmp_path):
    # The settings pass their checks; then, inside the run, bertlab raises an input error of its own:
    # by then it can only be a bug.
    result = run("-c", "import bertlab.data, bertlab.train\n"
                       "bertlab.train.train = lambda cfg: bertlab.data.text_file_documents('/nowhere.txt')\n"
                       f"bertlab.train.main(['--preset', 'tiny', '--steps', '1', '--out', {str(tmp_path)!r}])\n")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" in result.stderr and "FileNotFoundError: /nowhere.txt does not exist" in result.stderr


# ------------------------------------------------------------------------------------------------
# The shared helper, in process
# ------------------------------------------------------------------------------------------------

def test_a_message_of_several_lines_becomes_one():
    assert _cli.one_line("Cannot resume:\n  lr: 1, now 2\n  seed: 0, now 1\nUse a new folder.") == \
        "Cannot resume: lr: 1, now 2; seed: 0, now 1; Use a new folder."


def test_only_the_three_input_error_types_from_bertlabs_code_become_one_line(capsys):
    from bertlab.data import text_file_documents
    with pytest.raises(SystemExit) as stopped, _cli.user_input("prog"):
        text_file_documents("/nowhere.txt")
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "prog: error: /nowhere.txt does not exist; pass an existing text file or folder\n"
    with pytest.raises(ValueError, match="Invalid literal for Fraction"), _cli.user_input("prog"):
        import fractions
        fractions.Fraction("not a number")  # raised by the standard library: passes through
    with pytest.raises(KeyError), _cli.user_input("prog"):
        {}["missing"]  # bertlab's code, but not an input error's type
