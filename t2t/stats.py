"""Uncertainty of every number the suite reports: item bootstrap, paired differences, seeds.

A cell of a table is the mean over a task set of MTEB main scores. Two things could have given a
different number: other **test items** (the tasks are samples of their domains) and another
**training seed** (data order, LoRA init, dropout). This module puts both into intervals, from the
per-item outputs stored with each task (`t2t.evaluation.items`), without re-encoding anything.

- `rescore(items, indices)`: a task's main score on a resample of its items, per task type
  (`t2t.evaluation.item_scores`: STS, classification, retrieval, pair classification, clustering,
  summarization). With all items it equals mteb's main score (a test checks it).
- `cell_interval(runs)`: 95% percentile bootstrap of a cell. Each resample draws the items of every
  task with replacement (the same draw for every run of the cell, as they share the test items)
  and recomputes the task-set average. With several seeds it is a two-level bootstrap: each
  resample also draws the seeds with replacement and averages the cell over the drawn seeds, so
  the interval holds both the seed and the item variation. The estimate is the mean over seeds of
  the full-sample averages.
- `paired_difference(a, b)`: the same for the difference of two cells, with **the same item
  resample for both sides** (paired: the noise of the test items largely cancels, which makes the
  interval far tighter than comparing two separate intervals). Seeds are drawn independently per
  side: seed 1 of one method is not "paired" with seed 1 of another.

Scores are x100 like the tables. Resamples (1,000 by default) and the seed of the resampling are
arguments, so every interval is reproducible. Only numpy, scipy and scikit-learn (no model stack).
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from t2t.evaluation.item_scores import scorer

RESAMPLES = 1000
CONFIDENCE = 0.95
SEED = 0

TaskItems = Mapping[str, Any]
"""One task's stored items (`t2t.evaluation.items.task_items`)."""
Run = Mapping[str, TaskItems]
"""One run's items: `{task name: TaskItems}`."""


@dataclasses.dataclass(frozen=True)
class Interval:
    """A point estimate with a percentile interval (x100); `half_width` is what tables print as ±."""

    estimate: float
    low: float
    high: float
    resamples: int
    seeds: int = 1

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _records(items: TaskItems) -> list[dict[str, Any]]:
    """The (subset, split) records of a task, in a fixed order (mteb averages over them)."""
    return [items["subsets"][subset][split] for subset in sorted(items["subsets"]) for split in
            sorted(items["subsets"][subset])]  # fmt: skip


def n_items(items: TaskItems) -> list[int]:
    return [len(record["gold"]) for record in _records(items)]


def rescore(items: TaskItems, indices: Sequence[np.ndarray] | None = None) -> float:
    """The task's main score (in [0, 1]) on the given item indices per record (all items if None)."""
    score = scorer(items["type"]).score
    records = _records(items)
    return float(np.mean([score(r, None if indices is None else indices[i]) for i, r in enumerate(records)]))


def _resampled_scores(items: TaskItems, draws: Sequence[np.ndarray]) -> np.ndarray:
    """Main scores of one task for every resample: `draws[r]` is `(resamples, n_r)` indices."""
    resampled = scorer(items["type"]).resampled
    return np.mean([resampled(record, draw) for record, draw in zip(_records(items), draws)], axis=0)


def task_draws(task: str, sizes: Sequence[int], resamples: int, seed: int) -> list[np.ndarray]:
    """Item indices of every resample of a task, `(resamples, n)` per record. They depend only on
    the task's name, sizes and the seed, so every run, cell and comparison of the same task uses the
    same resamples: comparisons are paired, and a task's resampled scores can be cached per run."""
    rng = np.random.default_rng([seed, zlib.crc32(task.encode())])
    return [rng.integers(0, n, size=(resamples, n)) for n in sizes]


