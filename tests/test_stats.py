"""The statistics module on synthetic item outputs where the answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from t2t.stats import (
    Bootstrap,
    cell_interval,
    full_average,
    paired_difference,
    rescore,
    seed_std,
    share_band,
)


def sts(gold, predicted) -> dict:
    return {
        "type": "STS",
        "subsets": {"default": {"test": {"gold": list(gold), "predicted": list(predicted)}}},
    }


def classification(gold, experiments) -> dict:
    record = {"gold": list(gold), "predicted": [list(p) for p in experiments]}
    return {"type": "Classification", "subsets": {"default": {"test": record}}}


def noisy_sts(rng, n=400, noise=1.0) -> dict:
    gold = rng.uniform(0, 5, n)
    return sts(gold, gold + rng.normal(0, noise, n))


def with_accuracy(gold: np.ndarray, accuracy: float, rng, experiments=3) -> dict:
    """Predictions right on exactly `accuracy` of the items (a random subset per experiment)."""
    predicted = []
    for _ in range(experiments):
        wrong = rng.permutation(len(gold))[: int(round((1 - accuracy) * len(gold)))]
        guess = gold.copy()
        guess[wrong] = (gold[wrong] + 1) % 5
        predicted.append(guess)
    return classification(gold, predicted)


def test_rescore_on_all_items_is_the_task_metric():
    rng = np.random.default_rng(0)
    task = noisy_sts(rng)
    record = task["subsets"]["default"]["test"]
    assert rescore(task) == float(spearmanr(record["gold"], record["predicted"])[0])
    gold = rng.integers(0, 5, 300)
    assert rescore(with_accuracy(gold, 0.8, rng)) == pytest.approx(0.8)


def test_identical_runs_differ_by_exactly_zero():
    rng = np.random.default_rng(1)
    run = {"A": noisy_sts(rng), "B": with_accuracy(rng.integers(0, 5, 200), 0.7, rng)}
    difference = paired_difference([run], [run], ["A", "B"], bootstrap=Bootstrap(resamples=200))
    assert difference.estimate == 0 and difference.low == 0 and difference.high == 0
    assert not difference.excludes_zero()


def test_a_known_shift_is_recovered_and_pairing_tightens_the_interval():
    rng = np.random.default_rng(2)
    gold = rng.integers(0, 5, 500)
    better = {"T": with_accuracy(gold, 0.80, rng)}
    worse_predictions = []
    for predicted in better["T"]["subsets"]["default"]["test"]["predicted"]:
        predicted = np.array(predicted)
        right = np.flatnonzero(predicted == gold)[:15]  # 15 of 500 more mistakes: 3 points worse
        predicted[right] = (gold[right] + 1) % 5
        worse_predictions.append(predicted)
    worse = {"T": classification(gold, worse_predictions)}
    difference = paired_difference([better], [worse], ["T"], bootstrap=Bootstrap(resamples=500))
    assert difference.estimate == pytest.approx(3.0)
    assert difference.low <= 3.0 <= difference.high and difference.excludes_zero()
    a, b = (
        cell_interval([better], ["T"], bootstrap=Bootstrap(resamples=500)),
        cell_interval([worse], ["T"], bootstrap=Bootstrap(resamples=500)),
    )
    assert a.low < b.high  # the two separate intervals overlap...
    assert difference.half_width < a.half_width + b.half_width  # ...the paired one is tighter


def test_seeds_widen_the_interval_and_report_their_spread():
    rng = np.random.default_rng(3)
    gold = rng.uniform(0, 5, 300)
    seeds = [{"T": sts(gold, gold + rng.normal(0, noise, 300))} for noise in (0.6, 1.0, 1.6)]
    one = cell_interval(seeds[:1], ["T"], bootstrap=Bootstrap(resamples=400))
    three = cell_interval(seeds, ["T"], bootstrap=Bootstrap(resamples=400))
    assert three.seeds == 3 and three.estimate == pytest.approx(
        np.mean([full_average(s, ["T"]) for s in seeds])
    )
    assert three.half_width > one.half_width
    assert seed_std(seeds, ["T"]) > 1.0 and seed_std(seeds[:1], ["T"]) is None


def test_intervals_are_reproducible_and_cover_the_estimate():
    rng = np.random.default_rng(4)
    run = {"A": noisy_sts(rng), "B": noisy_sts(rng, noise=2.0)}
    first, again = (
        cell_interval([run], ["A", "B"], bootstrap=Bootstrap(resamples=300)),
        cell_interval([run], ["A", "B"], bootstrap=Bootstrap(resamples=300)),
    )
    assert first == again and first.low < first.estimate < first.high


def test_missing_items_are_an_error_not_a_narrow_interval():
    with pytest.raises(ValueError, match="no item outputs for B"):
        cell_interval([{"A": sts([1, 2, 3], [1, 2, 3])}], ["A", "B"])


def test_mean_over_task_types_weighs_categories_equally():
    """Mean(TaskType) as a weighted mean over tasks equals the mean of the category means, with an
    interval like any other aggregate."""
    from reproduce.tables import category_weights

    rng = np.random.default_rng(5)
    gold = rng.integers(0, 5, 400)
    run = {
        "A": with_accuracy(gold, 0.9, rng),
        "B": with_accuracy(gold, 0.8, rng),
        "C": with_accuracy(gold, 0.8, rng),
        "D": with_accuracy(gold, 0.5, rng),
    }
    categories = {"A": "STS", "B": "STS", "C": "STS", "D": "Classification"}
    weights = category_weights(list(run), categories)
    expected = 100 * ((0.9 + 0.8 + 0.8) / 3 + 0.5) / 2
    assert full_average(run, list(run), weights) == pytest.approx(expected)
    assert full_average(run, list(run)) == pytest.approx(100 * (0.9 + 0.8 + 0.8 + 0.5) / 4)
    interval = cell_interval([run], list(run), weights=weights, bootstrap=Bootstrap(resamples=300))
    assert interval.low < expected < interval.high


def test_share_band_collapses_when_every_sentence_changes_alike_and_covers_the_share():
    rng = np.random.default_rng(0)
    profile = np.array([0.5, 0.3, 0.1])  # every sentence puts the same fractions on 3 components
    total = rng.uniform(0.5, 2.0, size=200)
    low, high = share_band(total[:, None] * profile, total, Bootstrap(resamples=200))
    np.testing.assert_allclose(low, profile, atol=1e-12)
    np.testing.assert_allclose(high, profile, atol=1e-12)

    # noisy per-sentence shares: the band contains the full-sample share and has width
    squared = total[:, None] * rng.dirichlet([5, 3, 1], size=200) * 0.9
    full = squared.sum(0) / total.sum()
    low, high = share_band(squared, total, Bootstrap(resamples=500))
    assert np.all(low < full) and np.all(full < high)
    assert np.all(high - low > 0.005)
    # more sentences from the same law: a narrower band
    big_total = rng.uniform(0.5, 2.0, size=3200)
    big = big_total[:, None] * rng.dirichlet([5, 3, 1], size=3200) * 0.9
    big_low, big_high = share_band(big, big_total, Bootstrap(resamples=500))
    assert np.all(big_high - big_low < (high - low) / 2)
