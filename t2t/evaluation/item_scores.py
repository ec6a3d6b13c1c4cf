"""A task's main score from its item outputs: on all items, a subset, or thousands of resamples.

One record is one (subset, split) of a task as `t2t.evaluation.items.task_items` stores it. Per
task type, `SCORERS[type]` has

- `score(record, index=None) -> float`: mteb's main score on the items `index` (all if None),
  computed as mteb computes it (same functions where mteb calls scipy or scikit-learn), so that on
  all items it equals mteb's number exactly (`tests/t2t/evaluation/test_items.py`, per task type);
- `resampled(record, draw) -> (R,)`: the same score on every row of `draw`, an `(R, n)` array of
  item indices (one bootstrap resample per row), vectorised. Equal to `score(record, row)` for each
  row up to float rounding (~1e-12; a test compares them).
- `experiments(record) -> (E, k)` (types whose evaluator fits models: classification, clustering;
  None for the others): one row per mteb experiment (a classifier fit, a k-means run), whose mean
  is that experiment's score; the main score is the mean of the rows' means. Classification gives
  each test text's correctness (k = n items: its score is linear in them), clustering each
  experiment's V-measure (k = 1). `t2t.stats.evaluator` turns their spread into a variance.

The scores, per type, and what an item is:

- STS: Spearman's rho of gold scores and cosine similarities; an item is a pair.
- Classification: accuracy, averaged over mteb's experiments; an item is a test text.
- Retrieval: nDCG@10 averaged over queries (pytrec_eval's per-query values) and rounded to 5
  decimals as mteb rounds it (`parse_metrics_from_scores`); an item is a query.
- PairClassification: `max_ap`, the largest average precision over mteb's five similarity
  functions (cosine, dot, model similarity, and negated Euclidean and Manhattan distances); an item
  is a pair. AP is recomputed on each resample (scikit-learn's `average_precision_score`).
- Summarization: Spearman's rho between expert relevance and the best cosine to a reference
  summary, per article, averaged over articles; an item is an article.
- Clustering: V-measure averaged over mteb's k-means experiments; an item is an embedded document.
  Each experiment fitted k-means once on its draw of documents; its cluster assignments are kept
  fixed and a resample re-weights the documents (a document drawn twice counts twice in every
  experiment that drew it). Re-clustering each resample (10 k-means fits × 10,000 resamples) would
  also resample k-means' own randomness, at hours per task; conditioning on the fitted clusters is
  what classification does with its fitted classifiers, and it measures how much the score depends
  on which documents were drawn. It leaves out k-means' variation (and classification the
  classifiers'); the spread over mteb's experiments (`experiments`) adds it back as a variance
  component of its own (`t2t.stats.evaluator`). (Our choice; MTEB reports no intervals.)

How the resamples stay O(R·n) with no Python loop per resample: a draw becomes per-item counts
(`np.bincount` over the flattened rows). Scores that are a mean over items (retrieval,
summarization, classification) gather per-item values. Rank statistics sort the items once: within a
resample, an item's average rank is the count of drawn items before its tie group plus half its
group's count (a cumulative sum of counts in sorted order), which gives Spearman's rho; average
precision takes true and false positives as cumulative counts over the score-sorted groups of tied
scores, as scikit-learn groups thresholds. V-measure needs each experiment's contingency table
(label × cluster), a sparse product of the counts with each document's cell.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import scipy.sparse
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, v_measure_score

from t2t.core.config import choose

Record = Mapping[str, Any]
CHUNK_ELEMENTS = 1 << 18
"""Resamples are processed in chunks of about this many (resample, item) cells (2 MB of float64):
larger chunks run slower, their temporaries outgrowing the caches and paid for in fresh pages
(`python -m reproduce tables` at smol, 2 cores: 68 s with 1 << 22, 48 s with 1 << 18, same bytes)."""


@dataclasses.dataclass(frozen=True)
class ItemScorer:
    """How one task type's main score is computed from a record (module docstring)."""

    score: Callable[[Record, np.ndarray | None], float]
    resampled: Callable[[Record, np.ndarray], np.ndarray]
    experiments: Callable[[Record], np.ndarray] | None = None


