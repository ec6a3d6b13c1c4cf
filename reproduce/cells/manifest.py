"""Manifests: which run fills which cell of an output, written by the runner, read by the builders.

    results/manifests/<output id>/<preset>.json

The runner plans an output (registry spec x scale preset -> runs, `reproduce.plan.grid`) and writes its
manifest: the output's description (rows in order, caption, columns, sweeps), the preset's (name,
description, task set with each task's MTEB category, backbone columns and their labels), and one
entry per cell (row, backbone role, sweep point, seed) with the id of the run folder that holds its
scores, or of the analysis result file.

Table, figure, claims and index builders read only manifests and run folders, never the grid, the
presets or a model: `python -m reproduce tables` imports neither torch, mteb nor spaCy. A default
changed in code therefore never silently re-points a table at other runs: the table keeps showing
the runs its manifest names until the output is planned again, and `orphans` lists run folders no
manifest names and cells whose run folder is missing.

Example (a cell of table3 at smol):
    {"row": "DD only", "role": "smollm2", "backbone": "smollm2-135m", "method": "text2token",
     "sweep": null, "value": null, "seed": 0, "run_id": "d56136ad42f5", "analysis_id": null}
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from reproduce.paper.registry import SweepInfo
from t2t.core.atomic import atomic_write_json, read_json
from t2t.core.paths import results_root

PRESET_ORDER = ("paper", "smol", "tiny")
"""Presets from largest to smallest: the order of sections in every output."""


@dataclasses.dataclass(frozen=True)
class ManifestCell:
    """One cell (or curve point) of an output: where it sits and the run (or analysis) that fills it.

    The planner makes cells with their `run` (the `t2t.runs.run.RunSpec`, whose hash is `run_id`); a cell
    read back from a manifest has the id only (`run` is not written: the run folder's `run.json`
    holds the config).
    """

    row: str
    role: str
    backbone: str
    method: str
    run_id: str
    sweep: str | None = None
    value: Any = None
    seed: int = 0
    analysis_id: str | None = None
    run: Any = dataclasses.field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "run"}


@dataclasses.dataclass(frozen=True)
class Kind:
    """What an output kind is, for the code that reads manifests (`KINDS`; the builders add how
    each kind is written, `reproduce.report.builders.BUILDERS`).

    Attributes:
        scores: its cells are runs with task scores (tables, sweep figures), not analyses.
        score_table: rows x backbone columns of task-set averages (what claims and pooled seed
            variances read).
    """

    scores: bool
    score_table: bool


KINDS: dict[str, Kind] = {
    "table": Kind(scores=True, score_table=True),
    "figure": Kind(scores=True, score_table=False),
    "analysis": Kind(scores=False, score_table=False),
    "curve": Kind(scores=True, score_table=False),  # methods x training budgets (`reproduce.plan.budget`)
}


@dataclasses.dataclass(frozen=True)
class EarlierTaskSet:
    """A task set a manifest was recorded on before it moved (`--task-set`): what the output's cells
    read then, so its verdicts on that set can still be computed from the run folders, which keep
    every task they evaluated (`Manifest.on_task_set`)."""

    task_set: str
    tasks: tuple[str, ...]
    categories: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Manifest:
    """Everything a builder needs to write one output's section for one preset.

    `earlier` lists the task sets the output was recorded on before its current one, oldest first
    (`reproduce.plan.record.record_plan` appends one on a move); a manifest never moved has none and
    writes no such key.
    """

    output: str
    kind: str  # table | figure | analysis
    caption: str
    paper_number: str | None
    columns: str  # categories | average (tables)
    rows: tuple[tuple[str, str], ...]  # (label, method) in display order
    preset: str
    preset_description: str
    task_set: str
    tasks: tuple[str, ...]
    categories: dict[str, str]  # task -> MTEB category
    backbones: dict[str, str]  # role -> backbone
    labels: dict[str, str]  # role -> column label
    cells: tuple[ManifestCell, ...]
    sweeps: tuple[SweepInfo, ...] = ()
    analysis: str | None = None
    budget: bool = False  # tables: add each row's training budget (`reproduce.plan.budget.budget_cells`)
    earlier: tuple[EarlierTaskSet, ...] = ()

    @property
    def name(self) -> str:
        """The output's display name: its paper number, else its id."""
        return self.paper_number or self.output

    @property
    def seeds(self) -> int:
        """How many training seeds the manifest names (seeds 0..seeds-1; 0 without cells)."""
        return max((cell.seed for cell in self.cells), default=-1) + 1

    @property
    def scores(self) -> bool:
        """Whether its cells are runs with task scores (`Kind.scores`)."""
        return KINDS[self.kind].scores

    @property
    def score_table(self) -> bool:
        """Whether it is a table of task-set averages (`Kind.score_table`)."""
        return KINDS[self.kind].score_table

    def seed_cells(self, seed: int = 0) -> list[ManifestCell]:
        """The cells of one training seed (tables show seed 0 until intervals over seeds exist)."""
        return [cell for cell in self.cells if cell.seed == seed]

    def earlier_set(self, task_set: str) -> EarlierTaskSet | None:
        """The record of `task_set` among the sets the output was on before (None: never on it)."""
        return next((record for record in self.earlier if record.task_set == task_set), None)

    def on_task_set(self, task_set: str) -> Manifest | None:
        """The manifest read on `task_set`: itself when that is its set, else with the tasks and
        categories it had there (`earlier`), the same cells (a cell whose run lacks a task of that set
        is incomplete there, as anywhere); None when the output was never recorded on it."""
        if task_set == self.task_set:
            return self
        record = self.earlier_set(task_set)
        if record is None:
            return None
        return dataclasses.replace(
            self, task_set=record.task_set, tasks=record.tasks, categories=dict(record.categories), earlier=()
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(dataclasses.replace(self, cells=()))
        data["cells"] = [cell.to_dict() for cell in self.cells]
        if not self.earlier:
            del data["earlier"]  # a manifest never moved keeps the bytes it had before the field
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        # JSON is written with sorted keys; the column order is the cells' (row, backbone, seed) order
        cells = tuple(ManifestCell(**cell) for cell in data["cells"])
        order = list(dict.fromkeys(cell.role for cell in cells))
        order += sorted(role for role in data["backbones"] if role not in order)
        return cls(
            **{
                **data,
                "rows": tuple(tuple(row) for row in data["rows"]),
                "tasks": tuple(data["tasks"]),
                "backbones": {role: data["backbones"][role] for role in order},
                "labels": {role: data["labels"][role] for role in order if role in data["labels"]},
                "cells": cells,
                "sweeps": tuple(
                    SweepInfo(**{**sweep, "values": tuple(sweep["values"])})
                    for sweep in data.get("sweeps", ())
                ),
                "earlier": tuple(
                    EarlierTaskSet(**{**record, "tasks": tuple(record["tasks"])})
                    for record in data.get("earlier", ())
                ),
            }
        )


def manifest_path(output: str, preset: str, root: Path | None = None) -> Path:
    return (root or results_root()) / "manifests" / output / f"{preset}.json"


def write_manifest(manifest: Manifest, root: Path | None = None) -> Path:
    path = manifest_path(manifest.output, manifest.preset, root)
    atomic_write_json(path, manifest.to_dict())
    return path


def cell_key(cell: ManifestCell) -> tuple:
    """What a cell stands for, whichever run fills it: row, backbone column, sweep point, seed."""
    return (cell.row, cell.role, cell.sweep, json.dumps(cell.value), cell.seed)


@dataclasses.dataclass(frozen=True)
class Merged:
    """A plan's manifest merged into the committed one (`merge`).

    `manifest` is what to write; `kept` are committed cells the plan does not name (kept unless
    dropped on purpose); `repointed` are `(cell key, committed run id, planned run id)` for cells the
    plan fills with another run than the committed manifest (a default changed in code).
    """

    manifest: Manifest
    kept: tuple[ManifestCell, ...] = ()
    repointed: tuple[tuple[tuple, str, str], ...] = ()


def merge(committed: Manifest | None, planned: Manifest, *, drop: bool = False) -> Merged:
    """The manifest a run of an output writes: the committed one plus what the plan adds.

    A re-run never shrinks a record: cells of the committed manifest that the plan does not name
    (other seeds, backbone columns, rows or sweep points) are kept, in their order, and the plan's
    new cells follow. Output-level fields (caption, task set, labels) are the plan's; columns and
    sweep values are the union, committed ones first; rows are the union in the plan's order (the
    registry's: `rows_in_plan_order`), so a row added to the registry lands where the registry puts
    it, not at the bottom. A cell the plan fills with another run
    than the committed one keeps the committed run and is reported in `repointed`: the caller
    refuses to go on without an explicit choice. With `drop`, the plan replaces the manifest
    whole (cells it does not name are dropped; re-pointed cells follow the code).

    With nothing to add, the result equals `committed`, so writing it changes no byte.
    """
    if committed is None or drop:
        return Merged(planned)
    planned_runs = {cell_key(cell): cell for cell in planned.cells}
    committed_keys = {cell_key(cell) for cell in committed.cells}
    repointed = tuple(
        (cell_key(cell), cell.run_id, planned_runs[cell_key(cell)].run_id)
        for cell in committed.cells
        if cell_key(cell) in planned_runs and planned_runs[cell_key(cell)].run_id != cell.run_id
    )
    kept = tuple(cell for cell in committed.cells if cell_key(cell) not in planned_runs)
    cells = (*committed.cells, *(cell for cell in planned.cells if cell_key(cell) not in committed_keys))
    rows = rows_in_plan_order(planned.rows, committed.rows)
    backbones = {**committed.backbones, **planned.backbones}
    labels = {**committed.labels, **planned.labels}
    sweeps = _merged_sweeps(committed.sweeps, planned.sweeps)
    manifest = dataclasses.replace(
        planned, rows=rows, backbones=backbones, labels=labels, cells=cells, sweeps=sweeps
    )
    return Merged(manifest, kept, repointed)


def rows_in_plan_order(planned: tuple, committed: tuple) -> tuple:
    """The rows of both, in the plan's order; a committed row the plan no longer names stays right
    after the row it followed in the committed manifest (first, if it led it).

        rows_in_plan_order(("A", "New", "B"), ("A", "B"))  -> ("A", "New", "B")
        rows_in_plan_order(("A", "B"), ("A", "Old", "B"))  -> ("A", "Old", "B")

    Where the committed order already is the plan's, the result is the committed rows plus the new
    ones in place, so a re-run of an unchanged output changes no byte.
    """
    rows = list(planned)
    anchor = -1  # where the last committed row sits in `rows`
    for row in committed:
        if row in rows:
            anchor = rows.index(row)
        else:
            anchor += 1
            rows.insert(anchor, row)
    return tuple(rows)


def _merged_sweeps(committed: tuple[SweepInfo, ...], planned: tuple[SweepInfo, ...]) -> tuple[SweepInfo, ...]:
    """Sweeps of both, each with the union of its values (committed ones first)."""
    by_parameter = {sweep.parameter: sweep for sweep in committed}
    for sweep in planned:
        old = by_parameter.get(sweep.parameter)
        values = (
            sweep.values if old is None else (*old.values, *(v for v in sweep.values if v not in old.values))
        )
        by_parameter[sweep.parameter] = dataclasses.replace(sweep, values=values)
    return tuple(by_parameter.values())


def committed_manifest(output: str, preset: str, root: Path | None = None) -> Manifest | None:
    """The stored manifest of one output at one preset, or None (never planned, or unreadable)."""
    return next((m for m in read_manifests(output, root) if m.preset == preset), None)


def read_manifests(output: str, root: Path | None = None) -> list[Manifest]:
    """The manifests of one output, one per preset that has one, largest preset first."""
    folder = (root or results_root()) / "manifests" / output
    found = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = read_json(path, "this preset's section is left out until the output is planned again.")
        if data is not None:
            found[path.stem] = Manifest.from_dict(data)
    order = {name: i for i, name in enumerate(PRESET_ORDER)}
    return [found[name] for name in sorted(found, key=lambda n: (order.get(n, len(order)), n))]


def outputs(root: Path | None = None) -> list[str]:
    """Ids of every output that has a manifest (registry outputs and compare tables alike)."""
    folder = (root or results_root()) / "manifests"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def all_manifests(root: Path | None = None) -> Iterator[Manifest]:
    for output in outputs(root):
        yield from read_manifests(output, root)


def items_path(result: Path) -> Path:
    """The per-sentence file next to an analysis result (`spectrum-<id>.items.json.gz`)."""
    return result.with_name(result.name.removesuffix(".json") + ".items.json.gz")


def analysis_path(analysis: str, analysis_id: str, root: Path | None = None) -> Path:
    """Where an analysis result is stored (`reproduce.run.analysis` writes it there)."""
    return (root or results_root()) / "analyses" / f"{analysis}-{analysis_id}.json"


def orphans(
    root: Path | None = None, manifests: Iterable[Manifest] | None = None
) -> tuple[list[str], list[str]]:
    """`(run folders no manifest names, "output/preset: cell -> missing run" lines)`; `manifests`:
    those already read (`reproduce.cells.results.Results`), else every manifest under `root`."""
    base = root or results_root()
    named, missing = set(), []
    for manifest in all_manifests(root) if manifests is None else manifests:
        for cell in manifest.cells:
            if cell.analysis_id is not None:
                path = analysis_path(manifest.analysis or "", cell.analysis_id, root)
                if not path.is_file():
                    missing.append(
                        f"{manifest.output}/{manifest.preset}: {cell.row} [{cell.role}] -> {path.name}"
                    )
                continue
            named.add(cell.run_id)
            if not (base / "runs" / cell.run_id / "run.json").is_file():
                missing.append(
                    f"{manifest.output}/{manifest.preset}: {cell.row} [{cell.role}]"
                    + (f" seed {cell.seed}" if cell.seed else "")
                    + f" -> runs/{cell.run_id}"
                )
    runs = base / "runs"
    stored = {p.name for p in runs.iterdir() if (p / "run.json").is_file()} if runs.is_dir() else set()
    return sorted(stored - named), sorted(set(missing))
