"""The identity of a trained model: backbone, attention, pooling and a list of stages.

A `ModelSpec` with no stages is the zero-shot backbone; one with a `searcher` is not a decoder at
all (`t2t.evaluation.searchers`: BM25 ranks documents itself). Each `StageSpec` names its objective,
steps, optimiser settings, corpus and LoRA, plus objective-specific `options` that are validated
and completed with defaults by the objective's own config class, so two specs that mean the same
thing hash the same. Only the objective's declaration is consulted (`objective_info`: its options
class and whether it pools), never its implementation, so building a spec imports no spaCy or peft.

Stage `i`'s artifact is keyed by `ModelSpec.stage_key(i)`: a hash of everything that determines it
(the backbone, attention, seed, stages `0..i`, and the pooling only if one of those stages pools).
So the stage-1 model of "DD only" and of "DD→MD" is trained once, and an MNTP stage is shared by
LLM2Vec's last- and mean-pooling variants.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from t2t.core.config import Config, ConfigError, field_omitted_at_default, stable_hash
from t2t.embedding.pooling import PoolingSpec
from t2t.evaluation.searchers import SearcherSpec
from t2t.models.backbones import AttentionMode, LoraSpec
from t2t.training.objective import objective_info


@dataclasses.dataclass(frozen=True)
class StageSpec(Config):
    """One training stage. Defaults are PAPER.md §1's Text2Token settings.

    Attributes:
        objective: a declared objective (`t2t.training.objective.OBJECTIVES`): `data-driven`,
            `model-derived`, or once `baselines` is imported `mntp` and `simcse`.
        steps: optimiser steps (paper: 500 data-driven, then 200 model-derived).
        learning_rate: AdamW, constant (paper: 5e-5, no warmup, weight decay 0).
        batch_size: global batch (split across processes when distributed).
        max_length: training token budget per text (paper: 128).
        corpus: a name from `t2t.training.corpus.CORPORA`.
        lora: a fresh adapter for this stage; merged into the backbone afterwards.
        grad_clip: max gradient norm (paper: 1.0).
        options: objective-specific settings, completed with the objective's defaults.
    """

    objective: str
    steps: int
    learning_rate: float = 5e-5
    batch_size: int = 32
    max_length: int = 128
    corpus: str = "wiki1m"
    lora: LoraSpec = LoraSpec()
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        info = objective_info(self.objective)
        completed = info.options_class.from_dict(self.options, where=f"{self.objective} options")
        object.__setattr__(self, "options", completed.to_dict())
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError("steps must be >= 0 and batch_size >= 1")

    def options_config(self) -> Config:
        return objective_info(self.objective).options_class.from_dict(self.options)


@dataclasses.dataclass(frozen=True)
class ModelSpec(Config):
    """A backbone and the stages trained on it (none = zero-shot).

    Attributes:
        backbone: preset name, HF id or local folder (`t2t.models.backbones`).
        attention: `causal` or `bidirectional`, used in training and evaluation.
        pooling: used by every stage that pools and by evaluation.
        stages: trained in order; LoRA merged between stages.
        seed: data order, LoRA init, dropout.
        searcher: a model that ranks documents itself instead of the backbone read as an encoder
            (`t2t.evaluation.searchers`: BM25); it trains nothing, and `backbone` then only names the table
            column it stands in. None (omitted from the hash) for every decoder model.
    """

    backbone: str
    attention: AttentionMode = "causal"
    pooling: PoolingSpec = PoolingSpec()
    stages: tuple[StageSpec, ...] = ()
    seed: int = 0
    searcher: SearcherSpec | None = field_omitted_at_default(default=None)

    def __post_init__(self) -> None:
        if self.searcher is not None and self.stages:
            raise ConfigError(
                f"ModelSpec: the searcher {self.searcher.name!r} trains nothing, so it takes no stages"
            )

    def stage_key(self, index: int) -> str:
        """Artifact key of the model after stage `index` (see module docstring)."""
        prefix = self.stages[: index + 1]
        pools = any(objective_info(stage.objective).uses_pooling for stage in prefix)
        return stable_hash(
            {
                "backbone": self.backbone,
                "attention": self.attention,
                "seed": self.seed,
                "pooling": self.pooling.to_dict() if pools else None,
                "stages": [stage.to_dict() for stage in prefix],
            }
        )

    def base_key(self) -> str:
        return stable_hash({"backbone": self.backbone, "attention": self.attention})

    def key_before(self, index: int) -> str:
        """Key of the model a stage starts from (the backbone for stage 0)."""
        return self.base_key() if index == 0 else self.stage_key(index - 1)
