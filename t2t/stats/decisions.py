"""Deciding comparisons: Holm's step-down over a family, and stability across resampling blocks.

A claim is a family of m comparisons, each "difference > null" (null = 0, or minus a margin). Each
comparison has a two-sided p-value from its interval (`Interval.p_value`: t statistic
(estimate - null) / SE with the interval's df). Holm (1979) controls the family-wise error rate
at alpha without assuming independence: sort the p-values, p_(1) <= ... <= p_(m), and

    adjusted p_(k) = max_{j <= k} min(1, (m - j + 1) p_(j))

A comparison is significant when its adjusted p < alpha: it **holds** when the estimate is above
the null, **fails** when below; otherwise it is **inconclusive**. The matching interval of the k-th
smallest p is the one at level 1 - alpha / (m - k + 1) (`Decision.low/high`): it excludes the null
exactly when the comparison is significant; once a step is not significant, the comparisons
after it keep that step's level (`holm_levels`), as the procedure stopped there.

Stability: the same decision is taken on every block of resamples alone (each block's own V_items)
and on all blocks together. A verdict that differs between them depends on which resamples were
drawn, so it reads inconclusive (`Decision.stable` is False), whatever the pooled one says.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from t2t.stats.intervals import Interval

HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
ALPHA = 0.05


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order. Example: [0.01, 0.04, 0.03] -> [0.03, 0.06, 0.06]."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def holm_levels(p_values: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """The confidence level of each comparison's interval, matching Holm's decisions: the k-th smallest
    p-value (k from 0) is tested at alpha / (m - k) until a test fails; that step's level is also
    used for every later one (the procedure stopped there), so an interval excludes the null
    exactly when its comparison is significant. Example: [0.01, 0.04, 0.03] -> 98.3%, 97.5%, 97.5%
    (0.03 > 0.05 / 2 stops the procedure; 0.04 alone would pass at 95%)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    levels, stopped = [0.0] * m, None
    for rank, i in enumerate(order):
        step = rank if stopped is None else stopped
        levels[i] = 1 - alpha / (m - step)
        if stopped is None and p_values[i] >= alpha / (m - rank):
            stopped = rank
    return levels


def _verdicts(intervals: Sequence[Interval], nulls: Sequence[float], alpha: float, block: int | None):
    p = [interval.p_value(null, block) for interval, null in zip(intervals, nulls)]
    adjusted = holm(p)
    verdicts = [
        INCONCLUSIVE if q >= alpha else HOLDS if interval.estimate > null else FAILS
        for interval, null, q in zip(intervals, nulls, adjusted)
    ]
    return verdicts, adjusted, holm_levels(p, alpha)


@dataclasses.dataclass(frozen=True)
class Decision:
    """One comparison's verdict in its family: adjusted p-value, the interval at its Holm level, and
    the verdict of each block of resamples."""

    verdict: str
    adjusted_p: float
    level: float
    low: float
    high: float
    pooled: str
    block_verdicts: tuple[str, ...]
    family: int

    @property
    def stable(self) -> bool:
        return all(v == self.pooled for v in self.block_verdicts)


def decide_family(
    intervals: Sequence[Interval], nulls: Sequence[float] | None = None, alpha: float = ALPHA
) -> list[Decision]:
    """Decide "difference > null" for each interval of a family (Holm, at `alpha`), per block and
    pooled; a comparison whose block verdicts differ from each other or the pooled one is
    inconclusive."""
    nulls = list(nulls) if nulls is not None else [0.0] * len(intervals)
    if not intervals:
        return []
    pooled, adjusted, levels = _verdicts(intervals, nulls, alpha, None)
    blocks = min(interval.blocks for interval in intervals)
    per_block = [_verdicts(intervals, nulls, alpha, block)[0] for block in range(blocks)]
    out = []
    for i, interval in enumerate(intervals):
        seen = tuple(verdicts[i] for verdicts in per_block)
        low, high = interval.bounds(levels[i])
        verdict = pooled[i] if all(v == pooled[i] for v in seen) else INCONCLUSIVE
        out.append(Decision(verdict, adjusted[i], levels[i], low, high, pooled[i], seen, len(intervals)))
    return out


def decide(interval: Interval, null: float = 0.0, alpha: float = ALPHA) -> str:
    """A single comparison (a family of one): holds, fails, or inconclusive (also when unstable)."""
    return decide_family([interval], [null], alpha)[0].verdict
