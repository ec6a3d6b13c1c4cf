"""Uncertainty of every number the suite reports: test items, training seeds, many comparisons.

A cell of a table is the mean over a task set of MTEB main scores (x100), averaged over the cell's
training seeds. Three things could have given a different number: other **test items** (the tasks
are samples of their domains), other **evaluator fits** (mteb's classifiers and k-means, fitted
10 times on resampled training sets or document draws) and another **training seed** (data order,
LoRA init, dropout). All go into every interval, from the per-item outputs stored with each task
(`t2t.evaluation.items`), without re-encoding anything.

The model (`t2t.stats.intervals`), for a cell with S seeds or a paired difference of two cells:

    estimate  = mean over seeds of each run's full-sample average (a - b for a difference)
    V_items   = variance over item resamples of that statistic: every task's items drawn with
                replacement, the same draw for every run (paired: shared item noise cancels in a
                difference); B = 1,000 resamples in each of 5 blocks (block seeds 0-4)
    V_eval    = the spread of mteb's repeated fits over their number, per task that repeats them,
                paired across runs, less the item x fit interaction the bootstrap already holds
                (`evaluator`; df = fits - 1 each)
    V_seeds   = s^2 / S per side, s^2 the unbiased between-seed variance of one run's average,
                per training method pooled over its cells of the preset and backbone with >= 2
                seeds (df = sum (S_c - 1)), borrowed from another method until it has one
                (`reproduce.cells.samples`); a single-seed trained cell gets s^2 / 1 in its own interval
                too; zero-shot cells have none (no training, nothing to seed)
    interval  = estimate +- t_{df*} sqrt(V_items + V_eval + V_seeds), df* by Welch-Satterthwaite
    p-value   = 2 P(T_{df*} > |estimate - null| / sqrt(V_items + V_eval + V_seeds))

Decisions (`t2t.stats.decisions`): the comparisons of one claim form a family decided by Holm's
step-down at 5% on those p-values; each is decided on each block of resamples and on all of
them, and a verdict that differs between blocks is inconclusive.

An inconclusive comparison also says how many seeds per cell would give it 80% power (`power`).

Modules: `resample` (item draws, the per-task-type rescoring seam, the per-process cache of
resampled scores), `evaluator` (the fits' variance), `intervals`, `decisions`, `power`, `bands`
(the spectrum's sentence bootstrap).
Only numpy and scipy: no model stack.
"""

from __future__ import annotations

from t2t.stats.bands import share_band
from t2t.stats.decisions import FAILS, HOLDS, INCONCLUSIVE, Decision, decide, decide_family, holm, holm_levels
from t2t.stats.intervals import (
    BLOCKS,
    CONFIDENCE,
    NOT_MEASURED,
    RESAMPLES,
    SEED,
    UNTRAINED,
    Bootstrap,
    Interval,
    Sample,
    SeedVariance,
    cell_interval,
    full_average,
    linear_contrast,
    paired_difference,
    pooled_seed_variance,
    seed_std,
)
from t2t.stats.resample import (
    Run,
    RunItems,
    TaskItems,
    _resampled_scores,
    cached_resamples,
    clear_cache,
    n_items,
    precompute,
    rescore,
    task_draws,
    task_resamples,
)

__all__ = [
    "BLOCKS",
    "CONFIDENCE",
    "FAILS",
    "HOLDS",
    "INCONCLUSIVE",
    "NOT_MEASURED",
    "RESAMPLES",
    "SEED",
    "UNTRAINED",
    "Bootstrap",
    "Decision",
    "Interval",
    "Run",
    "RunItems",
    "Sample",
    "SeedVariance",
    "TaskItems",
    "_resampled_scores",
    "cached_resamples",
    "cell_interval",
    "clear_cache",
    "decide",
    "decide_family",
    "full_average",
    "linear_contrast",
    "holm",
    "holm_levels",
    "n_items",
    "paired_difference",
    "pooled_seed_variance",
    "precompute",
    "rescore",
    "seed_std",
    "share_band",
    "task_draws",
    "task_resamples",
]
