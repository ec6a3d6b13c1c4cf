"""What a training stage optimises: the `Objective` interface and the registry of objectives.

An objective turns a corpus into training items, precomputes what it needs (token targets, a
common distribution), and computes the loss of a local batch. The loop (`t2t.training.loop`) owns
everything else: sampling, optimisation, mixed precision, checkpoints, distribution.

**Registry.** The layer that defines an objective registers it here, so `t2t` never names
`baselines` (`tests/test_architecture.py`); a declaration names the module of its own
implementation. Two steps, each next to what it registers:

- `declare_objective(name, options_class, uses_pooling=..., module=...)`, next to the options class:
  an `ObjectiveInfo`, all a `StageSpec` needs to validate its options and key its artifact. Options
  classes live in light modules, so building, hashing and planning specs never imports an
  implementation's dependencies (spaCy for data-driven targets, peft).
- `@register_objective(name)` on the implementation class, in the declared `module`.
  `get_objective(name)` imports that module when a stage is about to train.

Declared objectives:

- `data-driven`   — Text2Token stage 1 (here; options `t2t.text2token.targets.options`, class `t2t.text2token.objectives`)
- `model-derived` — Text2Token stage 2 (here; options `t2t.text2token.targets.options`, class `t2t.text2token.objectives`)
- `mntp`          — LLM2Vec masked next-token prediction (declared in `baselines.masking`, class in
  `baselines.mntp`)
- `simcse`        — unsupervised SimCSE, dropout views + InfoNCE (`baselines.simcse`)

The baselines' objectives exist once a `baselines` module declaring them is imported;
`reproduce.paper.methods`, which composes the methods, imports them all.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch

from t2t.core.config import Config, ConfigError
from t2t.core.plugins import load_plugins, plugins_hint
from t2t.embedding.pooling import PoolingSpec
from t2t.text2token.targets.options import DataDrivenTargetConfig, ModelDerivedConfig


@dataclasses.dataclass(frozen=True)
class ObjectiveInfo:
    """An objective as a `StageSpec` sees it, without its implementation.

    Attributes:
        name: the `StageSpec.objective` string.
        options_class: the `Config` that validates `StageSpec.options` and fills in defaults.
        uses_pooling: whether the stage's result depends on the pooling (MNTP's does not, so an MNTP
            stage is shared between the last- and mean-pooling variants of a grid).
        module: the module whose import registers the implementation (`@register_objective`).
    """

    name: str
    options_class: type[Config]
    uses_pooling: bool
    module: str


OBJECTIVES: dict[str, ObjectiveInfo] = {}
"""Declared objectives by name (`declare_objective`)."""

_IMPLEMENTATIONS: dict[str, type[Objective]] = {}
ObjectiveT = TypeVar("ObjectiveT", bound="Objective")


def declare_objective(
    name: str, options_class: type[Config], *, uses_pooling: bool = True, module: str
) -> ObjectiveInfo:
    """Make `name` a valid `StageSpec.objective` (see the module docstring). Declaring the same
    objective again is a no-op; a different declaration under a taken name is an error."""
    info = ObjectiveInfo(name, options_class, uses_pooling, module)
    if OBJECTIVES.setdefault(name, info) != info:
        raise ValueError(f"objective {name!r} is already declared as {OBJECTIVES[name]}")
    return info


def register_objective(name: str) -> Callable[[type[ObjectiveT]], type[ObjectiveT]]:
    """Class decorator: the implementation of the declared objective `name`.

    Sets the class's `options_class` and `uses_pooling` from the declaration, so the two cannot
    disagree.

        @register_objective("mntp")
        class MNTPObjective(Objective): ...
    """

    def register(cls: type[ObjectiveT]) -> type[ObjectiveT]:
        info = objective_info(name)
        if cls.__module__ != info.module:
            raise ValueError(f"objective {name!r} is declared in {info.module}, not in {cls.__module__}")
        cls.options_class = info.options_class
        cls.uses_pooling = info.uses_pooling
        _IMPLEMENTATIONS[name] = cls
        return cls

    return register


def objective_info(name: str) -> ObjectiveInfo:
    """The declaration of `name`; a `ConfigError` listing the declared names if there is none.

    A name not declared yet loads the plugins (`t2t.core.plugins`: the modules upper layers register)
    before giving up, so `mntp` and `simcse` are known in any process of the suite.
    """
    if name not in OBJECTIVES:
        load_plugins()
    if name not in OBJECTIVES:
        raise ConfigError(
            f"unknown objective {name!r}; choose one of: {', '.join(sorted(OBJECTIVES))} ({plugins_hint()})"
        )
    return OBJECTIVES[name]


def get_objective(name: str) -> type[Objective]:
    """The implementation class of `name`, importing its declared module on first use."""
    info = objective_info(name)
    if name not in _IMPLEMENTATIONS:
        importlib.import_module(info.module)
    if name not in _IMPLEMENTATIONS:
        raise ConfigError(f"objective {name!r}: importing {info.module} registered no implementation")
    return _IMPLEMENTATIONS[name]


@dataclasses.dataclass
class StageContext:
    """What an objective may know about its stage beyond its own options.

    Attributes:
        model_key: identity of the model this stage starts from (for caches keyed by model).
        autocast_dtype: compute dtype of forward passes (bf16 or fp32).
        rank, world_size: this process's place in a distributed run.
    """

    tokenizer: Any
    pooling: PoolingSpec
    max_length: int
    batch_size: int
    corpus: str
    model_key: str
    seed: int = 0
    autocast_dtype: torch.dtype = torch.float32
    progress: bool = True
    rank: int = 0
    world_size: int = 1


class Objective:
    """Base class. Subclasses implement `loss` and are registered with `@register_objective`, which
    sets `options_class` and `uses_pooling` from the objective's declaration (`ObjectiveInfo`).
    """

    options_class: ClassVar[type[Config]]
    uses_pooling: ClassVar[bool] = True
    #: forward passes with a graph per item and step (SimCSE: two views); sizes the activation memory
    passes_per_item: ClassVar[int] = 1

    def __init__(self, options: Config, context: StageContext) -> None:
        self.options = options
        self.context = context

    def configure_model(self, model: torch.nn.Module) -> None:
        """Adjust the freshly LoRA-wrapped model before training (e.g. dropout). Default: nothing."""

    def items(self, texts: Sequence[str]) -> Sequence[Any]:
        """Training items built from the corpus (default: the texts themselves)."""
        return texts

    def prepare(self, model: torch.nn.Module, items: Sequence[Any], needed: np.ndarray) -> None:
        """Precompute per-item state for the item indices the run will use. Default: nothing."""

    def loss(
        self, model: torch.nn.Module, items: Sequence[Any], indices: Sequence[int]
    ) -> tuple[torch.Tensor, int]:
        """`(mean loss over the local batch, number of input tokens)`."""
        raise NotImplementedError


class ObjectiveModule(torch.nn.Module):
    """`model` + `objective` as one module, so DDP sees the whole loss computation as `forward`."""

    def __init__(self, model: torch.nn.Module, objective: Objective) -> None:
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, items: Sequence[Any], indices: Sequence[int]) -> tuple[torch.Tensor, int]:
        return self.objective.loss(self.model, items, indices)


# Text2Token's own stages (PAPER.md §1). Declared here so that every `StageSpec` can be validated
# as soon as this module is imported; the classes register in `t2t.text2token.objectives`.
declare_objective("data-driven", DataDrivenTargetConfig, module="t2t.text2token.objectives")
declare_objective("model-derived", ModelDerivedConfig, module="t2t.text2token.objectives")
