"""Registry spec x scale preset -> the cells it needs, and the manifest that records them.

Each cell (`reproduce.cells.manifest.ManifestCell`) knows where its result lands in the output (row label,
backbone column, sweep point, seed) and carries the `RunSpec` whose hash names the run folder. Runs
shared between tables (the same zero-shot model, the same DD -> MD model) have the same hash and are
executed once. An analysis output's cells also name an `AnalysisRun` (`analysis_run`, the analyses'
counterpart of `reproduce.paper.methods.run_spec`), whose hash names the analysis result file.

Everything about the output's shape comes through the spec's protocol (`reproduce.paper.registry.OutputSpec`:
`points`, `manifest_fields`, `analysis`), so nothing here asks what kind of output it plans.
`manifest` turns a plan into the record the builders read (`reproduce.cells.manifest`): the runner
writes it, so tables never re-derive which runs they show.
"""

from __future__ import annotations

from reproduce.cells.manifest import Manifest, ManifestCell
from reproduce.paper.methods import run_spec
from reproduce.paper.presets import ScalePreset, backbone_label
from reproduce.paper.registry import OutputSpec
from reproduce.plan.analysis_runs import AnalysisRun
from t2t.evaluation.tasks import TASK_SETS, task_category
from t2t.runs.run import RunSpec


def expand(spec: OutputSpec, preset: ScalePreset, seeds: int = 1) -> list[ManifestCell]:
    """Every (row or point) x backbone x seed of `spec` at `preset`, in row, backbone, seed order.

    Seeds are 0..seeds-1: the seed is the `ModelSpec.seed` of the run (data order, LoRA init,
    dropout), so seed 0 is the run the grid had before seeds existed, with the same id. A row that
    trains nothing (zero-shot, echo, Token Prepending, BM25) gets seed 0 only: the seed reaches nothing
    it computes, so further seeds would re-encode every task into the same scores (for `compare
    --seeds 3` on Gemma-3 at smol: 10 of the 25 runs it planned and 8.8 of its 21.4 estimated hours).
    A row restricted to task types (`Row.task_types`) has no cell where its run would evaluate no
    task of the preset's set (BM25 on a set without retrieval).
    """
    cells = []
    for row, sweep, value in spec.points(preset):
        for role, backbone in preset.backbones_for(spec.id).items():
            if not row.plans_on(backbone):
                continue
            runs = [run_spec(row.method, preset, backbone, row.params, task_types=row.task_types)]
            if runs[0].model.stages:  # a row that trains nothing has one seed
                runs += [
                    run_spec(row.method, preset, backbone, row.params, seed=seed, task_types=row.task_types)
                    for seed in range(1, seeds)
                ]
            for seed, run in enumerate(runs):
                if not run.evaluation.tasks:
                    continue
                analysis = analysis_run(spec, run, preset) if spec.analysis else None
                cells.append(
                    ManifestCell(
                        row=row.label,
                        role=role,
                        backbone=backbone,
                        method=run.method,
                        run_id=run.run_id,
                        sweep=sweep,
                        value=value,
                        seed=seed,
                        analysis_id=analysis.run_id if analysis else None,
                        run=run,
                    )
                )
    return cells


def unique_runs(planned: list[ManifestCell]) -> list[RunSpec]:
    """The distinct runs of a plan, first occurrence first."""
    seen: dict[str, RunSpec] = {}
    for item in planned:
        seen.setdefault(item.run_id, item.run)
    return list(seen.values())


def analysis_run(spec: OutputSpec, run: RunSpec, preset: ScalePreset) -> AnalysisRun:
    """The analysis `spec.analysis` of one planned run's model, with the preset's corpus and size."""
    sizes = {"spectrum": preset.analysis.spectrum_sentences, "alignment": preset.analysis.alignment_sentences}
    return AnalysisRun(
        analysis=spec.analysis, model=run.model, corpus=preset.analysis.corpus, sentences=sizes[spec.analysis]
    )


def plan_manifest(spec: OutputSpec, preset: ScalePreset, planned: list[ManifestCell]) -> Manifest:
    """What the builders need to write `spec`'s section at `preset` from stored files alone."""
    tasks = TASK_SETS[preset.task_set].tasks
    backbones = preset.backbones_for(spec.id)
    fields = spec.manifest_fields(preset)
    planned_rows = {cell.row for cell in planned}
    idle = {row.label for row, _, _ in spec.points(preset) if row.task_types} - planned_rows
    fields["rows"] = tuple(row for row in fields["rows"] if row[0] not in idle)  # e.g. BM25, no retrieval
    return Manifest(
        output=spec.id,
        kind=spec.kind,
        caption=spec.caption,
        paper_number=spec.paper_number,
        preset=preset.name,
        preset_description=preset.description_for(spec.id),
        task_set=preset.task_set,
        tasks=tuple(tasks),
        categories={task: task_category(task) for task in tasks},
        backbones=backbones,
        labels={role: backbone_label(backbone) for role, backbone in backbones.items()},
        cells=tuple(planned),
        **fields,
    )
