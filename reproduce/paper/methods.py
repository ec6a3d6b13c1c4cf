"""Method name -> model spec at a scale. One plain dict; every table row names a method from it.

    METHODS["text2token"](preset, "smollm2-135m", order=("dd",))    # Table 3's "DD only" row

Each constructor takes the scale preset, the backbone, and the row's parameters (pooling,
attention, stage order, τ, N, ...), and returns a `ModelSpec`. `run_spec` wraps it with the
preset's evaluation into the `RunSpec` whose hash names the run folder.

The objectives and pooling modes these specs name are registered by the modules that
`t2t.core.plugins.load_plugins()` imports (Text2Token's own objectives and the `t2t.core.plugins` entry
points: `baselines.registration`, which brings the baselines' objectives and the training-free
methods' pooling modes), so any spec a method builds can be validated, trained and evaluated in
any process.

Training-free methods have no stages, so their runs cost no training (a budget of 0 in `compare`):
PromptEOL is `zero-shot` with last pooling; the others (`baselines.training_free`, one module each)
take their settings (the options class of their pooling mode, their paper's defaults) as row
parameters. `METHODS` below is the one list of methods; README's "Add a method" says how to add one.

`bm25` is no embedding at all: mteb's BM25 (`baselines.bm25`), a searcher (`t2t.evaluation.searchers`) that
scores retrieval tasks only, so its rows name `task_types=("Retrieval",)` (`reproduce.paper.registry.Row`)
and `run_spec` restricts the run's evaluation to them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from baselines.bm25 import BM25Settings, bm25_model
from baselines.recipes import llm2vec_model, simcse_model, zero_shot_model
from baselines.training_free import EchoOptions, TokenPrependingOptions, echo_model, token_prepending_model
from reproduce.paper.presets import ScalePreset
from t2t.core.config import choose
from t2t.embedding.pooling import PoolingSpec
from t2t.runs.run import EvalSpec, RunSpec
from t2t.text2token.recipes import text2token_model
from t2t.training.spec import ModelSpec


def _pooling(mode: str, skip_bos: bool = False) -> PoolingSpec:
    return PoolingSpec(mode=mode, mean_skip_bos=skip_bos and mode == "mean")


def zero_shot(
    preset: ScalePreset, backbone: str, pooling: str = "mean", attention: str = "causal"
) -> ModelSpec:
    """The untrained backbone (paper's "bare" rows) with a pooling and an attention mode."""
    return zero_shot_model(backbone, pooling=_pooling(pooling), attention=attention)


def text2token(
    preset: ScalePreset,
    backbone: str,
    order: tuple[str, ...] = ("dd", "md"),
    pooling: str = "last",
    attention: str = "causal",
    tau: float | None = None,
    common_samples: int | None = None,
    budget: float = 1.0,
) -> ModelSpec:
    """Text2Token, stages in `order`; τ and N default to the preset's (`Text2TokenSettings`);
    `budget` scales both stages' steps (`scaled_steps`)."""
    settings = preset.text2token
    settings = settings.replace(
        dd_steps=scaled_steps(settings.dd_steps, budget), md_steps=scaled_steps(settings.md_steps, budget)
    )
    targets = settings.model_derived
    model_derived = targets.replace(
        tau=tau or targets.tau, common_samples=common_samples or targets.common_samples
    )
    return text2token_model(
        backbone,
        pooling=pooling,
        attention=attention,
        order=tuple(order),
        settings=settings.replace(model_derived=model_derived),
    )


def scaled_steps(steps: int, budget: float) -> int:
    """A stage's steps at a training budget: `budget` times the preset's, rounded (at least 1).

    Budget curves (`nox -s budget`) train each method at several budgets; every setting but the
    number of optimiser steps stays the preset's (the learning rate is constant, with no warmup, in
    all three methods' settings, so a longer run is the same run continued). `budget=1` is the
    preset's run itself, with the same id.
    """
    if budget <= 0:
        raise ValueError(f"a training budget is a positive factor of the preset's steps, got {budget}")
    return max(1, round(steps * budget))


def _llm2vec_settings(preset: ScalePreset, budget: float, mntp: bool = True):
    settings = preset.llm2vec
    return settings.replace(
        mntp_steps=scaled_steps(settings.mntp_steps, budget) if mntp else settings.mntp_steps,
        simcse_steps=scaled_steps(settings.simcse_steps, budget),
    )


def llm2vec(
    preset: ScalePreset,
    backbone: str,
    pooling: str = "mean",
    attention: str = "bidirectional",
    budget: float = 1.0,
) -> ModelSpec:
    """LLM2Vec: (bidirectional) + MNTP + SimCSE; mean pooling over text tokens by default; `budget`
    scales both stages' steps."""
    return llm2vec_model(
        backbone,
        pooling=_pooling(pooling, skip_bos=True),
        attention=attention,
        settings=_llm2vec_settings(preset, budget),
    )


def simcse(
    preset: ScalePreset,
    backbone: str,
    pooling: str = "mean",
    attention: str = "bidirectional",
    budget: float = 1.0,
) -> ModelSpec:
    """Unsupervised SimCSE on the raw backbone (LLM2Vec's SimCSE step without MNTP); `budget`
    scales its steps."""
    return simcse_model(
        backbone,
        pooling=_pooling(pooling, skip_bos=True),
        attention=attention,
        settings=_llm2vec_settings(preset, budget, mntp=False),
    )


def echo(preset: ScalePreset, backbone: str, **options: Any) -> ModelSpec:
    """Echo embeddings (Springer et al. 2024): the text twice, the second copy mean-pooled; causal,
    untrained. `options` override `EchoOptions` (the paper's prompt and pooling)."""
    return echo_model(backbone, options=EchoOptions.from_dict(options))


def token_prepending(preset: ScalePreset, backbone: str, **options: Any) -> ModelSpec:
    """PromptEOL with Token Prepending (Fu et al. 2024); causal, untrained. `options` override
    `TokenPrependingOptions` (layer range, exit layer, placeholder)."""
    return token_prepending_model(backbone, options=TokenPrependingOptions.from_dict(options))


def bm25(preset: ScalePreset, backbone: str, **settings: Any) -> ModelSpec:
    """BM25, mteb's lexical retrieval baseline; no weights, no training. `settings` override
    `BM25Settings` (mteb's defaults); `backbone` only names the column the row stands in."""
    return bm25_model(backbone, BM25Settings.from_dict(settings))


METHODS: dict[str, Callable[..., ModelSpec]] = {
    "zero-shot": zero_shot,
    "echo": echo,
    "token-prepending": token_prepending,
    "bm25": bm25,
    "text2token": text2token,
    "llm2vec": llm2vec,
    "simcse": simcse,
}


def run_spec(
    method: str,
    preset: ScalePreset,
    backbone: str,
    params: dict[str, Any] | None = None,
    seed: int = 0,
    task_types: tuple[str, ...] = (),
) -> RunSpec:
    """The run of `method` with `params` on `backbone` and training `seed`, evaluated on the
    preset's task set (only its tasks of `task_types` when some are named: `EvalSpec.task_types`)."""
    model = choose(METHODS, method, "method")(preset, backbone, **(params or {}))
    if seed:
        model = model.replace(seed=seed)
    return RunSpec(
        method=method,
        model=model,
        evaluation=EvalSpec(
            task_set=preset.task_set, max_length=preset.eval_max_length, task_types=tuple(task_types)
        ),
    )
