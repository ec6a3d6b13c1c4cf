"""What a training stage optimises: the `Objective` interface and the registry of objectives.

An objective turns a corpus into training items, precomputes what it needs (token targets, a
common distribution), and computes the loss of a local batch. The loop (`t2t.training.loop`) owns
everything else: sampling, optimisation, mixed precision, checkpoints, distribution.

Registered objectives (name -> class, imported lazily so `baselines` can build on `t2t`):

- `data-driven`  — Text2Token stage with TF-IDF/POS or uniform non-stopword targets (`t2t.objectives`)
- `model-derived` — Text2Token stage with ratio-filtered model targets (`t2t.objectives`)
- `mntp`          — LLM2Vec masked next-token prediction (`baselines.mntp`)
- `simcse`        — unsupervised SimCSE, dropout views + InfoNCE (`baselines.simcse`)
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from t2t.config import Config, choose
from t2t.pooling import PoolingSpec

OBJECTIVES: dict[str, str] = {
    "data-driven": "t2t.objectives:DataDrivenObjective",
    "model-derived": "t2t.objectives:ModelDerivedObjective",
    "mntp": "baselines.mntp:MNTPObjective",
    "simcse": "baselines.simcse:SimCSEObjective",
}


def get_objective(name: str) -> type[Objective]:
    module, _, attribute = choose(OBJECTIVES, name, "objective").partition(":")
    return getattr(importlib.import_module(module), attribute)


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
    """Base class. Subclasses set `options_class` and implement `loss`.

    `uses_pooling`: whether the stage's result depends on the pooling (MNTP's does not, so an MNTP
    stage is shared between the last- and mean-pooling variants of a grid).
    """

    options_class: ClassVar[type[Config]]
    uses_pooling: ClassVar[bool] = True

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