def _chunks(draw: np.ndarray, cells_per_resample: int = 0) -> Iterator[np.ndarray]:
    """Consecutive resamples (rows of `draw`) holding about `CHUNK_ELEMENTS` cells together."""
    rows = max(1, CHUNK_ELEMENTS // max(draw.shape[1], cells_per_resample, 1))
    for start in range(0, draw.shape[0], rows):
        yield draw[start : start + rows]


def item_counts(draw: np.ndarray, n: int) -> np.ndarray:
    """`(n, R)` counts: how often item i is drawn in resample r (row r of `draw`).

    Items by resamples, so that sums over items (cumulative or by group) run over contiguous rows.
    """
    rows = draw.shape[0]
    flat = (draw * rows + np.arange(rows)[:, None]).ravel()
    return np.bincount(flat, minlength=n * rows).reshape(n, rows).astype(np.float64)


def membership(group: np.ndarray, groups: int) -> scipy.sparse.csr_matrix:
    """`(groups, n)` 0/1 sparse matrix putting item i into row `group[i]`:
    `membership(...) @ item_counts(...)` sums each resample's counts by group."""
    n = len(group)
    return scipy.sparse.csr_matrix((np.ones(n), (group, np.arange(n))), shape=(groups, n))


def _per_chunk(
    draw: np.ndarray, n: int, score: Callable[[np.ndarray], np.ndarray], cells_per_resample: int = 0
) -> np.ndarray:
    """`score(item_counts(chunk))` over chunks of the resamples, concatenated: `(R,)`. Chunks hold
    about `CHUNK_ELEMENTS` counts (or `cells_per_resample` per resample, when that is more)."""
    chunks = _chunks(draw, cells_per_resample)
    return np.concatenate([score(item_counts(chunk, n)) for chunk in chunks] or [np.zeros(0)])


# ---------------------------------------------------------------- per-item means


def _mean_of_values(values: Callable[[Record], np.ndarray], finish=lambda x: x) -> ItemScorer:
    """A score that is the mean of a per-item value (then `finish`ed, e.g. mteb's rounding)."""

    def score(record: Record, index: np.ndarray | None = None) -> float:
        per_item = values(record)
        return float(finish(np.mean(per_item if index is None else per_item[index])))

    def resampled(record: Record, draw: np.ndarray) -> np.ndarray:
        per_item = values(record)
        return finish(np.concatenate([per_item[chunk].mean(axis=1) for chunk in _chunks(draw)]))

    return ItemScorer(score, resampled)


def classification_score(record: Record, index: np.ndarray | None = None) -> float:
    """Accuracy per experiment, averaged (mteb's `accuracy` over `n_experiments`)."""
    gold, predicted = np.asarray(record["gold"]), np.asarray(record["predicted"])
    index = slice(None) if index is None else index
    return float(np.mean([np.mean(p[index] == gold[index]) for p in predicted]))


def _hit_rate(record: Record) -> np.ndarray:
    """Per test text, the fraction of experiments that label it right: accuracy is linear in the
    items, so the mean over experiments of each resample's accuracy is this rate's mean."""
    return (np.asarray(record["predicted"]) == np.asarray(record["gold"])[None]).mean(axis=0)


def classification_experiments(record: Record) -> np.ndarray:
    """`(E, n)`: whether experiment e's classifier labels test text i right (row means: the
    experiments' accuracies, mteb's `scores_per_experiment`)."""
    return (np.asarray(record["predicted"]) == np.asarray(record["gold"])[None]).astype(np.float64)


CLASSIFICATION = ItemScorer(
    classification_score, _mean_of_values(_hit_rate).resampled, classification_experiments
)


def _round5(value):
    return np.round(value, 5)


def retrieval_score(record: Record, index: np.ndarray | None = None) -> float:
    """nDCG@10 over the queries `index`: mteb's `round(sum(per query) / queries, 5)`."""
    values = np.asarray(record["ndcg_at_10"], dtype=np.float64)
    chosen = values if index is None else values[index]
    return round(sum(chosen.tolist()) / len(chosen), 5)


RETRIEVAL = ItemScorer(
    retrieval_score,
    _mean_of_values(lambda record: np.asarray(record["ndcg_at_10"], dtype=np.float64), _round5).resampled,
)


def summary_spearman(record: Record) -> np.ndarray:
    """Per article: Spearman's rho of expert relevance and predicted (best cosine) scores, as
    mteb's `SummarizationEvaluator._calculate_metrics` computes `cosine_spearman`."""
    return np.array(
        [
            float(spearmanr(human, predicted).statistic)
            for human, predicted in zip(record["gold"], record["predicted"], strict=True)
        ]
    )


SUMMARIZATION = _mean_of_values(summary_spearman)


# ---------------------------------------------------------------- rank statistics


@dataclasses.dataclass(frozen=True)
class _TieGroups:
    """Items sorted once by a value: each item's position in the (stable) sort, and tie groups.

    Attributes:
        position: `(n,)` each item's position in sorted order.
        group: `(n,)` the tie group of each item; groups are numbered in sorted order.
        group_at: `(n,)` the tie group at each sorted position.
        starts: first sorted position of each group.
    """

    position: np.ndarray
    group: np.ndarray
    group_at: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, descending: bool = False) -> _TieGroups:
        order = np.argsort(-values if descending else values, kind="stable")
        ordered = values[order]
        new = np.r_[True, ordered[1:] != ordered[:-1]]
        group_at = np.cumsum(new) - 1
        position, group = np.empty_like(order), np.empty_like(order)
        position[order] = np.arange(len(order))
        group[order] = group_at
        return cls(position, group, group_at, np.flatnonzero(new))

    @property
    def size(self) -> int:
        return len(self.starts)


