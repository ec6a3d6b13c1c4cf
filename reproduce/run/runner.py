"""Execute a `Plan` (`reproduce.plan.planner`): record its manifest, run what it lacks, rebuild.

    run_output(spec_id="table3", preset="smol")            # train/evaluate what is missing
    run_output(spec_id="table3", preset="smol", dry_run=True) # print the grid, cache state, cost
    run_plan(plan_output("table3", "smol"))                 # the same, from a plan already built

A finished run (all tasks stored, status complete) is never recomputed; an unfinished one resumes
(finished tasks and trained stages are reused). `limit` caps how many runs start in one call, so a
long grid can be advanced across sessions.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from reproduce.cells.manifest import write_manifest
from reproduce.plan.gpu_hours import CostModel
from reproduce.plan.planner import Plan, describe, plan_output, statuses_text
from reproduce.plan.status import RunStatus
from reproduce.report.rebuild import rebuild_after
from reproduce.run.analysis import analyse
from reproduce.run.executors import ExecutorSpec, dispatch
from t2t.core.errors import UserError
from t2t.core.runtime import Runtime
from t2t.runs.preflight import check_task_source
from t2t.runs.run import execute

logger = logging.getLogger(__name__)


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

    The plan covers everything the output's committed manifest names (`reproduce.plan.planner`);
    `drop` re-plans the output from the code alone, dropping cells the code no longer plans.
    """
    runtime = runtime or Runtime()
    plan = plan_output(
        spec_id, preset, backbone, seeds, root, drop=drop, task_set=task_set, add_items=runtime.add_items
    )
    return run_plan(
        plan,
        dry_run=dry_run,
        limit=limit,
        runtime=runtime,
        gpu=gpu,
        executor=executor,
        from_scratch=from_scratch,
    )


def run_plan(
    plan: Plan,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    runtime: Runtime | None = None,
    gpu: CostModel | None = None,
    executor: ExecutorSpec | None = None,
    from_scratch: bool = False,
) -> str:
    """Execute the missing runs (or analyses) of `plan`, then rebuild its outputs; a dry run only
    describes it (`reproduce.plan.planner.describe`).

    `executor` (`reproduce.run.executors`) runs them in worker processes or on Slurm instead of here.

    Unless it is a dry run, the plan is first recorded in the output's manifest for this preset
    (`reproduce.cells.manifest`): that is what the tables will show, whatever defaults change later. The
    manifest only grows (`reproduce.plan.record.record_plan`). Stored runs whose inputs cannot be
    checked against this machine's (`Plan.stale`) stop the command before anything is written,
    unless `--on-stale accept|recompute` says what to do with them.
    """
    runtime = runtime or Runtime()
    if dry_run:
        return describe(plan, gpu, from_scratch=from_scratch)
    if plan.spec.analysis:  # its cells are analyses of trained models, not scored runs
        return _analyse(plan, limit, runtime)
    if plan.stale and runtime.on_stale == "error":
        raise StaleRuns(plan.stale)
    if plan.refusal:  # the code re-points committed cells: not recorded without --drop-unplanned
        raise UserError(plan.refusal)
    todo = plan.todo
    if plan.loads_tasks(runtime.on_stale):
        check_task_source(plan.scale.task_set)  # tasks will be loaded: before anything is written or printed
    write_manifest(plan.manifest, plan.root)
    print("\n".join(filter(None, [statuses_text(plan, gpu), plan.note])), flush=True)
    todo = todo[: limit if limit is not None else None]
    failures = []
    if executor is not None and executor.kind != "inline":
        logger.info("%d run(s) to %s executor", len(todo), executor.kind)
        outcome = dispatch([status.run for status in todo], runtime, executor, plan.root)
        if outcome.pending:
            return (
                f"submitted {len(outcome.pending)} Slurm job(s): {', '.join(outcome.pending)}; rerun this "
                "command when they are done to rebuild the outputs (finished runs are not recomputed)"
            )
        failures, todo = outcome.failures, []
    failures += _run_inline(todo, runtime, plan.root)
    written = rebuild_after(plan.spec.id, plan.root)
    if failures:
        raise RunsFailed(written, failures)
    return written


def _run_inline(todo: list[RunStatus], runtime: Runtime, root: Path | None) -> list[str]:
    """Execute `todo` here, one after another; returns a line per run that failed (the others still
    run, and the outputs still rebuild)."""
    failures = []
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
    return failures


def _analyse(plan: Plan, limit: int | None, runtime: Runtime) -> str:
    """Record an analysis output's plan, compute its missing analyses, rebuild."""
    if plan.refusal:
        raise UserError(plan.refusal)
    write_manifest(plan.manifest, plan.root)
    if plan.note:
        logger.info(plan.note)
    for run, item in plan.pending[: limit if limit is not None else None]:
        logger.info("analysis %s for %s [%s]", run.analysis, item.row, item.role)
        analyse(run, runtime, root=plan.root)
    return rebuild_after(plan.spec.id, plan.root)


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
