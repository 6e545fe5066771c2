"""BERT, the whole model, in one file.

Devlin et al. (2019), "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding". The computation is number for number that of Hugging Face's ``BertModel`` (the
tests check it); the names are chosen to be read. Shapes in comments: B batch, T tokens,
H hidden size, N heads, D = H / N head size, V vocabulary size.

    input_ids, token_type_ids ─> Embeddings ─> EncoderLayer x L ─> last_hidden_state ─> MLM head
                                                                     └─ [CLS] ─> Pooler ─> NSP head
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .config import BertConfig

IGNORE_INDEX = -100  # label of positions that take no part in the loss (as in HF and PyTorch)


def activation(name: str):
    """The feed-forward nonlinearity named in config.json."""
    if name == "gelu":  # BERT's GELU: x * Phi(x), with the exact Gaussian CDF (erf)
        return F.gelu
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu":
        return F.relu
    if name in ("silu", "swish"):
        return F.silu
    raise ValueError(f"Unknown activation {name!r}.")


# ------------------------------------------------------------------------------------------------
# The encoder
# ------------------------------------------------------------------------------------------------


class Embeddings(nn.Module):
    """Token + segment + position embeddings, summed, then LayerNorm and dropout."""

    def __init__(self, config: BertConfig):
        super().__init__()
        # padding_idx (Hugging Face's, not in Google's embedding_lookup): the lookup gives the [PAD]
        # row no gradient. With tied weights it still gets one through the MLM softmax.
        self.token = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.segment = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.position = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)  # (T,)
        x = self.token(input_ids) + self.segment(token_type_ids)  # (B, T, H)
        x = x + self.position(positions)  # (T, H) broadcast over B
        return self.dropout(self.norm(x))


class SelfAttention(nn.Module):
    """Multi-head self-attention: every token looks at every (non-padding) token of its sequence."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_size = config.head_size
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.output = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout_p = config.attention_probs_dropout_prob

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        x = x.view(B, T, self.num_heads, self.head_size)  # (B, T, H) -> (B, T, N, D)
        return x.transpose(1, 2)  # (B, N, T, D)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None, return_probs: bool = False):
        """x: (B, T, H). key_mask: (B, 1, 1, T) bool, True where a token may be attended to, or
        None for "all". Returns the attended values (B, T, H) and, if asked, the probabilities
        (B, N, T, T)."""
        B, T, H = x.shape
        q = self.split_heads(self.query(x))  # (B, N, T, D)
        k = self.split_heads(self.key(x))  # (B, N, T, D)
        v = self.split_heads(self.value(x))  # (B, N, T, D)
        p_drop = self.dropout_p if self.training else 0.0
        if return_probs:
            # The explicit path, for pictures of attention: softmax(q k^T / sqrt(D)) v.
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_size)  # (B, N, T, T)
            if key_mask is not None:
                scores = scores.masked_fill(~key_mask, torch.finfo(scores.dtype).min)
            probs = scores.softmax(dim=-1)
            context = F.dropout(probs, p_drop, self.training) @ v  # (B, N, T, D)
        else:
            # The same computation as one fused kernel (flash / memory-efficient attention).
            probs = None
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=p_drop)
        context = context.transpose(1, 2).reshape(B, T, H)  # (B, N, T, D) -> (B, T, H)
        return self.output(context), probs


class EncoderLayer(nn.Module):
    """One Transformer encoder layer, post-LN as in BERT: x = LN(x + sublayer(x)), twice."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.attention = SelfAttention(config)
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(config.hidden_size, config.intermediate_size)
        self.ffn_out = nn.Linear(config.intermediate_size, config.hidden_size)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(config.hidden_act)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None, return_probs: bool = False):
        attended, probs = self.attention(x, key_mask, return_probs)
        # Out of place on purpose: under autocast the sublayer's output is bf16 and x is fp32, and
        # the sum must be fp32, as in HF (an in-place add would round the residual stream to bf16).
        x = self.attention_norm(x + self.dropout(attended))  # (B, T, H)
        h = self.ffn_out(self.act(self.ffn_in(x)))  # (B, T, 4H) -> (B, T, H)
        x = self.ffn_norm(x + self.dropout(h))
        return x, probs


class Pooler(nn.Module):
    """The sentence vector: the [CLS] token's final state through a dense layer and tanh."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.dense(hidden[:, 0]))  # (B, T, H) -> (B, H)


