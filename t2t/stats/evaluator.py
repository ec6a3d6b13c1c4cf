"""The evaluator's own randomness: mteb's repeated classifier fits and k-means runs, as a variance.

Two task types fit a model inside the evaluation and repeat it: classification trains
`n_experiments` (10) logistic regressions, each on its own undersample of the training set, and
clustering runs `n_clusters` (10) k-means, each on its own draw of documents (with replacement).
The main score is the mean over those experiments. The item bootstrap (`t2t.stats.resample`) keeps
the fitted classifiers and clusters, so it sees which test items were drawn, not which fits: on
AmazonCounterfactual the accuracies of the 10 fits spread by 3-5 points (an SE of ~1-1.5 for their
mean, beside an item SE of ~0.9). This module adds that spread as a variance component of its own.

The experiments are mteb's and the item outputs keep them (`t2t.evaluation.item_scores`,
`experiments`): per (subset, split) record an `(E, k)` matrix whose row means are the experiments'
scores (classification: each test text's correctness, k = n; clustering: the V-measure, k = 1).
mteb seeds experiment e the same way for every model (the same undersample, the same draw), so
experiments pair across runs as items do: a cell or contrast `sum_j c_j x (mean over cell j's
seeds)` has its own matrix Y = sum_j c_j mean_s Y_js, row means x_e, and

    V_eval = max(0, S2 - MS_res / k) / E,     df = E - 1
    S2     = sum_e (x_e - mean x)^2 / (E - 1)                       the spread over experiments
    MS_res = sum_ei (Y_ei - Y_e. - Y_.i + Y_..)^2 / ((E - 1)(k - 1))   (k > 1; else 0)

Why subtract MS_res / k: in a crossed design of items and fits, Y_ei = mu + a_i + f_e + (af)_ei,
the mean has variance s_a^2/n + s_f^2/E + s_af^2/(nE). The item bootstrap of the experiments' mean
estimates (s_a^2 + s_af^2/E)/n and S2/E estimates s_f^2/E + s_af^2/(nE): the interaction would count
twice, and E[MS_res] = s_af^2, so V_items + V_eval is the ANOVA estimate of the crossed design's
variance. Clustering (k = 1) has no such correction: V-measure is not a mean over documents. Its
bootstrap re-weights each experiment's draw of m documents from the N embedded, so it already holds
the draws' own document sampling (~ s^2/(E m) against the pool's s^2/N) that S2/E counts again: an
overstatement of at most N/(E m) of V_items (TwentyNewsgroups-bydate: 2,381 documents, 10 draws of
16,384: 1.5%). What S2 adds for clustering is k-means' own randomness and the draws'.

A task's score is the mean over its R records and the cell a weighted mean over tasks (weights
w_t, sum 1), so the terms are `(100 w_t / R)^2 V_eval` per record, each with its own df;
`t2t.stats.intervals` adds them to V_items and the seed terms (Welch-Satterthwaite df). Runs whose
experiments do not line up (another E) are taken as unpaired: sum_j (c_j / S_j)^2 sum_s V_eval(Y_js).
Task types without experiments (STS, retrieval, pair classification, summarization) add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from t2t.stats.resample import Run, cached_experiments


def experiment_variance(values: np.ndarray) -> float:
    """`V_eval` of one record from its `(E, k)` experiment values (module docstring); 0 for E < 2.

    Example: accuracies 0.60 and 0.70 of two fits on one item each -> (0.005 / 1 - 0) / 2 = 0.0025.
    """
    values = np.asarray(values, dtype=np.float64)
    experiments, k = values.shape
    if experiments < 2:
        return 0.0
    scores = values.mean(axis=1)
    spread = float(np.var(scores, ddof=1))
    if k > 1:
        residual = values - values.mean(axis=0) - scores[:, None] + values.mean()
        spread -= float(np.sum(residual * residual)) / ((experiments - 1) * (k - 1)) / k
    return max(spread, 0.0) / experiments


def _record_variance(sides: Sequence[tuple[float, list[list[np.ndarray]]]], record: int) -> tuple[float, int]:
    """`(V_eval, E)` of one record of a contrast: paired when every run has the same experiments."""
    matrices = [[values[record] for values in runs] for _, runs in sides]
    shapes = {m.shape for runs in matrices for m in runs}
    if len(shapes) == 1:
        combined = sum(c * np.mean(runs, axis=0) for (c, _), runs in zip(sides, matrices))
        return experiment_variance(combined), next(iter(shapes))[0]
    variance = sum(
        (c / len(runs)) ** 2 * sum(experiment_variance(m) for m in runs)
        for (c, _), runs in zip(sides, matrices)
    )
    return variance, min(shape[0] for shape in shapes)


def evaluator_terms(
    sides: Sequence[tuple[float, Sequence[Run]]], tasks: Sequence[str], weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """`[(variance x100^2, df)]`: one term per record of each task whose evaluator repeats a fit, for
    the contrast `sum_j c_j x mean over runs_j` of the task-set average (`weights`: per task, None
    for the plain mean). Sides are `(c_j, runs_j)`, every run with items for every task."""
    shares = np.full(len(tasks), 1 / len(tasks)) if weights is None else np.asarray(weights) / np.sum(weights)
    terms = []
    for task, share in zip(tasks, shares):
        values = [(c, [cached_experiments(run, task) for run in runs]) for c, runs in sides if c]
        if not values or any(v is None for _, runs in values for v in runs):
            continue
        records = len(values[0][1][0])
        for record in range(records):
            variance, experiments = _record_variance(values, record)
            if variance > 0 and experiments > 1:
                terms.append(((100 * share / records) ** 2 * variance, experiments - 1))
    return terms
