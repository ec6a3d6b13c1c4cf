"""`--executor local|slurm` (`reproduce.run.executors`): real worker processes, shared stages trained
once, the same results as inline; the Slurm path against a fake `sbatch`."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reproduce.plan.planner import plan_cells
from reproduce.run.executors import ExecutorSpec, dispatch
from reproduce.run.runner import run_output
from t2t.core.runtime import Runtime
from t2t.runs.results import RunStore

RUNTIME = Runtime(device="cpu", precision="fp32", progress=False)


def scores(root: Path) -> dict[str, dict[str, float]]:
    return {path.name: RunStore(path.name, root).task_scores() for path in sorted((root / "runs").iterdir())}


@pytest.mark.needs_data
@pytest.mark.slow
def test_two_local_executors_at_once_compute_each_run_and_stage_once(tmp_path, make_cache, monkeypatch):
    """table3 at tiny (one backbone), started twice at the same moment, each with two submitit worker processes.
    DD only and DD -> MD share their DD stage (MD only and MD -> DD their MD stage). Each stage is
    trained by one process, each run stored once, and every score equals the inline executor's
    (in a separate results and cache root)."""
    make_cache("local-cache")
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "local"))
    logs = tmp_path / "submitit"
    command = [sys.executable, "-m", "reproduce", "table3", "--preset", "tiny", "--backbone", "tiny-llama"]
    command += ["--precision", "fp32"]
    command += ["--executor", "local", "--jobs", "2", "--submitit-folder", str(logs)]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(2)]
    for process in both:
        output = process.communicate(timeout=900)[0].decode(errors="replace")
        assert process.returncode == 0, output[-3000:]
    trained = re.findall(r"stage \d/\d \([a-z-]+, \d+ steps\) -> (\S+)", _read_logs(logs))
    assert trained and len(trained) == len(set(trained))  # no stage trained twice
    _, _, planned = plan_cells("table3", "tiny", "tiny-llama")
    assert {p.name for p in (tmp_path / "local" / "runs").iterdir()} == {item.run_id for item in planned}

    make_cache("inline-cache")
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "inline"))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # what each of the two workers had
    try:
        run_output("table3", "tiny", "tiny-llama", runtime=RUNTIME)
    finally:
        torch.set_num_threads(threads)
    assert scores(tmp_path / "local") == scores(tmp_path / "inline")


def _read_logs(folder: Path) -> str:
    return "\n".join(path.read_text(errors="replace") for path in folder.rglob("*.err")) + "\n".join(
        path.read_text(errors="replace") for path in folder.rglob("*.out")
    )


def fake_slurm(bin_dir: Path, record: Path) -> None:
    """`sbatch` that records its arguments and the submitted script and prints a job id; `squeue`,
    `sacct`, `scancel` and `srun` that do nothing (submitit only calls them when it waits)."""
    bin_dir.mkdir()
    record.mkdir()
    scripts = {
        "sbatch": f'echo "$@" > {record}/args\nfor a in "$@"; do [ -f "$a" ] && cp "$a" {record}/script; done\necho "Submitted batch job 4242"\n',
        "squeue": "exit 0\n",
        "sacct": "exit 0\n",
        "scancel": "exit 0\n",
        "srun": "exit 0\n",  # submitit looks for it to tell it is on a Slurm cluster
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_slurm_executor_submits_one_job_array_with_the_requested_resources(tmp_path, monkeypatch):
    fake_slurm(tmp_path / "bin", tmp_path / "record")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    _, _, planned = plan_cells("table3", "tiny")
    runs = list({item.run_id: item.run for item in planned}.values())
    spec = ExecutorSpec(
        "slurm",
        jobs=3,
        folder=tmp_path / "submitit",
        slurm_partition="gpu",
        gpus_per_run=1,
        time_min=90,
        mem_gb=64,
        slurm_args=("account=abc",),
        wait=False,
    )
    outcome = dispatch(runs, RUNTIME, spec, tmp_path / "results")
    assert outcome.pending == [f"4242_{i}" for i in range(len(runs))]
    assert (tmp_path / "record" / "args").read_text().strip().endswith(".sh")  # sbatch <submission file>
    script = (tmp_path / "record" / "script").read_text()
    for line in (
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-node=1",
        "#SBATCH --time=90",
        "#SBATCH --mem=64GB",
        "#SBATCH --account=abc",
        f"#SBATCH --array=0-{len(runs) - 1}%3",
    ):
        assert line in script, line
    assert "submitit.core._submit" in script  # the script submitit writes, which unpickles run_job


def test_executor_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="inline, local or slurm"):
        ExecutorSpec("ray")
    with pytest.raises(ValueError, match="jobs"):
        ExecutorSpec("local", jobs=0)
    with pytest.raises(ValueError, match="key=value"):
        ExecutorSpec("slurm", slurm_args=("account",))


@pytest.mark.needs_data
@pytest.mark.slow
def test_local_executor_runs_every_method_and_scores_as_inline(tmp_path, make_cache, monkeypatch):
    """`main` at tiny (zero-shot, LLM2Vec and Text2Token rows) through two local worker processes:
    each worker is a fresh interpreter that imports only `reproduce.run.executors`, so the LLM2Vec
    run's objectives must come from the `t2t.core.plugins` bootstrap. Every score equals the inline
    executor's (separate results and cache roots)."""
    make_cache("local-cache")
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "local"))
    command = [sys.executable, "-m", "reproduce", "main", "--preset", "tiny", "--backbone", "tiny-llama"]
    command += ["--precision", "fp32", "--executor", "local", "--jobs", "2"]
    command += ["--submitit-folder", str(tmp_path / "submitit")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    _, _, planned = plan_cells("main", "tiny", "tiny-llama")
    assert "llm2vec" in {item.run.method for item in planned}
    assert {p.name for p in (tmp_path / "local" / "runs").iterdir()} == {item.run_id for item in planned}

    make_cache("inline-cache")
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "inline"))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))  # what each of the two workers had
    try:
        run_output("main", "tiny", "tiny-llama", runtime=RUNTIME)
    finally:
        torch.set_num_threads(threads)
    assert scores(tmp_path / "local") == scores(tmp_path / "inline")
