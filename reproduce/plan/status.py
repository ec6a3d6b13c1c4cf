"""Where each distinct run of a plan stands: stored, partial, failed, stale; and what finishing it costs.

    status_of(run, cells, preset, costs)     # RunStatus: tasks and stages done, estimate, staleness
    unverified_runs(output, preset, statuses)  # the line a plan prints about stale stored runs

Reads the results store and the stage cache; writes nothing (`reproduce.plan.planner` builds the
`Plan` these go into; `reproduce.run.runner` executes it).
"""

from __future__ import annotations

import dataclasses

from reproduce.cells.manifest import ManifestCell
from reproduce.paper.presets import ScalePreset
from reproduce.plan.costs import MeasuredCosts, remaining_cost
from t2t.core.errors import UserError, debug_requested
from t2t.core.fingerprint import is_mirror_vs_hub
from t2t.core.runtime import path_flags
from t2t.runs.results import RunRecord, RunStore
from t2t.runs.run import RunSpec, lacks_items, recorded_paths, run_fingerprint, staleness
from t2t.training.pipeline import stage_folder


@dataclasses.dataclass
class RunStatus:
    """Where one distinct run of a plan stands.

    `stored` is set for a complete run: it comes from the results store (`written_at`, git sha),
    computed by an earlier command, not by this one. `stale` lists how its recorded inputs differ
    from today's (`t2t.runs.run.staleness`); `error` is the message of a run whose last attempt failed.
    """

    run: RunSpec
    cells: list[ManifestCell]
    tasks_done: int
    tasks_total: int
    stages_done: int
    complete: bool
    estimate_s: float | None  # None: some of its remaining work has no measured cost on this machine
    stored: dict | None = None
    stale: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    mirror_vs_hub: bool = (
        False  # `stale` only because the run used the offline mirror and we load from the Hub
    )
    without_items: bool = False  # stored before per-item outputs: prints without ±, `--add-items` redoes it
    reevaluate: bool = False  # `--add-items` given and the run is `without_items`: it is redone
    retrain: str = (
        ""  # a stored run whose stages must be retrained to add tasks: how (`t2t.runs.run.recorded_paths`)
    )

    @property
    def state(self) -> str:
        if self.stale:
            return f"UNVERIFIED: {len(self.stale)} input(s) differ"
        if self.complete and self.stored:
            sha = (self.stored.get("sha") or "no sha")[:7]
            bare = ", no items" if self.without_items else ""
            return f"stored {(self.stored.get('date') or '?')[:10]} @{sha}{bare}"
        if self.complete:
            return "complete"
        progress = f"stages {self.stages_done}/{len(self.run.model.stages)}, tasks {self.tasks_done}/{self.tasks_total}"
        if self.retrain:
            progress += f", {self.retrain}"
        return f"FAILED ({progress})" if self.error else progress

    @property
    def label(self) -> str:
        rows = sorted(
            {
                f"{c.row}{f' ({c.sweep}={c.value:g})' if c.sweep else ''} [{c.role}]"
                + (f" seed {c.seed}" if c.seed else "")
                for c in self.cells
            }
        )
        return "; ".join(rows)


def status_of(
    run: RunSpec,
    cells: list[ManifestCell],
    preset: ScalePreset,
    costs: MeasuredCosts,
    root=None,
    add_items: bool = False,
) -> RunStatus:
    """Where `run` stands and what finishing it costs here; with `add_items`, a stored run without
    item outputs is priced as what `--add-items` does to it: its uncached stages retrained and the
    tasks lacking items re-evaluated."""
    store = RunStore(run.run_id, root)
    tasks = run.evaluation.tasks
    done = len(tasks) - len(store.missing_tasks(list(tasks)))
    record = RunRecord(store)  # its run.json, read once for everything below
    info = record.data
    complete = done == len(tasks) and info.get("status") == "complete"
    origin = info.get("provenance", {})
    stored = {"date": origin.get("written_at"), "sha": origin.get("git", {}).get("sha")} if complete else None
    stale, mirror_vs_hub = _staleness(run, record)
    stages_done, retrain = _stages(run, record, complete)
    lacking = [t for t in store.task_names() if lacks_items(store, t)] if complete else []
    redo = lacking if add_items else []
    estimate = 0.0
    if not complete or redo:
        todo_tasks = [*store.missing_tasks(list(tasks)), *redo]
        estimate = remaining_cost(run, run.model.stages[stages_done:], todo_tasks, costs)
    error = info.get("error") if info.get("status") == "failed" else None
    return RunStatus(
        run,
        cells,
        done,
        len(tasks),
        stages_done,
        complete,
        estimate,
        stored,
        stale,
        error,
        mirror_vs_hub=mirror_vs_hub,
        without_items=bool(lacking),
        reevaluate=bool(redo),
        retrain=retrain,
    )


def _staleness(run: RunSpec, record: RunRecord) -> tuple[list[str], bool]:
    """`(how the stored run's recorded inputs differ from today's, whether only mirror vs Hub)`."""
    try:
        current = run_fingerprint(run) if record.store.task_names() else None
        stale = staleness(record, current) if current else []
        return stale, bool(stale) and is_mirror_vs_hub(record.get("fingerprints"), current)
    except UserError as error:  # inputs not available here (no data root, no weights): cannot check
        return [f"cannot check: {error}"], False


def _stages(run: RunSpec, record: RunRecord, complete: bool) -> tuple[int, str]:
    """`(stages cached, how a stored run that gains tasks retrains the rest)`: a stored run's stages
    are looked up on the path it recorded (`t2t.runs.run.recorded_paths`)."""
    paths, retrain = None, ""
    if not complete and record.store.task_names() and run.model.stages:  # a stored run gains tasks
        try:
            paths = recorded_paths(run, record)
        except UserError as error:
            retrain = f"REFUSED: {error}"
    stages_done = sum(
        (stage_folder(run.model.stage_key(i), paths[i] if paths else None) / "adapter").is_dir()
        for i in range(len(run.model.stages))
    )
    if paths and stages_done < len(run.model.stages):
        retrain = (
            f"retrains {len(run.model.stages) - stages_done} stage(s) as recorded ({path_flags(paths[0])})"
        )
    return stages_done, retrain


def unverified_runs(output: str, preset: str, statuses: list[RunStatus]) -> str:
    """One line on the stored runs of a plan whose recorded inputs differ from this machine's, with
    the two ways forward; "" when there are none. `--debug` (`T2T_DEBUG=1`) adds every difference.

    The usual case is a user without the offline data mirror: our runs were computed from the
    mirror's files, the user's tasks load from the Hugging Face Hub, and neither side can check the
    other, so the runs are neither refused silently nor mixed silently into tables.
    """
    stale = [s for s in statuses if s.stale]
    if not stale:
        return ""
    mirror = sum(s.mirror_vs_hub for s in stale)
    why = (
        f"{mirror} of them were computed from the offline data mirror, and this machine loads those "
        "inputs from the Hugging Face Hub (no data root), so they cannot be checked against yours"
        if mirror
        else "their recorded data files or weights differ from this machine's"
    )
    line = (
        f"{output} @ {preset}: {len(stale)} stored run(s) are unverified: {why}. Use them as they are "
        "with --on-stale accept (recorded in each run.json; the tables' footnotes name them), or "
        "recompute them with --on-stale recompute."
    )
    if debug_requested():
        line += "".join(f"\n  {s.run.run_id}: " + "; ".join(s.stale) for s in stale)
    else:
        line += " (--debug lists the differences)"
    return line