# ------------------------------------------------------------------------------------------------
# Heads
# ------------------------------------------------------------------------------------------------


class MaskedLMHead(nn.Module):
    """Predicts the token at each position: dense -> activation -> LayerNorm -> the word embeddings
    read backwards (the decoder's weight *is* the input embedding matrix) + a bias per token."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.act = activation(config.hidden_act)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        h = self.norm(self.act(self.dense(hidden)))  # (..., H)
        return F.linear(h, word_embeddings, self.bias)  # (..., V)


# ------------------------------------------------------------------------------------------------
# Outputs (field names as in transformers)
# ------------------------------------------------------------------------------------------------


@dataclass
class BertOutput:
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor | None = None  # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # L + 1 of (B, T, H): embeddings, layers
    attentions: tuple[torch.Tensor, ...] | None = None  # L of (B, N, T, T)


@dataclass
class PreTrainingOutput:
    loss: torch.Tensor | None  # mlm_loss + nsp_loss (whichever labels were given)
    prediction_logits: torch.Tensor  # (B, T, V), or (M, V) at the M labelled positions
    seq_relationship_logits: torch.Tensor  # (B, 2): index 0 IsNext, 1 NotNext
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class MaskedLMOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, T, V), or (M, V) at the M labelled positions
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class SequenceClassifierOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor  # (B, num_labels)
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------


class BertPreTrainedModel(nn.Module):
    """What every bertlab model shares: BERT's initialisation and HF-format checkpoints."""

    config: BertConfig

    def init_weights(self, *modules: nn.Module) -> None:
        """BERT's initialisation: weights ~ N(0, initializer_range), biases 0, LayerNorm 1 and 0.
        Applies to the given submodules (the encoder initialises itself; heads are added after
        it)."""
        std = self.config.initializer_range
        for module in (m for part in (modules or (self,)) for m in part.modules()):
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Embedding) and module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            if isinstance(module, MaskedLMHead):
                nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, folder: str | Path | None = None, **kwargs):
        """Load an HF BERT checkpoint folder (config.json + model.safetensors or pytorch_model.bin).
        With no folder: the embedded pretrained encoder (all-MiniLM-L6-v2).
        See bertlab.checkpoints."""
        from .checkpoints import load_pretrained

        return load_pretrained(cls, folder, **kwargs)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write an HF BERT checkpoint folder that transformers loads with no missing keys."""
        from .checkpoints import save_pretrained

        return save_pretrained(self, folder)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


class BertModel(BertPreTrainedModel):
    """The encoder: embeddings, L encoder layers and (optionally) the pooler."""

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.num_hidden_layers))
        self.pooler = Pooler(config) if add_pooling_layer else None
        self.init_weights()

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> BertOutput:
        """input_ids (B, T) token ids; token_type_ids (B, T) segment ids, 0 for sentence A and 1
        for B (default all 0); attention_mask (B, T), 1 for real tokens and 0 for padding (default
        all 1). output_attentions=True takes the explicit attention path and returns its
        probabilities."""
        token_type_ids, key_mask = check_inputs(
            self.config, input_ids, token_type_ids, attention_mask
        )
        x = self.embeddings(input_ids, token_type_ids)  # (B, T, H)
        # Keep the per-layer tensors only when asked: holding them would stop inference from
        # reusing their memory.
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            x, probs = layer(x, key_mask, return_probs=output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return BertOutput(
            last_hidden_state=x,
            pooler_output=self.pooler(x) if self.pooler is not None else None,
            hidden_states=tuple(hidden_states) if output_hidden_states else None,
            attentions=tuple(attentions) if output_attentions else None,
        )


class BertForPreTraining(BertPreTrainedModel):
    """BERT with both pretraining heads: masked language modelling (MLM) and next sentence
    prediction (NSP)."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm = MaskedLMHead(config)
        self.nsp = nn.Linear(config.hidden_size, 2)
        self.init_weights(self.mlm, self.nsp)

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        labels=None,
        next_sentence_label=None,
        *,
        predict_masked_only: bool = False,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> PreTrainingOutput:
        """labels (B, T): the original token at masked positions, -100 elsewhere.
        next_sentence_label (B,): 0 if B follows A (IsNext), 1 if not. predict_masked_only=True
        computes MLM logits only at the labelled positions, (M, V) in row-major order: the loss is
        the same, and with 15% masking the MLM head costs ~7x less (HF computes all T positions,
        then ignores 85% of them)."""
        out = self.bert(
            input_ids,
            token_type_ids,
            attention_mask,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        hidden, mlm_labels = out.last_hidden_state, labels
        if predict_masked_only:
            hidden, mlm_labels = only_labelled_positions(hidden, labels)  # (M, H), (M,)
        mlm_logits = self.mlm(hidden, self.bert.embeddings.token.weight)  # (B, T, V) or (M, V)
        nsp_logits = self.nsp(out.pooler_output)  # (B, 2)

        mlm_loss = nsp_loss = None
        if labels is not None:
            mlm_loss = masked_lm_loss(mlm_logits, mlm_labels)
        if next_sentence_label is not None:
            nsp_loss = F.cross_entropy(nsp_logits.float(), next_sentence_label.view(-1))
        losses = [l for l in (mlm_loss, nsp_loss) if l is not None]
        return PreTrainingOutput(  # the field names are HF's
            loss=sum(losses) if losses else None,
            prediction_logits=mlm_logits,
            seq_relationship_logits=nsp_logits,
            mlm_loss=mlm_loss,
            nsp_loss=nsp_loss,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )


class BertForMaskedLM(BertPreTrainedModel):
    """BERT with the MLM head only: the fill-mask model ("The [MASK] of Denmark" -> "prince")."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.mlm = MaskedLMHead(config)
        self.init_weights(self.mlm)

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        labels=None,
        *,
        predict_masked_only: bool = False,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> MaskedLMOutput:
        out = self.bert(
            input_ids,
            token_type_ids,
            attention_mask,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        hidden, mlm_labels = out.last_hidden_state, labels
        if predict_masked_only:
            hidden, mlm_labels = only_labelled_positions(hidden, labels)  # (M, H), (M,)
        logits = self.mlm(hidden, self.bert.embeddings.token.weight)
        loss = masked_lm_loss(logits, mlm_labels) if labels is not None else None
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions
        )


class BertForSequenceClassification(BertPreTrainedModel):
    """BERT for a label per sequence: the pooled [CLS] vector -> dropout -> a linear classifier."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        dropout = config.classifier_dropout
        if dropout is None:  # as in HF: the encoder's own dropout rate
            dropout = config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights(self.classifier)

    def forward(
        self,
        input_ids,
        token_type_ids=None,
        attention_mask=None,
        labels=None,
        *,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
    ) -> SequenceClassifierOutput:
        """labels (B,): class indices, or floats for regression when num_labels == 1."""
        out = self.bert(
            input_ids,
            token_type_ids,
            attention_mask,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        logits = self.classifier(self.dropout(out.pooler_output))  # (B, num_labels)
        loss = None
        if labels is not None:
            if self.config.num_labels == 1:
                loss = F.mse_loss(logits.float().squeeze(-1), labels.float())
            else:
                loss = F.cross_entropy(logits.float(), labels.view(-1))
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=out.hidden_states, attentions=out.attentions
        )


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def only_labelled_positions(hidden: torch.Tensor, labels: torch.Tensor | None):
    """The hidden states and labels of the positions that take part in the MLM loss, in row-major
    order: (B, T, H), (B, T) -> (M, H), (M,)."""
    if labels is None:
        raise ValueError(
            "predict_masked_only=True needs labels: they say which positions are masked."
        )
    labelled = labels != IGNORE_INDEX  # (B, T) bool
    return hidden[labelled], labels[labelled]


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled positions only (label -100 = not masked, no loss)."""
    flat_logits = logits.float().reshape(-1, logits.shape[-1])  # (B, T, V) -> (B * T, V)
    return F.cross_entropy(flat_logits, labels.reshape(-1), ignore_index=IGNORE_INDEX)


def check_inputs(config: BertConfig, input_ids, token_type_ids, attention_mask):
    """Turn bad input into a ValueError/TypeError that says what is wrong and how to fix it, rather
    than an index error from deep inside torch (or, on a GPU, a device-side assert).

    Returns token_type_ids (zeros if None) and the attention mask as a (B, 1, 1, T) bool key mask
    (None when every token may be attended to, which lets attention take its fastest kernel)."""
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(
            f"input_ids must be a torch.Tensor of token ids, got {type(input_ids).__name__}; "
            "use the tokenizer with return_tensors='pt', or torch.tensor(ids)."
        )
    if input_ids.dtype not in (torch.long, torch.int, torch.int16, torch.uint8, torch.int8):
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}.")
    if input_ids.dim() != 2:
        raise ValueError(
            f"input_ids must have shape (batch, seq_len), got {tuple(input_ids.shape)}; "
            "for a single sequence use input_ids.unsqueeze(0)."
        )
    B, T = input_ids.shape
    if T > config.max_position_embeddings:
        raise ValueError(
            f"The sequence has {T} tokens, more than max_position_embeddings="
            f"{config.max_position_embeddings}; truncate it (tokenizer max_length) or split it."
        )
    if T == 0:
        raise ValueError("input_ids has no tokens (seq_len 0); a BERT input holds at least [CLS].")
    lo, hi = torch.aminmax(input_ids)
    if lo < 0 or hi >= config.vocab_size:
        bad = int(hi) if hi >= config.vocab_size else int(lo)
        raise ValueError(
            f"Token id {bad} is outside the vocabulary [0, vocab_size={config.vocab_size}); "
            "was the text encoded with another tokenizer's vocab?"
        )
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    else:
        if token_type_ids.shape != input_ids.shape:
            raise ValueError(
                f"token_type_ids has shape {tuple(token_type_ids.shape)}, "
                f"but input_ids has {tuple(input_ids.shape)}; they must match."
            )
        lo, hi = torch.aminmax(token_type_ids)
        if lo < 0 or hi >= config.type_vocab_size:
            bad = int(hi) if hi >= config.type_vocab_size else int(lo)
            raise ValueError(
                f"Segment id {bad} in token_type_ids is outside [0, type_vocab_size="
                f"{config.type_vocab_size}); use 0 for sentence A and 1 for sentence B."
            )
    if attention_mask is None:
        return token_type_ids, None
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != input_ids.shape:
        shape = (
            tuple(attention_mask.shape)
            if isinstance(attention_mask, torch.Tensor)
            else type(attention_mask).__name__
        )
        raise ValueError(
            f"attention_mask has shape {shape}, but it must match input_ids, (batch, seq_len) = "
            f"{(B, T)}: 1 for real tokens, 0 for padding."
        )
    keep = attention_mask.bool()  # (B, T)
    if keep.all():
        return token_type_ids, None
    if not keep.any(dim=1).all():
        row = int((~keep.any(dim=1)).nonzero()[0])
        raise ValueError(
            f"attention_mask row {row} is all 0: that sequence has no token to attend to."
        )
    return token_type_ids, keep[:, None, None, :]  # (B, 1, 1, T)
