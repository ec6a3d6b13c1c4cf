"""Test-item resamples: which items each resample draws, a task's main score under each, and a
per-process cache of those scores.

A resample draws the items of every (subset, split) record of a task with replacement. The draws
depend only on the task's name, its record sizes and the **block seed**, never on the run, so every
run, cell and comparison of a task sees the same resamples (comparisons are paired), and a run's
resampled scores can be computed once per process and shared by every table, figure and claim
(`cached_resamples`, keyed by run + task + block seed + resamples).

The per-task-type scoring is the seam with `t2t.evaluation`: `rescore(items, indices)` gives a
task's main score on given item indices, `_resampled_scores(items, draws)` on every row of
`draws` (one `(R, n)` index array per record). Everything above them (blocks, chunks, the cache,
the processes) is this module's; the formulas are the task types'.

Draws are made in chunks of rows (`chunk_rows`: at most ~2M indices, 16 MB, at a time: 10,000
resamples of SICK-R's 9,927 items would be 800 MB at once) from a generator seeded by
`(block seed, crc32(task), record, chunk)`, so a block's resamples are the same whichever process
computes them and in whatever order: a rebuild is byte-identical for unchanged inputs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import zlib
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from t2t.evaluation.item_scores import scorer

logger = logging.getLogger(__name__)

TaskItems = Mapping[str, Any]
"""One task's stored items (`t2t.evaluation.items.task_items`)."""
Run = Mapping[str, TaskItems]
"""One run's items: `{task name: TaskItems}`."""

CHUNK_INDICES = 2_000_000
"""Item indices drawn at once (int64: 16 MB), whatever the number of resamples."""


class RunItems(Mapping):
    """One stored run's items, `{task: TaskItems}`, with the key its resampled scores are cached
    under (e.g. the run folder and its run.json's modification time: a re-evaluated run gets a new
    key). Plain dicts work everywhere a run is expected; they are just not cached."""

    def __init__(self, key: Hashable, items: Mapping[str, TaskItems]) -> None:
        self.key = key
        self._items = dict(items)

    def __getitem__(self, task: str) -> TaskItems:
        return self._items[task]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"RunItems({self.key!r}, {sorted(self._items)})"


def _records(items: TaskItems) -> list[dict[str, Any]]:
    """The (subset, split) records of a task, in a fixed order (mteb averages over them)."""
    return [items["subsets"][subset][split] for subset in sorted(items["subsets"]) for split in
            sorted(items["subsets"][subset])]  # fmt: skip


def n_items(items: TaskItems) -> list[int]:
    return [len(record["gold"]) for record in _records(items)]


def rescore(items: TaskItems, indices: Sequence[np.ndarray] | None = None) -> float:
    """The task's main score (in [0, 1]) on the given item indices per record (all items if None),
    by its type's scorer (`t2t.evaluation.item_scores`)."""
    score = scorer(items["type"]).score
    records = _records(items)
    return float(np.mean([score(r, None if indices is None else indices[i]) for i, r in enumerate(records)]))


def experiment_values(items: TaskItems) -> list[np.ndarray] | None:
    """Per record, the `(E, k)` values of mteb's repeated experiments (classifier fits, k-means
    runs: `t2t.evaluation.item_scores`, `experiments`), or None for a type without any."""
    experiments = scorer(items["type"]).experiments
    return None if experiments is None else [experiments(record) for record in _records(items)]


def _resampled_scores(items: TaskItems, draws: Sequence[np.ndarray]) -> np.ndarray:
    """Main scores of one task for every resample: `draws[r]` is `(resamples, n_r)` indices."""
    resampled = scorer(items["type"]).resampled
    return np.mean([resampled(record, draw) for record, draw in zip(_records(items), draws)], axis=0)


