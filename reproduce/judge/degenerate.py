"""Degenerate cells: a trained model that scores significantly below its own untrained backbone.

A baseline that ends below the model it started from is broken (a bad recipe, a collapsed run, a
setting that does not suit the backbone), not beaten: a method that "wins" against it has shown
nothing. At smol, LLM2Vec on SmolLM2 in its paper setting (mean pooling, bidirectional) scores
38.28 where the untrained SmolLM2 scores 48.35 with mean pooling.

A trained cell is **degenerate** when the paired difference (`t2t.stats.paired_difference`, 95%,
its single seed given the pooled seed variance, stable over the resampling blocks) of its task-set
average and that of the zero-shot cell of the same backbone and pooling is below 0. Zero-shot cells
live in the `main` and `compare-*` manifests of the same preset (method `zero-shot`; pooling from
the run's `run.json`: `config.model.pooling.mode`), so every table finds them there. Tables mark a
degenerate cell `degenerate‡` with a footnote; claims read a comparison with it "not comparable".
A cell whose run evaluates only some of the tasks (BM25, `reproduce.cells.samples.restricted`) has no
task-set average, so it is neither checked nor a reference.
"""

from __future__ import annotations

import dataclasses

from reproduce.cells.manifest import Manifest
from reproduce.cells.results import Results, Source, as_results
from reproduce.cells.samples import restricted, run_config, samples, untrained
from reproduce.cells.tables import Table
from t2t.stats import FAILS, Interval, Sample, decide, paired_difference

DEGENERATE = "degenerate‡"


@dataclasses.dataclass(frozen=True)
class ZeroShot:
    """The zero-shot cell a trained cell is held against."""

    where: str  # "main: Zero-shot, mean"
    sample: Sample


@dataclasses.dataclass(frozen=True)
class Degenerate:
    """A degenerate cell: which zero-shot cell it falls below, and the paired difference."""

    reference: str
    difference: Interval

    def describe(self, label: str) -> str:
        d = self.difference
        return (
            f"{label} is {-d.estimate:.2f} below {self.reference} (its untrained backbone, same pooling): "
            f"{d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"
        )


def _pooling(run_id: str, results: Results) -> str | None:
    return run_config(run_id, results).get("pooling", {}).get("mode")


def zero_shot_cells(preset: str, tasks: tuple[str, ...], results: Source = None) -> dict[tuple, ZeroShot]:
    """`{(backbone, pooling): ZeroShot}` from the `main` and `compare-*` manifests of a preset on the
    same tasks (main first; the first cell found of a (backbone, pooling) is kept): their own task
    set, or one they were recorded on before a move (`Results.on_tasks`), so a table not moved yet
    keeps its references while main has moved on."""
    results = as_results(results)
    names = ["main"] + sorted(o for o in results.outputs() if o.startswith("compare-"))
    found: dict[tuple, ZeroShot] = {}
    for name in names:
        for recorded in results.manifests(name):
            manifest = results.on_tasks(recorded, tuple(tasks)) if recorded.preset == preset else None
            if manifest is None:
                continue
            first = {(c.row, c.role, c.sweep, c.value): c for c in manifest.seed_cells()}
            for key, sample in samples(manifest, results, comparison=True).items():
                cell = first.get(key)
                if cell is None or cell.method != "zero-shot" or not untrained(cell.run_id, results):
                    continue
                if restricted(cell.run_id, manifest, results):
                    continue
                pooling = _pooling(cell.run_id, results)
                found.setdefault((cell.backbone, pooling), ZeroShot(f"{name}: {cell.row}", sample))
    return found


def degenerate_cells(manifest: Manifest, results: Source = None) -> dict[tuple[str, str], Degenerate]:
    """`{(row, role): Degenerate}` for the trained cells of a table below their zero-shot cell (for a
    curve, `reproduce.plan.budget`, keyed `(row, role, value)`: one row at several budgets)."""
    results = as_results(results)
    curve = bool(manifest.sweeps) and not manifest.score_table
    tasks = tuple(manifest.tasks)
    zero = zero_shot_cells(manifest.preset, tasks, results)
    if not zero:
        return {}
    first = {(c.row, c.role, c.sweep, c.value): c for c in manifest.seed_cells()}
    out = {}
    for key, sample in samples(manifest, results, comparison=True).items():
        cell = first.get(key)
        if cell is None or untrained(cell.run_id, results) or restricted(cell.run_id, manifest, results):
            continue
        reference = zero.get((cell.backbone, _pooling(cell.run_id, results)))
        if reference is None:
            continue
        difference = paired_difference(sample, reference.sample, list(tasks))
        if decide(difference) == FAILS:
            key = (cell.row, cell.role, cell.value) if curve else (cell.row, cell.role)
            out[key] = Degenerate(reference.where, difference)
    return out


def mark_degenerate(table: Table, manifest: Manifest, results: Results) -> None:
    """Mark the Avg cell of every degenerate cell `degenerate‡` and say why in a footnote."""
    found = degenerate_cells(manifest, results)
    if not found:
        return
    for _, cells in table.rows:
        for cell in cells:
            key = cell.key if isinstance(cell.key, tuple) else ()
            if len(key) == 3 and key[2] == "Avg" and key[:2] in found:
                cell.mark = f" {DEGENERATE}"
    table.footnotes.append(
        f"{DEGENERATE} scores significantly below its own untrained backbone with the same pooling "
        "(paired difference of the Avg, 95%): broken, not beaten; claims read a comparison with it "
        "not comparable. "
        + "; ".join(
            found[(row, role)].describe(f"{row} [{manifest.labels.get(role, role)}]")
            for row, role in sorted(found)
        )
    )
