"""The baselines as model specs: zero-shot, LLM2Vec (unsupervised), SimCSE (PAPER.md §2).

Plain functions of one settings object, `LLM2VecSettings`, whose defaults are the paper's; the scale
presets (`reproduce.paper.presets`) override steps, batch sizes, lengths and corpora:

    zero-shot  : the backbone, no stages
    LLM2Vec    : bidirectional attention + MNTP (1000 steps, batch 32, blocks of 512, lr 5e-5,
                 WikiText-103) + merge + SimCSE (1000 steps, batch 128, length 128, lr 3e-5,
                 attention dropout 0.3, τ 0.05, Wiki1M), mean pooling
    SimCSE     : LLM2Vec's SimCSE step on the raw backbone (no MNTP)

Optimiser settings match llm2vec's runs (`train_configs/{mntp,simcse}/*.json` on HF Trainer
defaults): AdamW, weight decay 0, no warmup, grad clip 1.0, LoRA r=16/α=32/dropout 0.05 on all seven
projections. One difference: HF's Trainer decays the learning rate linearly over 3 epochs and
llm2vec stops after 1000 steps, i.e. at ~95% of the peak; our loop keeps it constant.

    >>> small = LLM2VecSettings(mntp_steps=4, mntp_batch_size=4, mntp_max_length=64, simcse_steps=4,
    ...                         simcse_batch_size=8, simcse_max_length=32)
    >>> spec = llm2vec_model("tiny-mistral", settings=small)
    >>> spec.stages[0].options["masking"]                  # Mistral: 0.8, all-mask
    'all-mask'
"""

from __future__ import annotations

import dataclasses
import logging

from baselines.masking import MNTPConfig, mntp_defaults
from baselines.simcse import SimCSEConfig
from t2t.core.config import Config, ConfigError
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbones import AttentionMode, LoraSpec, resolve_backbone
from t2t.training.spec import ModelSpec, StageSpec

logger = logging.getLogger(__name__)

MEAN = PoolingSpec(mode="mean", mean_skip_bos=True)  # LLM2Vec.encode averages text tokens only
LLM2VEC_LORA = LoraSpec(r=16, alpha=32, dropout=0.05)  # all seven projections (LoraSpec default)


@dataclasses.dataclass(frozen=True)
class LLM2VecSettings(Config):
    """LLM2Vec's (and the SimCSE row's) training settings. The defaults are the paper's, i.e. llm2vec's
    `train_configs/mntp/*.json` and `train_configs/simcse/*.json` (PAPER.md §2); a scale preset
    overrides some fields (`reproduce.paper.presets`), never restates them.

    Attributes:
        mntp_steps: MNTP optimiser steps (llm2vec `max_steps` 1000).
        mntp_batch_size: global MNTP batch (llm2vec: 32).
        mntp_max_length: tokens per packed MNTP block (llm2vec `max_seq_length` 512).
        mntp_learning_rate: AdamW, constant here (llm2vec: 5e-5, see the module docstring).
        mntp_corpus: MNTP corpus (llm2vec: WikiText-103).
        simcse_steps: SimCSE optimiser steps (llm2vec: 1000).
        simcse_batch_size: global SimCSE batch, the in-batch negatives (llm2vec: 128).
        simcse_max_length: token budget per text (llm2vec: 128).
        simcse_learning_rate: AdamW, constant (llm2vec: 3e-5).
        simcse_corpus: SimCSE corpus (llm2vec: SimCSE's Wiki1M sentences).
        simcse_options: attention dropout 0.3, τ 0.05, gathered negatives (`SimCSEConfig`'s defaults).
        lora: both stages' adapter (llm2vec: r 16, α 32, dropout 0.05, all seven projections).

    MNTP's masking is not a setting: it follows the backbone (`baselines.masking.mntp_defaults`).
    """

    mntp_steps: int = 1000
    mntp_batch_size: int = 32
    mntp_max_length: int = 512
    mntp_learning_rate: float = 5e-5
    mntp_corpus: str = "wikitext-103"
    simcse_steps: int = 1000
    simcse_batch_size: int = 128
    simcse_max_length: int = 128
    simcse_learning_rate: float = 3e-5
    simcse_corpus: str = "wiki1m"
    simcse_options: SimCSEConfig = SimCSEConfig()
    lora: LoraSpec = LLM2VEC_LORA


