"""Training: a few steps of one stage of each kind on each path, each in its own process so that its
peak memory is its own (item 3 of the package docstring)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile

from reproduce.perf.benchmark.gemm import useful_flops_per_token

STAGE_KINDS = ("data-driven", "model-derived", "mntp", "simcse")
PATHS = {  # Runtime fields of each path
    "plain": {
        "precision": "mixed",
        "train_attention": "sdpa",
        "sparse_dropout": "off",
        "checkpoint_above_gb": None,
    },
    "fast": {"checkpoint_above_gb": None},
    "fast+checkpointing": {"gradient_checkpointing": True},
}


def stage_spec(backbone: str, preset_name: str, kind: str, steps: int):
    """The `ModelSpec` of one stage of `kind` at the preset's settings, cut to `steps` steps."""
    from reproduce.paper.methods import llm2vec, simcse, text2token
    from reproduce.paper.presets import get_preset

    preset = get_preset(preset_name)
    spec = {
        "data-driven": lambda: text2token(preset, backbone, order=("dd",)),
        "model-derived": lambda: text2token(preset, backbone, order=("md",), common_samples=64),
        "mntp": lambda: llm2vec(preset, backbone),
        "simcse": lambda: simcse(preset, backbone),
    }[kind]()
    stage = spec.stages[0].replace(steps=steps)
    return spec.replace(stages=(stage,))


def train_one(backbone: str, preset_name: str, kind: str, path: str, steps: int) -> dict:
    """Run a few steps of one stage (in this process) and report step rates and peak memory."""
    from t2t.core.runtime import Runtime
    from t2t.training.objective import get_objective
    from t2t.training.pipeline import build_model

    spec = stage_spec(backbone, preset_name, kind, steps)
    runtime = Runtime(progress=False, **PATHS[path])
    with tempfile.TemporaryDirectory() as cache:
        os.environ["T2T_CACHE_DIR"] = cache
        model, _, logs = build_model(spec, runtime)
    log = logs[0][1:]  # the first step warms up
    best = min(log, key=lambda entry: entry["seconds"] / max(entry["tokens"], 1))
    stage = spec.stages[0]
    flops_per_token = useful_flops_per_token(kind, model.config)
    return {
        "kind": kind,
        "path": path,
        "batch_size": stage.batch_size,
        "max_length": stage.max_length,
        "passes": get_objective(stage.objective).passes_per_item,
        "tokens_per_step": best["tokens"],
        "seconds_per_step": best["seconds"],
        "tokens_per_s": best["tokens"] / best["seconds"],
        "useful_flop_per_s": best["tokens"] * flops_per_token / best["seconds"],
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def in_child(flag: str, backbone: str, preset_name: str, kind: str, path: str, steps: int) -> dict:
    """Run `--train-one`/`--profile-one` in a fresh process (its own peak memory); its JSON line,
    or `{"failed": why}` when it fails (e.g. killed for memory), so the other stages still run."""
    command = [sys.executable, "-m", "reproduce.perf.benchmark", flag, kind, path]
    command += ["--backbone", backbone, "--preset", preset_name, "--steps", str(steps)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        reason = "killed (out of memory?)" if done.returncode in (-9, 137) else done.stderr[-1500:]
        print(f"  {flag[2:]} {kind:13s} {path}: FAILED, exit {done.returncode}: {reason}", flush=True)
        return {"kind": kind, "path": path, "failed": f"exit {done.returncode}: {reason}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_training(backbone: str, preset_name: str, kinds, paths, steps: int) -> list[dict]:
    """`train_one` for every (kind, path), each in a fresh process (`in_child`)."""
    rows = []
    for kind in kinds:
        for path in paths:
            rows.append(in_child("--train-one", backbone, preset_name, kind, path, steps))
            if "failed" not in rows[-1]:
                print(
                    f"  train {kind:13s} {path}: {rows[-1]['tokens_per_s']:7.0f} tok/s, "
                    f"peak RSS {rows[-1]['peak_rss_gb']:.1f} GB",
                    flush=True,
                )
    return rows


def report_training(training: list[dict], kinds, gemm_bf16: float) -> None:
    """Add each row's fraction of the bf16 GEMM rate and its fill (real tokens over
    batch × max_length × passes), and print one line per (kind, path), with its speed-up over `plain`."""
    for row in training:
        if "failed" in row:
            continue
        row["gemm_fraction"] = row["useful_flop_per_s"] / gemm_bf16
        row["fill"] = row["tokens_per_step"] / (row["batch_size"] * row["max_length"] * row["passes"])
    print("training (useful FLOP/s as a fraction of bf16 GEMM; real tokens / (batch x max_length)):")
    for kind in kinds:
        rows = {row["path"]: row for row in training if row["kind"] == kind and "failed" not in row}
        for path, row in rows.items():
            ratio = ""
            if path != "plain" and "plain" in rows:
                ratio = f", {row['tokens_per_s'] / rows['plain']['tokens_per_s']:.2f}x plain"
            print(
                f"  {kind:13s} {path:18s} {row['tokens_per_s']:6.0f} tok/s, {row['gemm_fraction']:4.0%} of GEMM "
                f"(fill {row['fill']:.0%}), peak RSS {row['peak_rss_gb']:.1f} GB{ratio}",
                flush=True,
            )
