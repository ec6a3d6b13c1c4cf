"""Check the stored numbers every output rests on before any table is written from them.

    stored_problems(results)    # ["results/runs/<id>/tasks/STS12.json: main score 61.2 is outside ...", ...]

A wrong number is worse than no number. For each run a manifest names, on the manifest's task set,
`t2t.runs.integrity.task_problems` checks its task files (parse, finite, in [-1, 1]) and their per-item
outputs (shape, agreement with the stored score, present where the run stored item outputs).
`reproduce.report.rebuild` stops before writing anything when there is a problem (`StoredResultsInvalid`),
one line per file with the way forward; `t2t publish` refuses such a run the same way.
Reads the manifests and item files through one `reproduce.cells.results.Results` (the tables are
then built from the same copy); no model, no torch, no mteb.
"""

from __future__ import annotations

import functools

from reproduce.cells.results import Results, Source, as_results
from t2t.core.errors import UserError
from t2t.runs.integrity import task_problems


class StoredResultsInvalid(UserError, ValueError):
    """Stored task or item files that would put a wrong number (or a wrong reason) into a table."""


def stored_problems(results: Source = None) -> list[str]:
    """Every problem of the task files and items of the runs any manifest names, on the manifest's
    task set."""
    results = as_results(results)
    problems: list[str] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for manifest in results.all_manifests():
        tasks = tuple(manifest.tasks)
        for cell in manifest.cells:
            if cell.analysis_id is not None or (cell.run_id, tasks) in seen:
                continue
            seen.add((cell.run_id, tasks))
            items = functools.partial(_items, results, cell.run_id)
            problems += task_problems(results.store(cell.run_id), tasks, items)
    return list(dict.fromkeys(problems))


def _items(results: Results, run_id: str, task: str) -> dict | None:
    return results.items(run_id, task)[1]


def check_stored(results: Source = None) -> None:
    """Raise `StoredResultsInvalid` listing every problem (`stored_problems`); nothing is written."""
    problems = stored_problems(results)
    if problems:
        raise StoredResultsInvalid(
            f"{len(problems)} stored result file(s) would put a wrong number into the tables; nothing "
            "was written:\n  " + "\n  ".join(problems)
        )
