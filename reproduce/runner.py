"""Plan, estimate and execute the runs of a registry spec, then rebuild its outputs.

    reproduce(spec_id="table3", preset="smol")              # train/evaluate what is missing
    reproduce(spec_id="table3", preset="smol", dry_run=True) # print the grid, cache state, cost

A finished run (all tasks stored, status complete) is never recomputed; an unfinished one resumes
(finished tasks and trained stages are reused). `limit` caps how many runs start in one call, so a
long grid can be advanced across sessions.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
import time
from pathlib import Path

from reproduce.analysis import analyse
from reproduce.collect import load_analysis
from reproduce.executors import ExecutorSpec, dispatch
from reproduce.gpu_hours import CostModel, cost_model_for, run_gpu_hours, summary
from reproduce.grid import PlannedRun, analysis_run, expand, manifest, unique_runs
from reproduce.manifest import write_manifest
from reproduce.presets import ScalePreset, get_preset, with_backbone
from reproduce.rebuild import rebuild
from reproduce.registry import AnalysisSpec, get_spec
from t2t.errors import UserError
from t2t.evaluation.tasks import TASK_SETS
from t2t.paths import results_root
from t2t.results import RunStore, iter_runs, read_json
from t2t.run import RunSpec, execute, lacks_items, run_fingerprint, staleness
from t2t.runtime import Runtime
from t2t.training.pipeline import stage_dir

logger = logging.getLogger(__name__)

# Fallback costs (seconds) when this machine has no measurement yet; replaced by measured medians.
DEFAULT_EVAL_SECONDS = {"offline-lite": 10.0, "offline": 900.0, "mteb-eng-v2": 4 * 3600.0}
DEFAULT_STEP_SECONDS = {"tiny": 0.2, "smol": 4.0, "paper": 1.5}


@dataclasses.dataclass
class RunStatus:
    """Where one distinct run of a plan stands.

    `stored` is set for a complete run: it comes from the results store (`written_at`, git sha),
    computed by an earlier command, not by this one. `stale` lists how its recorded inputs differ
    from today's (`t2t.run.staleness`); `error` is the message of a run whose last attempt failed.
    """

    run: RunSpec
    cells: list[PlannedRun]
    tasks_done: int
    tasks_total: int
    stages_done: int
    complete: bool
    estimate_s: float
    stored: dict | None = None
    stale: list[str] = dataclasses.field(default_factory=list)
    error: str | None = None
    without_items: bool = False  # stored before per-item outputs: prints without ±, `--add-items` redoes it
    reevaluate: bool = False  # `--add-items` given and the run is `without_items`: it is redone

    @property
    def state(self) -> str:
        if self.stale:
            return "STALE: inputs changed"
        if self.complete and self.stored:
            sha = (self.stored.get("sha") or "no sha")[:7]
            bare = ", no items" if self.without_items else ""
            return f"stored {(self.stored.get('date') or '?')[:10]} @{sha}{bare}"
        if self.complete:
            return "complete"
        progress = f"stages {self.stages_done}/{len(self.run.model.stages)}, tasks {self.tasks_done}/{self.tasks_total}"
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


@dataclasses.dataclass
class MeasuredCosts:
    """Medians from the runs stored on this machine, for `--dry-run`'s estimates.

    Seconds per training step are kept per (backbone, objective, batch size, max length) and
    evaluation seconds per (backbone, task set, pooling): a Gemma stage is not priced at SmolLM2's
    rate, nor an MNTP step of 16 × 128 tokens at one of 32 × 512. A lookup falls back to coarser
    keys (the same objective on any shape of this backbone, then on any backbone), then to the
    preset's default (`DEFAULT_STEP_SECONDS`, `DEFAULT_EVAL_SECONDS`). A stage also costs its setup
    (per backbone, objective and options; 0 until a one-stage run has measured it).
    """

    steps: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)
    evals: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)
    setups: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)

    def add_setup(self, backbone: str, objective: str, options: dict, seconds: float) -> None:
        """A stage's seconds besides its steps (loading, targets: model-derived's common
        distribution is N forward passes), measured on runs of one stage."""
        for key in ((backbone, objective, _options_key(options)), (backbone, objective), (objective,)):
            self.setups.setdefault(key, []).append(seconds)

    def setup(self, backbone: str, stage) -> float:
        keys = (
            (backbone, stage.objective, _options_key(stage.options)),
            (backbone, stage.objective),
            (stage.objective,),
        )
        return self._median(self.setups, keys, 0.0)

    def add_step(self, backbone: str, objective: str, batch: int, length: int, seconds: float) -> None:
        for key in ((backbone, objective, batch, length), (backbone, objective), (objective,)):
            self.steps.setdefault(key, []).append(seconds)

    def add_eval(self, backbone: str, task_set: str, pooling: str, seconds: float) -> None:
        for key in ((backbone, task_set, pooling), (backbone, task_set), (task_set,)):
            self.evals.setdefault(key, []).append(seconds)

    @staticmethod
    def _median(table: dict[tuple, list[float]], keys, default: float) -> float:
        return next((statistics.median(table[k]) for k in keys if table.get(k)), default)

    def step(self, backbone: str, stage, preset: str) -> float:
        keys = (
            (backbone, stage.objective, stage.batch_size, stage.max_length),
            (backbone, stage.objective),
            (stage.objective,),
        )
        return self._median(self.steps, keys, DEFAULT_STEP_SECONDS.get(preset, 2.0))

    def evaluation(self, backbone: str, task_set: str, pooling: str) -> float:
        keys = ((backbone, task_set, pooling), (backbone, task_set), (task_set,))
        return self._median(self.evals, keys, DEFAULT_EVAL_SECONDS.get(task_set, 900.0))


def _options_key(options: dict) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def measured_costs(root: Path | None = None) -> MeasuredCosts:
    """`MeasuredCosts` from the complete runs stored under `root`: each run's evaluation seconds,
    and the median step seconds of each stage it trained (from its `train_log.json`)."""
    costs = MeasuredCosts()
    for store in iter_runs(root):
        info = store.read()
        if info.get("status") != "complete" or "config" not in info:
            continue
        config = info["config"]
        model = config["model"]
        costs.add_eval(
            model["backbone"],
            config["evaluation"]["task_set"],
            model["pooling"]["mode"],
            info.get("timing", {}).get("evaluate_s", 0.0),
        )
        logs = read_json(store.dir / "train_log.json", "left out of the cost estimate.")
        timing = info.get("timing", {})
        if len(model["stages"]) == 1 and isinstance(logs, list) and "build_model_s" in timing:
            stage = model["stages"][0]
            setup = timing["build_model_s"] - timing.get("train_steps_s", 0.0)
            costs.add_setup(model["backbone"], stage["objective"], stage.get("options", {}), max(setup, 0.0))
        if isinstance(logs, list):
            for stage, log in zip(model["stages"], logs):
                if log:
                    seconds = statistics.median(step["seconds"] for step in log)
                    costs.add_step(
                        model["backbone"],
                        stage["objective"],
                        stage["batch_size"],
                        stage["max_length"],
                        seconds,
                    )
    return costs


def status_of(
    run: RunSpec,
    cells: list[PlannedRun],
    preset: ScalePreset,
    costs: MeasuredCosts,
    root=None,
    add_items: bool = False,
) -> RunStatus:
    """Where `run` stands and what finishing it costs here; with `add_items`, a stored run without
    item outputs is priced as what `--add-items` does to it: its uncached stages retrained and the
    tasks lacking items re-evaluated."""
    store = RunStore(run.run_id, root)
    tasks = TASK_SETS[run.evaluation.task_set].tasks
    done = len(tasks) - len(store.missing_tasks(list(tasks)))
    info = store.read()
    complete = done == len(tasks) and info.get("status") == "complete"
    origin = info.get("provenance", {})
    stored = {"date": origin.get("written_at"), "sha": origin.get("git", {}).get("sha")} if complete else None
    try:
        stale = staleness(store, run_fingerprint(run)) if store.task_names() else []
    except UserError as error:  # inputs not available here (no data root, no weights): cannot check
        stale = [f"cannot check: {error}"]
    stages_done = sum(
        (stage_dir(run.model.stage_key(i)) / "adapter").is_dir() for i in range(len(run.model.stages))
    )
    lacking = [t for t in store.task_names() if lacks_items(store, t)] if complete else []
    redo = lacking if add_items else []
    estimate = 0.0
    if not complete or redo:
        for stage in run.model.stages[stages_done:]:
            estimate += stage.steps * costs.step(run.model.backbone, stage, preset.name)
            estimate += costs.setup(run.model.backbone, stage)
        per_eval = costs.evaluation(run.model.backbone, run.evaluation.task_set, run.model.pooling.mode)
        estimate += per_eval * (len(tasks) - done + len(redo)) / len(tasks)
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
        without_items=bool(lacking),
        reevaluate=bool(redo),
    )


def plan(spec_id: str, preset: str | None = None, backbone: str | None = None, seeds: int | None = None):
    spec = get_spec(spec_id)
    scale = get_preset(preset)
    if backbone:
        scale = with_backbone(scale, backbone)
    return spec, scale, expand(spec, scale, seeds or scale.seeds)


def describe(
    spec,
    preset: ScalePreset,
    statuses: list[RunStatus],
    root: Path | None = None,
    gpu: CostModel | None = None,
) -> str:
    """The plan as text: one line per distinct run, and where its cells' numbers come from.

    With a GPU cost model (`reproduce.gpu_hours`; the default at `paper` scale) each run also gets
    its estimated GPU-hours, training + evaluation, and the header their total for the whole plan.
    """
    todo = [s for s in statuses if not s.complete]
    hours = sum(s.estimate_s for s in statuses) / 3600  # complete runs cost 0 unless --add-items redoes them
    redo = [s for s in statuses if s.reevaluate]
    stored = [s for s in statuses if s.complete]
    gpu = cost_model_for(preset.name, gpu)
    gpu_hours = {s.run.run_id: run_gpu_hours(s.run, gpu) for s in statuses} if gpu else {}
    lines = [
        f"{spec.id} @ {preset.name}: {len(statuses)} distinct runs, "
        f"{len(stored)} complete, {len(todo)} to run"
        + (f", {len(redo)} to re-evaluate (--add-items)" if redo else "")
        + f"; estimated {hours:.2f} h on this machine",
    ]
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
    lines.append(f"{'run id':<14}{'method':<12}{'status':<40}{'est.':>8}{'  GPU-h' if gpu else ''}  cells")
    for s in statuses:
        column = f"{gpu_hours[s.run.run_id].total:>7.2f}" if gpu else ""
        lines.append(
            f"{s.run.run_id:<14}{s.run.method:<12}{s.state:<40}{s.estimate_s / 60:>7.1f}m{column}  {s.label}"
        )
        lines += [f"{'':<14}  ! {difference}" for difference in s.stale[:5]]
        if s.error and not s.complete:
            lines.append(f"{'':<14}  ! last attempt failed: {s.error[:200]}")
    return "\n".join(lines)


def reproduce(
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
) -> str:
    """Run what `spec_id` needs at `preset` with training seeds 0..seeds-1 (or print the plan,
    with GPU-hours from `gpu` or, at `paper` scale, the default cost model), then rebuild its outputs."""
    spec, scale, planned = plan(spec_id, preset, backbone, seeds)
    if isinstance(spec, AnalysisSpec):
        return _analyse(spec, scale, planned, dry_run, limit, runtime, root)
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
    )


def run_table_plan(
    spec,
    scale: ScalePreset,
    planned: list[PlannedRun],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    runtime: Runtime | None = None,
    root: Path | None = None,
    gpu: CostModel | None = None,
    executor: ExecutorSpec | None = None,
) -> str:
    """Execute the missing runs of a table/figure plan, then rebuild its outputs.

    `executor` (`reproduce.executors`) runs them in worker processes or on Slurm instead of here.

    Unless it is a dry run, the plan is first recorded as the output's manifest for this preset
    (`reproduce.manifest`): that is what the tables will show, whatever defaults change later.
    """
    costs = measured_costs(root)
    runtime = runtime or Runtime()
    cells_of: dict[str, list[PlannedRun]] = {}
    for item in planned:
        cells_of.setdefault(item.run_id, []).append(item)
    runs = unique_runs(planned)
    statuses = [status_of(run, cells_of[run.run_id], scale, costs, root, runtime.add_items) for run in runs]
    report = describe(spec, scale, statuses, root, gpu)
    if dry_run:
        return report
    write_manifest(manifest(spec, scale, planned), root)
    print(report, flush=True)
    todo = [  # a stale run is refused or redone; --add-items re-evaluates runs stored without items
        s for s in statuses if not s.complete or s.stale or s.reevaluate
    ]
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
    written = rebuild([spec.id], root)
    if failures:
        raise RunsFailed(written, failures)
    return written


def grid_runs(spec_ids, preset: str | None, backbone: str | None = None, seeds: int | None = None):
    """The distinct runs of several table/figure outputs together (shared runs once); analyses,
    which reuse these models, are left out."""
    runs: dict[str, RunSpec] = {}
    for spec_id in spec_ids:
        spec, _, planned = plan(spec_id, preset, backbone, seeds)
        if not isinstance(spec, AnalysisSpec):
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


def _analyse(spec: AnalysisSpec, preset, planned, dry_run, limit, runtime, root) -> str:
    seen: dict[str, object] = {}
    for item in planned:
        run = analysis_run(spec, item, preset)
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
    write_manifest(manifest(spec, preset, planned), root)
    for run, item in pending[: limit if limit is not None else None]:
        logger.info("analysis %s for %s [%s]", run.analysis, item.row, item.role)
        analyse(run, runtime or Runtime(), root=root)
    return rebuild([spec.id], root)
