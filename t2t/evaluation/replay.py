"""mteb's random draws, replayed: which rows an evaluation encodes and clusters.

Two task types draw rows at random while they evaluate, and neither writes the draw down:

- **Classification** trains each of its `n_experiments` logistic regressions on
  `samples_per_label` training rows per label, and encodes only the union of those rows
  (`AbsTaskClassification._evaluate_subset`). `classification_training_rows` calls mteb's own
  `_undersample_data` the same way, so the rows are mteb's by construction.
- **Clustering** (`AbsTaskClustering._evaluate_subset`, mteb 2.26) first samples the documents it
  embeds (`max_fraction_of_documents_to_embed` of the split, or `max_document_to_embed`, by
  `rng_state.sample`; all when both are None), then, level by level of a hierarchy of labels (one
  level for flat tasks), for each of `n_clusters` experiments draws `max_documents_per_cluster` of
  the documents labelled at that level with replacement (`rng_state.choices`) and fits k-means on
  the draw (`_evaluate_clustering_bootstrapped`). The prediction file keeps each experiment's cluster
  assignments but not which documents were drawn. `clustering_draws` replays the same calls on a
  `random.Random(task.seed)`, which is `rng_state` as a fresh task (or one of
  `t2t.evaluation.partial_tasks`, which reseed before each evaluation) starts its evaluation.

A replay of another mteb version's order of draws would be wrong, not approximately right; so
`t2t.evaluation.items` checks each replayed clustering draw against the assignments (every copy of
a document drawn twice must sit in the same cluster) and `tests/t2t/evaluation/test_items.py` checks that the
items rescore to mteb's main score exactly.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import numpy as np
from datasets import Dataset
from mteb.abstasks import AbsTaskClassification
from mteb.abstasks.clustering import AbsTaskClustering


def classification_training_rows(task: AbsTaskClassification, train: Dataset) -> list[int]:
    """Indices of the training rows mteb encodes: the union of every experiment's undersample."""
    shuffled, union = None, set()
    for experiment in range(task.n_experiments):
        _, shuffled, selected = task._undersample_data(train, experiment, shuffled)
        union.update(selected)
    return sorted(union)


@dataclasses.dataclass(frozen=True)
class ClusteringDraws:
    """What one clustering evaluation of a split used.

    Attributes:
        embedded: row indices of the split that were embedded, in mteb's order (position j of the
            embeddings is row `embedded[j]`).
        labels: per level, the label of each embedded document as mteb's array holds it (-1, or
            "-1" in an array of strings, where a document has no label at that level).
        valid: per level, the embedded positions k-means may draw at that level.
        experiments: `(level, drawn)` per experiment, in mteb's order (levels, then experiments):
            `drawn` are indices into `valid[level]`, in the order of the cluster assignments.
    """

    embedded: list[int]
    labels: list[list[Any]]
    valid: list[list[int]]
    experiments: list[tuple[int, list[int]]]


def clustering_draws(task: AbsTaskClustering, labels: list[Any]) -> ClusteringDraws:
    """Replay a clustering evaluation's draws on a split whose label column is `labels`."""
    rng = random.Random(task.seed)
    fraction, cap = task.max_fraction_of_documents_to_embed, task.max_document_to_embed
    rows = len(labels)
    if fraction is None and cap is None:
        embedded = list(range(rows))
    else:
        count = min(rows, int(fraction * rows) if fraction is not None else cap)
        embedded = rng.sample(range(rows), k=count)
    per_document = [labels[row] if isinstance(labels[row], list) else [labels[row]] for row in embedded]
    depth = max(map(len, per_document))
    depth = depth if task.max_depth is None else min(task.max_depth, depth)
    level_labels, valid, experiments = [], [], []
    for level in range(depth):
        values = np.array([label[level] if len(label) > level else -1 for label in per_document])
        positions = np.flatnonzero(np.array([value != -1 for value in values]))  # as mteb tests it
        level_labels.append(values.tolist())
        valid.append(positions.tolist())
        for _ in range(task.n_clusters):
            drawn = rng.choices(range(len(positions)), k=task.max_documents_per_cluster)
            experiments.append((level, drawn))
    return ClusteringDraws(embedded, level_labels, valid, experiments)
