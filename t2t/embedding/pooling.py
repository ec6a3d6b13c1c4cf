"""From texts to one vector per text: prompt formatting, tokenisation and pooling (PAPER.md §1).

`tokenize` and `embed_batch` dispatch on `PoolingSpec.mode` through the registry of pooling modes
(`PoolingMode`, `register_pooling_mode`, `pooling_mode`), so a new way of embedding is a
registration, not an edit of the shared code path:

    register_pooling_mode(PoolingMode("echo", tokenize=..., embed=..., options_class=EchoOptions))

A mode's settings live in `PoolingSpec.options`, validated and completed with defaults by the mode's
`options_class` (as a stage's objective options are), so two specs that mean the same thing hash
the same, and the modes that have no settings keep their old hashes (`options` is omitted from a
spec's canonical JSON while empty: `t2t.core.config.field_omitted_at_default`). The batch a mode's
`tokenize` returns has `input_ids` and `attention_mask`, shape (batch, seq), and may carry more
(batch, seq) tensors its `embed` reads (e.g. which positions to pool); everything in the batch is
moved to the model's device with it. Methods that only change how a frozen model is read
(training-free embeddings) register their own modes from the layer that defines them: `t2t` never
imports or names that layer (`tests/test_architecture.py`).

This module registers Text2Token's two:

- **last**: the text is wrapped in the PromptEOL template
  `This sentence : "[X]" means in one word:"` and the hidden state of the final real token is the
  embedding. The text (not the template) is truncated so the template always fits.
- **mean**: the raw text, no prompt; the mean of the last layer's hidden states over non-pad
  positions (special tokens the tokenizer adds, such as Llama-3's BOS, are included: see
  `PoolingSpec.mean_skip_bos`).

Empty texts: an empty text is embedded as one special token alone, its EOS (or BOS where EOS is
also the pad token). A tokenizer without BOS (SmolLM2's) turns "" into no token at all, which would
make a zero-width batch (a crash) or a row with nothing to pool (a zero vector that depends on its
batch-mates). `tokenize` gives such a row exactly one real token, so "" has one well-defined
embedding whatever it is batched with. The token is the tokenizer's EOS, except where EOS doubles
as the pad token (SmolLM2's): a pad row of the embedding matrix may be untrained, and is all zeros
in a freshly initialised model, so "" would embed as zeros; then BOS, and the pad token only when
there is nothing else (`empty_text_token`). Under `last` pooling "" is never empty (the prompt
surrounds it).

The same functions serve training (with gradients) and evaluation (`t2t.embedding.encoder`). Other modes
(training-free methods such as echo embeddings) register from the layer that defines them and keep
their settings in `PoolingSpec.options`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from t2t.core.config import Config, ConfigError, field_omitted_at_default


@dataclasses.dataclass(frozen=True)
class NoOptions(Config):
    """The settings of a mode that has none (`last` and `mean` keep theirs on `PoolingSpec`)."""


Tokenize = Callable[[Sequence[str], Any, "PoolingSpec", int], dict[str, torch.Tensor]]
Embed = Callable[[torch.nn.Module, dict[str, torch.Tensor], "PoolingSpec", "int | None"], torch.Tensor]
EmbeddingSize = Callable[[Any], int]


def hidden_size(config: Any) -> int:
    """The embedding size of a mode that pools hidden states: the model's `hidden_size`."""
    return int(config.hidden_size)


@dataclasses.dataclass(frozen=True)
class PoolingMode:
    """One way of turning texts into vectors with a causal LM.

    Attributes:
        name: the `PoolingSpec.mode` string.
        tokenize: `(texts, tokenizer, spec, max_length) -> batch`, padded; `max_length` bounds each
            row, prompt included.
        embed: `(model, batch, spec, bos_token_id) -> (batch, dim)` fp32 embeddings; differentiable.
        embedding_size: `(model config) -> dim`, the width of what `embed` returns (default: the
            hidden size; a mode that reads the LM head's logits would say `vocab_size`). The
            encoder sizes its arrays from it and refuses a batch of another width by name.
        options_class: validates `PoolingSpec.options` and fills in the defaults.
        text_copies: how many times each text appears in its row (an echo prompt repeats it), so
            that token-budget batching can size rows before tokenising.
        builtin_settings: whether the mode reads `PoolingSpec.template` / `mean_skip_bos` (the
            original two modes); other modes take every setting from `options`.
        not_exportable: why a plain sentence-transformers folder cannot reproduce this mode's
            embeddings (`t2t.runs.export` refuses it with this reason); None if it can.
    """

    name: str
    tokenize: Tokenize
    embed: Embed
    embedding_size: EmbeddingSize = hidden_size
    options_class: type[Config] = NoOptions
    text_copies: int = 1
    builtin_settings: bool = False
    not_exportable: str | None = None


POOLING_MODES: dict[str, PoolingMode] = {}
"""Registered modes by name (`register_pooling_mode`)."""


