"""Per-item outputs of an evaluated task: what a task's main score is computed from, item by item.

mteb scores a task from per-item outputs it can write to a prediction folder. Together with the gold
value of each item they determine the main score, so a task can be **rescored on any resample of
its items without re-encoding**: the basis of the item bootstrap (`t2t.stats`).

    items = task_items(task, predictions)   # after mteb.evaluate(..., prediction_folder=...)
    {"task": "STS12", "type": "STS", "main_score": "cosine_spearman",
     "subsets": {"default": {"test": {"gold": [...], "predicted": [...]}}}}

One record per evaluated (subset, split); `gold` has one entry per item. Per task type (and main
score), from mteb 2.26's prediction file:

- STS (`cosine_spearman`): `gold` scores, `predicted` cosine similarities; item = pair.
- Classification (`accuracy`): `gold` labels, `predicted` labels per experiment; item = test text.
- Retrieval (`ndcg_at_10`): per query, `gold` its qrels, `ranked` its top 10 documents, and
  `ndcg_at_10` as pytrec_eval scores the stored ranking (mteb's own metric code; the ranking's
  other depths are not kept); item = query.
- PairClassification (`max_ap`): `gold` labels and `predicted` scores of each of mteb's similarity
  functions, higher = more similar (distances negated, as mteb negates them for AP); item = pair.
- Summarization (`cosine_spearman`, mteb's fixed evaluator, not SummEval v1's): per article `gold`
  expert relevance and `predicted` best cosine to a reference, for the articles mteb scored (it
  skips those with constant scores); item = article.
- Clustering (`v_measure`): per embedded document `gold` its label at each level of the label
  hierarchy (one level for flat tasks); per experiment its `levels` entry and `predicted` cluster of
  each document (-1 if not drawn) and `counts` the times k-means saw it. mteb keeps the
  assignments of its draws but not which documents it drew: `t2t.evaluation.replay` replays that,
  and a replay the assignments contradict (two copies of a document in different clusters) gives no
  items rather than wrong ones. Item = embedded document.

How each type is scored, and why that item: `t2t.evaluation.item_scores`. Other task types (and
tasks with other main scores) return None: their cells keep a point estimate without an interval.
A test per type checks that rescoring the items gives mteb's main score exactly.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pytrec_eval
from mteb._evaluators import SummarizationEvaluator
from mteb.abstasks import AbsTask
from mteb.abstasks.text.summarization import AbsTaskSummarization

from t2t.evaluation.offline import subset_datasets
from t2t.evaluation.partial_tasks import task_class
from t2t.evaluation.replay import clustering_draws

logger = logging.getLogger(__name__)

SUPPORTED = {
    "STS": "cosine_spearman",
    "Classification": "accuracy",
    "Retrieval": "ndcg_at_10",
    "PairClassification": "max_ap",
    "Summarization": "cosine_spearman",
    "Clustering": "v_measure",
}
"""Task type -> the main score its items reproduce."""

PAIR_FUNCTIONS = {  # mteb's prediction key -> whether higher means more similar
    "similarity_scores": True,
    "cosine_scores": True,
    "manhattan_distances": False,
    "euclidean_distances": False,
    "dot_scores": True,
}


@functools.cache
def rescorable(task_name: str) -> bool:
    """Whether a task's type and main score are ones `task_items` records (not SummEval v1, whose
    deprecated evaluator computes its main score another way)."""
    cls = task_class(task_name)
    if issubclass(cls, AbsTaskSummarization) and not _fixed_summarization(cls):
        return False
    return SUPPORTED.get(cls.metadata.type) == cls.metadata.main_score


def _fixed_summarization(cls: type[AbsTaskSummarization]) -> bool:
    return cls.evaluator._calculate_metrics is SummarizationEvaluator._calculate_metrics


def _sts(task: AbsTask, data, predicted) -> dict[str, Any]:
    return {"gold": list(data["score"]), "predicted": list(predicted["cosine_scores"])}


def _classification(task: AbsTask, data, predicted) -> dict[str, Any]:
    return {"gold": list(data[task.label_column_name]), "predicted": [list(p) for p in predicted]}


def _retrieval(task: AbsTask, data, results) -> dict[str, Any]:
    """Per query: qrels, top 10 and nDCG@10, as `AbsTaskRetrieval._evaluate_subset` scores them
    (queries without relevant documents dropped; `ignore_identical_ids`, `skip_first_result`)."""
    qrels = {query: docs for query, docs in data["relevant_docs"].items() if docs}
    run = {}
    for query, scores in results.items():
        scores = {doc: s for doc, s in scores.items() if not (task.ignore_identical_ids and doc == query)}
        if task.skip_first_result:
            scores = dict(sorted(scores.items(), key=lambda pair: pair[1], reverse=True)[1:])
        run[query] = scores
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
    queries = list(per_query)
    ranked = [
        [doc for doc, _ in sorted(run[q].items(), key=lambda pair: (pair[1], pair[0]), reverse=True)[:10]]
        for q in queries
    ]
    return {
        "query_ids": queries,
        "gold": [qrels[q] for q in queries],
        "ranked": ranked,
        "ndcg_at_10": [per_query[q]["ndcg_cut_10"] for q in queries],
    }


def _pair_classification(task: AbsTask, data, predicted) -> dict[str, Any]:
    labels = data[task.label_column_name]
    if len(data) == 1 and isinstance(labels[0], list):  # mteb's v1 layout: one row of lists
        labels = labels[0]
    oriented = {
        key: (list(predicted[key]) if higher else [-x for x in predicted[key]])
        for key, higher in PAIR_FUNCTIONS.items()
    }
    return {"gold": list(labels), "predicted": oriented}


def _summarization(task: AbsTask, data, predicted) -> dict[str, Any]:
    return {"gold": predicted["human_scores"], "predicted": predicted["cosine_scores"]}


def _clustering(task: AbsTask, data, predicted) -> dict[str, Any] | None:
    draws = clustering_draws(task, list(data[task.label_column_name]))
    n = len(draws.embedded)
    assignments = [a for level in range(len(draws.labels)) for a in predicted.get(f"Level {level}", [])]
    if len(assignments) != len(draws.experiments):
        return _mismatch(task)
    clusters, seen = [], []
    for (level, drawn), assigned in zip(draws.experiments, assignments, strict=True):
        documents, assigned = np.asarray(draws.valid[level])[drawn], np.asarray(assigned)
        cluster = np.full(n, -1)
        cluster[documents] = assigned
        if len(documents) != len(assigned) or not np.array_equal(cluster[documents], assigned):
            return _mismatch(task)
        clusters.append(cluster.tolist())
        seen.append(np.bincount(documents, minlength=n).tolist())
    gold = [list(labels) for labels in zip(*draws.labels, strict=True)]  # per document, per level
    levels = [level for level, _ in draws.experiments]
    return {"gold": gold, "levels": levels, "predicted": clusters, "counts": seen}


def _mismatch(task: AbsTask) -> None:
    logger.warning(
        "%s: the replayed clustering draws do not match mteb's assignments (another mteb version, or a "
        "task evaluated twice?): no item outputs, the cell gets no interval",
        task.metadata.name,
    )


RECORDS: dict[str, Callable[[AbsTask, Any, Any], dict[str, Any] | None]] = {
    "STS": _sts,
    "Classification": _classification,
    "Retrieval": _retrieval,
    "PairClassification": _pair_classification,
    "Summarization": _summarization,
    "Clustering": _clustering,
}


def task_items(task: AbsTask, predictions: dict[str, Any]) -> dict[str, Any] | None:
    """Gold values and predictions per item of every evaluated subset and split, or None when the
    task type (or its main score) is not one `t2t.stats` can rescore."""
    kind, main = task.metadata.type, task.metadata.main_score
    if not rescorable(task.metadata.name):
        return None
    datasets = subset_datasets(task)
    subsets: dict[str, dict[str, Any]] = {}
    for subset, splits in predictions.items():
        if subset == "mteb_model_meta":
            continue
        for split, predicted in splits.items():
            record = RECORDS[kind](task, datasets[subset][split], predicted)
            if record is None:
                return None
            subsets.setdefault(subset, {})[split] = record
    return {"task": task.metadata.name, "type": kind, "main_score": main, "subsets": subsets}
