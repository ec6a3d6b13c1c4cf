"""Training-free embedding methods: a frozen causal LM read in a cleverer way, no training stage.

Each module of this package is one method: a pooling mode (`t2t.embedding.pooling.PoolingMode`)
that it registers on import, and a `ModelSpec` constructor with zero stages. Importing the package
imports every module in it (`pkgutil`), so a new method is a new module here, with no list to
extend; `POOLING_MODES` holds what they registered. Every process that builds, evaluates or exports
such a model imports it first (`baselines.registration`, through the `t2t.core.plugins` entry
point). Which of them a table shows is the registry's business (`reproduce.paper.registry`); how a
method becomes a row: README, "Add a method". PromptEOL, the training-free row of every table that
is no module here, is the untrained backbone with `last` pooling (`baselines.recipes.zero_shot_model`).
"""

from __future__ import annotations

import importlib
import pkgutil

from baselines.training_free.echo import EchoOptions, echo_model
from baselines.training_free.token_prepending import TokenPrependingOptions, token_prepending_model
from t2t.embedding.pooling import POOLING_MODES as REGISTERED

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

POOLING_MODES = tuple(
    mode for mode in REGISTERED.values() if mode.embed.__module__.startswith(f"{__name__}.")
)
"""The pooling modes this package's modules register."""

__all__ = [
    "POOLING_MODES",
    "EchoOptions",
    "TokenPrependingOptions",
    "echo_model",
    "token_prepending_model",
]
