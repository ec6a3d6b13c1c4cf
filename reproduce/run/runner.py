"""Plan, estimate and execute the runs of a registry spec, then rebuild its outputs.

    run_output(spec_id="table3", preset="smol")            # train/evaluate what is missing
    run_output(spec_id="table3", preset="smol", dry_run=True) # print the grid, cache state, cost

A finished run (all tasks stored, status complete) is never recomputed; an unfinished one resumes
(finished tasks and trained stages are reused). `limit` caps how many runs start in one call, so a
long grid can be advanced across sessions.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

from reproduce.cells.collect import load_analysis
from reproduce.cells.manifest import ManifestCell, cell_key, committed_manifest, merge, write_manifest
from reproduce.paper.presets import SCALE_PRESETS, ScalePreset, get_preset, with_backbone
from reproduce.paper.registry import OutputSpec, get_spec
from reproduce.plan.costs import (
    MeasuredCosts,
    estimate_text,
    measured_costs,
    remaining_cost,
    scratch_cost,
    tokens_text,
)
from reproduce.plan.gpu_hours import CostModel, cost_model_for, run_gpu_hours, summary
from reproduce.plan.grid import analysis_run, expand, plan_manifest, unique_runs
from reproduce.report.rebuild import rebuild_after
from reproduce.run.analysis import analyse
from reproduce.run.executors import ExecutorSpec, dispatch
from t2t.core.config import choose
from t2t.core.errors import UserError, debug_requested
from t2t.core.fingerprint import is_mirror_vs_hub
from t2t.core.paths import results_root
from t2t.core.runtime import Runtime, path_flags
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs.preflight import check_task_source
from t2t.runs.results import RunStore
from t2t.runs.run import RunSpec, execute, lacks_items, recorded_paths, run_fingerprint, staleness
from t2t.training.pipeline import stage_folder

logger = logging.getLogger(__name__)


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
    info = store.read()
    complete = done == len(tasks) and info.get("status") == "complete"
    origin = info.get("provenance", {})
    stored = {"date": origin.get("written_at"), "sha": origin.get("git", {}).get("sha")} if complete else None
    mirror_vs_hub = False
    try:
        current = run_fingerprint(run) if store.task_names() else None
        stale = staleness(store, current) if current else []
        mirror_vs_hub = bool(stale) and is_mirror_vs_hub(info.get("fingerprints"), current)
    except UserError as error:  # inputs not available here (no data root, no weights): cannot check
        stale = [f"cannot check: {error}"]
    paths, retrain = None, ""
    if not complete and store.task_names() and run.model.stages:  # a stored run gains tasks: its own model
        try:
            paths = recorded_paths(run, store)
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


def plan(
    spec_id: str,
    preset: str | None = None,
    backbone: str | None = None,
    seeds: int | None = None,
    root: Path | None = None,
    *,
    drop: bool = False,
    task_set: str | None = None,
):
    """`(spec, scale, planned runs)` of an output at a preset.

    The plan covers at least what the output's committed manifest names: its backbone columns and
    its seeds (`seeds` None = the larger of the preset's and the manifest's), so re-running an output
    adds what is missing and never plans less than what is recorded. `drop` plans from the code
    alone (the manifest's extra cells are then dropped by `run_table_plan`).

    The task set is part of the record too: an output committed on another task set than its
    preset's today keeps that set (its table stays what it is) until `task_set` names the set to
    move it to; the move evaluates the tasks its runs lack (`task_set_note` says so in the plan).
    """
    spec = get_spec(spec_id)
    scale = get_preset(preset)
    if backbone:
        scale = with_backbone(scale, backbone)
    return spec, *plan_spec(spec, scale, seeds, root, drop=drop, task_set=task_set)


def plan_spec(
    spec,
    scale: ScalePreset,
    seeds: int | None,
    root: Path | None,
    *,
    drop: bool = False,
    task_set: str | None = None,
):
    """`(scale, planned runs)` of `spec`, widened to its committed manifest (see `plan`)."""
    committed = committed_manifest(spec.id, scale.name, root)
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


def task_set_note(spec, scale: ScalePreset) -> str:
    """A line when the plan keeps an output's committed task set over its preset's (see `plan`)."""
    default = SCALE_PRESETS.get(scale.name)
    if default is None or default.task_set == scale.task_set:
        return ""
    return (
        f"{spec.id} @ {scale.name} is recorded on the task set `{scale.task_set}` and stays on it; the preset's "
        f"set is now `{default.task_set}`: `--task-set {default.task_set}` moves it (evaluates the tasks its runs "
        "lack, retraining from cached stages or on each run's recorded path, then rebuilds its table)."
    )


def describe(
    spec,
    preset: ScalePreset,
    statuses: list[RunStatus],
    root: Path | None = None,
    gpu: CostModel | None = None,
) -> str:
    """The plan as text: one line per distinct run, and where its cells' numbers come from.

    With a GPU cost model (`reproduce.plan.gpu_hours`; the default at `paper` scale) each run also gets
    its estimated GPU-hours, training + evaluation, and the header their total for the whole plan.
    """
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
    if stored:
        lines.append(
            f"{len(stored)} of {len(statuses)} runs are STORED results in {(root or results_root()) / 'runs'} "
            "(computed earlier, by the code and date shown), not recomputed now. To recompute them: "
            "`--verify` (re-runs them into a scratch store and compares), or T2T_RESULTS_DIR=<empty folder>."
        )
    if bare := [s for s in stored if s.without_items]:
        lines.append(
            f"{len(bare)} stored run(s) have no per-item outputs: their cells print without ± and decide no "
            "claim; `--add-items` re-evaluates them (retraining stages no longer cached)."
        )
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


def run_output(
    spec_id: str,
    preset: str | None = None,
    backbone: str | None = None,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    runtime: Runtime | None = None,
    root: Path | None = None,
    seeds: int | None = None,
    gpu: CostModel | None = None,
    executor: ExecutorSpec | None = None,
    drop: bool = False,
    from_scratch: bool = False,
    task_set: str | None = None,
) -> str:
    """Run what `spec_id` needs at `preset` with training seeds 0..seeds-1 (or print the plan,
    with GPU-hours from `gpu` or, at `paper` scale, the default cost model), then rebuild its outputs.

    The plan covers everything the output's committed manifest names (`plan`); `drop` re-plans the
    output from the code alone, dropping cells the code no longer plans.
    """
    spec, scale, planned = plan(spec_id, preset, backbone, seeds, root, drop=drop, task_set=task_set)
    if spec.analysis:  # its cells are analyses of trained models, not scored runs
        return _analyse(spec, scale, planned, dry_run, limit, runtime, root, drop)
    return run_table_plan(
        spec,
        scale,
        planned,
        dry_run=dry_run,
        limit=limit,
        runtime=runtime,
        root=root,
        gpu=gpu,
        executor=executor,
        drop=drop,
        from_scratch=from_scratch,
    )


def record_plan(spec, scale: ScalePreset, planned: list[ManifestCell], root: Path | None, drop: bool):
    """The manifest this plan writes (`reproduce.cells.manifest.merge`) and a note on what it keeps,
    drops or moves.

    Refuses (a `UserError`) when the code now fills committed cells with other runs than the
    manifest names: a changed default must not re-point a committed table silently. Two things
    re-plan on purpose, and the note lists what they change: `--drop-unplanned` (cells the code no
    longer plans are dropped, re-pointed cells follow the code), and a move to a task set of another
    pool (`--task-set`: runs of another pool are other runs, so every cell is planned anew).
    """
    committed = committed_manifest(spec.id, scale.name, root)
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
    return merged.manifest, "\n".join(notes)


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


def run_table_plan(
    spec,
    scale: ScalePreset,
    planned: list[ManifestCell],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    runtime: Runtime | None = None,
    root: Path | None = None,
    gpu: CostModel | None = None,
    executor: ExecutorSpec | None = None,
    drop: bool = False,
    from_scratch: bool = False,
) -> str:
    """Execute the missing runs of a table/figure plan, then rebuild its outputs.

    `executor` (`reproduce.run.executors`) runs them in worker processes or on Slurm instead of here.

    Unless it is a dry run, the plan is first recorded in the output's manifest for this preset
    (`reproduce.cells.manifest`): that is what the tables will show, whatever defaults change later. The
    manifest only grows (`record_plan`). Stored runs whose inputs cannot be checked against this
    machine's (`unverified_runs`) stop the command before anything is written, unless
    `--on-stale accept|recompute` says what to do with them.
    """
    costs = measured_costs(root)
    runtime = runtime or Runtime()
    cells_of: dict[str, list[ManifestCell]] = {}
    for item in planned:
        cells_of.setdefault(item.run_id, []).append(item)
    runs = unique_runs(planned)
    statuses = [status_of(run, cells_of[run.run_id], scale, costs, root, runtime.add_items) for run in runs]
    report = describe(spec, scale, statuses, root, gpu)
    stale = unverified_runs(spec.id, scale.name, statuses)
    if dry_run and from_scratch:
        seconds = scratch_cost(runs, costs)
        estimate = (
            "no estimate (not all of it measured here)" if seconds is None else f"{seconds / 3600:.2f} h"
        )
        report += (
            f"\nfrom scratch (no run stored, no stage cached) this plan would take {estimate} on this machine"
        )
    if dry_run:
        try:
            note = record_plan(spec, scale, planned, root, drop)[1]
        except UserError as error:
            note = f"! {error}"
        return "\n".join(filter(None, [report, note, stale]))
    if stale and runtime.on_stale == "error":
        raise StaleRuns(stale)
    recorded, note = record_plan(spec, scale, planned, root, drop)
    todo = [  # a stale run is refused or redone; --add-items re-evaluates runs stored without items
        s for s in statuses if not s.complete or s.stale or s.reevaluate
    ]
    if any(not s.complete or s.reevaluate or (s.stale and runtime.on_stale == "recompute") for s in todo):
        check_task_source(scale.task_set)  # tasks will be loaded: before anything is written or printed
    write_manifest(recorded, root)
    print("\n".join(filter(None, [report, note])), flush=True)
    todo = todo[: limit if limit is not None else None]
    failures = []
    if executor is not None and executor.kind != "inline":
        logger.info("%d run(s) to %s executor", len(todo), executor.kind)
        outcome = dispatch([status.run for status in todo], runtime, executor, root)
        if outcome.pending:
            return (
                f"submitted {len(outcome.pending)} Slurm job(s): {', '.join(outcome.pending)}; rerun this "
                "command when they are done to rebuild the outputs (finished runs are not recomputed)"
            )
        failures = outcome.failures
        todo = []
    for number, status in enumerate(todo, 1):
        started = time.perf_counter()
        logger.info(
            "[%d/%d] %s %s: %s", number, len(todo), status.run.method, status.run.run_id, status.label
        )
        try:
            execute(status.run, runtime, root=root)
        except UserError as error:  # this run failed; the others still run, the outputs still rebuild
            logger.error("[%d/%d] %s failed: %s", number, len(todo), status.run.run_id, error)
            failures.append(f"run {status.run.run_id} ({status.label}): {error}")
            continue
        logger.info("[%d/%d] done in %.1f min", number, len(todo), (time.perf_counter() - started) / 60)
    written = rebuild_after(spec.id, root)
    if failures:
        raise RunsFailed(written, failures)
    return written


def grid_runs(spec_ids, preset: str | None, backbone: str | None = None, seeds: int | None = None):
    """The distinct runs of several table/figure outputs together (shared runs once); analyses,
    which reuse these models, are left out."""
    runs: dict[str, RunSpec] = {}
    for spec_id in spec_ids:
        spec, _, planned = plan(spec_id, preset, backbone, seeds)
        if not spec.analysis:
            runs.update((run.run_id, run) for run in unique_runs(planned))
    return list(runs.values())


class RunsFailed(UserError, RuntimeError):
    """Some runs of a plan failed; the others ran and the outputs were rebuilt (failed cells marked)."""

    def __init__(self, written: str, failures: list[str]) -> None:
        super().__init__(
            f"{len(failures)} run(s) failed; nothing was stored for them and their cells say so:\n  "
            + "\n  ".join(failures)
            + f"\n{written}"
        )


class StaleRuns(UserError, RuntimeError):
    """Stored runs of a plan were computed from inputs this machine cannot match; nothing was written."""


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


def _analyse(spec: OutputSpec, preset, planned, dry_run, limit, runtime, root, drop=False) -> str:
    seen: dict[str, object] = {}
    for item in planned:
        run = analysis_run(spec, item.run, preset)
        seen.setdefault(run.run_id, (run, item))
    pending = [
        (run, item)
        for run, item in seen.values()
        if load_analysis(run.analysis, run.run_id, root) is None  # missing or unreadable
    ]
    lines = [f"{spec.id} @ {preset.name}: {len(seen)} analyses, {len(pending)} to run"]
    lines += [
        f"  {run.run_id}  {item.row} [{item.role}]  {'to run' if (run, item) in pending else 'complete'}"
        for run, item in seen.values()
    ]
    if dry_run:
        return "\n".join(lines)
    recorded, note = record_plan(spec, preset, planned, root, drop)
    write_manifest(recorded, root)
    if note:
        logger.info(note)
    for run, item in pending[: limit if limit is not None else None]:
        logger.info("analysis %s for %s [%s]", run.analysis, item.row, item.role)
        analyse(run, runtime or Runtime(), root=root)
    return rebuild_after(spec.id, root)
