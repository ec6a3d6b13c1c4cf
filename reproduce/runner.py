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

from reproduce.grid import PlannedRun, expand, unique_runs
from reproduce.presets import ScalePreset, get_preset, with_backbone
from reproduce.registry import AnalysisSpec, get_spec
from t2t.evaluation.tasks import TASK_SETS
from t2t.paths import results_root
from t2t.results import RunStore, iter_runs
from t2t.run import RunSpec, execute
from t2t.runtime import Runtime
from t2t.training.pipeline import stage_dir

logger = logging.getLogger(__name__)

# Fallback costs (seconds) when this machine has no measurement yet; replaced by measured medians.
DEFAULT_EVAL_SECONDS = {"offline-lite": 10.0, "offline": 900.0, "mteb-eng-v2": 4 * 3600.0}
DEFAULT_STEP_SECONDS = {"tiny": 0.2, "smol": 4.0, "paper": 1.5}


@dataclasses.dataclass
class RunStatus:
    run: RunSpec
    cells: list[PlannedRun]
    tasks_done: int
    tasks_total: int
    stages_done: int
    complete: bool
    estimate_s: float

    @property
    def label(self) -> str:
        rows = sorted(
            {f"{c.row}{f' ({c.sweep}={c.value:g})' if c.sweep else ''} [{c.role}]" for c in self.cells}
        )
        return "; ".join(rows)


def analysis_run(spec: AnalysisSpec, item: PlannedRun, preset: ScalePreset):
    from reproduce.analysis import AnalysisRun

    sentences = (
        preset.analysis.spectrum_sentences
        if spec.analysis == "spectrum"
        else preset.analysis.alignment_sentences
    )
    return AnalysisRun(
        analysis=spec.analysis, model=item.run.model, corpus=preset.analysis.corpus, sentences=sentences
    )


