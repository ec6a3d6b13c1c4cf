"""Command line: `python -m reproduce <id> [options]` (what the nox sessions call).

python -m reproduce table3 --preset smol --dry-run     # the grid, what is cached, the cost
python -m reproduce table3                              # default preset: paper on GPU, else smol
python -m reproduce all --preset tiny                   # every table and figure
python -m reproduce tables                              # rebuild outputs from stored results
python -m reproduce compare --backbone org/model        # all methods on a new backbone
python -m reproduce table3 --preset smol --verify      # recompute the stored runs and compare

User errors (bad options, missing data, stale or failed runs) print one message and exit 2;
`--debug` (or T2T_DEBUG=1) adds the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from reproduce.cells.manifest import PRESET_ORDER
from reproduce.paper.registry import REGISTRY
from reproduce.plan.gpu_hours import GPU_KINDS, CostModel
from reproduce.report.rebuild import RebuildFailed, rebuild_all
from t2t.core.cli import add_training_arguments, integer, number, training_runtime_fields
from t2t.core.config import ConfigError
from t2t.core.errors import report_user_errors
from t2t.core.paths import results_location
from t2t.core.plugins import load_plugins
from t2t.runs.preflight import check_backbone_folder, check_folders
from t2t.runs.results import problems_seen

if TYPE_CHECKING:  # imported where a command needs them (the model stack; see _run)
    from reproduce.run.executors import ExecutorSpec
    from t2t.core.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    """`python -m reproduce`'s options, in groups that follow a command's path: what to run, where it
    runs, how it trains and evaluates, what happens to stored results, what it costs, what it prints."""
    parser = argparse.ArgumentParser(
        prog="python -m reproduce",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # `--seed 3` must not be read as `--seeds 3`
    )
    _what_to_run(parser.add_argument_group("what to run"))
    _where_runs_execute(parser.add_argument_group("where runs execute"))
    _cost_estimates(parser.add_argument_group("cost estimates (with --dry-run)"))
    add_training_arguments(parser.add_argument_group("training path"))
    _evaluation(parser.add_argument_group("evaluation"))
    _stored_results(parser.add_argument_group("stored results"))
    _output(parser.add_argument_group("output"))
    return parser


def _what_to_run(group: argparse._ArgumentGroup) -> None:
    """The output (a table or figure id, `all`, `tables`, `compare`), its scale and backbone, the
    seeds, and whether to run at all (`--dry-run`, `--limit`)."""
    group.add_argument(
        "target",
        choices=[*REGISTRY, "all", "tables", "compare"],
        help="a table or figure id; all (every one); tables (rebuild outputs from stored results); "
        "compare (every method on --backbone)",
    )
    group.add_argument(
        "--preset",
        choices=PRESET_ORDER,
        default=None,
        help="scale (default: paper when a CUDA GPU is visible, else smol)",
    )
    group.add_argument(
        "--backbone",
        default=None,
        help="replace the preset's backbones by one (preset name, HF id or local folder)",
    )
    group.add_argument(
        "--seeds",
        type=integer(minimum=1),
        default=None,
        help="train and evaluate every cell with seeds 0..N-1 (default: the preset's `seeds`, 1; seed 0 "
        "is the run without this option)",
    )
    group.add_argument("--dry-run", action="store_true", help="print the plan and cost; run nothing")
    group.add_argument("--limit", type=integer(minimum=0), default=None, help="start at most this many runs")


def _where_runs_execute(group: argparse._ArgumentGroup) -> None:
    """The executor (`reproduce/run/executors.py`) and its local and Slurm settings."""
    group.add_argument(
        "--executor",
        choices=["inline", "local", "slurm"],
        default="inline",
        help="where runs execute: here, one after another (default); in up to --jobs local processes; "
        "or as Slurm jobs (reproduce/run/executors.py)",
    )
    group.add_argument("--jobs", type=integer(minimum=1), default=1, help="runs at once (local, slurm array)")
    group.add_argument("--slurm-partition", default=None)
    group.add_argument("--gpus-per-run", type=integer(minimum=0), default=1)
    group.add_argument(
        "--time", type=integer(minimum=1), default=24 * 60, help="minutes per run (slurm, local)"
    )
    group.add_argument("--mem", type=integer(minimum=1), default=None, help="GB of memory per run (slurm)")
    group.add_argument(
        "--slurm-arg", action="append", default=[], help="key=value for sbatch (repeatable), e.g. account=abc"
    )
    group.add_argument("--no-wait", action="store_true", help="slurm: submit, print the job ids and return")
    group.add_argument("--submitit-folder", type=Path, default=None, help="submitit's logs and pickles")


def _cost_estimates(group: argparse._ArgumentGroup) -> None:
    """How a dry run prices its plan: from scratch or not, on which GPU kind, at which utilisation."""
    group.add_argument(
        "--from-scratch",
        action="store_true",
        help="with --dry-run: also price the whole plan as if nothing were stored or cached",
    )
    group.add_argument(
        "--gpu",
        choices=list(GPU_KINDS),
        default=None,
        help="with --dry-run: estimate GPU-hours on this GPU kind (default at the paper preset: H100; "
        "the cost model and its assumptions: reproduce/plan/gpu_hours.py)",
    )
    group.add_argument(
        "--mfu",
        type=number(0, 1, inclusive=False),
        default=None,
        help="override the assumed utilisation (fraction of the GPU's bf16 peak) of the GPU estimate",
    )


def _evaluation(group: argparse._ArgumentGroup) -> None:
    """How runs encode the tasks' texts: batch sizes and the embedding cache."""
    group.add_argument("--eval-batch-size", type=integer(minimum=1), default=32)
    group.add_argument(
        "--eval-batch-tokens",
        type=integer(minimum=0),
        default=None,
        help="token budget per evaluation forward pass (default: Runtime's; 0: --eval-batch-size texts per batch)",
    )
    group.add_argument(
        "--no-embedding-cache",
        action="store_true",
        help="do not keep runs' embeddings by text (t2t.embedding.cache; ~100 MB per run at smol)",
    )


