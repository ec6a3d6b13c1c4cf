"""Check the stored numbers every output rests on before any table is written from them.

    stored_problems(root)    # ["results/runs/<id>/tasks/STS12.json: main score 61.2 is outside ...", ...]

A wrong number is worse than no number. For each run a manifest names, on the manifest's task set,
`t2t.runs.integrity.task_problems` checks its task files (parse, finite, in [-1, 1]) and their per-item
outputs (shape, agreement with the stored score, present where the run stored item outputs).
`reproduce.report.rebuild` stops before writing anything when there is a problem (`StoredResultsInvalid`),
one line per file with the way forward; `t2t publish` refuses such a run the same way.
Reads files only: no model, no torch, no mteb.
"""

from __future__ import annotations

from pathlib import Path

from reproduce.cells.manifest import all_manifests
from t2t.core.errors import UserError
from t2t.runs.integrity import task_problems
from t2t.runs.results import RunStore


class StoredResultsInvalid(UserError, ValueError):
    """Stored task or item files that would put a wrong number (or a wrong reason) into a table."""


def stored_problems(root: Path | None = None) -> list[str]:
    """Every problem of the task files and items of the runs any manifest names, on the manifest's
    task set."""
    problems: list[str] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for manifest in all_manifests(root):
        tasks = tuple(manifest.tasks)
        for cell in manifest.cells:
            if cell.analysis_id is not None or (cell.run_id, tasks) in seen:
                continue
            seen.add((cell.run_id, tasks))
            problems += task_problems(RunStore(cell.run_id, root), tasks)
    return list(dict.fromkeys(problems))


def check_stored(root: Path | None = None) -> None:
    """Raise `StoredResultsInvalid` listing every problem (`stored_problems`); nothing is written."""
    problems = stored_problems(root)
    if problems:
        raise StoredResultsInvalid(
            f"{len(problems)} stored result file(s) would put a wrong number into the tables; nothing "
            "was written:\n  " + "\n  ".join(problems)
        )
