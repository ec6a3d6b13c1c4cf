"""Results: every manifest, and the stored files of the runs they name, read once and computed from.

    results = Results.load(root)          # every manifest; each named run's run.json and task scores
    results.outputs()                     # ids of the outputs with a manifest
    results.manifests("table3")           # its manifests, largest preset first (as `read_manifests`)
    results.manifest("table3", "smol")    # one of them, or None
    results.record(run_id)                # the run's run.json ({} when missing or unreadable)
    results.scores(run_id)                # {task: main score} of its readable stored tasks
    results.items(run_id, task)           # (the file's identity, its item outputs or None)
    results.derived(key, compute)         # a value computed from these files, once per Results

A rebuild (`reproduce.report.rebuild`) loads one `Results` and hands it to the integrity check
(`reproduce.cells.integrity`), the cells' samples and seed pools (`reproduce.cells.samples`),
judging (`reproduce.judge`) and rendering (`reproduce.report`): none of them opens a manifest or a
run's run.json or task file again (mteb's habit: results loaded once, computed from). Item outputs
(`items/<task>.json.gz`, the largest files) are read when first asked for, and kept. One reader
stays apart: pricing the seeds that would settle a claim (`reproduce.judge.settle`) measures costs
(`reproduce.plan.costs.measured_costs`, once per machine kind) from every stored run's run.json, as
held here, and its task files' evaluation times and training logs, which it reads itself.

`derived` keeps what is computed from the files (a preset's seed pools, the measured costs of a
machine kind) for as long as the `Results` lives: a rebuild after a run loads a fresh one, so
nothing computed from the previous files survives it. The resampled scores are kept apart, per
process (`t2t.stats.resample`), keyed by the identity of the item files they come from.

Public functions of the builders take a `Results` or, for callers outside a rebuild (tests, one
output), a results folder (`as_results` loads it there, once per call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reproduce.cells.manifest import Manifest, orphans, outputs, read_manifests
from t2t.core.paths import results_root
from t2t.runs.results import RunStore


def file_identity(path: Path) -> tuple:
    """`(path, modification time, size)`, or `(path, None)` when it is missing: what changes with
    every atomic write, so resampled scores cached under it are never those of an older file."""
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


class Results:
    """Every manifest under a results folder and the stored files of the runs they name (module
    docstring). Build it with `Results.load`; it reads nothing more afterwards, except item
    outputs on first use and the run.json of a run no manifest names (measured costs)."""

    def __init__(self, root: Path | None, manifests: dict[str, list[Manifest]]) -> None:
        self.root = root
        self.base = root or results_root()
        self._manifests = manifests
        self._records: dict[str, dict[str, Any]] = {}
        self._scores: dict[str, dict[str, float]] = {}
        self._items: dict[tuple[str, str], tuple[tuple, dict | None]] = {}
        self._derived: dict[tuple, Any] = {}
        self.lenders: list[Manifest] = []  # a view's: the whole preset's score tables, to borrow s² from

    @classmethod
    def load(cls, root: Path | None = None) -> Results:
        """Read every manifest, and the run.json and task scores of each run a manifest names."""
        manifests = {output: read_manifests(output, root) for output in outputs(root)}
        results = cls(root, manifests)
        for run_id in results.run_ids():
            results.record(run_id)
            results.scores(run_id)
        return results

    def on_task_set(self, preset: str, task_set: str) -> Results:
        """The outputs at `preset` as read on `task_set` (`Manifest.on_task_set`: their own set, or one
        they were recorded on before a move), without the outputs never recorded on it and without
        other presets: what the verdicts were there. Shares the files already read; computes its own
        derived values (seed pools differ between task sets); a method with no multi-seed cell on the
        set borrows from the preset's other sets as in the whole store (`lenders`). One view per
        `(preset, task_set)` and `Results`: the rebuild's integrity check and resampling and the index's
        "What changed" read the same one."""
        return self.derived(("view", preset, task_set), lambda: self._view(preset, task_set))

    def _view(self, preset: str, task_set: str) -> Results:
        manifests = {}
        for output, listed in self._manifests.items():
            moved = [m.on_task_set(task_set) for m in listed if m.preset == preset]
            if moved := [m for m in moved if m is not None]:
                manifests[output] = moved
        view = Results(self.root, manifests)
        view.lenders = [m for m in self.all_manifests() if m.preset == preset and m.score_table]
        view._records, view._scores, view._items = self._records, self._scores, self._items
        for run_id in view.run_ids():
            view.record(run_id)
            view.scores(run_id)
        return view

    # ---------------------------------------------------------------- manifests

    def outputs(self) -> list[str]:
        """Ids of every output that has a manifest folder, sorted (as `manifest.outputs`)."""
        return list(self._manifests)

    def manifests(self, output: str) -> list[Manifest]:
        """The manifests of one output, largest preset first (as `manifest.read_manifests`)."""
        return list(self._manifests.get(output, ()))

    def manifest(self, output: str, preset: str) -> Manifest | None:
        return next((m for m in self.manifests(output) if m.preset == preset), None)

    def on_tasks(self, manifest: Manifest, tasks: tuple[str, ...]) -> Manifest | None:
        """`manifest` read on the set of these `tasks` (`Manifest.on_task_set`: its own, or one it was
        recorded on before a move), one object per `Results` so values derived from it are computed
        once; None when it was never on such a set."""
        for task_set in (manifest.task_set, *(record.task_set for record in manifest.earlier)):
            found = self.derived(
                ("on task set", id(manifest), task_set),
                lambda task_set=task_set: manifest.on_task_set(task_set),
            )
            if tuple(found.tasks) == tuple(tasks):
                return found
        return None

    def all_manifests(self) -> Iterator[Manifest]:
        for output in self.outputs():
            yield from self._manifests[output]

    def run_ids(self) -> list[str]:
        """Every run a manifest names (analysis cells left out), each once, in manifest order."""
        named = (c.run_id for m in self.all_manifests() for c in m.cells if c.analysis_id is None)
        return list(dict.fromkeys(named))

    # ---------------------------------------------------------------- run folders

    def store(self, run_id: str) -> RunStore:
        return RunStore(run_id, self.root)

    def record(self, run_id: str) -> dict[str, Any]:
        """The run's run.json (`RunStore.read`: {} when missing or unreadable), read once."""
        if run_id not in self._records:
            self._records[run_id] = self.store(run_id).read()
        return self._records[run_id]

    def scores(self, run_id: str) -> dict[str, float]:
        """`{task: main score}` of the run's readable stored tasks (`RunStore.task_scores`), read once."""
        if run_id not in self._scores:
            self._scores[run_id] = self.store(run_id).task_scores()
        return self._scores[run_id]

    def missing_tasks(self, run_id: str, tasks: list[str]) -> list[str]:
        """The `tasks` the run has no readable score for (as `RunStore.missing_tasks`)."""
        scores = self.scores(run_id)
        return [task for task in tasks if task not in scores]

    def items(self, run_id: str, task: str) -> tuple[tuple, dict | None]:
        """`(file identity, item outputs or None)` of one task of a run (`RunStore.load_items`:
        None when absent or unreadable), read on first use."""
        if (run_id, task) not in self._items:
            store = self.store(run_id)
            identity = file_identity(store.items_path(task))
            data = store.load_items(task) if identity[1:] != (None,) else None
            self._items[(run_id, task)] = (identity, data)
        return self._items[(run_id, task)]

    def derived(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`, once per `Results` and `key`: a value computed from these files."""
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    # ---------------------------------------------------------------- bookkeeping

    def orphans(self) -> tuple[list[str], list[str]]:
        """`manifest.orphans` from the loaded manifests."""
        return orphans(self.root, self.all_manifests())


Source = Results | Path | None
"""What the builders' public functions take: a loaded `Results`, or a results folder (None: the
default one) to load one from."""


def as_results(source: Source) -> Results:
    """`source` itself when it is a `Results`, else `Results.load(source)`."""
    return source if isinstance(source, Results) else Results.load(source)
