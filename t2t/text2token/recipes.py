"""Text2Token as a model spec: the stage list for any order of data-driven (DD) and model-derived (MD).

`Text2TokenSettings` holds the paper's settings (PAPER.md §1) as its defaults; the scale presets
(`reproduce.paper.presets`) override some fields, never restate them. `text2token_model` turns a backbone,
a pooling, an attention mode, a stage order and the settings into a `ModelSpec`.

    >>> spec = text2token_model("tiny-llama", order=("md", "dd"),
    ...                         settings=Text2TokenSettings(dd_steps=4, md_steps=3))
    >>> [stage.objective for stage in spec.stages]
    ['model-derived', 'data-driven']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from t2t.core.config import Config, ConfigError
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbones import AttentionMode, LoraSpec
from t2t.text2token.targets.options import DataDrivenTargetConfig, ModelDerivedConfig
from t2t.training.spec import ModelSpec, StageSpec

STAGE_NAMES = {"dd": "data-driven", "md": "model-derived"}


@dataclasses.dataclass(frozen=True)
class Text2TokenSettings(Config):
    """Text2Token's training settings; the defaults are the paper's (PAPER.md §1).

    Attributes:
        dd_steps: data-driven (stage 1) optimiser steps. Paper: 500.
        md_steps: model-derived (stage 2) optimiser steps. Paper: 200.
        batch_size: global batch of both stages. Paper: 32.
        max_length: training token budget per text. Paper: 128.
        learning_rate: AdamW, constant, no warmup, weight decay 0, clip 1.0. Paper: 5e-5.
        dd_corpus: stage-1 corpus. Paper: Wikipedia passages (`pretrain-wiki`).
        md_corpus: stage-2 corpus, also the Q(w) samples'. Paper: SimCSE's Wiki1M (`wiki1m`).
        data_driven: stage-1 target options (paper: TF-IDF over nouns, proper nouns, adjectives).
        model_derived: stage-2 target options: τ = 1e-4 and N, the samples for Q(w) (10,000; the
            paper finds 10K-100K enough), see `ModelDerivedConfig`.
        lora: a fresh adapter per stage, merged after it. Paper: r 16, α 32, dropout 0.05.
    """

    dd_steps: int = 500
    md_steps: int = 200
    batch_size: int = 32
    max_length: int = 128
    learning_rate: float = 5e-5
    dd_corpus: str = "pretrain-wiki"
    md_corpus: str = "wiki1m"
    data_driven: DataDrivenTargetConfig = DataDrivenTargetConfig()
    model_derived: ModelDerivedConfig = ModelDerivedConfig()
    lora: LoraSpec = LoraSpec()


PAPER_SETTINGS = Text2TokenSettings()


def text2token_stages(
    order: Sequence[str] = ("dd", "md"), settings: Text2TokenSettings = PAPER_SETTINGS
) -> list[StageSpec]:
    """Stages in `order` (a sequence of "dd"/"md"; the paper's ablations use each once or alone)."""
    unknown = [name for name in order if name not in STAGE_NAMES]
    if unknown or not order:
        raise ConfigError(f"stage order {list(order)!r}: use a non-empty sequence of {sorted(STAGE_NAMES)}")
    per_stage = {
        "dd": dict(
            steps=settings.dd_steps, corpus=settings.dd_corpus, options=settings.data_driven.to_dict()
        ),
        "md": dict(
            steps=settings.md_steps, corpus=settings.md_corpus, options=settings.model_derived.to_dict()
        ),
    }
    return [
        StageSpec(
            objective=STAGE_NAMES[name],
            batch_size=settings.batch_size,
            max_length=settings.max_length,
            learning_rate=settings.learning_rate,
            lora=settings.lora,
            **per_stage[name],
        )
        for name in order
    ]


def text2token_model(
    backbone: str,
    *,
    pooling: str = "last",
    attention: AttentionMode = "causal",
    seed: int = 0,
    order: Sequence[str] = ("dd", "md"),
    settings: Text2TokenSettings = PAPER_SETTINGS,
) -> ModelSpec:
    """A Text2Token model spec: `backbone` trained with the stages `order` under `settings`."""
    return ModelSpec(
        backbone=backbone,
        attention=attention,
        pooling=PoolingSpec(mode=pooling),
        stages=tuple(text2token_stages(order, settings)),
        seed=seed,
    )