def measured_costs(root: Path | None = None) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Medians from stored runs on this machine: eval seconds per (task set, pooling), seconds per
    training step per objective."""
    evals: dict[tuple[str, str], list[float]] = {}
    steps: dict[str, list[float]] = {}
    for store in iter_runs(root):
        info = store.read()
        if info.get("status") != "complete":
            continue
        config = info["config"]
        key = (config["evaluation"]["task_set"], config["model"]["pooling"]["mode"])
        evals.setdefault(key, []).append(info.get("timing", {}).get("evaluate_s", 0.0))
        log_path = store.dir / "train_log.json"
        if log_path.is_file():
            for stage, log in zip(config["model"]["stages"], json.loads(log_path.read_text())):
                if log:
                    steps.setdefault(stage["objective"], []).append(
                        statistics.median(step["seconds"] for step in log)
                    )
    return (
        {k: statistics.median(v) for k, v in evals.items()},
        {k: statistics.median(v) for k, v in steps.items()},
    )


def status_of(run: RunSpec, cells: list[PlannedRun], preset: ScalePreset, costs, root=None) -> RunStatus:
    eval_costs, step_costs = costs
    store = RunStore(run.run_id, root)
    tasks = TASK_SETS[run.evaluation.task_set].tasks
    done = len(tasks) - len(store.missing_tasks(list(tasks)))
    complete = done == len(tasks) and store.read().get("status") == "complete"
    stages_done = sum(
        (stage_dir(run.model.stage_key(i)) / "adapter").is_dir() for i in range(len(run.model.stages))
    )
    estimate = 0.0
    if not complete:
        for stage in run.model.stages[stages_done:]:
            estimate += stage.steps * step_costs.get(
                stage.objective, DEFAULT_STEP_SECONDS.get(preset.name, 2.0)
            )
        per_eval = eval_costs.get(
            (run.evaluation.task_set, run.model.pooling.mode),
            DEFAULT_EVAL_SECONDS.get(run.evaluation.task_set, 900.0),
        )
        estimate += per_eval * (len(tasks) - done) / len(tasks)
    return RunStatus(run, cells, done, len(tasks), stages_done, complete, estimate)


def plan(spec_id: str, preset: str | None = None, backbone: str | None = None):
    spec = get_spec(spec_id)
    scale = get_preset(preset)
    if backbone:
        scale = with_backbone(scale, backbone)
    return spec, scale, expand(spec, scale)


def describe(spec, preset: ScalePreset, statuses: list[RunStatus]) -> str:
    todo = [s for s in statuses if not s.complete]
    hours = sum(s.estimate_s for s in todo) / 3600
    lines = [
        f"{spec.id} @ {preset.name}: {len(statuses)} distinct runs, "
        f"{len(statuses) - len(todo)} complete, {len(todo)} to run; estimated {hours:.2f} h on this machine",
        f"{'run id':<14}{'method':<12}{'status':<28}{'est.':>8}  cells",
    ]
    for s in statuses:
        state = (
            "complete"
            if s.complete
            else f"stages {s.stages_done}/{len(s.run.model.stages)}, tasks {s.tasks_done}/{s.tasks_total}"
        )
        lines.append(f"{s.run.run_id:<14}{s.run.method:<12}{state:<28}{s.estimate_s / 60:>7.1f}m  {s.label}")
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
) -> str:
    """Run what `spec_id` needs at `preset` (or print the plan), then rebuild its outputs."""
    spec, scale, planned = plan(spec_id, preset, backbone)
    if isinstance(spec, AnalysisSpec):
        return _analyse(spec, scale, planned, dry_run, limit, runtime, root)
    return run_table_plan(spec, scale, planned, dry_run=dry_run, limit=limit, runtime=runtime, root=root)


def run_table_plan(
    spec,
    scale: ScalePreset,
    planned: list[PlannedRun],
    *,
    dry_run: bool = False,
    limit: int | None = None,
    runtime: Runtime | None = None,
    root: Path | None = None,
    presets: list[ScalePreset] | None = None,
) -> str:
    """Execute the missing runs of a table/figure plan, then rebuild its outputs."""
    costs = measured_costs(root)
    cells_of: dict[str, list[PlannedRun]] = {}
    for item in planned:
        cells_of.setdefault(item.run_id, []).append(item)
    runs = unique_runs(planned)
    statuses = [status_of(run, cells_of[run.run_id], scale, costs, root) for run in runs]
    report = describe(spec, scale, statuses)
    if dry_run:
        return report
    logger.info("\n%s", report)
    todo = [s for s in statuses if not s.complete][: limit if limit is not None else None]
    for number, status in enumerate(todo, 1):
        started = time.perf_counter()
        logger.info(
            "[%d/%d] %s %s: %s", number, len(todo), status.run.method, status.run.run_id, status.label
        )
        execute(status.run, runtime or Runtime(), root=root)
        logger.info("[%d/%d] done in %.1f min", number, len(todo), (time.perf_counter() - started) / 60)
    return rebuild(spec, root, presets)


def _analyse(spec: AnalysisSpec, preset, planned, dry_run, limit, runtime, root) -> str:
    from reproduce.analysis import analyse
    from reproduce.collect import analysis_path

    seen: dict[str, object] = {}
    for item in planned:
        run = analysis_run(spec, item, preset)
        seen.setdefault(run.run_id, (run, item))
    pending = [
        (run, item)
        for run, item in seen.values()
        if not analysis_path(run.analysis, run.run_id, root).is_file()
    ]
    lines = [f"{spec.id} @ {preset.name}: {len(seen)} analyses, {len(pending)} to run"]
    lines += [
        f"  {run.run_id}  {item.row} [{item.role}]  {'to run' if (run, item) in pending else 'complete'}"
        for run, item in seen.values()
    ]
    if dry_run:
        return "\n".join(lines)
    for run, item in pending[: limit if limit is not None else None]:
        logger.info("analysis %s for %s [%s]", run.analysis, item.row, item.role)
        analyse(run, runtime or Runtime(), root=root)
    return rebuild(spec, root)


def rebuild(spec, root: Path | None = None, presets: list[ScalePreset] | None = None) -> str:
    """Rewrite the spec's tables/figures, the claims and the results index from stored files."""
    from reproduce.claims import write_claims
    from reproduce.index import write_index
    from reproduce.outputs import write_spec_outputs

    written = write_spec_outputs(spec, presets, root=root)
    written.append(write_claims(root=root))
    written.append(write_index(root=root))
    base = root or results_root()
    return "wrote " + ", ".join(
        str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p in written
    )