def chunk_rows(sizes: Sequence[int]) -> int:
    """Resamples drawn at once for a task with these record sizes (a function of the sizes only, so
    the draws do not depend on the machine)."""
    return max(1, CHUNK_INDICES // max(1, sum(sizes)))


def draw_chunks(task: str, sizes: Sequence[int], resamples: int, seed: int) -> Iterator[list[np.ndarray]]:
    """The item indices of a block of resamples, chunk by chunk: each chunk is one `(rows, n_r)`
    array per record, the rows of all chunks together being the block's `resamples` resamples."""
    rows = chunk_rows(sizes)
    crc = zlib.crc32(task.encode())
    for chunk, start in enumerate(range(0, resamples, rows)):
        count = min(rows, resamples - start)
        yield [
            np.random.default_rng([seed, crc, record, chunk]).integers(0, n, size=(count, n))
            for record, n in enumerate(sizes)
        ]


def task_draws(task: str, sizes: Sequence[int], resamples: int, seed: int) -> list[np.ndarray]:
    """All item indices of a block, `(resamples, n_r)` per record (small tasks and tests; the
    scores are computed chunk by chunk, `task_resamples`)."""
    chunks = list(draw_chunks(task, sizes, resamples, seed))
    return [np.concatenate([chunk[record] for chunk in chunks]) for record in range(len(sizes))]


def task_resamples(items: TaskItems, task: str, resamples: int, seed: int) -> np.ndarray:
    """The task's main score under each resample of block `seed`, shape `(resamples,)` (in [0, 1])."""
    sizes = n_items(items)
    return np.concatenate(
        [_resampled_scores(items, draws) for draws in draw_chunks(task, sizes, resamples, seed)]
    )


# ---------------------------------------------------------------- the per-process cache

_CACHE: dict[tuple, np.ndarray] = {}
_FULL: dict[tuple, float] = {}
_EXPERIMENTS: dict[tuple, list[np.ndarray] | None] = {}


def clear_cache() -> None:
    """Forget every cached score (tests that rewrite a run in place; long-lived processes)."""
    _CACHE.clear()
    _FULL.clear()
    _EXPERIMENTS.clear()


def cached_resamples(run: Run, task: str, resamples: int, seed: int) -> np.ndarray:
    """`task_resamples` of one run's task, computed once per process for a `RunItems`."""
    key = getattr(run, "key", None)
    if key is None:
        return task_resamples(run[task], task, resamples, seed)
    full_key = (key, task, resamples, seed)
    if full_key not in _CACHE:
        _CACHE[full_key] = task_resamples(run[task], task, resamples, seed)
    return _CACHE[full_key]


def cached_score(run: Run, task: str) -> float:
    """`rescore` on all items, once per process for a `RunItems`."""
    key = getattr(run, "key", None)
    if key is None:
        return rescore(run[task])
    if (key, task) not in _FULL:
        _FULL[(key, task)] = rescore(run[task])
    return _FULL[(key, task)]


def cached_experiments(run: Run, task: str) -> list[np.ndarray] | None:
    """`experiment_values` of one run's task, once per process for a `RunItems`."""
    key = getattr(run, "key", None)
    if key is None:
        return experiment_values(run[task])
    if (key, task) not in _EXPERIMENTS:
        _EXPERIMENTS[(key, task)] = experiment_values(run[task])
    return _EXPERIMENTS[(key, task)]


def _work(job: tuple[TaskItems, str, int, int]) -> np.ndarray:
    return task_resamples(*job)


def default_jobs() -> int:
    """Processes for `precompute`: `T2T_JOBS`, else 2 (or 1 on a single core)."""
    return int(os.environ.get("T2T_JOBS", min(2, os.cpu_count() or 1)))


def precompute(
    pairs: Iterable[tuple[RunItems, str]], resamples: int, seeds: Sequence[int], jobs: int | None = None
) -> int:
    """Fill the cache for every `(run, task)` and block seed, largest tasks first, in `jobs`
    processes (the results do not depend on which process computes what). Returns how many
    `(run, task, block)` scores were computed."""
    todo = {
        (run.key, task, resamples, seed): (run, task, seed)
        for run, task in pairs
        for seed in seeds
        if (run.key, task, resamples, seed) not in _CACHE
    }
    order = sorted(todo, key=lambda k: -sum(n_items(todo[k][0][todo[k][1]])))
    work = [(todo[k][0][todo[k][1]], todo[k][1], resamples, todo[k][2]) for k in order]
    jobs = default_jobs() if jobs is None else jobs
    if jobs > 1 and len(work) > 1:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            results = list(pool.map(_work, work))
    else:
        results = [_work(job) for job in work]
    _CACHE.update(zip(order, results))
    logger.info("resampled %d (run, task, block) scores in %d process(es)", len(work), jobs)
    return len(work)