def _average_ranks(group_counts: np.ndarray) -> np.ndarray:
    """`(groups, R)` average rank (from 1) of each tie group's copies, from `(groups, R)` counts in
    ascending order: the copies before the group plus half the group's (`scipy.stats.rankdata`)."""
    through = np.cumsum(group_counts, axis=0)
    through -= (group_counts - 1) / 2
    return through


def _rank_spread(group_counts: np.ndarray, n: int) -> np.ndarray:
    """Sum over a resample's n copies of (average rank - (n + 1) / 2)^2: (n^3 - n) / 12 less the tie
    correction (t^3 - t) / 12 per group of t tied copies."""
    ties = (group_counts * group_counts * group_counts - group_counts).sum(axis=0)
    return (n**3 - n - ties) / 12


def sts_score(record: Record, index: np.ndarray | None = None) -> float:
    """Spearman's rho of gold scores and cosine similarities (mteb's `cosine_spearman`)."""
    gold, predicted = np.asarray(record["gold"]), np.asarray(record["predicted"])
    index = slice(None) if index is None else index
    return float(spearmanr(gold[index], predicted[index])[0])


def sts_resampled(record: Record, draw: np.ndarray) -> np.ndarray:
    """Spearman's rho per resample: Pearson's r of average ranks, each item weighted by its count.

    Counts are taken by position in the prediction order, so the prediction ranks are one cumulative
    sum; gold scores have few distinct values, so their ranks come from counts per gold group. Both
    rank vectors average m = (n + 1) / 2 in every resample, so the covariance is
    sum(count x gold rank x predicted rank) - n m^2, and the variances are `_rank_spread`.
    """
    gold = _TieGroups.of(np.asarray(record["gold"], dtype=np.float64))
    predicted = _TieGroups.of(np.asarray(record["predicted"], dtype=np.float64))
    n = draw.shape[1]
    gold_at = gold.group[np.argsort(predicted.position)]  # gold group of the item at each position
    by_gold = membership(gold_at, gold.size)
    tied = predicted.size < n
    by_predicted = membership(predicted.group_at, predicted.size) if tied else None

    def score(weight: np.ndarray) -> np.ndarray:  # (n, R) counts, by prediction order
        in_group = by_predicted @ weight if tied else weight
        rank = _average_ranks(in_group)
        in_gold = by_gold @ weight
        products = by_gold @ (weight * (rank[predicted.group_at] if tied else rank))
        cross = (_average_ranks(in_gold) * products).sum(axis=0) - n * ((n + 1) / 2) ** 2
        return cross / np.sqrt(_rank_spread(in_gold, n) * _rank_spread(in_group, n))

    return _per_chunk(predicted.position[draw], n, score)


STS = ItemScorer(sts_score, sts_resampled)