PAPER_SETTINGS = LLM2VecSettings()


def backbone_architecture(backbone: str) -> str:
    """`llama`, `mistral`, ... of a preset, or the `model_type` of a local/cached HF config."""
    architecture = resolve_backbone(backbone).architecture
    if architecture != "auto":
        return architecture
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(backbone).model_type
    except (OSError, ValueError) as error:
        raise ConfigError(
            f"cannot read the config of {backbone} to choose LLM2Vec's MNTP masking for its architecture "
            f"({error}); download the model (or point --backbone at its folder) first"
        ) from None


def mntp_stage(
    backbone: str, settings: LLM2VecSettings = PAPER_SETTINGS, options: MNTPConfig | None = None
) -> StageSpec:
    """LLM2Vec's MNTP stage; `options` default to LLM2Vec's setting for the backbone's architecture."""
    options = options or mntp_defaults(backbone_architecture(backbone))
    return StageSpec(
        objective="mntp",
        steps=settings.mntp_steps,
        learning_rate=settings.mntp_learning_rate,
        batch_size=settings.mntp_batch_size,
        max_length=settings.mntp_max_length,
        corpus=settings.mntp_corpus,
        lora=settings.lora,
        options=options.to_dict(),
    )


def simcse_stage(settings: LLM2VecSettings = PAPER_SETTINGS) -> StageSpec:
    """LLM2Vec's unsupervised SimCSE stage (attention dropout 0.3, τ = 0.05, in-batch negatives)."""
    return StageSpec(
        objective="simcse",
        steps=settings.simcse_steps,
        learning_rate=settings.simcse_learning_rate,
        batch_size=settings.simcse_batch_size,
        max_length=settings.simcse_max_length,
        corpus=settings.simcse_corpus,
        lora=settings.lora,
        options=settings.simcse_options.to_dict(),
    )


def llm2vec_stages(backbone: str, settings: LLM2VecSettings = PAPER_SETTINGS) -> list[StageSpec]:
    """LLM2Vec's two stages: MNTP (per-backbone masking), then SimCSE on the merged MNTP model."""
    return [mntp_stage(backbone, settings), simcse_stage(settings)]


def simcse_stages(settings: LLM2VecSettings = PAPER_SETTINGS) -> list[StageSpec]:
    """The SimCSE row: LLM2Vec's SimCSE step alone, on the raw backbone."""
    return [simcse_stage(settings)]


def llm2vec_model(
    backbone: str,
    *,
    pooling: PoolingSpec = MEAN,
    attention: AttentionMode = "bidirectional",
    seed: int = 0,
    settings: LLM2VecSettings = PAPER_SETTINGS,
) -> ModelSpec:
    """LLM2Vec (unsupervised) on `backbone`."""
    return ModelSpec(
        backbone=backbone,
        attention=attention,
        pooling=pooling,
        stages=tuple(llm2vec_stages(backbone, settings)),
        seed=seed,
    )


def simcse_model(
    backbone: str,
    *,
    pooling: PoolingSpec = MEAN,
    attention: AttentionMode = "bidirectional",
    seed: int = 0,
    settings: LLM2VecSettings = PAPER_SETTINGS,
) -> ModelSpec:
    """SimCSE (unsupervised) on `backbone`: bidirectional + mean like LLM2Vec's step, without MNTP.
    Uses the `simcse_*` fields of `settings`."""
    return ModelSpec(
        backbone=backbone,
        attention=attention,
        pooling=pooling,
        stages=tuple(simcse_stages(settings)),
        seed=seed,
    )


def zero_shot_model(
    backbone: str, *, pooling: PoolingSpec = MEAN, attention: AttentionMode = "causal", seed: int = 0
) -> ModelSpec:
    """The untrained backbone with a pooling and an attention mode."""
    return ModelSpec(backbone=backbone, attention=attention, pooling=pooling, stages=(), seed=seed)
