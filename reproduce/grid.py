"""Registry spec x scale preset -> the runs it needs (a pure function).

Each `PlannedRun` knows where its result lands in the output (row label, backbone column, sweep
point) and carries the `RunSpec` whose hash names the run folder. Runs shared between tables (the
same zero-shot model, the same DD -> MD model) have the same hash and are executed once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from reproduce.methods import run_spec
from reproduce.presets import ScalePreset
from reproduce.registry import AnalysisSpec, FigureSpec, Row, TableSpec
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
        for role, backbone in preset.backbones.items()
        for seed in range(seeds)
    ]


def unique_runs(planned: list[PlannedRun]) -> list[RunSpec]:
    """The distinct runs of a plan, first occurrence first."""
    seen: dict[str, RunSpec] = {}
    for item in planned:
        seen.setdefault(item.run_id, item.run)
    return list(seen.values())