def register_pooling_mode(mode: PoolingMode) -> PoolingMode:
    """Make `mode.name` a valid `PoolingSpec.mode`. Registering the same mode again (a module imported
    twice) is a no-op; a different mode under a taken name is an error."""
    if POOLING_MODES.setdefault(mode.name, mode) != mode:
        raise ValueError(f"pooling mode {mode.name!r} is already registered as {POOLING_MODES[mode.name]}")
    return mode


def pooling_mode(name: str) -> PoolingMode:
    """The registered mode `name`; a `ConfigError` listing the registered names if there is none.

    A name not registered yet loads the plugins first (`t2t.core.plugins`: upper layers register their
    modes from the modules their entry points name), so every process of the suite knows them.
    """
    if name not in POOLING_MODES:
        from t2t.core.plugins import load_plugins, plugins_hint

        load_plugins()
        if name not in POOLING_MODES:
            raise ConfigError(
                f"unknown pooling mode {name!r}; choose one of: {', '.join(sorted(POOLING_MODES))} "
                f"({plugins_hint()})"
            )
    return POOLING_MODES[name]


PROMPT_EOL = 'This sentence : "{text}" means in one word:"'


@dataclasses.dataclass(frozen=True)
class PoolingSpec(Config):
    """How a text becomes one vector.

    Attributes:
        mode: a registered pooling mode (`t2t.embedding.pooling`): `last` (PromptEOL prompt, final
            token) or `mean` (no prompt, mean over tokens), or one registered by another layer.
        template: the prompt for `last` pooling; `{text}` marks the text. Paper: PromptEOL.
        mean_skip_bos: exclude BOS tokens from the mean. Text2Token's paper averages over all
            non-pad positions (default False); llm2vec 0.2.3's `LLM2Vec.encode` averages over the
            text tokens only (its embed mask leaves BOS out), so the LLM2Vec and SimCSE recipes set
            True. Tokenizers that add no BOS (SmolLM2) are unaffected.
        options: the settings of a mode other than `last`/`mean`, completed with the defaults of the
            mode's `options_class`. Empty for `last` and `mean`, and then left out of the canonical
            JSON, so their run ids are those of the configs stored before the field existed.
    """

    mode: str = "last"
    template: str = PROMPT_EOL
    mean_skip_bos: bool = False
    options: dict[str, Any] = field_omitted_at_default(default_factory=dict)

    def __post_init__(self) -> None:
        mode = pooling_mode(self.mode)
        completed = mode.options_class.from_dict(self.options, where=f"{self.mode} pooling options")
        object.__setattr__(self, "options", completed.to_dict())
        if not mode.builtin_settings and (self.template != PROMPT_EOL or self.mean_skip_bos):
            raise ConfigError(
                f"template and mean_skip_bos are settings of the last and mean poolings; {self.mode!r} "
                f"takes its settings in options ({', '.join(sorted(completed.to_dict())) or 'none'})"
            )
        if self.mode == "last" and self.template.count("{text}") != 1:
            raise ValueError("template must contain '{text}' exactly once")


def format_texts(texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int) -> list[str]:
    """Apply the pooling's prompt; under `last`, cut each text so the template always fits.

    The budget is `max_length` minus the template's own tokens (with the tokenizer's special tokens),
    minus 2 tokens of slack for merges at the joins. Texts are cut on token boundaries and decoded
    back, so the whole prompt is tokenised jointly as the model would see it.
    """
    if spec.mode not in ("last", "mean"):
        raise ValueError(f"format_texts formats the last and mean poolings, not {spec.mode!r}")
    if spec.mode == "mean":
        return list(texts)
    prefix, suffix = spec.template.split("{text}")
    template_tokens = len(tokenizer(prefix + suffix).input_ids)
    budget = max(1, max_length - template_tokens - 2)
    return [prefix + text + suffix for text in cut_to_tokens(texts, tokenizer, budget)]


def cut_to_tokens(texts: Sequence[str], tokenizer, budget: int) -> list[str]:
    """Each text cut to its first `budget` tokens (no special tokens), on token boundaries and decoded
    back; texts within the budget are returned unchanged."""
    encoded = tokenizer(list(texts), add_special_tokens=False).input_ids
    return [
        tokenizer.decode(ids[:budget]) if len(ids) > budget else text for text, ids in zip(texts, encoded)
    ]


def tokenize(texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int) -> dict[str, torch.Tensor]:
    """Tokenise a batch for `spec.mode`, padded: `input_ids`, `attention_mask` of shape (batch, seq),
    and whatever else the mode's `embed` reads (`t2t.embedding.pooling`)."""
    return pooling_mode(spec.mode).tokenize(texts, tokenizer, spec, max_length)