def task_resamples(items: TaskItems, task: str, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """The task's main score under each of its resamples, shape `(resamples,)` (in [0, 1])."""
    return _resampled_scores(items, task_draws(task, n_items(items), resamples, seed))


def _run_averages(
    run: Run,
    tasks: Sequence[str],
    resamples: int,
    seed: int,
    cache: dict | None = None,
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """The task-set average x100 of one run under every resample (`cache`: `{(id(items), task): ...}`
    or any key the caller keeps stable, e.g. a run id)."""
    scores = []
    for task in tasks:
        key = (id(run[task]), task, resamples, seed)
        if cache is None or key not in cache:
            value = task_resamples(run[task], task, resamples, seed)
            if cache is None:
                scores.append(value)
                continue
            cache[key] = value
        scores.append(cache[key])
    return 100 * np.average(scores, axis=0, weights=_weights(tasks, weights))


def _weights(tasks: Sequence[str], weights: Mapping[str, float] | None) -> list[float] | None:
    """Task weights of an average: None is the plain mean over tasks; Mean(TaskType) weighs each task
    by 1 / (categories x tasks in its category) (`reproduce.tables.category_weights`)."""
    return None if weights is None else [weights[task] for task in tasks]


def full_average(run: Run, tasks: Sequence[str], weights: Mapping[str, float] | None = None) -> float:
    """The task-set average x100 on all items (what the table printed before intervals)."""
    return 100 * float(np.average([rescore(run[task]) for task in tasks], weights=_weights(tasks, weights)))


def _check(runs: Sequence[Run], tasks: Sequence[str]) -> None:
    if not runs:
        raise ValueError("a cell needs at least one run with item outputs")
    for run in runs:
        missing = [task for task in tasks if task not in run]
        if missing:
            raise ValueError(f"no item outputs for {', '.join(missing)}")


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _seed_mixture(per_seed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`per_seed` is `(seeds, resamples)`: each resample averages a with-replacement draw of seeds."""
    seeds, resamples = per_seed.shape
    if seeds == 1:
        return per_seed[0]
    picks = rng.integers(0, seeds, size=(resamples, seeds))
    return per_seed[picks, np.arange(resamples)[:, None]].mean(axis=1)


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """How intervals are drawn: resamples, confidence level, and the seed of the resampling."""

    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = SEED


def _side(runs, tasks, bootstrap: Bootstrap, cache, weights, rng) -> tuple[np.ndarray, float]:
    """One cell's resampled averages (seeds mixed in) and its estimate (mean over seeds)."""
    _check(runs, tasks)
    per_seed = np.stack(
        [_run_averages(run, tasks, bootstrap.resamples, bootstrap.seed, cache, weights) for run in runs]
    )
    return _seed_mixture(per_seed, rng), float(np.mean([full_average(run, tasks, weights) for run in runs]))


def cell_interval(
    runs: Sequence[Run],
    tasks: Sequence[str],
    bootstrap: Bootstrap = Bootstrap(),
    *,
    cache: dict | None = None,
    weights: Mapping[str, float] | None = None,
) -> Interval:
    """Bootstrap interval of a cell's task-set average over `runs` (one per training seed);
    `weights` per task for a weighted average (Mean(TaskType))."""
    rng = np.random.default_rng([bootstrap.seed, len(runs)])
    resampled, estimate = _side(runs, tasks, bootstrap, cache, weights, rng)
    low, high = _percentiles(resampled, bootstrap.confidence)
    return Interval(estimate, low, high, bootstrap.resamples, len(runs))


def paired_difference(
    a: Sequence[Run],
    b: Sequence[Run],
    tasks: Sequence[str],
    bootstrap: Bootstrap = Bootstrap(),
    *,
    cache: dict | None = None,
    weights: Mapping[str, float] | None = None,
) -> Interval:
    """Bootstrap interval of `cell a - cell b` (x100) on the same item resamples for both."""
    rng = np.random.default_rng([bootstrap.seed, len(a), len(b)])
    side_a, estimate_a = _side(a, tasks, bootstrap, cache, weights, rng)
    side_b, estimate_b = _side(b, tasks, bootstrap, cache, weights, rng)
    low, high = _percentiles(side_a - side_b, bootstrap.confidence)
    return Interval(estimate_a - estimate_b, low, high, bootstrap.resamples, min(len(a), len(b)))


def seed_std(runs: Sequence[Run], tasks: Sequence[str]) -> float | None:
    """Standard deviation over seeds of the full-sample averages (None with one seed)."""
    if len(runs) < 2:
        return None
    return float(np.std([full_average(run, tasks) for run in runs], ddof=1))


def share_band(
    squared: np.ndarray, total: np.ndarray, bootstrap: Bootstrap = Bootstrap()
) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile band of per-component change shares over resampled sentences.

    `squared` is `(n, k)`: each sentence's squared coefficient change on each component; `total`
    is `(n,)`: its whole squared change. A share is `sum_i squared_ij / sum_i total_i`; each
    resample draws the n sentences with replacement and recomputes every share. The principal
    directions stay those of the full sample (a bootstrap conditional on them: it shows how much
    the shares depend on which sentences were drawn, not the directions' own sampling error).
    Returns `(low, high)`, each `(k,)`.
    """
    squared = np.asarray(squared, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    if squared.ndim != 2 or total.shape != (squared.shape[0],):
        raise ValueError(f"need (n, k) and (n,) arrays, got {squared.shape} and {total.shape}")
    rng = np.random.default_rng(bootstrap.seed)
    n = squared.shape[0]
    shares = np.empty((bootstrap.resamples, squared.shape[1]))
    for r in range(bootstrap.resamples):
        draw = rng.integers(0, n, size=n)
        denominator = total[draw].sum()
        shares[r] = squared[draw].sum(0) / denominator if denominator > 0 else 0.0
    tail = 100 * (1 - bootstrap.confidence) / 2
    low, high = np.percentile(shares, [tail, 100 - tail], axis=0)
    return low, high
