"""`--verify`: recompute the stored runs behind an output and compare them with what is stored.

A fresh clone answers `nox -s table3` from the committed runs in seconds. `verify` is how a user
checks that those numbers are what today's code and machine produce:

    python -m reproduce table3 --preset smol --verify        # nox -s table3 -- --verify

Every *complete* run the output's manifest names (all seeds and columns, `reproduce.plan.planner.Plan`)
is executed again into a scratch results store, with a scratch
cache for trained stages (so stages are retrained, not reloaded; converted backbone weights and
tokenizers are shared, as they are derived from the package files the run's fingerprint names).
Then each task's main score is compared with the stored one and every pair is printed.

Each run is recomputed as it was computed: its stages on the training path it recorded (precision,
attention kernel, dropout kind, CPU threads: `t2t.runs.run.recorded_paths`) and its evaluation with the
thread count its provenance names, whatever launch path `--verify` itself takes (inline with every
core, or `--executor local` with a share): a run stored by a 1-thread worker is verified with 1.

Tolerance: 0 (equal to the last digit) when the stored run was made on the same kind of hardware
with the same versions of torch, transformers, peft and mteb: CPU training and evaluation are
deterministic here (a test checks that an interrupted run resumes bit-identically). Otherwise
`HARDWARE_TOLERANCE` (main-score units, i.e. 0.2 points x100), since other kernels round
differently; `--verify-tolerance` sets it explicitly. The stored results are never modified.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reproduce.plan.planner import Plan, plan_output
from t2t.core.config import ConfigError
from t2t.core.paths import cache_root
from t2t.core.runtime import PathUnavailable, Runtime
from t2t.runs.results import RunRecord, RunStore
from t2t.runs.run import (
    REEVALUATION_TOLERANCE,
    RunSpec,
    execute,
    recorded_paths,
    recorded_threads,
    same_machine_and_versions,
)
from t2t.training.pipeline import torch_threads

logger = logging.getLogger(__name__)

HARDWARE_TOLERANCE = REEVALUATION_TOLERANCE


def default_tolerance(stored: dict, fresh: dict) -> tuple[float, str]:
    """`(tolerance, reason)`: 0 on the same hardware and versions, else `HARDWARE_TOLERANCE`."""
    if same_machine_and_versions(stored.get("provenance", {}), fresh.get("provenance", {})):
        return 0.0, "same hardware and versions, so exactly"
    return HARDWARE_TOLERANCE, "different hardware or versions"


@contextmanager
def scratch_cache(folder: Path) -> Iterator[Path]:
    """Point `T2T_CACHE_DIR` at `folder` for the block, sharing only converted weights/tokenizers."""
    real = cache_root()
    folder.mkdir(parents=True, exist_ok=True)
    for shared in ("backbones", "tokenizers"):
        if (real / shared).is_dir() and not (folder / shared).exists():
            (folder / shared).symlink_to(real / shared, target_is_directory=True)
    previous = os.environ.get("T2T_CACHE_DIR")
    os.environ["T2T_CACHE_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if previous is None:
            os.environ.pop("T2T_CACHE_DIR", None)
        else:
            os.environ["T2T_CACHE_DIR"] = previous


def verify(
    spec_id: str,
    preset: str | None = None,
    backbone: str | None = None,
    *,
    runtime: Runtime | None = None,
    root: Path | None = None,
    scratch: Path | None = None,
    tolerance: float | None = None,
) -> tuple[str, bool]:
    """Recompute the complete stored runs of `spec_id` and compare; returns `(report, all_equal)`."""
    plan = plan_output(spec_id, preset, backbone, root=root, statuses=False)
    return verify_plan(plan, runtime=runtime, scratch=scratch, tolerance=tolerance)


def verify_plan(
    plan: Plan,
    *,
    runtime: Runtime | None = None,
    scratch: Path | None = None,
    tolerance: float | None = None,
) -> tuple[str, bool]:
    """`verify` of a plan already made (`compare`'s, whose spec is not in the registry)."""
    if plan.spec.analysis:
        raise ConfigError(f"--verify compares task scores; {plan.spec.id} is an analysis (no task scores)")
    runs, label = stored_runs(plan)
    scratch = Path(scratch or tempfile.mkdtemp(prefix="t2t-verify-"))
    lines = [f"verify {plan.spec.id} @ {plan.scale.name}: recomputing {len(runs)} stored runs into {scratch}"]
    if not runs:
        lines.append("nothing stored to verify")
    agree = True
    with scratch_cache(scratch / "cache"):
        for run in runs:
            stored = RunStore(run.run_id, plan.root)
            found, same = verify_run(run, label[run.run_id], stored, runtime or Runtime(), scratch, tolerance)
            lines += found
            agree = agree and same
    lines.append("all stored scores reproduced" if agree else "SOME STORED SCORES WERE NOT REPRODUCED")
    return "\n".join(lines), agree


def stored_runs(plan: Plan) -> tuple[list[RunSpec], dict[str, str]]:
    """`(the complete stored runs the plan or its committed manifest names, their cells' labels)`:
    cells the code no longer plans are verified as stored (their `run.json` config)."""
    label = {
        item.run_id: f"{item.row} [{item.role}]" + (f" seed {item.seed}" if item.seed else "")
        for item in plan.cells
    }
    named = {run.run_id: run for run in plan.runs}
    for cell in plan.committed.cells if plan.committed else ():  # cells the code no longer plans: as stored
        config = RunStore(cell.run_id, plan.root).read().get("config")
        if cell.run_id not in named and config:
            named[cell.run_id] = RunSpec.from_dict(config)
            label[cell.run_id] = f"{cell.row} [{cell.role}]" + (f" seed {cell.seed}" if cell.seed else "")
    complete = [
        run for run in named.values() if RunStore(run.run_id, plan.root).read().get("status") == "complete"
    ]
    return complete, label


def verify_run(
    run: RunSpec, label: str, stored: RunStore, runtime: Runtime, scratch: Path, tolerance: float | None
) -> tuple[list[str], bool]:
    """Recompute one stored run into `scratch` as it was computed (its stages on its recorded path,
    its thread count) and compare each task's score: `(lines, whether every score agrees)`."""
    lines, record = [], RunRecord(stored)  # the stored run.json, read once
    threads = recorded_threads(record.data)
    try:
        paths = recorded_paths(run, record)
    except PathUnavailable as error:
        paths = None
        lines.append(f"  (its stages retrain on today's path: {error})")
    with torch_threads(threads):  # trained and evaluated as the stored run was
        fresh = execute(run, runtime, root=scratch / "results", trained_as=paths)
    recomputed = fresh.read()
    limit, reason = (
        (tolerance, "given") if tolerance is not None else default_tolerance(record.data, recomputed)
    )
    lines.append(f"run {run.run_id} {label} (tolerance {limit:g}: {reason})")
    if threads != recorded_threads(recomputed):
        lines.append(
            f"  stored with {threads or 'an unrecorded number of'} thread(s), recomputed with "
            f"{recorded_threads(recomputed)}"
        )
    tasks = run.evaluation.tasks  # a stored run may hold other sets' tasks too
    before = {t: v for t, v in stored.task_scores().items() if t in tasks}
    after = {t: v for t, v in fresh.task_scores().items() if t in tasks}
    agree = True
    for task in sorted(set(before) | set(after)):
        old, new = before.get(task), after.get(task)
        if old is None or new is None:
            verdict, agree = "MISSING on one side", False
        else:
            difference = new - old
            verdict = "equal" if difference == 0 else f"{difference:+.2e}"
            if abs(difference) > limit:
                verdict, agree = f"DIFFERS {difference:+.6f}", False
        lines.append(f"  {task:<40} stored {_fmt(old)}  fresh {_fmt(new)}  {verdict}")
    return lines, agree


def _fmt(score: float | None) -> str:
    return f"{score:.8f}" if score is not None else "   --     "
