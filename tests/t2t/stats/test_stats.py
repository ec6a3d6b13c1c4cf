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
    from reproduce.cells.tables import category_weights

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


def test_pooled_seed_variance_is_the_unbiased_within_cell_variance():
    from t2t.stats import pooled_seed_variance

    pooled = pooled_seed_variance([[1.0, 3.0], [10.0, 10.0, 13.0], [7.0]], "demo")
    assert pooled.variance == pytest.approx((2 + 6) / 3) and pooled.df == 3 and pooled.measured
    assert not pooled_seed_variance([[1.0], [2.0]]).measured  # single seeds: nothing to pool


def test_a_single_seed_side_gets_the_pooled_seed_variance_and_says_what_it_covers():
    """Items only for a lone run; with the pooled s^2 its interval widens by t * sqrt(s^2 / S) in
    quadrature, and an untrained side adds no seed term."""
    from t2t.stats import NOT_MEASURED, UNTRAINED, Sample, SeedVariance

    rng = np.random.default_rng(6)
    gold = rng.integers(0, 5, 400)
    a, b = {"T": with_accuracy(gold, 0.8, rng)}, {"T": with_accuracy(gold, 0.7, rng)}
    bootstrap = Bootstrap(resamples=300)
    bare = paired_difference(Sample((a,), NOT_MEASURED), Sample((b,), UNTRAINED), ["T"], bootstrap)
    pool = SeedVariance(4.0, 8, "table3 [x]: 4 cells, 8 df")
    seeded = paired_difference(Sample((a,), pool), Sample((b,), UNTRAINED), ["T"], bootstrap)
    assert bare.seed_model == "test items only" and seeded.seed_model == "test items and seeds"
    assert seeded.estimate == bare.estimate == pytest.approx(10.0)
    se_items, _ = bare.se_df()
    se, df = seeded.se_df()
    assert se == pytest.approx(np.sqrt(se_items**2 + 4.0))
    assert df == pytest.approx(se**4 / (4.0**2 / 8))  # Welch-Satterthwaite
    assert seeded.half_width > bare.half_width
    both = paired_difference(Sample((a,), pool), Sample((b,), pool), ["T"], bootstrap)
    assert both.seed_terms == ((8.0, 8),)  # one pooled s^2: one term s^2 (1/1 + 1/1), its df
    assert (
        cell_interval(Sample((b,), UNTRAINED), ["T"], bootstrap).seed_model == "test items only (untrained)"
    )


def test_draws_are_chunked_deterministic_and_shared_by_every_run():
    """A block's draws depend on the task, sizes and block seed only, come in chunks of bounded size,
    and the chunked scores equal scoring the whole draw at once."""
    from t2t.stats import task_draws, task_resamples
    from t2t.stats.resample import CHUNK_INDICES, _resampled_scores, chunk_rows

    sizes = [3000, 500]
    assert chunk_rows(sizes) * sum(sizes) <= CHUNK_INDICES and chunk_rows([10**8]) == 1
    first = task_draws("T", sizes, 1500, seed=3)
    assert [d.shape for d in first] == [(1500, 3000), (1500, 500)]
    assert all(np.array_equal(x, y) for x, y in zip(first, task_draws("T", sizes, 1500, seed=3)))
    assert not np.array_equal(first[0], task_draws("T", sizes, 1500, seed=4)[0])
    assert not np.array_equal(first[0], task_draws("U", sizes, 1500, seed=3)[0])
    rng = np.random.default_rng(7)
    gold = rng.integers(0, 5, 3000)
    items = with_accuracy(gold, 0.75, rng)
    drawn = task_draws("T", [3000], 900, seed=1)
    assert chunk_rows([3000]) < 900  # several chunks
    np.testing.assert_array_equal(task_resamples(items, "T", 900, 1), _resampled_scores(items, drawn))


def test_precompute_in_two_processes_gives_the_same_scores_as_one(tmp_path):
    """The per-process cache filled by worker processes holds exactly what computing in place gives."""
    from t2t.stats import RunItems, cached_resamples, clear_cache, precompute, task_resamples

    rng = np.random.default_rng(8)
    runs = [RunItems(("run", i), {"A": noisy_sts(rng, n=300), "B": noisy_sts(rng, n=200)}) for i in range(2)]
    pairs = [(run, task) for run in runs for task in ("A", "B")]
    clear_cache()
    assert precompute(pairs, 50, [0, 1], jobs=2) == 8
    assert precompute(pairs, 50, [0, 1], jobs=2) == 0  # cached
    for run, task in pairs:
        for seed in (0, 1):
            np.testing.assert_array_equal(
                cached_resamples(run, task, 50, seed), task_resamples(run[task], task, 50, seed)
            )
    clear_cache()


