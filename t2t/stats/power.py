"""What would settle an inconclusive comparison: the training seeds per cell for 80% power.

A comparison "difference > null" (null = -margin) is a t test at its Holm level alpha
(`t2t.stats.decisions`: the level of its step) on SE^2 = V_items + V_eval + sum_g T_g, one seed
term per pooled seed variance g, T_g = s_g^2 sum_(cells c in g) w_c^2 / S_c (`t2t.stats.intervals`).
With n seeds in every trained cell of the contrast:

    T_g(n)  = s_g^2 sum_c w_c^2 / n,    df_g(n) = df_g + sum_c max(0, n - S_c)   (the new seeds join
                                                                                 the pool)
    V_items, V_eval: as measured now (more seeds shrink them a little: the count is conservative)

**Power** to detect an effect d (a true difference d away from the null): the estimate is
null + d + sigma Z with sigma^2 = V_items + V_eval + sum_g T_g(n); the test divides by the
*estimated* SE, every estimated term being term x Q / df with Q ~ chi^2_df independent of Z (normal
theory; the evaluator terms keep their df = experiments - 1), and uses their Welch-Satterthwaite df.
Given the Q's, it rejects with probability Phi((d - c se) / sigma) + Phi((-d - c se) / sigma),
c = t_{1 - alpha/2, df*}; power is the mean of that over `DRAWS` quantiles of the Q's (the same
quantiles for every n: deterministic, and monotone in n).

**Effect**: max(margin, |estimate - null|), the claim's margin (the methods equal where the claim
allows a point) or the observed distance from the null, whichever is larger (`effect`).

`seeds_for_power` is the smallest n (up to `MOST_SEEDS`) with power >= 80%; None when seeds cannot
get there (no trained cell, or the test items and evaluator fits alone keep the power below 80%:
more test items would be needed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.stats import chi2, norm
from scipy.stats import t as student_t

from t2t.stats.intervals import Interval, SeedVariance

POWER = 0.8
MOST_SEEDS = 10_000
DRAWS = 2_000
"""Quantiles of each estimated term's chi-square: the power's integration error is < 0.5 point."""


@dataclasses.dataclass(frozen=True)
class SeededCell:
    """A cell of a contrast as the power sees it: its coefficient, seed variance and seeds now."""

    coefficient: float
    seed_variance: SeedVariance
    seeds: int


def effect(estimate: float, margin: float) -> float:
    """The effect the seeds must detect: max(margin, |estimate + margin|) (null = -margin)."""
    return max(margin, abs(estimate + margin))


def _seed_groups(cells: Sequence[SeededCell]) -> list[tuple[float, int, list[tuple[float, int]]]]:
    """`(s^2, df, [(w^2, seeds now)])` per distinct pooled seed variance of the trained cells."""
    groups: dict[SeedVariance, list[tuple[float, int]]] = {}
    for cell in cells:
        if cell.seed_variance.measured and cell.coefficient:
            groups.setdefault(cell.seed_variance, []).append((cell.coefficient**2, cell.seeds))
    return [(pool.variance, pool.df, members) for pool, members in groups.items()]


def _terms(interval: Interval, cells: Sequence[SeededCell], seeds: int) -> list[tuple[float, float]]:
    """`(variance, df)` of every estimated term with `seeds` per trained cell: seeds, then evaluator."""
    terms = [
        (variance * sum(w for w, _ in members) / seeds, df + sum(max(0, seeds - now) for _, now in members))
        for variance, df, members in _seed_groups(cells)
    ]
    return terms + list(interval.evaluator_terms)


def power(interval: Interval, cells: Sequence[SeededCell], size: float, alpha: float, seeds: int) -> float:
    """Probability that the comparison is significant at `alpha` with `seeds` per trained cell, when
    the true difference is `size` from the null (module docstring)."""
    items = float(np.mean(interval.item_variances)) if interval.item_variances else 0.0
    terms = _terms(interval, cells, seeds)
    sigma = np.sqrt(items + sum(v for v, _ in terms))
    if sigma == 0:
        return 1.0 if size > 0 else 0.0
    quantiles = (np.arange(DRAWS) + 0.5) / DRAWS
    estimated = np.zeros(DRAWS)
    weights = np.zeros(DRAWS)
    rng = np.random.default_rng(0)
    for variance, df in terms:  # each term's quantiles in its own random order: independent terms
        part = variance * chi2.ppf(rng.permutation(quantiles), df) / df
        estimated += part
        weights += part**2 / df
    se = np.sqrt(items + estimated)
    df_star = np.divide(se**4, weights, out=np.full(DRAWS, np.inf), where=weights > 0)
    critical = student_t.ppf(1 - alpha / 2, df_star) * se
    return float(np.mean(norm.cdf((size - critical) / sigma) + norm.cdf((-size - critical) / sigma)))


def seeds_for_power(
    interval: Interval,
    cells: Sequence[SeededCell],
    size: float,
    alpha: float,
    target: float = POWER,
    most: int = MOST_SEEDS,
) -> int | None:
    """The fewest seeds per trained cell giving `target` power (bisection: power grows with n), or
    None when no number up to `most` does (no trained cell, or items and evaluator fits too noisy)."""
    if size <= 0 or not _seed_groups(cells) or power(interval, cells, size, alpha, most) < target:
        return None
    low, high = 0, most  # power(low) < target <= power(high)
    while high - low > 1:
        middle = (low + high) // 2
        if power(interval, cells, size, alpha, middle) >= target:
            high = middle
        else:
            low = middle
    return high
