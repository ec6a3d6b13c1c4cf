"""Is a run's stored task file a number a table may show? The per-run checks behind
`reproduce.cells.integrity` (every run a manifest names, before tables are written) and `t2t publish`.

`t2t.runs.results.read_score` refuses task files that do not parse, or whose main score is not finite or
lies outside mteb's range ([-1, 1]). The first two count as not done (an interrupted or damaged
write: the next run evaluates the task again; tables mark the cell partial); the last is a wrong
number (a score x100 is a slip, not a result), a problem here. `task_problems` adds what
needs the per-item outputs (`items/<task>.json.gz`, `t2t.evaluation.items`) next to each task file:

- an items file of the wrong shape (no `type`, no `subsets` of splits with `gold` values);
- an items file that disagrees with its task file: rescored on all its items
  (`t2t.stats.resample.rescore`, which reproduces mteb's main score) it must give the stored main
  score up to mteb's rounding on disk (`AGREEMENT`);
- a missing items file in a run that stored item outputs (its task's predictions are there, or its
  other tasks have items): a deleted file, not a run stored before item outputs existed, so the
  cell must not quietly lose its interval and a claim its evidence.

Each problem is one line naming the file and the way forward. Reads files only: no model, no mteb.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from t2t.core.atomic import read_json
from t2t.runs.results import RunStore, problem_of, read_score

AGREEMENT = 5e-5
"""|rescored - stored| main score allowed (mteb stores scores rounded to 6 decimals; rescoring
reproduces them to ~1e-7)."""


def task_problems(
    store: RunStore, tasks: Iterable[str], load_items: Callable[[str], Any] | None = None
) -> list[str]:
    """The problems of one run's stored `tasks` (see the module docstring), one line each.
    `load_items(task)`: the task's items file as already read (None: missing or unreadable), else
    it is read here."""
    tasks = list(tasks)
    problems = []
    with_items = [task for task in tasks if store.items_path(task).is_file()]
    for task in tasks:
        path = store.task_path(task)
        if not path.is_file():
            continue
        score = read_score(path)  # parse, finiteness and range are checked there
        items_path = store.items_path(task)
        if score is None:  # unreadable or not finite: not done (re-evaluated next run); out of range: wrong
            if "outside mteb's" in (problem_of(path) or ""):
                problems.append(f"{path}: {problem_of(path)}")
            continue
        if not items_path.is_file():
            if store.predictions_path(task).is_file() or with_items:
                problems.append(
                    f"{items_path}: missing, although the run stored item outputs "
                    f"({'its predictions are there' if store.predictions_path(task).is_file() else 'its other tasks have them'}); "
                    "the next run of its table derives it again from the predictions, `--add-items` "
                    f"re-evaluates it, or delete {path} to evaluate the task again."
                )
            continue
        items = (
            load_items(task)
            if load_items
            else read_json(items_path, "the task's items are checked as missing.")
        )
        shape = _shape_problem(items)
        if shape:
            problems.append(
                f"{items_path}: not an items file ({shape}); delete it and run its table with "
                "--add-items (re-evaluates the task), or delete the run folder."
            )
            continue
        from t2t.stats.resample import rescore

        try:
            again = rescore(items)
        except Exception as error:  # a foreign file: any failure to score it is its own defect
            problems.append(f"{items_path}: cannot be rescored ({type(error).__name__}: {error}); delete it.")
            continue
        if abs(again - score) > AGREEMENT:
            problems.append(
                f"{path}: main score {score:.6f} disagrees with its items, which score {again:.6f}; one of "
                f"the two files is wrong: delete both ({path.name} and {items_path.name}) to evaluate "
                "the task again with the next run of its table, or delete the run folder."
            )
    return problems


def _shape_problem(items) -> str:
    """Why `items` is not a `t2t.evaluation.items` record ("" when it is)."""
    if not isinstance(items, dict):
        return f"a {type(items).__name__}, not an object"
    if "type" not in items or not isinstance(items.get("subsets"), dict) or not items["subsets"]:
        return "no 'type' or no 'subsets'"
    for subset, splits in items["subsets"].items():
        if not isinstance(splits, dict) or not splits:
            return f"subset {subset!r} has no splits"
        for split, record in splits.items():
            if not isinstance(record, dict) or not isinstance(record.get("gold"), list):
                return f"{subset}/{split} has no 'gold' list"
    return ""
