"""Text2Token as a model spec: the stage list for any order of data-driven (DD) and model-derived (MD).

Defaults are PAPER.md §1: DD then MD, 500 + 200 steps, batch 32, max length 128, AdamW lr 5e-5, no
warmup, clip 1.0, LoRA r16/α32/0.05; stage-1 corpus Wikipedia passages (`pretrain-wiki`), stage-2
corpus and Q(w) samples SimCSE's Wiki1M (`wiki1m`); τ = 1e-4. Scale presets override steps,
batch, lengths and corpora (`reproduce.presets`).

    >>> spec = text2token_model("tiny-llama", order=("md", "dd"), dd_steps=4, md_steps=3)
    >>> [stage.objective for stage in spec.stages]
    ['model-derived', 'data-driven']
"""

from __future__ import annotations

from collections.abc import Sequence

from t2t.backbones import LoraSpec
from t2t.config import ConfigError
from t2t.pooling import PoolingSpec
from t2t.targets.data_driven import DataDrivenTargetConfig
from t2t.targets.model_derived import ModelDerivedConfig
from t2t.training.spec import AttentionMode, ModelSpec, StageSpec

STAGE_NAMES = {"dd": "data-driven", "md": "model-derived"}


def text2token_stages(
    order: Sequence[str] = ("dd", "md"),
    *,
    dd_steps: int = 500,
    md_steps: int = 200,
    batch_size: int = 32,
    max_length: int = 128,
    learning_rate: float = 5e-5,
    dd_corpus: str = "pretrain-wiki",
    md_corpus: str = "wiki1m",
    data_driven: DataDrivenTargetConfig | None = None,
    model_derived: ModelDerivedConfig | None = None,
    lora: LoraSpec | None = None,
) -> list[StageSpec]:
    """Stages in `order` (a sequence of "dd"/"md"; the paper's ablations use each once or alone)."""
    unknown = [name for name in order if name not in STAGE_NAMES]
    if unknown or not order:
        raise ConfigError(f"stage order {list(order)!r}: use a non-empty sequence of {sorted(STAGE_NAMES)}")
    settings = {
        "dd": dict(
            steps=dd_steps, corpus=dd_corpus, options=(data_driven or DataDrivenTargetConfig()).to_dict()
        ),
        "md": dict(
            steps=md_steps, corpus=md_corpus, options=(model_derived or ModelDerivedConfig()).to_dict()
        ),
    }
    return [
        StageSpec(
            objective=STAGE_NAMES[name],
            batch_size=batch_size,
            max_length=max_length,
            learning_rate=learning_rate,
            lora=lora or LoraSpec(),
            **settings[name],
        )
        for name in order
    ]


def text2token_model(
    backbone: str,
    *,
    pooling: str = "last",
    attention: AttentionMode = "causal",
    seed: int = 0,
    **stage_options,
) -> ModelSpec:
    """A Text2Token model spec; `stage_options` go to `text2token_stages`."""
    return ModelSpec(
        backbone=backbone,
        attention=attention,
        pooling=PoolingSpec(mode=pooling),
        stages=tuple(text2token_stages(**stage_options)),
        seed=seed,
    )
