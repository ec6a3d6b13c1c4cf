"""The results store: one folder per run, keyed by the hash of its canonical config.

    results/runs/<run_id>/
        run.json                 config, git sha + dirty flag, versions, hardware, wall time, tokens/s
        tasks/<TaskName>.json    mteb TaskResult, one per evaluated task
        train_log.json           per-stage, per-step training loss (trained methods only)

Every file is written atomically (`t2t.atomic`), so a killed run leaves finished tasks complete and
unfinished ones absent; re-running skips the finished tasks. Tables read only these files
(`load_scores`), never a live model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mteb.results import TaskResult

from t2t.atomic import atomic_path, atomic_write_json
from t2t.paths import results_root

logger = logging.getLogger(__name__)


class RunStore:
    """Files of one run. Cheap to construct; touches the disk only when asked."""

    def __init__(self, run_id: str, root: Path | None = None) -> None:
        self.run_id = run_id
        self.dir = (root or results_root()) / "runs" / run_id

    @property
    def run_json(self) -> Path:
        return self.dir / "run.json"

    def task_path(self, task_name: str) -> Path:
        return self.dir / "tasks" / f"{task_name}.json"

    def has_task(self, task_name: str) -> bool:
        return self.task_path(task_name).is_file()

    def missing_tasks(self, task_names: list[str]) -> list[str]:
        return [name for name in task_names if not self.has_task(name)]

    def save_task(self, result: TaskResult) -> Path:
        path = self.task_path(result.task_name)
        with atomic_path(path) as tmp:
            result.to_disk(tmp)
        return path

    def load_task(self, task_name: str) -> TaskResult:
        return TaskResult.from_disk(self.task_path(task_name))

    def task_scores(self) -> dict[str, float]:
        """`{task_name: main_score}` for every stored task (main_score in [0, 1] as mteb stores it)."""
        scores = {}
        for path in sorted((self.dir / "tasks").glob("*.json")):
            scores[path.stem] = main_score(path)
        return scores

    def read(self) -> dict[str, Any]:
        return json.loads(self.run_json.read_text()) if self.run_json.is_file() else {}

    def update(self, **fields: Any) -> dict[str, Any]:
        """Merge `fields` into run.json (atomic rewrite) and return the new content."""
        payload = {**self.read(), **fields}
        atomic_write_json(self.run_json, payload)
        return payload

    def save_train_log(self, log: list[dict[str, Any]]) -> None:
        atomic_write_json(self.dir / "train_log.json", log)


def main_score(path: Path) -> float:
    """The main score of a stored TaskResult JSON, averaged over its test subsets (mteb's rule)."""
    return TaskResult.from_disk(path).get_score()


def iter_runs(root: Path | None = None) -> Iterator[RunStore]:
    base = (root or results_root()) / "runs"
    if not base.is_dir():
        return
    for folder in sorted(base.iterdir()):
        if (folder / "run.json").is_file():
            yield RunStore(folder.name, root)
