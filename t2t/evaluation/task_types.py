"""Runs restricted to some MTEB task types: which tasks of a set such a run evaluates.

A run evaluates every task of its task set unless its `EvalSpec.task_types` names some MTEB task
types ("Retrieval", "STS", ...): it then evaluates the set's tasks of those types only, in the set's
order. A lexical retrieval baseline (BM25, `t2t.evaluation.searchers`) is the case in point: it ranks documents
and has no embeddings, so only retrieval tasks can score it.

Two sides ask the question, and both ask this module, so they agree:

- planning and running (`t2t.runs.run.EvalSpec.tasks`): the set's tasks with their MTEB categories;
- table building (`reproduce.cells.samples.run_tasks`): a manifest's tasks and categories, and the run's
  `run.json` config (`config_task_types`). This side loads neither mteb nor torch, so neither does
  this module.

    >>> tasks_of_types(["STS12", "SciFact-lite"], ("Retrieval",), {"SciFact-lite": "Retrieval"}.get)
    ('SciFact-lite',)
    >>> tasks_of_types(["STS12", "SciFact-lite"], (), {}.get)
    ('STS12', 'SciFact-lite')
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any


def tasks_of_types(
    tasks: Iterable[str], task_types: Sequence[str], category_of: Callable[[str], str | None]
) -> tuple[str, ...]:
    """The tasks whose MTEB category (`category_of(task)`) is one of `task_types`, in their order;
    all of them when `task_types` is empty (a run that is not restricted)."""
    if not task_types:
        return tuple(tasks)
    return tuple(task for task in tasks if category_of(task) in task_types)


def config_task_types(config: dict[str, Any]) -> tuple[str, ...]:
    """The task types a stored run is restricted to, from its `run.json` config (`()`: none; runs
    stored before the field existed have none: `t2t.core.config.field_omitted_at_default`)."""
    return tuple((config.get("evaluation") or {}).get("task_types") or ())
