"""The baselines as model specs: zero-shot, LLM2Vec (unsupervised), SimCSE (PAPER.md §2).

Plain functions with keyword arguments; the defaults are the paper settings, and a registry of scale
presets overrides steps, batch sizes, lengths and corpora:

    zero-shot  : the backbone, no stages
    LLM2Vec    : bidirectional attention + MNTP (1000 steps, batch 32, blocks of 512, lr 5e-5,
                 WikiText-103) + merge + SimCSE (1000 steps, batch 128, length 128, lr 3e-5,
                 attention dropout 0.3, τ 0.05, Wiki1M), mean pooling
    SimCSE     : LLM2Vec's SimCSE step on the raw backbone (no MNTP)

Optimiser settings match llm2vec's runs (`train_configs/{mntp,simcse}/*.json` on HF Trainer
defaults): AdamW, weight decay 0, no warmup, grad clip 1.0, LoRA r=16/α=32/dropout 0.05 on all seven
projections. One difference: HF's Trainer decays the learning rate linearly over 3 epochs and
llm2vec stops after 1000 steps, i.e. at ~95% of the peak; our loop keeps it constant.

    >>> spec = llm2vec_model("tiny-mistral", mntp_steps=4, mntp_batch_size=4, mntp_max_length=64,
    ...                      mntp_corpus="wikitext2-sentences", simcse_steps=4, simcse_batch_size=8,
    ...                      simcse_max_length=32, simcse_corpus="wikitext2-sentences")
    >>> spec.stages[0].options["masking"]                  # Mistral: 0.8, all-mask
    'all-mask'
"""

from __future__ import annotations

import logging

from baselines.masking import MNTPConfig, mntp_defaults
from baselines.simcse import SimCSEConfig
from t2t.backbones import LoraSpec, resolve_preset
from t2t.pooling import PoolingSpec
from t2t.training.spec import AttentionMode, ModelSpec, StageSpec

logger = logging.getLogger(__name__)

MEAN = PoolingSpec(mode="mean", mean_skip_bos=True)  # LLM2Vec.encode averages text tokens only
LLM2VEC_LORA = LoraSpec(r=16, alpha=32, dropout=0.05)  # all seven projections (LoraSpec default)


def backbone_architecture(backbone: str) -> str:
    """`llama`, `mistral`, ... of a preset, or the `model_type` of a local/cached HF config."""
    architecture = resolve_preset(backbone).architecture
    if architecture != "auto":
        return architecture
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(backbone).model_type
    except (OSError, ValueError):
        logger.warning("cannot read the config of %s; MNTP uses the Llama defaults", backbone)
        return "auto"


def mntp_stage(
    backbone: str,
    *,
    steps: int = 1000,
    batch_size: int = 32,
    max_length: int = 512,
    learning_rate: float = 5e-5,
    corpus: str = "wikitext-103",
    options: MNTPConfig | None = None,
    lora: LoraSpec = LLM2VEC_LORA,
) -> StageSpec:
    """LLM2Vec's MNTP stage; `options` default to LLM2Vec's setting for the backbone's architecture."""
    options = options or mntp_defaults(backbone_architecture(backbone))
    return StageSpec(
        objective="mntp",
        steps=steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        corpus=corpus,
        lora=lora,
        options=options.to_dict(),
    )


def simcse_stage(
    *,
    steps: int = 1000,
    batch_size: int = 128,
    max_length: int = 128,
    learning_rate: float = 3e-5,
    corpus: str = "wiki1m",
    dropout: float = 0.3,
    temperature: float = 0.05,
    gather_negatives: bool = True,
    lora: LoraSpec = LLM2VEC_LORA,
) -> StageSpec:
    """LLM2Vec's unsupervised SimCSE stage (attention dropout 0.3, τ = 0.05, in-batch negatives)."""
    options = SimCSEConfig(dropout=dropout, temperature=temperature, gather_negatives=gather_negatives)
    return StageSpec(
        objective="simcse",
        steps=steps,
        learning_rate=learning_rate,
        batch_size=batch_size,
        max_length=max_length,
        corpus=corpus,
        lora=lora,
        options=options.to_dict(),
    )


def llm2vec_stages(
    backbone: str,
    *,
    mntp_steps: int = 1000,
    mntp_batch_size: int = 32,
    mntp_max_length: int = 512,
    mntp_corpus: str = "wikitext-103",
    simcse_steps: int = 1000,
    simcse_batch_size: int = 128,
    simcse_max_length: int = 128,
    simcse_corpus: str = "wiki1m",
    lora: LoraSpec = LLM2VEC_LORA,
) -> list[StageSpec]:
    """LLM2Vec's two stages: MNTP (per-backbone masking), then SimCSE on the merged MNTP model."""
    return [
        mntp_stage(
            backbone,
            steps=mntp_steps,
            batch_size=mntp_batch_size,
            max_length=mntp_max_length,
            corpus=mntp_corpus,
            lora=lora,
        ),
        simcse_stage(
            steps=simcse_steps,
            batch_size=simcse_batch_size,
            max_length=simcse_max_length,
            corpus=simcse_corpus,
            lora=lora,
        ),
    ]


def simcse_stages(
    *,
    steps: int = 1000,
    batch_size: int = 128,
    max_length: int = 128,
    corpus: str = "wiki1m",
    lora: LoraSpec = LLM2VEC_LORA,
) -> list[StageSpec]:
    """The SimCSE row: LLM2Vec's SimCSE step alone, on the raw backbone."""
    return [simcse_stage(steps=steps, batch_size=batch_size, max_length=max_length, corpus=corpus, lora=lora)]


def zero_shot_stages() -> list[StageSpec]:
    """The zero-shot ("bare") row trains nothing."""
    return []


def llm2vec_model(
    backbone: str,
    *,
    pooling: PoolingSpec = MEAN,
    attention: AttentionMode = "bidirectional",
    seed: int = 0,
    **stage_overrides,
) -> ModelSpec:
    """LLM2Vec (unsupervised) on `backbone`; `stage_overrides` go to `llm2vec_stages`."""
    return ModelSpec(
        backbone=backbone,
        attention=attention,
        pooling=pooling,
        stages=tuple(llm2vec_stages(backbone, **stage_overrides)),
        seed=seed,
    )


def simcse_model(
    backbone: str,
    *,
    pooling: PoolingSpec = MEAN,
    attention: AttentionMode = "bidirectional",
    seed: int = 0,
    **stage_overrides,
) -> ModelSpec:
    """SimCSE (unsupervised) on `backbone`: bidirectional + mean like LLM2Vec's step, without MNTP."""
    return ModelSpec(
        backbone=backbone,
        attention=attention,
        pooling=pooling,
        stages=tuple(simcse_stages(**stage_overrides)),
        seed=seed,
    )


def zero_shot_model(
    backbone: str, *, pooling: PoolingSpec = MEAN, attention: AttentionMode = "causal", seed: int = 0
) -> ModelSpec:
    """The untrained backbone with a pooling and an attention mode."""
    return ModelSpec(backbone=backbone, attention=attention, pooling=pooling, stages=(), seed=seed)
