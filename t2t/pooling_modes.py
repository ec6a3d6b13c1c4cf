"""The registry of pooling modes: how texts become model inputs, and hidden states one vector each.

`PoolingSpec.mode` names a `PoolingMode`. Tokenising and embedding (`t2t.pooling.tokenize`,
`t2t.pooling.embed_batch`, hence the `Embedder`, the training objectives and export) look the mode
up here and call its functions, so a new way of embedding is a registration, not an edit of the
shared code path:

    register_pooling_mode(PoolingMode("echo", tokenize=..., embed=..., options_class=EchoOptions))

- `last` and `mean` (PromptEOL last token; mean of the raw text) are registered by `t2t.pooling`.
- Methods that only change how a frozen model is read (training-free embeddings) register their
  own modes from the layer that defines them: `t2t` never imports or names that layer
  (`tests/test_architecture.py`). A process that builds or evaluates such a model must have imported
  the module that registers its mode; the layer that composes methods does (see `unknown_mode`).

A mode's settings live in `PoolingSpec.options`, validated and completed with defaults by the mode's
`options_class` (as a stage's objective options are), so two specs that mean the same thing hash
the same, and the modes that have no settings keep their old hashes (`options` is omitted from a
spec's canonical JSON while empty: `t2t.config.field_omitted_at_default`).

The batch a mode's `tokenize` returns has `input_ids` and `attention_mask`, shape (batch, seq), and
may carry more (batch, seq) tensors its `embed` reads (e.g. which positions to pool). Everything in
the batch is moved to the model's device with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch

from t2t.config import Config, ConfigError

if TYPE_CHECKING:
    from t2t.pooling import PoolingSpec


@dataclasses.dataclass(frozen=True)
class NoOptions(Config):
    """The settings of a mode that has none (`last` and `mean` keep theirs on `PoolingSpec`)."""


Tokenize = Callable[[Sequence[str], Any, "PoolingSpec", int], dict[str, torch.Tensor]]
Embed = Callable[[torch.nn.Module, dict[str, torch.Tensor], "PoolingSpec", "int | None"], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class PoolingMode:
    """One way of turning texts into vectors with a causal LM.

    Attributes:
        name: the `PoolingSpec.mode` string.
        tokenize: `(texts, tokenizer, spec, max_length) -> batch`, padded; `max_length` bounds each
            row, prompt included.
        embed: `(model, batch, spec, bos_token_id) -> (batch, dim)` fp32 embeddings; differentiable.
        options_class: validates `PoolingSpec.options` and fills in the defaults.
        text_copies: how many times each text appears in its row (an echo prompt repeats it), so
            that token-budget batching can size rows before tokenising.
        builtin_settings: whether the mode reads `PoolingSpec.template` / `mean_skip_bos` (the
            original two modes); other modes take every setting from `options`.
        not_exportable: why a plain sentence-transformers folder cannot reproduce this mode's
            embeddings (`t2t.export` refuses it with this reason); None if it can.
    """

    name: str
    tokenize: Tokenize
    embed: Embed
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

    A name not registered yet loads the plugins first (`t2t.plugins`: upper layers register their
    modes from the modules their entry points name), so every process of the suite knows them.
    """
    if name not in POOLING_MODES:
        from t2t.plugins import load_plugins, plugins_hint

        load_plugins()
        if name not in POOLING_MODES:
            raise ConfigError(
                f"unknown pooling mode {name!r}; choose one of: {', '.join(sorted(POOLING_MODES))} "
                f"({plugins_hint()})"
            )
    return POOLING_MODES[name]
