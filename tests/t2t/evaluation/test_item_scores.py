"""Per-type item scoring: on all items it is the metric mteb calls; on resamples the vectorised
path equals the metric recomputed resample by resample (and scikit-learn's own functions)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, v_measure_score

from t2t.core.config import ConfigError
from t2t.evaluation.item_scores import (
    SCORERS,
    average_precision_resampled,
    item_counts,
    scorer,
    v_measure_from_contingency,
)

RESAMPLES = 40


def sts_record(rng, n=300) -> dict:
    gold = rng.integers(0, 26, n) / 5  # few distinct gold scores: many ties, as in STS
    predicted = gold + rng.normal(0, 2, n)
    predicted[:30] = predicted[30:60]  # tied predictions too
    return {"gold": gold.tolist(), "predicted": predicted.tolist()}


def classification_record(rng, n=300, experiments=4) -> dict:
    gold = rng.integers(0, 5, n)
    predicted = [
        np.where(rng.random(n) < 0.7, gold, rng.integers(0, 5, n)).tolist() for _ in range(experiments)
    ]
    return {"gold": gold.tolist(), "predicted": predicted}


def retrieval_record(rng, n=300) -> dict:
    values = np.where(rng.random(n) < 0.3, 0.0, rng.random(n))
    return {"gold": [{"d": 1}] * n, "ndcg_at_10": values.tolist()}


def pair_record(rng, n=300) -> dict:
    gold = (rng.random(n) < 0.25).astype(int)
    cosine = np.round(gold + rng.normal(0, 1, n), 1)  # rounded: many tied scores
    predicted = {
        "similarity_scores": cosine.tolist(),
        "cosine_scores": cosine.tolist(),
        "dot_scores": (gold + rng.normal(0, 1, n)).tolist(),
        "euclidean_distances": (-gold + rng.normal(0, 1, n)).tolist(),
    }
    return {"gold": gold.tolist(), "predicted": predicted}


def summarization_record(rng, articles=60) -> dict:
    gold = [rng.integers(1, 6, 16).tolist() for _ in range(articles)]
    predicted = [(np.asarray(g) + rng.normal(0, 2, 16)).tolist() for g in gold]
    return {"gold": gold, "predicted": predicted}


def clustering_record(rng, n=300, experiments=3) -> dict:
    """Two levels of labels (like ArXivHierarchical), experiments on each; drawn documents only."""
    coarse = rng.integers(0, 3, n)
    fine = coarse * 4 + rng.integers(0, 4, n)
    gold = [[int(c), int(f)] for c, f in zip(coarse, fine, strict=True)]
    levels, predicted, counts = [], [], []
    for level, labels in ((0, coarse), (1, fine)):
        for _ in range(experiments):
            seen = np.bincount(rng.integers(0, n, 2 * n), minlength=n)
            cluster = np.where(rng.random(n) < 0.6, labels, rng.integers(0, labels.max() + 1, n))
            cluster[seen == 0] = -1
            levels.append(level)
            predicted.append(cluster.tolist())
            counts.append(seen.tolist())
    return {"gold": gold, "levels": levels, "predicted": predicted, "counts": counts}


RECORDS = {
    "STS": sts_record,
    "Classification": classification_record,
    "Retrieval": retrieval_record,
    "PairClassification": pair_record,
    "Summarization": summarization_record,
    "Clustering": clustering_record,
}


def test_every_task_type_with_items_has_a_scorer():
    assert set(SCORERS) == set(RECORDS)
    with pytest.raises(ConfigError, match="Retrieval"):
        scorer("Reranking")


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_resampled_scores_equal_scoring_each_resample(kind):
    rng = np.random.default_rng(sorted(RECORDS).index(kind))
    record = RECORDS[kind](rng)
    n = len(record["gold"])
    draw = rng.integers(0, n, (RESAMPLES, n))
    item_scorer = scorer(kind)
    fast = item_scorer.resampled(record, draw)
    slow = np.array([item_scorer.score(record, row) for row in draw])
    assert fast.shape == (RESAMPLES,) and np.isfinite(fast).all()
    np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9)
    assert np.std(fast) > 0  # the resamples differ: not a constant passed through
    identity = np.arange(n)[None]
    assert item_scorer.resampled(record, identity)[0] == pytest.approx(item_scorer.score(record), abs=1e-12)


def test_scores_on_all_items_are_the_library_metrics():
    rng = np.random.default_rng(7)
    sts = sts_record(rng)
    assert scorer("STS").score(sts) == float(spearmanr(sts["gold"], sts["predicted"])[0])
    pairs = pair_record(rng)
    best = max(average_precision_score(pairs["gold"], s) for s in pairs["predicted"].values())
    assert scorer("PairClassification").score(pairs) == best
    retrieval = retrieval_record(rng)
    assert scorer("Retrieval").score(retrieval) == round(sum(retrieval["ndcg_at_10"]) / 300, 5)
    summaries = summarization_record(rng)
    per_article = [spearmanr(g, p).statistic for g, p in zip(summaries["gold"], summaries["predicted"])]
    assert scorer("Summarization").score(summaries) == float(np.mean(per_article))


def test_clustering_score_is_v_measure_of_each_experiments_draw():
    rng = np.random.default_rng(8)
    record = clustering_record(rng)
    expected = []
    for level, cluster, seen in zip(record["levels"], record["predicted"], record["counts"], strict=True):
        labels = np.repeat([g[level] for g in record["gold"]], seen)
        expected.append(v_measure_score(labels, np.repeat(cluster, seen)))
    assert scorer("Clustering").score(record) == float(np.mean(expected))
    np.testing.assert_allclose(scorer("Clustering").experiments(record)[:, 0], expected, rtol=0, atol=1e-12)


def test_experiments_are_mtebs_per_experiment_scores_and_only_where_the_evaluator_fits():
    """Classification: one row per fit, each test text's correctness, row means = each fit's
    accuracy (mteb's `scores_per_experiment`), their mean the main score; the types that fit nothing
    have no experiments."""
    rng = np.random.default_rng(9)
    record = classification_record(rng)
    values = scorer("Classification").experiments(record)
    gold = np.asarray(record["gold"])
    assert values.shape == (4, 300)
    accuracies = [np.mean(np.asarray(p) == gold) for p in record["predicted"]]
    np.testing.assert_allclose(values.mean(axis=1), accuracies, rtol=0, atol=1e-15)
    assert values.mean() == pytest.approx(scorer("Classification").score(record), abs=1e-15)
    assert {kind for kind, s in SCORERS.items() if s.experiments is None} == {
        "STS", "Retrieval", "PairClassification", "Summarization"
    }  # fmt: skip


def test_average_precision_resampled_is_sklearns_on_each_draw():
    rng = np.random.default_rng(3)
    gold = (rng.random(200) < 0.3).astype(int)
    scores = np.round(gold + rng.normal(0, 1, 200), 1)
    draw = rng.integers(0, 200, (25, 200))
    expected = [average_precision_score(gold[row], scores[row]) for row in draw]
    np.testing.assert_allclose(average_precision_resampled(gold, scores, draw), expected, rtol=0, atol=1e-12)


def test_v_measure_from_contingency_matches_sklearn_and_its_edge_cases():
    rng = np.random.default_rng(4)
    labels, clusters = rng.integers(0, 4, 500), rng.integers(0, 6, 500)
    table = np.zeros((4, 6))
    np.add.at(table, (labels, clusters), 1)
    assert v_measure_from_contingency(table[None])[0] == pytest.approx(
        v_measure_score(labels, clusters), abs=1e-12
    )
    one_cluster = np.array([[[3.0], [5.0]]])  # two classes, one cluster: completeness 1, homogeneity 0
    assert v_measure_from_contingency(one_cluster)[0] == v_measure_score([0] * 3 + [1] * 5, [0] * 8) == 0.0
    one_class = np.array([[[2.0, 6.0]]])  # one class: homogeneity 1, completeness 0
    assert v_measure_from_contingency(one_class)[0] == v_measure_score([0] * 8, [0] * 2 + [1] * 6) == 0.0


def test_item_counts_are_items_by_resamples():
    draw = np.array([[0, 0, 2], [1, 2, 2]])
    np.testing.assert_array_equal(item_counts(draw, 3), [[2, 0], [0, 1], [1, 2]])
