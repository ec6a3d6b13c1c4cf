"""Intervals of a cell and of a paired difference: item bootstrap variance, the evaluator's fits, seeds.

For a cell with S training seeds (runs r_1..r_S of one configuration, evaluated on the same test
items) the estimate is the mean over seeds of each run's task-set average A(r) (x100). Its
variance has three parts, added:

    V_items   variance of mean_s A*(r_s) over the item resamples (`t2t.stats.resample`: every task's
              items drawn with replacement, the same draw for every run). Computed per block of
              resamples; the interval uses the mean of the block variances.
    V_seeds   s^2 / S, s^2 the between-seed variance of one run's average: the unbiased
              (ddof = 1) variance pooled over cells, sum_c sum_s (A_cs - mean_c)^2 / sum_c (S_c - 1),
              with df = sum_c (S_c - 1) (`SeedVariance`). Untrained cells (zero-shot) have none.
    V_eval    the evaluator's own randomness: the spread of mteb's repeated classifier fits and
              k-means runs, per record of the tasks that repeat them (`t2t.stats.evaluator`), each
              term with df = experiments - 1. Zero-shot cells have it too.

    interval = estimate +- t_{df*} sqrt(V_items + V_eval + V_seeds),
    df* = (V_items + V_eval + V_seeds)^2 / sum_j (term_j^2 / df_j)   (Welch-Satterthwaite over
                                     the seed and evaluator terms; V_items has thousands of
                                     resamples: infinite df)

A paired difference a - b uses the variance of mean_s A*(a_s) - mean_s A*(b_s) over the same
resamples (the item noise shared by both sides cancels), the evaluator terms of the difference
(experiments pair across runs like items) and the seed terms of both sides, s_a^2/S_a + s_b^2/S_b;
sides that share one pooled s^2 (a method that borrows another's included) add into one term with
its df.

Why not resample the seeds too (as before)? Drawing S seeds with replacement gives a seed variance
of (S - 1)/S of the unbiased one (1/2 for 2 seeds) and none for a single seed. Why a t interval and
not percentiles? Its only Monte-Carlo input is a variance, whose standard error is ~1/sqrt(2B) of
the SE it gives (2.2% per block of B = 1,000, 1% over the 5 blocks), where a 2.5% percentile of
1,000 resamples rests on its 25 lowest: the percentile bound moved by 0.1 between resampling
seeds, deciding verdicts by the seed. Over thousands of items the bootstrap distribution of an
average of Spearman correlations and accuracies is close to normal. Why 5 x 1,000 and not more?
The per-task rescoring (`t2t.stats.resample`) dominates a rebuild's time, and with a variance a
block of 1,000 already moves a bound by ~2% of its half width; the 5 blocks catch what remains.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import t as student_t

from t2t.stats.evaluator import evaluator_terms
from t2t.stats.resample import Run, cached_resamples, cached_score

RESAMPLES = 1000
"""Resamples per block."""
BLOCKS = 5
"""Blocks of resamples, with block seeds `seed .. seed + BLOCKS - 1`: every decision is taken per
block and on all of them together, and one that differs between blocks is inconclusive."""
CONFIDENCE = 0.95
SEED = 0


@dataclasses.dataclass(frozen=True)
class Bootstrap:
    """How item resamples are drawn: `blocks` blocks of `resamples` each, block seeds from `seed`."""

    resamples: int = RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = SEED
    blocks: int = BLOCKS

    @property
    def block_seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.blocks))

    @property
    def total(self) -> int:
        return self.resamples * self.blocks


@dataclasses.dataclass(frozen=True)
class SeedVariance:
    """Between-seed variance s^2 of one run's task-set average (x100 squared) and where it comes from.

    `df` = sum over the pooled cells of (seeds - 1); `df == 0` means not measured (the interval is
    over test items only); `untrained`: the method trains nothing, so the seed changes nothing.
    """

    variance: float = 0.0
    df: int = 0
    source: str = dataclasses.field(default="", compare=False)  # a borrowed s^2 equals its lender's
    untrained: bool = False

    @property
    def measured(self) -> bool:
        return self.df > 0 and not self.untrained


NOT_MEASURED = SeedVariance()
UNTRAINED = SeedVariance(untrained=True, source="untrained")


def pooled_seed_variance(cells: Sequence[Sequence[float]], source: str = "") -> SeedVariance:
    """Pool the between-seed variance over cells, each given as its seeds' full-sample averages.

    s^2 = sum_c sum_s (A_cs - mean_c)^2 / sum_c (S_c - 1); cells with one seed add nothing.
    Example: cells [[1, 3], [10, 10, 13]] -> (2 + 6) / (1 + 2) = 8/3 with 3 df.
    """
    squares = sum(float(np.sum((np.asarray(c) - np.mean(c)) ** 2)) for c in cells if len(c) > 1)
    df = sum(len(c) - 1 for c in cells if len(c) > 1)
    return SeedVariance(squares / df, df, source) if df else NOT_MEASURED


@dataclasses.dataclass(frozen=True)
class Sample:
    """A cell as the statistics see it: its runs (one per training seed) and its seed variance."""

    runs: tuple[Run, ...]
    seed_variance: SeedVariance = NOT_MEASURED

    @classmethod
    def of(cls, runs: Sample | Sequence[Run], tasks: Sequence[str] = ()) -> Sample:
        """A `Sample` as is; a plain list of runs gets the variance of its own seeds (none for one)."""
        if isinstance(runs, Sample):
            return runs
        runs = tuple(runs)
        _check(runs, tasks)
        if len(runs) < 2:
            return cls(runs)
        return cls(runs, pooled_seed_variance([[full_average(run, tasks) for run in runs]], "its seeds"))

    def seed_term(self) -> tuple[float, float] | None:
        """`(s^2 / S, df)`, or None without a seed term (untrained, or not measured)."""
        if not self.seed_variance.measured:
            return None
        return self.seed_variance.variance / len(self.runs), self.seed_variance.df


@dataclasses.dataclass(frozen=True)
class Interval:
    """An estimate (x100) with its t interval; the variance parts are kept so that the same interval
    can be re-taken at another level (`bounds`), per block of resamples, or as a p-value.

    `item_variances`: V_items per block; `seed_terms`: `(variance, df)` per pooled seed variance;
    `seed_model`: "test items and seeds", "test items only" or "test items only (untrained)" (the
    seeds' part only); `evaluator_terms`: `(variance, df)` per record of a task whose evaluator
    repeats a fit (`t2t.stats.evaluator`), in every interval whatever its seed model.
    """

    estimate: float
    low: float
    high: float
    resamples: int
    seeds: int = 1
    item_variances: tuple[float, ...] = ()
    seed_terms: tuple[tuple[float, float], ...] = ()
    seed_model: str = "test items only"
    confidence: float = CONFIDENCE
    evaluator_terms: tuple[tuple[float, float], ...] = ()

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def blocks(self) -> int:
        return len(self.item_variances)

    def se_df(self, block: int | None = None) -> tuple[float, float]:
        """Standard error and Satterthwaite df, from all blocks (None) or one block's V_items."""
        items = float(np.mean(self.item_variances)) if block is None else self.item_variances[block]
        return _se_df(items, (*self.seed_terms, *self.evaluator_terms))

    @property
    def evaluator_variance(self) -> float:
        """V_eval: the sum of the evaluator terms (0 without fitted evaluators)."""
        return float(sum(term for term, _ in self.evaluator_terms))

    def bounds(self, confidence: float | None = None, block: int | None = None) -> tuple[float, float]:
        se, df = self.se_df(block)
        half = _critical(confidence or self.confidence, df) * se
        return self.estimate - half, self.estimate + half

    def p_value(self, null: float = 0.0, block: int | None = None) -> float:
        """Two-sided p-value of `difference == null` (1 when the estimate is exactly `null`)."""
        se, df = self.se_df(block)
        if se == 0:
            return 1.0 if self.estimate == null else 0.0
        return float(min(1.0, 2 * student_t.sf(abs(self.estimate - null) / se, df)))


def _se_df(item_variance: float, terms: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """SE and Welch-Satterthwaite df of V_items (infinite df) plus estimated `(variance, df)` terms."""
    estimated = sum(term for term, _ in terms)
    total = item_variance + estimated
    if estimated <= 0:
        return math.sqrt(total), math.inf
    return math.sqrt(total), total**2 / sum(term**2 / df for term, df in terms if term > 0)


def _critical(confidence: float, df: float) -> float:
    return float(student_t.ppf(1 - (1 - confidence) / 2, df))


def _weights(tasks: Sequence[str], weights: Mapping[str, float] | None) -> list[float] | None:
    """Task weights of an average: None is the plain mean over tasks; Mean(TaskType) weighs each task
    by 1 / (categories x tasks in its category) (`reproduce.cells.tables.category_weights`)."""
    return None if weights is None else [weights[task] for task in tasks]


def full_average(run: Run, tasks: Sequence[str], weights: Mapping[str, float] | None = None) -> float:
    """The task-set average x100 on all items (what the table printed before intervals)."""
    return 100 * float(
        np.average([cached_score(run, task) for task in tasks], weights=_weights(tasks, weights))
    )


def _run_averages(run: Run, tasks: Sequence[str], resamples: int, seed: int, weights=None) -> np.ndarray:
    """The task-set average x100 of one run under every resample of block `seed`, `(resamples,)`."""
    scores = [cached_resamples(run, task, resamples, seed) for task in tasks]
    return 100 * np.average(scores, axis=0, weights=_weights(tasks, weights))


def _check(runs: Sequence[Run], tasks: Sequence[str]) -> None:
    if not runs:
        raise ValueError("a cell needs at least one run with item outputs")
    for run in runs:
        missing = [task for task in tasks if task not in run]
        if missing:
            raise ValueError(f"no item outputs for {', '.join(missing)}")


def _seed_means(sample: Sample, tasks, bootstrap: Bootstrap, weights) -> list[np.ndarray]:
    """Per block, the cell's mean over seeds under each resample, `(resamples,)`."""
    return [
        np.mean(
            [_run_averages(run, tasks, bootstrap.resamples, seed, weights) for run in sample.runs], axis=0
        )
        for seed in bootstrap.block_seeds
    ]


def _interval(
    estimate, per_block, seed_terms, bootstrap: Bootstrap, seeds: int, model: str, evaluator=()
) -> Interval:
    variances = tuple(float(np.var(block, ddof=1)) if len(block) > 1 else 0.0 for block in per_block)
    interval = Interval(estimate, estimate, estimate, bootstrap.total, seeds, variances, tuple(seed_terms), model,
                        bootstrap.confidence, tuple(evaluator))  # fmt: skip
    low, high = interval.bounds()
    return dataclasses.replace(interval, low=low, high=high)


def _model(samples: Sequence[Sample]) -> str:
    if any(s.seed_term() is not None for s in samples):
        return "test items and seeds"
    if all(s.seed_variance.untrained for s in samples):
        return "test items only (untrained)"
    return "test items only"


def cell_interval(
    runs: Sample | Sequence[Run],
    tasks: Sequence[str],
    bootstrap: Bootstrap = Bootstrap(),
    *,
    weights: Mapping[str, float] | None = None,
) -> Interval:
    """Interval of a cell's task-set average over its runs (one per training seed); `weights` per
    task for a weighted average (Mean(TaskType)). A plain list of runs uses its own seeds' variance."""
    sample = Sample.of(runs, tasks)
    _check(sample.runs, tasks)
    estimate = float(np.mean([full_average(run, tasks, weights) for run in sample.runs]))
    term = sample.seed_term()
    per_block = _seed_means(sample, tasks, bootstrap, weights)
    evaluator = evaluator_terms([(1.0, sample.runs)], tasks, _weights(tasks, weights))
    return _interval(
        estimate, per_block, [term] if term else [], bootstrap, len(sample.runs), _model([sample]), evaluator
    )


def paired_difference(
    a: Sample | Sequence[Run],
    b: Sample | Sequence[Run],
    tasks: Sequence[str],
    bootstrap: Bootstrap = Bootstrap(),
    *,
    weights: Mapping[str, float] | None = None,
) -> Interval:
    """Interval of `cell a - cell b` (x100) on the same item resamples for both sides, plus both
    sides' seed terms (one term where both use the same pooled seed variance)."""
    return linear_contrast([(1.0, a), (-1.0, b)], tasks, bootstrap, weights=weights)


def linear_contrast(
    terms: Sequence[tuple[float, Sample | Sequence[Run]]],
    tasks: Sequence[str],
    bootstrap: Bootstrap = Bootstrap(),
    *,
    weights: Mapping[str, float] | None = None,
) -> Interval:
    """Interval of `sum_i c_i x cell_i` (x100), e.g. `a - b` (`paired_difference`), or a cell minus
    a curve interpolated between two measured cells, `a - (w b1 + (1 - w) b2)` (the budget claim).

    Every cell sees the same item resamples (the contrast is paired); the seed terms are
    `c_i^2 s_i^2 / S_i`, summed into one term for cells that share a pooled seed variance (with its
    df), kept apart otherwise (Welch-Satterthwaite combines them).
    """
    samples = [(float(c), Sample.of(cell, tasks)) for c, cell in terms]
    for _, sample in samples:
        _check(sample.runs, tasks)
    estimate = float(
        sum(c * np.mean([full_average(run, tasks, weights) for run in s.runs]) for c, s in samples)
    )
    per_side = [[c * block for block in _seed_means(s, tasks, bootstrap, weights)] for c, s in samples]
    per_block = [np.sum(blocks, axis=0) for blocks in zip(*per_side)]
    pooled: dict[SeedVariance, float] = {}
    for c, sample in samples:
        term = sample.seed_term()
        if term is not None:
            pooled[sample.seed_variance] = pooled.get(sample.seed_variance, 0.0) + c * c * term[0]
    seed_terms = [(variance, source.df) for source, variance in pooled.items()]
    seeds = min(len(s.runs) for _, s in samples)
    evaluator = evaluator_terms([(c, s.runs) for c, s in samples], tasks, _weights(tasks, weights))
    return _interval(
        estimate, per_block, seed_terms, bootstrap, seeds, _model([s for _, s in samples]), evaluator
    )


def seed_std(runs: Sequence[Run], tasks: Sequence[str]) -> float | None:
    """Standard deviation over seeds of the full-sample averages (None with one seed)."""
    if len(runs) < 2:
        return None
    return float(np.std([full_average(run, tasks) for run in runs], ddof=1))
