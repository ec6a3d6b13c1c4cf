"""The results store: one folder per run, keyed by the hash of its canonical config.

    results/runs/<run_id>/
        run.json                 config, git sha + dirty flag, versions, hardware, wall time, tokens/s
        tasks/<TaskName>.json    mteb TaskResult, one per evaluated task
        predictions/<TaskName>.json.gz   mteb's per-item outputs of that task, as mteb writes them
        items/<TaskName>.json.gz  gold value and prediction per test item (`t2t.evaluation.items`),
                                 so a task can be rescored (bootstrap) without re-encoding
        train_log.json           per-stage, per-step training loss (trained methods only)

Every file is written atomically (`t2t.core.atomic`), so a killed run leaves finished tasks complete and
unfinished ones absent; re-running skips the finished tasks. Tables read only these files
(`RunStore.task_scores`), never a live model.

A file that cannot be read (truncated by a full disk, edited by hand, a merge conflict) never stops
anything else: a task file that does not parse, or whose main score is not a finite number, counts
as *not done*: `has_task` is False, so the next run re-evaluates that task, and tables leave it out.
A `run.json` that does not parse reads as empty (the run is incomplete and is re-checked), and the
next write moves the unreadable copy aside as `run.json.corrupt-<time>`. Each such file is logged
once with its path and what to do, and listed by `problems()`.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from t2t.core.atomic import (
    PROBLEMS,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    read_json,
    report_problem,
)
from t2t.core.paths import results_root

if TYPE_CHECKING:  # mteb (and torch behind it) is imported only to write or load full results
    from mteb.results import TaskResult

logger = logging.getLogger(__name__)


class RunStore:
    """Files of one run. Cheap to construct; touches the disk only when asked."""

    def __init__(self, run_id: str, root: Path | None = None) -> None:
        self.run_id = run_id
        self.dir = (root or results_root()) / "runs" / run_id

    @property
    def run_json(self) -> Path:
        return self.dir / "run.json"

    @property
    def lock_file(self) -> Path:
        """The lock one process holds while it computes this run (`t2t.core.locks`)."""
        return self.dir / ".lock"

    def task_path(self, task_name: str) -> Path:
        return self.dir / "tasks" / f"{task_name}.json"

    def task_names(self) -> list[str]:
        """Names of the task files present (readable or not)."""
        return sorted(path.stem for path in (self.dir / "tasks").glob("*.json"))

    def has_task(self, task_name: str) -> bool:
        """True when the task's result is stored, readable and finite (see the module docstring)."""
        return read_score(self.task_path(task_name)) is not None

    def missing_tasks(self, task_names: list[str]) -> list[str]:
        return [name for name in task_names if not self.has_task(name)]

    def save_task(self, result: TaskResult) -> Path:
        path = self.task_path(result.task_name)
        with atomic_path(path) as tmp:
            result.to_disk(tmp)
        return path

    def predictions_path(self, task_name: str) -> Path:
        return self.dir / "predictions" / f"{task_name}.json.gz"

    def save_predictions(self, task_name: str, folder: Path) -> Path | None:
        """Store the item outputs mteb wrote into `folder` (`<task>_predictions.json`), gzipped."""
        source = folder / f"{task_name}_predictions.json"
        if not source.is_file():
            return None
        path = self.predictions_path(task_name)
        atomic_write_bytes(path, gzip.compress(source.read_bytes(), mtime=0))
        return path

    def items_path(self, task_name: str) -> Path:
        return self.dir / "items" / f"{task_name}.json.gz"

    def save_items(self, task_name: str, items: dict[str, Any]) -> Path:
        """Store a task's per-item gold values and predictions (`t2t.evaluation.items`), gzipped."""
        path = self.items_path(task_name)
        atomic_write_bytes(path, gzip.compress(json.dumps(items).encode("utf-8"), mtime=0))
        return path

    def load_items(self, task_name: str) -> dict[str, Any] | None:
        """A task's per-item outputs, or None (runs stored before item outputs; unreadable files
        are reported and count as absent: the cell then prints without an interval)."""
        return read_json(self.items_path(task_name), "the cell is shown without an interval.")

    def load_predictions(self, task_name: str) -> dict[str, Any] | None:
        """mteb's stored prediction file of a task (`{hf_subset: {split: ...}}`), or None (older
        runs; an unreadable file is reported and counts as absent)."""
        return read_json(self.predictions_path(task_name), "no item outputs are derived from it.")

    def load_task(self, task_name: str) -> TaskResult:
        from mteb.results import TaskResult

        return TaskResult.from_disk(self.task_path(task_name))

    def task_scores(self) -> dict[str, float]:
        """`{task_name: main_score}` of every readable, finite stored task (main_score in [0, 1] as
        mteb stores it). Unreadable files are left out and logged (`problems`)."""
        scores = {}
        for path in sorted((self.dir / "tasks").glob("*.json")):
            score = read_score(path)
            if score is not None:
                scores[path.stem] = score
        return scores

    def problems(self) -> list[str]:
        """One line per unreadable file of this run: the path and what will happen to it."""
        lines = [f"{self.run_json}: {PROBLEMS[self.run_json]}"] if self.run_json in PROBLEMS else []
        for path in sorted((self.dir / "tasks").glob("*.json")):
            if read_score(path) is None:
                lines.append(f"{path}: {PROBLEMS.get(path, 'unreadable')}")
        return lines

    def read(self) -> dict[str, Any]:
        """The content of run.json; {} when it is missing or unreadable (reported, never raised)."""
        if not self.run_json.is_file():
            return {}
        try:
            content = json.loads(self.run_json.read_text())
            if not isinstance(content, dict):
                raise ValueError(f"expected a JSON object, found {type(content).__name__}")
        except (OSError, ValueError) as error:
            report_problem(
                self.run_json,
                f"not readable ({error}); the run counts as incomplete and is re-checked by the next "
                "`python -m reproduce` of its table (finished tasks are kept). The file is kept aside as "
                "run.json.corrupt-<time> when the run next writes it.",
            )
            return {}
        return content

    def update(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into run.json (atomic rewrite) and return the new content. An unreadable
        run.json is first moved aside (`run.json.corrupt-<time>`), so nothing is lost silently."""
        return self.write_merged(self.read(), fields)

    def write_merged(self, current: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """Write `{**current, **fields}` as run.json (atomic) and return it; `current` is run.json as
        read earlier (empty: missing or unreadable, and an unreadable file is moved aside first)."""
        if not current and self.run_json.is_file():
            aside = self.run_json.with_name(f"run.json.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
            os.replace(self.run_json, aside)
            logger.warning("moved unreadable %s to %s", self.run_json, aside)
        payload = {**current, **fields}
        atomic_write_json(self.run_json, payload)
        return payload

    def save_train_log(self, log: list[dict[str, Any]]) -> None:
        atomic_write_json(self.dir / "train_log.json", log)


class RunRecord:
    """One run's `run.json`, read once and then written through this object (`t2t.runs.run`).

    `data` is the content as last read or written (never changed in place: each `update` makes a new
    dict, so a copy taken earlier stays what it was); `update(**fields)` merges `fields` in and
    rewrites the file atomically (`RunStore.write_merged`: the same bytes and key order as
    `RunStore.update`) without reading it again. One process computes a run at a time (its lock,
    `t2t.core.locks`), so the copy in memory is the file.
    """

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.data: dict[str, Any] = store.read()

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def update(self, **fields: Any) -> dict[str, Any]:
        self.data = self.store.write_merged(self.data, fields)
        return self.data

    def forget(self) -> None:
        """The run folder was moved aside (`--on-stale recompute`): the record starts empty."""
        self.data = {}


def as_record(run: RunStore | RunRecord) -> RunRecord:
    """`run` itself when it is a record already read, else its store's record (read now)."""
    return run if isinstance(run, RunRecord) else RunRecord(run)


def problem_of(path: Path) -> str | None:
    """What was wrong with `path` when it was last read (None: nothing reported)."""
    return PROBLEMS.get(Path(path))


def problems_seen() -> list[str]:
    """Every unreadable results file this process met, one line each (for command-line reports)."""
    return [f"{path}: {message}" for path, message in sorted(PROBLEMS.items())]


def read_score(path: Path) -> float | None:
    """The main score of a stored TaskResult, or None when the file is missing, unreadable, not
    finite or outside mteb's range [-1, 1] (reported once, with the path and what happens next)."""
    if not path.is_file():
        return None
    key = (str(path), *_stat(path))
    if key in _SCORES:
        return _SCORES[key]
    try:
        score = main_score_of(json.loads(path.read_text(encoding="utf-8")))
        problem = None if math.isfinite(score) else f"main score is {score}, not a number"
        if problem is None and not -1.0 <= score <= 1.0:
            problem = f"main score {score:g} is outside mteb's [-1, 1] (a score x100?)"
    except Exception as error:  # any parse or validation error of a foreign file
        score, problem = None, f"not a readable mteb TaskResult ({type(error).__name__}: {str(error)[:120]})"
    if problem is not None:
        score = None
        report_problem(
            path,
            f"{problem}; the task counts as not done and is re-evaluated by the next run of its table "
            "(or delete the file).",
        )
    _SCORES[key] = score
    return score


_SCORES: dict[tuple, float | None] = {}


def _stat(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def main_score_of(payload: dict[str, Any]) -> float:
    """The main score of a TaskResult's JSON, by mteb's rule (`TaskResult.get_score()`): the mean of
    `main_score` over every split and every subset entry that has languages.

    Written out so that tables, claims and the index read results without importing mteb (and torch
    behind it); a test checks it equals `TaskResult.from_disk(path).get_score()` on stored results.
    """
    values = [
        entry["main_score"]
        for entries in payload["scores"].values()
        for entry in entries
        if entry.get("languages")
    ]
    return float(np.mean(values))


def iter_runs(root: Path | None = None) -> Iterator[RunStore]:
    base = (root or results_root()) / "runs"
    if not base.is_dir():
        return
    for folder in sorted(base.iterdir()):
        if (folder / "run.json").is_file():
            yield RunStore(folder.name, root)
