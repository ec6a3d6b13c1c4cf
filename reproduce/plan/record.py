"""The manifest a plan records, merged into the committed one, and a note on what that changes.

    record_plan(spec, scale, planned, committed, drop)   # (Manifest to write, note)

Computes only: `reproduce.run.runner` writes the manifest when it executes the plan
(`reproduce.plan.planner.Plan.manifest`).
"""

from __future__ import annotations

import dataclasses

from reproduce.cells.manifest import EarlierTaskSet, Manifest, ManifestCell, cell_key, merge
from reproduce.paper.presets import SCALE_PRESETS, ScalePreset
from reproduce.plan.grid import plan_manifest
from t2t.core.errors import UserError
from t2t.evaluation.tasks import TASK_SETS


def task_set_note(spec, scale: ScalePreset) -> str:
    """A line when the plan keeps an output's committed task set over its preset's
    (`reproduce.plan.planner.plan_spec`)."""
    default = SCALE_PRESETS.get(scale.name)
    if default is None or default.task_set == scale.task_set:
        return ""
    return (
        f"{spec.id} @ {scale.name} is recorded on the task set `{scale.task_set}` and stays on it; the preset's "
        f"set is now `{default.task_set}`: `--task-set {default.task_set}` moves it (evaluates the tasks its runs "
        "lack, retraining from cached stages or on each run's recorded path, then rebuilds its table)."
    )


def record_plan(
    spec, scale: ScalePreset, planned: list[ManifestCell], committed: Manifest | None, drop: bool
) -> tuple[Manifest, str]:
    """The manifest this plan writes (`reproduce.cells.manifest.merge`) and a note on what it keeps,
    drops or moves; `committed` is the output's stored manifest at this preset (None: none).

    Refuses (a `UserError`) when the code now fills committed cells with other runs than the
    manifest names: a changed default must not re-point a committed table silently. Two things
    re-plan on purpose, and the note lists what they change: `--drop-unplanned` (cells the code no
    longer plans are dropped, re-pointed cells follow the code), and a move to a task set of another
    pool (`--task-set`: runs of another pool are other runs, so every cell is planned anew).
    """
    fresh = plan_manifest(spec, scale, planned)
    moved = committed is not None and _pool(committed.task_set) != _pool(fresh.task_set)
    replan = drop or moved
    merged = merge(None if replan else committed, fresh, drop=replan)
    if merged.repointed:
        shown = "; ".join(
            f"{row} [{role}]{f' seed {seed}' if seed else ''}: manifest {old}, code {new}"
            for (row, role, _, _, seed), old, new in merged.repointed[:5]
        )
        raise UserError(
            f"{spec.id} @ {scale.name}: the code now plans other runs for {len(merged.repointed)} cell(s) "
            f"of the committed manifest ({shown}): a default changed. The committed table keeps its runs "
            "unless you re-plan the output on purpose with --drop-unplanned (cells follow the code; cells "
            "it no longer plans are dropped from the manifest; run folders are kept)."
        )
    notes = []
    if merged.kept:
        notes.append(
            f"{len(merged.kept)} cell(s) of the committed manifest are not in today's plan and are kept "
            "(--drop-unplanned drops them)"
        )
    if moved:
        notes.append(
            f"{spec.id} @ {scale.name} moves from `{committed.task_set}` to `{fresh.task_set}`, whose runs are "
            f"other runs (another pool: `t2t.evaluation.tasks.TaskSet.pool`), so every cell is planned anew; "
            f"the runs on `{committed.task_set}` stay in their folders and `--task-set {committed.task_set}` "
            "moves it back"
        )
    if replan and committed is not None:
        notes += _replanned(committed, fresh, "--task-set" if moved and not drop else "--drop-unplanned")
    return dataclasses.replace(merged.manifest, earlier=earlier_sets(committed, fresh.task_set)), "\n".join(
        notes
    )


def earlier_sets(committed: Manifest | None, task_set: str) -> tuple[EarlierTaskSet, ...]:
    """The task sets an output recorded on `task_set` was on before (`Manifest.earlier`): the committed
    manifest's, plus its own set when this plan moves it; the set it moves to is no longer "earlier"
    (a move back drops it), and each set is listed once, at its latest move."""
    if committed is None:
        return ()
    earlier = list(committed.earlier)
    if committed.task_set != task_set:
        earlier.append(EarlierTaskSet(committed.task_set, committed.tasks, dict(committed.categories)))
    latest: dict[str, EarlierTaskSet] = {}
    for record in earlier:
        latest.pop(record.task_set, None)
        latest[record.task_set] = record
    latest.pop(task_set, None)
    return tuple(latest.values())


def _pool(task_set: str) -> str:
    known = TASK_SETS.get(task_set)
    return known.pool_name if known else task_set


def _replanned(committed, fresh, why: str) -> list[str]:
    """Lines naming the committed cells a re-plan drops and those it points at other runs."""
    now = {cell_key(cell): cell.run_id for cell in fresh.cells}

    def name(cell) -> str:
        return f"{cell.row} [{cell.role}]{f' seed {cell.seed}' if cell.seed else ''} ({cell.run_id})"

    dropped = [name(cell) for cell in committed.cells if cell_key(cell) not in now]
    moved = [
        f"{name(cell)} -> {now[cell_key(cell)]}"
        for cell in committed.cells
        if now.get(cell_key(cell), cell.run_id) != cell.run_id
    ]
    lines = []
    for count, label, cells in (
        (len(dropped), "dropped from the manifest", dropped),
        (len(moved), "now name other runs", moved),
    ):
        if count:
            lines.append(
                f"{why}: {count} committed cell(s) {label} (run folders are kept): "
                + "; ".join(cells[:8])
                + (f"; ... {count - 8} more" if count > 8 else "")
            )
    return lines