def _stored_results(group: argparse._ArgumentGroup) -> None:
    """What a command does with runs already stored: stale ones, missing items, a new task set,
    cells the code no longer plans, and `--verify` (recompute and compare)."""
    group.add_argument(
        "--on-stale",
        choices=["error", "recompute", "accept"],
        default="error",
        help="a stored run or stage whose data files or weights changed: stop (default), recompute it, "
        "or keep it and record that",
    )
    group.add_argument(
        "--add-items",
        action="store_true",
        help="re-evaluate stored runs that have no per-item outputs (stored before them) so their cells "
        "get intervals; rebuilds models from cached stages (retrains where the cache is gone)",
    )
    group.add_argument(
        "--task-set",
        help="evaluate the output on this task set (t2t/evaluation/tasks.py). Without it an output keeps the "
        "task set its committed manifest records; this moves it (the runs' missing tasks are evaluated)",
    )
    group.add_argument(
        "--drop-unplanned",
        action="store_true",
        help="re-plan the output from today's code: cells of its committed manifest that the code no longer "
        "plans are DROPPED from the manifest and cells the code fills with other runs follow the code (without "
        "it, a re-run only adds to the manifest and refuses to re-point committed cells)",
    )
    group.add_argument(
        "--verify",
        action="store_true",
        help="recompute the stored runs of this output into a scratch store and compare the scores",
    )
    group.add_argument("--verify-dir", type=Path, default=None, help="scratch folder for --verify")
    group.add_argument(
        "--verify-tolerance",
        type=number(minimum=0),
        default=None,
        help="allowed |fresh - stored| main score (default: 0 on the same hardware and versions, else 0.002)",
    )


