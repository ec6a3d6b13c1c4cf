"""Synthetic results for table-builder tests: TaskResult files written like a real run's."""

from __future__ import annotations

from pathlib import Path

from mteb.results import TaskResult

from t2t.results import RunStore


def task_result(name: str, score: float) -> TaskResult:
    """A minimal mteb TaskResult with `main_score` = score (in [0, 1], as mteb stores it)."""
    return TaskResult.from_dict(
        {
            "dataset_revision": "fixture",
            "task_name": name,
            "mteb_version": "2.26.24",
            "scores": {"test": [{"main_score": score, "hf_subset": "default", "languages": ["eng-Latn"]}]},
            "evaluation_time": 1.0,
            "kg_co2_emissions": None,
        }
    )


def store_run(root: Path, run, scores: dict[str, float], complete: bool = True) -> RunStore:
    """Write `scores` ({task: main score in [0, 1]}) as the results of `run` (a RunSpec)."""
    store = RunStore(run.run_id, root)
    for task, score in scores.items():
        store.save_task(task_result(task, score))
    store.update(
        run_id=run.run_id,
        method=run.method,
        config=run.to_dict(),
        status="complete" if complete else "running",
        provenance={"written_at": "2026-11-28T00:00:00+00:00"},
    )
    return store
