"""Where the runs of a plan execute: in this process, in local worker processes, or on Slurm.

    python -m reproduce table3 --executor local --jobs 2
    python -m reproduce all --preset paper --executor slurm --slurm-partition gpu --gpus-per-run 1

- `inline` (default): one run after another in this process.
- `local`: up to `--jobs` runs at once, each in its own process started by submitit's
  `LocalExecutor` (the run is pickled, as on a cluster). With GPUs visible each run gets one of them
  (`CUDA_VISIBLE_DEVICES`); otherwise each gets `cpu_count // jobs` threads.
- `slurm`: every distinct run is one Slurm job of a job array submitted with submitit
  (`--slurm-partition`, `--gpus-per-run`, `--time`, `--mem`, free-form `--slurm-arg key=value`).
  It waits for the jobs, or with `--no-wait` prints their ids and returns; rerunning the command
  later finds the finished runs stored and submits only what is missing.

Runs shared between outputs are one run (the plan is of distinct runs). Runs that share a stage (DD
only and DD -> MD share the DD stage) may start together: the stage lock (`t2t.core.locks`, taken by
`t2t.training.pipeline.build_model`) lets one process train the stage while the other waits and
then loads it, and the run lock makes two executors started on the same output finish with one copy
of each run. On Slurm that needs a shared file system with working `flock` for the cache and
results roots (most cluster file systems; not every NFS mount).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from t2t.core.errors import UserError
from t2t.core.runtime import Runtime
from t2t.runs.run import RunSpec

ExecutorKind = Literal["inline", "local", "slurm"]


@dataclasses.dataclass(frozen=True)
class ExecutorSpec:
    """How to execute a plan's runs (see the module docstring)."""

    kind: ExecutorKind = "inline"
    jobs: int = 1  # local: runs at once; slurm: the job array's parallelism
    folder: Path | None = None  # submitit's logs and pickles; default <cache root>/submitit
    slurm_partition: str | None = None
    gpus_per_run: int = 1
    time_min: int = 24 * 60
    mem_gb: int | None = None
    slurm_args: tuple[str, ...] = ()  # "key=value", passed as slurm_additional_parameters
    wait: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("inline", "local", "slurm"):
            raise ValueError(f"executor must be inline, local or slurm, got {self.kind!r}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be >= 1, got {self.jobs}")
        for arg in self.slurm_args:
            if "=" not in arg:
                raise ValueError(f"--slurm-arg takes key=value (e.g. account=abc), got {arg!r}")


def run_job(run: RunSpec, runtime: Runtime, root: str | None, threads: int | None) -> str:
    """The body of one job (pickled by submitit): execute the run; return its id."""
    import logging

    import torch

    from t2t.core.plugins import load_plugins
    from t2t.runs.run import execute

    load_plugins()  # a fresh worker knows every method's objectives (a Slurm job imports only this)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")  # the job's log
    if threads:
        torch.set_num_threads(threads)
    execute(run, runtime, root=Path(root) if root else None)
    return run.run_id


@dataclasses.dataclass
class Outcome:
    """What became of the submitted runs: `failures` are "run <id>: <reason>" lines; `pending` are the
    job ids of runs still queued or running (only with --no-wait)."""

    failures: list[str] = dataclasses.field(default_factory=list)
    pending: list[str] = dataclasses.field(default_factory=list)


def _folder(spec: ExecutorSpec) -> Path:
    from t2t.core.paths import cache_root

    return Path(spec.folder) if spec.folder else cache_root() / "submitit"


def _failure(run: RunSpec, error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return f"run {run.run_id} ({run.method}): {lines[-1] if lines else type(error).__name__}"


def run_local(runs: Sequence[RunSpec], runtime: Runtime, spec: ExecutorSpec, root: Path | None) -> Outcome:
    """At most `spec.jobs` runs at once, each in a submitit `LocalExecutor` process."""
    import submitit
    import torch

    gpus = list(range(torch.cuda.device_count()))
    slots = min(spec.jobs, len(gpus)) if gpus else spec.jobs
    threads = None if gpus else max(1, (os.cpu_count() or 1) // slots)
    executor = submitit.LocalExecutor(folder=_folder(spec))
    waiting, running, outcome = list(runs), {}, Outcome()
    free = list(gpus)
    while waiting or running:
        while waiting and len(running) < slots:
            run = waiting.pop(0)
            gpu = free.pop(0) if gpus else None
            executor.update_parameters(
                timeout_min=spec.time_min,
                gpus_per_node=1 if gpu is not None else 0,
                visible_gpus=(gpu,) if gpu is not None else (),
            )
            job = executor.submit(run_job, run, runtime, str(root) if root else None, threads)
            running[job] = (run, gpu)
        for job in [job for job in running if job.done()]:
            run, gpu = running.pop(job)
            if gpu is not None:
                free.append(gpu)
            try:
                job.result()
            except Exception as error:  # the run failed in its process; the others go on
                outcome.failures.append(_failure(run, error))
        time.sleep(0.5)
    return outcome


def slurm_executor(spec: ExecutorSpec):
    """A submitit executor for Slurm with the spec's resources."""
    import submitit

    executor = submitit.AutoExecutor(folder=_folder(spec), cluster="slurm")
    parameters = {
        "timeout_min": spec.time_min,
        "gpus_per_node": spec.gpus_per_run,
        "tasks_per_node": 1,
        "slurm_array_parallelism": spec.jobs,
        "slurm_additional_parameters": dict(arg.split("=", 1) for arg in spec.slurm_args),
    }
    if spec.slurm_partition:
        parameters["slurm_partition"] = spec.slurm_partition
    if spec.mem_gb:
        parameters["mem_gb"] = spec.mem_gb
    executor.update_parameters(**parameters)
    return executor


def run_slurm(runs: Sequence[RunSpec], runtime: Runtime, spec: ExecutorSpec, root: Path | None) -> Outcome:
    """One job array of all the runs; wait for it unless `spec.wait` is off."""
    executor = slurm_executor(spec)
    count = len(runs)
    jobs = executor.map_array(
        run_job, list(runs), [runtime] * count, [str(root) if root else None] * count, [None] * count
    )
    outcome = Outcome()
    if not spec.wait:
        outcome.pending = [job.job_id for job in jobs]
        return outcome
    for run, job in zip(runs, jobs):
        try:
            job.result()
        except Exception as error:
            outcome.failures.append(_failure(run, error))
    return outcome


def dispatch(runs: Sequence[RunSpec], runtime: Runtime, spec: ExecutorSpec, root: Path | None) -> Outcome:
    """Execute `runs` with a `local` or `slurm` executor (`inline` stays in `reproduce.run.runner`)."""
    if not runs:
        return Outcome()
    if spec.kind == "local":
        return run_local(runs, runtime, spec, root)
    if spec.kind == "slurm":
        return run_slurm(runs, runtime, spec, root)
    raise UserError(f"dispatch() takes local or slurm executors, not {spec.kind!r}")