def _oriented_scores(record: Record) -> list[np.ndarray]:
    """Each similarity function's scores, higher = more similar, duplicates (cosine = the model's
    similarity for cosine models) once: their AP is the same."""
    unique: list[np.ndarray] = []
    for values in record["predicted"].values():
        values = np.asarray(values, dtype=np.float64)
        if not any(np.array_equal(values, seen) for seen in unique):
            unique.append(values)
    return unique


def pair_score(record: Record, index: np.ndarray | None = None) -> float:
    """mteb's `max_ap`: the largest `average_precision_score` over the similarity functions."""
    gold = np.asarray(record["gold"])
    index = slice(None) if index is None else index
    return float(max(average_precision_score(gold[index], s[index]) for s in _oriented_scores(record)))


def _precision_blocks(gold: np.ndarray, scores: np.ndarray) -> scipy.sparse.csr_matrix:
    """Items into the blocks of `average_precision_resampled`: row 2b holds block b's negatives,
    row 2b + 1 its positives."""
    groups = _TieGroups.of(scores, descending=True)
    positive = np.asarray(gold, dtype=bool)
    holds_positive = np.bincount(groups.group[positive], minlength=groups.size) > 0
    block_of_group = np.cumsum(holds_positive) - holds_positive  # negatives-only groups join the next
    blocks = int(holds_positive.sum())
    return membership(2 * block_of_group[groups.group] + positive, 2 * blocks + 2)[: 2 * blocks]


def _average_precision(blocks: scipy.sparse.csr_matrix, weight: np.ndarray) -> np.ndarray:
    per_block = (blocks @ weight).reshape(-1, 2, weight.shape[1])  # (blocks, negatives|positives, R)
    hits = per_block[:, 1]
    through = np.cumsum(per_block.sum(axis=1), axis=0)
    precision = np.divide(np.cumsum(hits, axis=0), through, out=np.zeros(through.shape), where=through > 0)
    return (hits * precision).sum(axis=0) / hits.sum(axis=0)