def tokenize_prompt_or_text(
    texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int
) -> dict[str, torch.Tensor]:
    """`last` and `mean`: format (`format_texts`) and tokenise a batch, padded.

    Rows left with no token (an empty text under `mean` pooling) get the EOS token alone; see
    `fill_empty_rows`. Every other row is exactly what the tokenizer returns.
    """
    formatted = format_texts(texts, tokenizer, spec, max_length)
    batch = tokenizer(
        formatted,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return fill_empty_rows(batch["input_ids"], batch["attention_mask"], tokenizer)


def empty_text_token(tokenizer) -> int:
    """The one token an empty text is embedded as: EOS, else BOS, else the pad token.

    A candidate equal to the pad id is passed over while another exists: a pad token's embedding
    may be untrained, and a freshly initialised model zeroes it (`nn.Embedding(padding_idx=...)`).
    """
    pad = tokenizer.pad_token_id
    candidates = [t for t in (tokenizer.eos_token_id, tokenizer.bos_token_id) if t is not None]
    for token_id in [*[t for t in candidates if t != pad], *candidates, pad]:
        if token_id is not None:
            return int(token_id)
    raise ValueError("the tokenizer has no EOS, BOS or pad token to stand for an empty text")


def fill_empty_rows(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer
) -> dict[str, torch.Tensor]:
    """Give every row without a real token one: `empty_text_token`, with attention mask 1.

    It goes where the row's first real token would be: index 0 under right padding, the last index
    under left padding. A batch of only empty texts (width 0) is widened to width 1 first. Rows with
    tokens are returned unchanged, so non-empty texts tokenise exactly as the tokenizer does.
    """
    empty = attention_mask.sum(dim=1) == 0
    if not bool(empty.any()):
        return {"input_ids": input_ids, "attention_mask": attention_mask}
    token = empty_text_token(tokenizer)
    if input_ids.shape[1] == 0:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else token
        input_ids = torch.full((input_ids.shape[0], 1), pad, dtype=input_ids.dtype)
        attention_mask = torch.zeros((attention_mask.shape[0], 1), dtype=attention_mask.dtype)
    else:
        input_ids, attention_mask = input_ids.clone(), attention_mask.clone()
    position = -1 if getattr(tokenizer, "padding_side", "right") == "left" else 0
    input_ids[empty, position] = token
    attention_mask[empty, position] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask}


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row (works for left or right padding). Shape (batch,)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(dim=1)


def pool(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    spec: PoolingSpec,
    bos_token_id: int | None = None,
    input_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pool `hidden` (batch, seq, dim) into (batch, dim), in fp32.

    `last`: the hidden state at each row's last real position.
    `mean`: masked mean over real positions (optionally without BOS tokens). A row whose only real
    tokens are BOS (an empty text under a tokenizer that adds BOS) keeps them: skipping them would
    leave nothing to average and make the embedding a zero vector.
    """
    if spec.mode == "last":
        index = last_token_index(attention_mask)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), index].float()
    if spec.mode != "mean":
        raise ValueError(f"pool computes the last and mean poolings, not {spec.mode!r}")
    mask = attention_mask.float()
    if spec.mean_skip_bos and bos_token_id is not None and input_ids is not None:
        text_only = mask * (input_ids != bos_token_id).float()
        only_bos = text_only.sum(dim=1, keepdim=True) == 0
        mask = torch.where(only_bos, mask, text_only)
    mask = mask.unsqueeze(-1)
    return (hidden.float() * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def hidden_states_module(model: torch.nn.Module) -> torch.nn.Module:
    """The module that maps `input_ids` to last-layer hidden states.

    For a causal LM (optionally wrapped by peft) this is its decoder stack, so we never pay for the
    `(batch, seq, vocab)` logits when only the pooled state is needed. LoRA layers live inside the
    decoder, so adapters (and `disable_adapter()`) still apply.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    return decoder if decoder is not None and decoder is not base else base


def lm_head(model: torch.nn.Module) -> torch.nn.Module:
    """The (frozen) output projection `W_lm` of a causal LM, through a peft wrapper if present."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_output_embeddings()


def embed_batch(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], spec: PoolingSpec, bos_token_id: int | None = None
) -> torch.Tensor:
    """Pooled embeddings (batch, dim) of a batch `tokenize` made, by `spec.mode`; differentiable."""
    return pooling_mode(spec.mode).embed(model, batch, spec, bos_token_id)


def embed_last_or_mean(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], spec: PoolingSpec, bos_token_id: int | None = None
) -> torch.Tensor:
    """`last` and `mean`: pool the last layer's hidden states (`pool`)."""
    hidden = hidden_states_module(model)(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    return pool(hidden, batch["attention_mask"], spec, bos_token_id, batch["input_ids"])


register_pooling_mode(PoolingMode("last", tokenize_prompt_or_text, embed_last_or_mean, builtin_settings=True))
register_pooling_mode(PoolingMode("mean", tokenize_prompt_or_text, embed_last_or_mean, builtin_settings=True))