def _output(group: argparse._ArgumentGroup) -> None:
    """What the command prints."""
    group.add_argument("--quiet", action="store_true", help="no progress bars")
    group.add_argument("--debug", action="store_true", help="tracebacks for user errors too")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "datasets", "mteb", "transformers", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        code = _tables() if args.target == "tables" else _run(args)
    except KeyboardInterrupt:
        print(
            "interrupted; nothing half-written: every file is either as it was or written whole (atomic "
            "writes); finished runs, tasks and stages are kept, and the same command resumes",
            file=sys.stderr,
        )
        return 130
    problems = problems_seen()  # an error above names its own files; this lists what was left out
    if problems:
        print("unreadable results files (left out; see each line for what happens next):", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
    return code


def _tables() -> int:
    """Rebuild every output from manifests and run folders. Imports no torch, mteb or spaCy."""
    where = results_location()
    if not (where / "manifests").is_dir():
        raise ConfigError(
            f"{where} has no manifests/ folder, so there is nothing to build tables from: is T2T_RESULTS_DIR "
            "right? (It should name a results folder such as the repository's results/.)"
        )
    try:
        print(rebuild_all())
    except RebuildFailed as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    """Plan and run (or price, or verify) the outputs the command names; 0 when all went well."""
    # Planning and running need the model stack (torch, transformers, mteb); `tables` above does not,
    # so these imports wait until a command needs them.
    load_plugins()  # every process that plans or runs knows every method (t2t.core.plugins)
    check_folders()  # results and cache roots writable, before anything is planned or printed
    if args.backbone:
        check_backbone_folder(args.backbone)
    runtime = _runtime(args)
    gpu = CostModel(args.gpu or "H100", args.mfu) if (args.gpu or args.mfu is not None) else None
    executor = _executor(args)
    if args.target == "compare":
        return _compare(args, runtime, gpu, executor)
    targets = list(REGISTRY) if args.target == "all" else [args.target]
    if args.verify:
        return _verify(args, targets, runtime)
    return _run_outputs(args, targets, runtime, gpu, executor)


def _runtime(args: argparse.Namespace) -> Runtime:
    """The `t2t.core.runtime.Runtime` the options ask for (training path, evaluation, stored results)."""
    from t2t.core.runtime import Runtime

    return Runtime(
        **training_runtime_fields(args),
        eval_batch_size=args.eval_batch_size,
        **({} if args.eval_batch_tokens is None else {"eval_batch_tokens": args.eval_batch_tokens or None}),
        progress=not args.quiet,
        on_stale=args.on_stale,
        add_items=args.add_items,
        embedding_cache=not args.no_embedding_cache,
    )


def _executor(args: argparse.Namespace) -> ExecutorSpec:
    """The `reproduce.run.executors.ExecutorSpec` of the "where runs execute" options."""
    from reproduce.run.executors import ExecutorSpec

    return ExecutorSpec(
        kind=args.executor,
        jobs=args.jobs,
        folder=args.submitit_folder,
        slurm_partition=args.slurm_partition,
        gpus_per_run=args.gpus_per_run,
        time_min=args.time,
        mem_gb=args.mem,
        slurm_args=tuple(args.slurm_arg),
        wait=not args.no_wait,
    )


def _compare(
    args: argparse.Namespace, runtime: Runtime, gpu: CostModel | None, executor: ExecutorSpec
) -> int:
    """`compare`: every method on `--backbone` (`reproduce.run.compare`); prints its report."""
    from reproduce.run.compare import compare

    if not args.backbone:
        raise ConfigError("compare needs --backbone <preset, HF id or local folder>")
    report, ok = compare(
        args.backbone,
        args.preset,
        dry_run=args.dry_run,
        limit=args.limit,
        runtime=runtime,
        drop=args.drop_unplanned,
        task_set=args.task_set,
        seeds=args.seeds,
        gpu=gpu,
        executor=executor,
        from_scratch=args.from_scratch,
        verify=args.verify,
        verify_dir=args.verify_dir,
        verify_tolerance=args.verify_tolerance,
    )
    print(report)
    return 0 if ok else 1


def _verify(args: argparse.Namespace, targets: list[str], runtime: Runtime) -> int:
    """`--verify`: recompute each target's stored runs into a scratch store and compare
    (`reproduce.run.verify`); 0 when every target agrees."""
    from reproduce.run.verify import verify

    agree = True
    for target in targets:
        report, ok = verify(
            target,
            args.preset,
            args.backbone,
            runtime=runtime,
            scratch=args.verify_dir,
            tolerance=args.verify_tolerance,
        )
        print(report)
        agree = agree and ok
    return 0 if agree else 1


def _run_outputs(
    args: argparse.Namespace,
    targets: list[str],
    runtime: Runtime,
    gpu: CostModel | None,
    executor: ExecutorSpec,
) -> int:
    """Plan each target once (`reproduce.plan.planner.plan_output`) and run it (or, with `--dry-run`,
    price it: `reproduce.run.runner.run_plan`); a dry run of several targets also prices the whole
    grid, counting runs they share once."""
    from reproduce.paper.presets import get_preset
    from reproduce.plan.gpu_hours import cost_model_for, run_gpu_hours, summary
    from reproduce.plan.planner import grid_runs, plan_output
    from reproduce.run.runner import run_plan

    plans = []  # each built once, after the previous target ran: `all` plans on what it stored
    for target in targets:
        plans.append(
            plan_output(
                target,
                args.preset,
                args.backbone,
                args.seeds,
                drop=args.drop_unplanned,
                task_set=args.task_set,
                add_items=args.add_items,
            )
        )
        print(
            run_plan(
                plans[-1],
                dry_run=args.dry_run,
                limit=args.limit,
                runtime=runtime,
                gpu=gpu,
                executor=executor,
                from_scratch=args.from_scratch,
            )
        )
    grid_model = cost_model_for(get_preset(args.preset).name, gpu)
    if args.dry_run and len(targets) > 1 and grid_model:
        runs = grid_runs(plans)
        hours = summary((run_gpu_hours(run, grid_model) for run in runs), grid_model)
        print(f"the whole grid ({', '.join(targets)}): {len(runs)} distinct runs (shared runs once), {hours}")
    return 0


if __name__ == "__main__":
    sys.exit(report_user_errors(main))