def fitted_classifier_run(rng, n: int, fits: int, ability: float, shifts: np.ndarray, u: np.ndarray) -> dict:
    """A classification task scored by `fits` fits of a noisy classifier: fit e gets test text i
    right when u_i + noise < ability + shifts[e] (noise N(0, 0.05^2) per fit and text), so the
    expected accuracy over texts, fits and noise is `ability`."""
    correct = u[None] + rng.normal(0, 0.05, (fits, n)) < ability + shifts[:, None]
    return {"T": classification(np.zeros(n, dtype=int), np.where(correct, 0, 1))}


@pytest.mark.slow
def test_the_evaluators_own_fits_widen_the_interval_to_cover_the_true_accuracy():
    """Each of 10 fits shifts the classifier by N(0, 0.05^2): the fits' accuracies spread as much as
    the test items' draw does. Intervals with the fits' variance (`t2t.stats.evaluator`) cover the
    true accuracy (60) in >= 93% of 500 trials; the same intervals over test items only (the fitted
    classifiers held fixed, as the item bootstrap holds them) cover far less."""
    import dataclasses

    rng = np.random.default_rng(0)
    n, fits, trials = 1000, 10, 500
    covered = items_only = 0
    for trial in range(trials):
        run = fitted_classifier_run(rng, n, fits, 0.6, rng.normal(0, 0.05, fits), rng.uniform(0, 1, n))
        interval = cell_interval([run], ["T"], Bootstrap(resamples=200, blocks=1, seed=trial))
        assert len(interval.evaluator_terms) == 1 and interval.evaluator_terms[0][1] == fits - 1
        covered += interval.low <= 60 <= interval.high
        low, high = dataclasses.replace(interval, evaluator_terms=()).bounds()
        items_only += low <= 60 <= high
    assert covered / trials >= 0.93, covered / trials
    assert items_only / trials < 0.87, items_only / trials


def test_experiments_pair_across_runs_and_the_interaction_is_not_counted_twice():
    """Two runs fitted on the same draws (the same shift per fit, as mteb seeds its experiments): the
    shared shift cancels in their difference, whose evaluator variance is far below either cell's.
    Fits that differ only by per-text noise (no shift) leave nothing once the item x fit
    interaction, which the item bootstrap already counts, is taken out."""
    from t2t.stats.evaluator import evaluator_terms, experiment_variance

    rng = np.random.default_rng(1)
    n, fits = 1000, 10
    u, shifts = rng.uniform(0, 1, n), rng.normal(0, 0.05, fits)
    a = fitted_classifier_run(rng, n, fits, 0.65, shifts, u)
    b = fitted_classifier_run(rng, n, fits, 0.60, shifts, u)
    cell = sum(v for v, _ in evaluator_terms([(1.0, [a])], ["T"]))
    difference = sum(v for v, _ in evaluator_terms([(1.0, [a]), (-1.0, [b])], ["T"]))
    assert difference < cell / 4
    values = (rng.random((fits, n)) < 0.6).astype(float)  # fits that differ by noise alone
    raw = np.var(values.mean(1), ddof=1) / fits
    assert raw > 0 and experiment_variance(values) < raw / 3
    assert experiment_variance(np.array([[0.6], [0.7]])) == pytest.approx(0.0025)


def test_a_linear_contrast_generalises_the_paired_difference():
    """`a - b` through `linear_contrast` is `paired_difference` exactly; a cell minus the midpoint of
    two others has the midpoint's estimate and, with independent items, a narrower item variance
    than the difference to either one alone."""
    from t2t.stats import Bootstrap, linear_contrast, paired_difference
    from tests.fakes import accuracy_items

    tasks = ["A", "B"]
    runs = [{t: {"task": t, **accuracy_items(score + 0.01 * i, n=400, shuffle=seed + i)} for i, t in enumerate(tasks)}
            for score, seed in ((0.6, 1), (0.5, 2), (0.4, 3))]  # fmt: skip
    boot = Bootstrap(resamples=200)
    a, b, c = ([run] for run in runs)
    assert linear_contrast([(1, a), (-1, b)], tasks, boot) == paired_difference(a, b, tasks, boot)
    mid = linear_contrast([(1, a), (-0.5, b), (-0.5, c)], tasks, boot)
    assert mid.estimate == pytest.approx(60.5 - (50.5 + 40.5) / 2)
    assert np.mean(mid.item_variances) < np.mean(paired_difference(a, b, tasks, boot).item_variances)