def average_precision_resampled(gold: np.ndarray, scores: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """`average_precision_score(gold[row], scores[row])` for every row of `draw`.

    Sorted by descending score, tied scores form one threshold (scikit-learn's `_binary_clf_curve`);
    AP = sum over thresholds of (positives at the threshold) x precision there / all positives, with
    precision = positives / all items at or above it. Only thresholds holding a positive add to the
    sum, so the items are cut into blocks, each ending at such a threshold: the negatives since the
    previous one, and its positives. A resample's counts per block (a sparse product) give the
    precision at each threshold by two cumulative sums over blocks, not over items.
    """
    blocks = _precision_blocks(gold, scores)
    return _per_chunk(draw, len(gold), lambda weight: _average_precision(blocks, weight))


def pair_resampled(record: Record, draw: np.ndarray) -> np.ndarray:
    """`max_ap` per resample: each function's AP on the same counts, the largest."""
    gold = np.asarray(record["gold"])
    functions = [_precision_blocks(gold, scores) for scores in _oriented_scores(record)]
    return _per_chunk(
        draw, len(gold), lambda weight: np.max([_average_precision(b, weight) for b in functions], axis=0)
    )


PAIR_CLASSIFICATION = ItemScorer(pair_score, pair_resampled)


# ---------------------------------------------------------------- clustering


def _labels(record: Record, experiment: int) -> np.ndarray:
    """Each document's label at the level experiment `experiment` clustered."""
    level = record["levels"][experiment]
    return np.asarray([labels[level] for labels in record["gold"]])


def _expanded(record: Record, experiment: int, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and clusters of experiment `experiment`'s k-means input, documents weighted."""
    repeats = (np.asarray(record["counts"][experiment]) * weight).astype(np.int64)
    labels = np.repeat(_labels(record, experiment), repeats)
    return labels, np.repeat(np.asarray(record["predicted"][experiment]), repeats)


def clustering_score(record: Record, index: np.ndarray | None = None) -> float:
    """mteb's `v_measure`: scikit-learn's V-measure of each experiment, averaged."""
    n = len(record["gold"])
    weight = np.ones(n) if index is None else np.bincount(np.asarray(index), minlength=n)
    scores = [float(v_measure_score(*_expanded(record, e, weight))) for e in range(len(record["predicted"]))]
    return float(np.mean(scores))


def _xlogx(x: np.ndarray) -> np.ndarray:
    return x * np.log(np.where(x > 0, x, 1.0))


def v_measure_from_contingency(table: np.ndarray) -> np.ndarray:
    """V-measure (beta = 1) of `(..., labels, clusters)` contingency tables, as scikit-learn's
    `homogeneity_completeness_v_measure`: MI / H(labels) and MI / H(clusters) (1 when the entropy
    is 0), harmonic mean (0 when both are 0)."""
    total = table.sum(axis=(-2, -1))
    by_label, by_cluster = table.sum(-1), table.sum(-2)
    log_total = np.log(total)
    label_entropy = log_total - _xlogx(by_label).sum(-1) / total
    cluster_entropy = log_total - _xlogx(by_cluster).sum(-1) / total
    label_entropy[(by_label > 0).sum(-1) <= 1] = 0.0
    cluster_entropy[(by_cluster > 0).sum(-1) <= 1] = 0.0
    information = (
        log_total
        + (_xlogx(table).sum((-2, -1)) - _xlogx(by_label).sum(-1) - _xlogx(by_cluster).sum(-1)) / total
    )
    information[(label_entropy == 0) | (cluster_entropy == 0)] = 0.0  # one class or one cluster
    information = np.clip(information, 0.0, None)
    homogeneity = np.divide(information, label_entropy, out=np.ones_like(total), where=label_entropy > 0)
    completeness = np.divide(information, cluster_entropy, out=np.ones_like(total), where=cluster_entropy > 0)
    both = homogeneity + completeness
    return np.divide(2 * homogeneity * completeness, both, out=np.zeros_like(total), where=both > 0)


def clustering_resampled(record: Record, draw: np.ndarray) -> np.ndarray:
    """V-measure of every experiment on every resample, averaged over experiments.

    Each document sits in one contingency cell per experiment (its label at the experiment's level,
    its cluster) with the weight of the times k-means saw it; `cells` maps documents to the cells of
    all experiments, so one sparse product with the `(n, R)` counts gives every experiment's table for
    every resample (tables padded to the largest label and cluster counts: empty rows add nothing).
    """
    predicted, seen = np.asarray(record["predicted"]), np.asarray(record["counts"], dtype=np.float64)
    experiments, n = predicted.shape
    codes = np.stack(
        [np.unique(_labels(record, e), return_inverse=True)[1].ravel() for e in range(experiments)]
    )
    n_labels, n_clusters = int(codes.max()) + 1, max(int(predicted.max()) + 1, 1)
    cell = (np.arange(experiments)[:, None] * n_labels + codes) * n_clusters + np.maximum(predicted, 0)
    drawn = seen > 0
    cells = scipy.sparse.csr_matrix(
        (seen[drawn], (cell[drawn], np.nonzero(drawn)[1])), shape=(experiments * n_labels * n_clusters, n)
    )

    def score(weight: np.ndarray) -> np.ndarray:  # (n, R) counts
        tables = (cells @ weight).reshape(experiments, n_labels, n_clusters, weight.shape[1])
        return v_measure_from_contingency(np.moveaxis(tables, -1, 0)).mean(axis=1)

    return _per_chunk(draw, n, score, cells_per_resample=experiments * n_labels * n_clusters)


def clustering_experiments(record: Record) -> np.ndarray:
    """`(E, 1)`: each k-means experiment's V-measure on its draw (mteb's `v_measures`)."""
    weight = np.ones(len(record["gold"]))
    return np.array(
        [[v_measure_score(*_expanded(record, e, weight))] for e in range(len(record["predicted"]))]
    )


CLUSTERING = ItemScorer(clustering_score, clustering_resampled, clustering_experiments)


SCORERS: dict[str, ItemScorer] = {
    "STS": STS,
    "Classification": CLASSIFICATION,
    "Retrieval": RETRIEVAL,
    "PairClassification": PAIR_CLASSIFICATION,
    "Summarization": SUMMARIZATION,
    "Clustering": CLUSTERING,
}


def scorer(task_type: str) -> ItemScorer:
    """The `ItemScorer` of an MTEB task type; an unknown type raises `ConfigError` listing them."""
    return choose(SCORERS, task_type, "task type with item outputs")
