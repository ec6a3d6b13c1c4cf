"""Registry spec x scale preset -> the runs it needs, and the manifest that records them.

Each `PlannedRun` knows where its result lands in the output (row label, backbone column, sweep
point, seed) and carries the `RunSpec` whose hash names the run folder. Runs shared between tables
(the same zero-shot model, the same DD -> MD model) have the same hash and are executed once. An
analysis output's cells also name an `AnalysisRun` (`analysis_run`, the analyses' counterpart of
`reproduce.methods.run_spec`), whose hash names the analysis result file.

`manifest` turns a plan into the record the builders read (`reproduce.manifest`): the runner
writes it, so tables never re-derive which runs they show.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reproduce.analysis import AnalysisRun
from reproduce.manifest import Manifest, ManifestCell, SweepInfo
from reproduce.methods import run_spec
from reproduce.presets import ScalePreset, backbone_label
from reproduce.registry import AnalysisSpec, FigureSpec, Row, TableSpec
from t2t.evaluation.tasks import TASK_SETS, task_category
from t2t.run import RunSpec


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One cell (or curve point) of an output and the run that fills it."""

    spec_id: str
    row: str
    role: str
    backbone: str
    run: RunSpec
    sweep: str | None = None
    value: Any = None
    seed: int = 0

    @property
    def run_id(self) -> str:
        return self.run.run_id


def rows_of(
    spec: TableSpec | FigureSpec | AnalysisSpec, preset: ScalePreset
) -> list[tuple[Row, str | None, Any]]:
    """`(row, sweep parameter, value)` for every row/point of a spec at this preset."""
    if isinstance(spec, FigureSpec):
        values = preset.analysis.to_dict(shallow=True)
        return [
            (
                Row(spec.base.label, spec.base.method, {**spec.base.params, sweep.parameter: value}),
                sweep.parameter,
                value,
            )
            for sweep in spec.sweeps
            for value in values[sweep.values_from]
        ]
    return [(row, None, None) for row in spec.rows]


def expand(
    spec: TableSpec | FigureSpec | AnalysisSpec, preset: ScalePreset, seeds: int = 1
) -> list[PlannedRun]:
    """Every (row or point) x backbone x seed of `spec` at `preset`, in row, backbone, seed order.

    Seeds are 0..seeds-1: the seed is the `ModelSpec.seed` of the run (data order, LoRA init,
    dropout), so seed 0 is the run the grid had before seeds existed, with the same id.
    """
    return [
        PlannedRun(
            spec.id,
            row.label,
            role,
            backbone,
            run_spec(row.method, preset, backbone, row.params, seed=seed),
            sweep,
            value,
            seed,
        )
        for row, sweep, value in rows_of(spec, preset)
        for role, backbone in preset.backbones_for(spec.id).items()
        for seed in range(seeds)
    ]


def unique_runs(planned: list[PlannedRun]) -> list[RunSpec]:
    """The distinct runs of a plan, first occurrence first."""
    seen: dict[str, RunSpec] = {}
    for item in planned:
        seen.setdefault(item.run_id, item.run)
    return list(seen.values())


def analysis_run(spec: AnalysisSpec, item: PlannedRun, preset: ScalePreset) -> AnalysisRun:
    """The analysis of one planned cell's model, with the preset's corpus and sample size."""
    sentences = (
        preset.analysis.spectrum_sentences
        if spec.analysis == "spectrum"
        else preset.analysis.alignment_sentences
    )
    return AnalysisRun(
        analysis=spec.analysis, model=item.run.model, corpus=preset.analysis.corpus, sentences=sentences
    )


def manifest(
    spec: TableSpec | FigureSpec | AnalysisSpec, preset: ScalePreset, planned: list[PlannedRun]
) -> Manifest:
    """What the builders need to write `spec`'s section at `preset` from stored files alone."""
    tasks = TASK_SETS[preset.task_set].tasks
    is_analysis = isinstance(spec, AnalysisSpec)
    rows = [spec.base] if isinstance(spec, FigureSpec) else list(spec.rows)
    values = preset.analysis.to_dict(shallow=True)
    backbones = preset.backbones_for(spec.id)
    return Manifest(
        output=spec.id,
        kind=spec.kind,
        caption=spec.caption,
        paper_number=spec.paper_number,
        columns=getattr(spec, "columns", "average"),
        rows=tuple((row.label, row.method) for row in rows),
        preset=preset.name,
        preset_description=preset.description_for(spec.id),
        task_set=preset.task_set,
        tasks=tuple(tasks),
        categories={task: task_category(task) for task in tasks},
        backbones=backbones,
        labels={role: backbone_label(backbone) for role, backbone in backbones.items()},
        cells=tuple(
            ManifestCell(
                row=item.row,
                role=item.role,
                backbone=item.backbone,
                method=item.run.method,
                run_id=item.run_id,
                sweep=item.sweep,
                value=item.value,
                seed=item.seed,
                analysis_id=analysis_run(spec, item, preset).run_id if is_analysis else None,
            )
            for item in planned
        ),
        sweeps=tuple(
            SweepInfo(sweep.parameter, sweep.label, tuple(values[sweep.values_from]), sweep.scale)
            for sweep in getattr(spec, "sweeps", ())
        ),
        analysis=spec.analysis if is_analysis else None,
        budget=getattr(spec, "budget", False),
    )
