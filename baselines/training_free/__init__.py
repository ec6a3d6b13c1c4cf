"""Training-free embedding methods: a frozen causal LM read in a cleverer way, no training stage.

Each method is a pooling mode (`t2t.embedding.pooling`) that its module registers on import, plus a
`ModelSpec` constructor with zero stages:

- `echo`: echo embeddings (Springer et al. 2024), `baselines.training_free.echo`;
- `token-prepending`: Token Prepending (Fu et al. 2024), `baselines.training_free.token_prepending`.

Importing this package registers all of them: every process that builds, evaluates or exports such
a model must import it first (`reproduce.paper.methods` does). PromptEOL, the third training-free method
in the tables, is the untrained backbone with `last` pooling (`baselines.recipes.zero_shot_model`).
"""

from __future__ import annotations

from baselines.training_free.echo import ECHO, EchoOptions, echo_model
from baselines.training_free.token_prepending import (
    TOKEN_PREPENDING,
    TokenPrependingOptions,
    token_prepending_model,
)

POOLING_MODES = (ECHO, TOKEN_PREPENDING)
"""The pooling modes this package registers."""

__all__ = [
    "POOLING_MODES",
    "EchoOptions",
    "TokenPrependingOptions",
    "echo_model",
    "token_prepending_model",
]
