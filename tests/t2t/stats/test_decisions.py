"""The verdict machinery on cases where the answer is known: the seed model's coverage, Holm's
step-down, and verdicts that depend on the resampling blocks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.stats import norm

from t2t.stats import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NOT_MEASURED,
    Bootstrap,
    Interval,
    Sample,
    decide_family,
    full_average,
    holm,
    holm_levels,
    paired_difference,
    pooled_seed_variance,
)


def accuracy_run(correct: np.ndarray) -> dict:
    """A one-task run whose items are right where `correct` is True (classification, one experiment)."""
    gold = np.zeros(len(correct), dtype=int)
    record = {"gold": gold.tolist(), "predicted": [np.where(correct, 0, 1).tolist()]}
    return {"T": {"type": "Classification", "subsets": {"default": {"test": record}}}}


def simulate(rng, seeds_a: int, seeds_b: int, seed_sd: float, n: int = 200):
    """One experiment: a fresh test set of n items (difficulty u ~ U(0, 1)) and runs whose ability is
    the method's mean plus a seed effect N(0, seed_sd^2); a run gets item i right when
    u_i + noise < ability (noise N(0, 0.05^2) per run and item), so its expected accuracy is its
    ability and the true difference of the methods is exactly 0.62 - 0.60 (x100: 2.0). A third
    method with 3 seeds adds to the pooled seed variance, as other cells of a table do."""
    u = rng.uniform(0, 1, n)

    def runs(mean: float, seeds: int) -> list[dict]:
        abilities = mean + seed_sd * rng.standard_normal(seeds)
        return [accuracy_run(u + rng.normal(0, 0.05, n) < ability) for ability in abilities]

    a, b, other = runs(0.62, seeds_a), runs(0.60, seeds_b), runs(0.61, 3)
    pool = pooled_seed_variance(
        [[full_average(run, ["T"]) for run in cell] for cell in (a, b, other)], "table"
    )
    return Sample(tuple(a), pool), Sample(tuple(b), pool)


@pytest.mark.slow
@pytest.mark.parametrize("seeds_a, seeds_b", [(3, 1), (2, 2)])
def test_intervals_cover_the_true_difference_with_a_known_seed_variance(seeds_a, seeds_b):
    """With a seed effect as large as the item noise, 95% intervals of the difference cover the true
    difference in >= 93% of 500 simulated experiments, a single-seed side included; the same
    intervals over test items only (the seed term left out) cover far less: the test would fail
    if the seed variance were under-counted."""
    rng = np.random.default_rng(0)
    bootstrap = Bootstrap(resamples=200, blocks=1)
    covered = items_only = 0
    trials = 500
    for trial in range(trials):
        a, b = simulate(rng, seeds_a, seeds_b, seed_sd=0.03)
        interval = paired_difference(a, b, ["T"], dataclasses.replace(bootstrap, seed=trial))
        covered += interval.low <= 2.0 <= interval.high
        bare = paired_difference(Sample(a.runs, NOT_MEASURED), Sample(b.runs, NOT_MEASURED), ["T"], bootstrap)
        items_only += bare.low <= 2.0 <= bare.high
    assert covered / trials >= 0.93, covered / trials
    assert items_only / trials < 0.85, items_only / trials


def interval_with_p(p: float, blocks: int = 5, estimate: float = 1.0) -> Interval:
    """An interval (no seed term, normal) whose two-sided p-value of "difference = 0" is `p`."""
    se = estimate / norm.isf(p / 2)
    return Interval(estimate, estimate - 1.96 * se, estimate + 1.96 * se, 1000, 1, (se**2,) * blocks)


def test_holm_adjusts_step_down_and_controls_what_unadjusted_tests_would_pass():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.2, 0.001]) == pytest.approx([0.2, 0.002])
    assert holm_levels([0.01, 0.04, 0.03]) == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 2, 1 - 0.05 / 2])
    assert holm_levels([0.01, 0.02, 0.03]) == pytest.approx([1 - 0.05 / 3, 1 - 0.05 / 2, 0.95])
    # each p < 0.05 alone; as a family only the smallest survives
    family = [interval_with_p(p) for p in (0.01, 0.03, 0.04)]
    decisions = decide_family(family)
    assert [d.verdict for d in decisions] == [HOLDS, INCONCLUSIVE, INCONCLUSIVE]
    assert decisions[0].adjusted_p == pytest.approx(0.03, rel=1e-6)
    # the reported interval is the one at the comparison's Holm level: it excludes 0 iff significant
    for decision in decisions:
        assert (decision.low > 0) == (decision.verdict == HOLDS)
    assert decisions[0].level == pytest.approx(1 - 0.05 / 3)
    # a margin moves the null: "difference > -1" on an estimate of -3 with small SE fails
    low = Interval(-3.0, -3.2, -2.8, 1000, 1, (0.01,) * 5)
    assert decide_family([low], [-1.0])[0].verdict == FAILS


def test_a_verdict_that_differs_between_resampling_blocks_is_inconclusive():
    """Block item variances straddling the critical value: significant on some blocks, not on
    others; the comparison is inconclusive whatever the pooled blocks say."""
    borderline = Interval(1.96, 0.0, 3.92, 5000, 1, (0.9, 1.1, 0.95, 1.05, 1.0))
    decision = decide_family([borderline])[0]
    assert set(decision.block_verdicts) == {HOLDS, INCONCLUSIVE}
    assert not decision.stable and decision.verdict == INCONCLUSIVE
    clear = Interval(5.0, 3.0, 7.0, 5000, 1, (0.9, 1.1, 0.95, 1.05, 1.0))
    assert decide_family([clear])[0].verdict == HOLDS and decide_family([clear])[0].stable


def test_a_borderline_difference_on_real_resamples_is_unstable_and_reads_inconclusive():
    """A constructed paired difference: two runs differ on 40 of 400 items, the first right on
    20 + k/2 of them. Around the k where the difference is just significant, the five blocks of
    resamples disagree; that comparison reads inconclusive, while clear cases are stable."""
    n, discordant = 400, 40
    bootstrap = Bootstrap(resamples=60)  # small blocks: a wide borderline band, found by a short scan
    seen = {}
    for k in range(0, 32, 2):
        a = np.ones(n, dtype=bool)
        b = np.ones(n, dtype=bool)
        b[: discordant // 2 + k // 2] = False  # a right, b wrong
        a[discordant // 2 + k // 2 : discordant] = False  # b right, a wrong
        decision = decide_family([paired_difference([accuracy_run(a)], [accuracy_run(b)], ["T"], bootstrap)])[
            0
        ]
        seen[k] = decision
    unstable = [k for k, d in seen.items() if not d.stable]
    assert unstable, {k: d.block_verdicts for k, d in seen.items()}
    for k in unstable:
        assert seen[k].verdict == INCONCLUSIVE and HOLDS in (*seen[k].block_verdicts, seen[k].pooled)
    assert seen[0].verdict == INCONCLUSIVE and seen[0].stable
    assert seen[30].verdict == HOLDS and seen[30].stable
