"""Shared fixtures: bertlab models and their transformers twins, built from configs (never downloaded)."""

import warnings

import pytest
import torch

import bertlab
from bertlab.checkpoints import hf_name, to_hf_state_dict
from rendered import browser, built_book, server  # noqa: F401  (the built site, once a session)
from required import strict

warnings.filterwarnings("ignore", message=".*were not initialized.*")


# Where the whole suite must run (CI, BERTLAB_REQUIRE_*: tests/required.py), a skipped test is a
# failure, whoever skipped it, except for want of a CUDA GPU, which CI does not have.
def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _fail_a_skip(report) -> None:
    if report.skipped and strict() and not hasattr(report, "wasxfail"):
        reason = _skip_reason(report)
        if "CUDA" not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped where every test must run (CI or BERTLAB_REQUIRE_*): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_a_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_a_skip(outcome.get_result())


@pytest.fixture(scope="session")
def tokenizer():
    """The bert-base-uncased WordPiece vocabulary (a test module may define its own `tokenizer`)."""
    return bertlab.WordPieceTokenizer.default()


@pytest.fixture(scope="session")
def encoder():
    """The embedded pretrained all-MiniLM-L6-v2, in eval mode."""
    return bertlab.BertModel.from_pretrained()


def hf_config(config: bertlab.BertConfig, **extra):
    import transformers
    d = config.to_dict()
    d.pop("model_type")
    return transformers.BertConfig(**d, **extra)


def hf_twin(model: torch.nn.Module, hf_class_name: str | None = None, attn_implementation: str | None = None):
    """The transformers model of the same class and config, holding exactly the same weights."""
    import transformers
    hf_class = getattr(transformers, hf_class_name or type(model).__name__)
    config = hf_config(model.config)
    if attn_implementation:
        config._attn_implementation = attn_implementation
    twin = hf_class(config)
    result = twin.load_state_dict(to_hf_state_dict(model), strict=False)
    tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}
    assert set(result.missing_keys) <= tied and not result.unexpected_keys, result
    return twin.train(model.training)


def hf_grads(twin: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.grad for name, p in twin.named_parameters() if p.grad is not None}


def our_grads_by_hf_name(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {hf_name(name): p.grad for name, p in model.named_parameters() if p.grad is not None}


def padded_batch(config: bertlab.BertConfig, batch=4, seq_len=12, seed=0):
    """A batch with real structure: [CLS] A [SEP] B [SEP], segment ids, and rows of different lengths."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, config.vocab_size, (batch, seq_len), generator=g)
    token_type_ids = torch.randint(0, config.type_vocab_size, (batch, seq_len), generator=g)
    attention_mask = torch.ones(batch, seq_len, dtype=torch.long)
    for row in range(1, batch):
        length = max(3, seq_len - 3 * row)
        attention_mask[row, length:] = 0
        input_ids[row, length:] = config.pad_token_id
        token_type_ids[row, length:] = 0
    labels = torch.full_like(input_ids, -100)
    masked = (torch.rand(batch, seq_len, generator=g) < 0.3) & attention_mask.bool()
    masked[:, 1] = True  # every row has at least one masked position
    labels[masked] = input_ids[masked]
    next_sentence_label = torch.randint(0, 2, (batch,), generator=g)
    return dict(input_ids=input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask,
                labels=labels, next_sentence_label=next_sentence_label)


@pytest.fixture(scope="session")
def minilm_folder():
    from bertlab.checkpoints import minilm_folder
    return minilm_folder()
