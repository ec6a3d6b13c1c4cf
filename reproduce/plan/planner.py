"""One output at one preset -> a `Plan`: its cells, where each run stands, and the manifest to record.

    plan = plan_output("table3", "smol")    # built once, reading the store; writes nothing
    describe(plan)                          # what `--dry-run` prints
    reproduce.run.runner.run_plan(plan)     # executes it: records `plan.manifest`, runs `plan.todo`

The plan covers at least what the output's committed manifest names: its backbone columns and its
seeds (`seeds` None = the larger of the preset's and the manifest's), so re-running an output adds
what is missing and never plans less than what is recorded. `drop` plans from the code alone (the
manifest's extra cells are then dropped, `reproduce.plan.record.record_plan`).

The task set is part of the record too: an output committed on another task set than its preset's
today keeps that set (its table stays what it is) until `task_set` names the set to move it to; the
move evaluates the tasks its runs lack (`task_set_note` says so in the plan).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from reproduce.cells.collect import load_analysis
from reproduce.cells.manifest import Manifest, ManifestCell, committed_manifest
from reproduce.paper.presets import ScalePreset, get_preset, with_backbone
from reproduce.paper.registry import OutputSpec, get_spec
from reproduce.plan.analysis_runs import AnalysisRun
from reproduce.plan.costs import MeasuredCosts, estimate_text, measured_costs, scratch_cost, tokens_text
from reproduce.plan.gpu_hours import CostModel, cost_model_for, run_gpu_hours, summary
from reproduce.plan.grid import analysis_run, expand, unique_runs
from reproduce.plan.record import record_plan, task_set_note
from reproduce.plan.status import RunStatus, status_of, unverified_runs
from t2t.core.config import choose
from t2t.core.errors import UserError
from t2t.core.paths import results_root
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs.run import RunSpec


@dataclasses.dataclass(frozen=True)
class Plan:
    """What running one output at one preset means, read from the store once (`build_plan`).

    Attributes:
        spec: the output (a registry spec, or a compare table's).
        scale: the preset, widened to the committed manifest (columns, task set).
        cells: every planned cell, in output order; `runs` are their distinct runs.
        root: the results store it was read from (None: the default).
        committed: the output's stored manifest at this preset (None: never planned).
        manifest: what executing the plan records (None when `refusal` says why it may not).
        note: what recording it keeps, drops or moves (`reproduce.plan.record.record_plan`).
        refusal: why the plan may not be recorded ("" when it may).
        statuses: score outputs: one per distinct run (empty when built without them, or an analysis).
        costs: the measured costs the statuses are priced with (None without statuses).
        stale: the line on stored runs whose inputs differ from this machine's ("" when none).
        analyses: analysis outputs: `(analysis, its first cell)` per distinct analysis.
        pending: the analyses not stored yet.
    """

    spec: OutputSpec
    scale: ScalePreset
    cells: tuple[ManifestCell, ...]
    root: Path | None
    committed: Manifest | None
    manifest: Manifest | None
    note: str
    refusal: str
    statuses: tuple[RunStatus, ...] = ()
    costs: MeasuredCosts | None = None
    stale: str = ""
    analyses: tuple[tuple[AnalysisRun, ManifestCell], ...] = ()
    pending: tuple[tuple[AnalysisRun, ManifestCell], ...] = ()

    @property
    def runs(self) -> list[RunSpec]:
        """The distinct runs of the plan, first occurrence first."""
        return unique_runs(list(self.cells))

    @property
    def todo(self) -> list[RunStatus]:
        """Runs to execute: unfinished, stale (refused or redone) or re-evaluated (`--add-items`)."""
        return [s for s in self.statuses if not s.complete or s.stale or s.reevaluate]

    def loads_tasks(self, on_stale: str) -> bool:
        """Whether executing the plan evaluates tasks (so their source must be there first)."""
        return any(not s.complete or s.reevaluate or (s.stale and on_stale == "recompute") for s in self.todo)


def plan_output(
    spec_id: str,
    preset: str | None = None,
    backbone: str | None = None,
    seeds: int | None = None,
    root: Path | None = None,
    *,
    drop: bool = False,
    task_set: str | None = None,
    add_items: bool = False,
    statuses: bool = True,
) -> Plan:
    """The `Plan` of a registry output at a preset (with `backbone` replacing the preset's)."""
    return build_plan(
        get_spec(spec_id),
        preset_scale(preset, backbone),
        seeds=seeds,
        root=root,
        drop=drop,
        task_set=task_set,
        add_items=add_items,
        statuses=statuses,
    )


def build_plan(
    spec: OutputSpec,
    scale: ScalePreset,
    *,
    seeds: int | None = None,
    root: Path | None = None,
    drop: bool = False,
    task_set: str | None = None,
    add_items: bool = False,
    statuses: bool = True,
) -> Plan:
    """The `Plan` of `spec` at `scale`: the committed manifest read once, the cells widened to it,
    the record merged, and (with `statuses`) every distinct run's state priced with this machine's
    measured costs; `add_items` prices `--add-items`. Without `statuses` (`--verify`, which reads
    each run itself) no run's state is read and no cost is measured."""
    committed = committed_manifest(spec.id, scale.name, root)
    scale, cells = plan_spec(spec, scale, seeds, committed, drop=drop, task_set=task_set)
    try:
        manifest, note = record_plan(spec, scale, cells, committed, drop)
        refusal = ""
    except UserError as error:
        manifest, note, refusal = None, "", str(error)
    plan = Plan(spec, scale, tuple(cells), root, committed, manifest, note, refusal)
    if spec.analysis:
        analyses = _analyses(spec, scale, cells)
        pending = tuple(a for a in analyses if load_analysis(a[0].analysis, a[0].run_id, root) is None)
        return dataclasses.replace(plan, analyses=analyses, pending=pending)
    if not statuses:
        return plan
    costs = measured_costs(root)
    cells_of: dict[str, list[ManifestCell]] = {}
    for cell in cells:
        cells_of.setdefault(cell.run_id, []).append(cell)
    found = tuple(status_of(run, cells_of[run.run_id], scale, costs, root, add_items) for run in plan.runs)
    stale = unverified_runs(spec.id, scale.name, list(found))
    return dataclasses.replace(plan, statuses=found, costs=costs, stale=stale)


def preset_scale(preset: str | None, backbone: str | None = None) -> ScalePreset:
    """The preset by name (None: the default), its backbones replaced by `backbone` when given."""
    scale = get_preset(preset)
    return with_backbone(scale, backbone) if backbone else scale


def plan_cells(
    spec_id: str,
    preset: str | None = None,
    backbone: str | None = None,
    seeds: int | None = None,
    root: Path | None = None,
    *,
    drop: bool = False,
    task_set: str | None = None,
):
    """`(spec, scale, planned cells)` of an output at a preset: the grid alone (no run's state read)."""
    spec = get_spec(spec_id)
    scale = preset_scale(preset, backbone)
    committed = committed_manifest(spec.id, scale.name, root)
    return spec, *plan_spec(spec, scale, seeds, committed, drop=drop, task_set=task_set)


def plan_spec(
    spec,
    scale: ScalePreset,
    seeds: int | None,
    committed: Manifest | None,
    *,
    drop: bool = False,
    task_set: str | None = None,
) -> tuple[ScalePreset, list[ManifestCell]]:
    """`(scale, planned cells)` of `spec`, widened to its `committed` manifest (module docstring)."""
    if task_set is not None:
        choose(TASK_SETS, task_set, "task set")  # an unknown name fails here, with the known ones
        scale = scale.replace(task_set=task_set)
    elif committed is not None and committed.task_set != scale.task_set:  # kept even by --drop-unplanned
        scale = scale.replace(task_set=committed.task_set)
    if committed is not None and not drop:
        columns = {**committed.backbones, **scale.backbones_for(spec.id)}
        scale = scale.replace(output_backbones={**scale.output_backbones, spec.id: columns})
        seeds = seeds or max(scale.seeds, committed.seeds)
    return scale, expand(spec, scale, seeds or scale.seeds)


def _analyses(spec, scale: ScalePreset, cells) -> tuple[tuple[AnalysisRun, ManifestCell], ...]:
    seen: dict[str, tuple[AnalysisRun, ManifestCell]] = {}
    for cell in cells:
        run = analysis_run(spec, cell.run, scale)
        seen.setdefault(run.run_id, (run, cell))
    return tuple(seen.values())


def grid_runs(plans: list[Plan]) -> list[RunSpec]:
    """The distinct runs of several table/figure plans together (shared runs once); analyses,
    which reuse these models, are left out."""
    runs: dict[str, RunSpec] = {}
    for plan in plans:
        if not plan.spec.analysis:
            runs.update((run.run_id, run) for run in plan.runs)
    return list(runs.values())


def describe(plan: Plan, gpu: CostModel | None = None, *, from_scratch: bool = False) -> str:
    """The plan as text (what `--dry-run` prints): one line per distinct run, and where its cells'
    numbers come from; an analysis output's plan lists its analyses.

    With a GPU cost model (`reproduce.plan.gpu_hours`; the default at `paper` scale) each run also gets
    its estimated GPU-hours, training + evaluation, and the header their total for the whole plan.
    `from_scratch` adds what the whole plan would take here with nothing stored or cached.
    """
    if plan.spec.analysis:
        return analyses_text(plan)
    report = statuses_text(plan, gpu)
    if from_scratch:
        seconds = scratch_cost(plan.runs, plan.costs)
        estimate = (
            "no estimate (not all of it measured here)" if seconds is None else f"{seconds / 3600:.2f} h"
        )
        report += (
            f"\nfrom scratch (no run stored, no stage cached) this plan would take {estimate} on this machine"
        )
    return "\n".join(filter(None, [report, plan.note or (plan.refusal and f"! {plan.refusal}"), plan.stale]))


def analyses_text(plan: Plan) -> str:
    """An analysis output's plan: its distinct analyses, each to run or complete."""
    lines = [f"{plan.spec.id} @ {plan.scale.name}: {len(plan.analyses)} analyses, {len(plan.pending)} to run"]
    lines += [
        f"  {run.run_id}  {item.row} [{item.role}]  {'to run' if (run, item) in plan.pending else 'complete'}"
        for run, item in plan.analyses
    ]
    return "\n".join(lines)


def statuses_text(plan: Plan, gpu: CostModel | None = None) -> str:
    """A score output's plan: the header (counts, estimate, notes) and one line per distinct run."""
    statuses, preset, spec = plan.statuses, plan.scale, plan.spec
    todo = [s for s in statuses if not s.complete]
    redo = [s for s in statuses if s.reevaluate]
    stored = [s for s in statuses if s.complete]
    gpu = cost_model_for(preset.name, gpu)
    gpu_hours = {s.run.run_id: run_gpu_hours(s.run, gpu) for s in statuses} if gpu else {}
    lines = [
        f"{spec.id} @ {preset.name}: {len(statuses)} distinct runs, "
        f"{len(stored)} complete, {len(todo)} to run"
        + (f", {len(redo)} to re-evaluate (--add-items)" if redo else "")
        + f"; {estimate_text(statuses)}",
    ]
    if note := task_set_note(spec, preset):
        lines.append(note)
    if gpu:
        lines.append(f"GPU estimate for all {len(statuses)} runs: {summary(gpu_hours.values(), gpu)}")
    lines += _stored_notes(stored, len(statuses), plan.root)
    lines += tokens_text(s.run for s in statuses if not s.complete or s.reevaluate)
    width = max([12, *(len(s.run.method) + 2 for s in statuses)])  # e.g. "token-prepending"
    lines.append(
        f"{'run id':<14}{'method':<{width}}{'status':<40}{'est.':>8}{'  GPU-h' if gpu else ''}  cells"
    )
    for s in statuses:
        column = f"{gpu_hours[s.run.run_id].total:>7.2f}" if gpu else ""
        estimate = "      --" if s.estimate_s is None else f"{s.estimate_s / 60:>7.1f}m"
        lines.append(f"{s.run.run_id:<14}{s.run.method:<{width}}{s.state:<40}{estimate}{column}  {s.label}")
        if s.error and not s.complete:
            lines.append(f"{'':<14}  ! last attempt failed: {s.error[:200]}")
    return "\n".join(lines)


def _stored_notes(stored: list[RunStatus], total: int, root: Path | None) -> list[str]:
    """Where the stored runs' numbers come from, and which of them print without ±."""
    lines = []
    if stored:
        lines.append(
            f"{len(stored)} of {total} runs are STORED results in {(root or results_root()) / 'runs'} "
            "(computed earlier, by the code and date shown), not recomputed now. To recompute them: "
            "`--verify` (re-runs them into a scratch store and compares), or T2T_RESULTS_DIR=<empty folder>."
        )
    if bare := [s for s in stored if s.without_items]:
        lines.append(
            f"{len(bare)} stored run(s) have no per-item outputs: their cells print without ± and decide no "
            "claim; `--add-items` re-evaluates them (retraining stages no longer cached)."
        )
    return lines
