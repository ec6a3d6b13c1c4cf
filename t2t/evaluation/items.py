"""Per-item outputs of an evaluated task: what a task's main score is computed from, item by item.

mteb scores a task from per-item outputs it can write to a prediction folder (STS: each pair's
cosine similarity; classification: each experiment's predicted label per test text). Together with
the gold value of each item they determine the main score, so a task can be **rescored on any
resample of its items without re-encoding**: the basis of the item bootstrap
(`t2t.stats`).

    items = task_items(task, predictions)   # after mteb.evaluate(..., prediction_folder=...)
    {"task": "STS12", "type": "STS", "main_score": "cosine_spearman",
     "subsets": {"default": {"test": {"gold": [...], "predicted": [...]}}}}

Supported: STS (main score `cosine_spearman`: Spearman's rho of gold scores and cosine
similarities) and classification (main score `accuracy`: the mean over mteb's experiments of the
fraction of test texts whose predicted label is the gold one). Other task types return None: their
cells keep a point estimate without an interval. `t2t.stats.rescore` recomputes the main
score from these records; a test checks it equals mteb's exactly.
"""

from __future__ import annotations

import functools
from typing import Any

import mteb
from mteb.abstasks import AbsTask

from t2t.evaluation.offline import subset_datasets

SUPPORTED = {"STS": "cosine_spearman", "Classification": "accuracy"}


@functools.cache
def rescorable(task_name: str) -> bool:
    """Whether a task's type and main score are ones `task_items` records (STS, classification)."""
    metadata = mteb.get_task(task_name).metadata
    return SUPPORTED.get(metadata.type) == metadata.main_score


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
            data = datasets[subset][split]
            if kind == "STS":
                record = {"gold": list(data["score"]), "predicted": list(predicted["cosine_scores"])}
            else:
                record = {
                    "gold": list(data[task.label_column_name]),
                    "predicted": [list(p) for p in predicted],
                }
            subsets.setdefault(subset, {})[split] = record
    return {"task": task.metadata.name, "type": kind, "main_score": main, "subsets": subsets}
