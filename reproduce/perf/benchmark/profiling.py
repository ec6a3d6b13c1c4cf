"""Where a training step's time goes: one stage of each kind under the torch profiler, its step
time split by op category (item 6 of the package docstring)."""

from __future__ import annotations

import os
import tempfile

from reproduce.perf.benchmark.gemm import useful_flops_per_token
from reproduce.perf.benchmark.training import PATHS, in_child, stage_spec

OP_CATEGORIES = (  # (category, op-name prefixes), first match wins; the rest is "other ops"
    ("matmul", ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_weight", "mkldnn")),
    ("attention", ("aten::_softmax", "aten::_scaled_dot_product", "aten::_flash_attention")),
    ("loss", ("aten::_log_softmax", "aten::nll_loss", "aten::logsumexp", "aten::cross_entropy")),
    ("optimizer", ("aten::_foreach", "aten::addcdiv", "aten::addcmul", "aten::lerp", "aten::sqrt")),
    (
        "copies, casts and allocation",
        (
            "aten::copy_",
            "aten::_to_copy",
            "aten::clone",
            "aten::cat",
            "aten::index",
            "aten::scatter",
            "aten::empty",
            "aten::fill_",
            "aten::zero",
            "aten::zeros",
            "aten::ones",
            "aten::full",
            "aten::contiguous",
            "aten::to",
            "aten::t",
            "aten::transpose",
            "aten::view",
            "aten::reshape",
            "aten::_unsafe_view",
            "aten::expand",
            "aten::permute",
            "aten::slice",
            "aten::select",
            "aten::as_strided",
            "aten::unsqueeze",
            "aten::squeeze",
            "aten::detach",
            "aten::resize_",
        ),
    ),  # fmt: skip
    ("elementwise and norms", ("aten::",)),
)


def op_category(name: str) -> str:
    """The category of a profiled op by its name: `matmul`, `attention`, ..., or `framework`
    (autograd engine nodes, record_function ranges and other non-aten entries: their self time is
    the framework's own bookkeeping)."""
    for category, prefixes in OP_CATEGORIES:
        if name.startswith(prefixes):
            return category
    return "framework"


def step_profile(events, step_range: str, key=op_category) -> dict[str, float]:
    """Seconds per step by op category (or by `key(op name)`), from a torch profiler's events, over
    every step but the first.

    Steps are the `step_range` ranges (`t2t.training.loop.STEP_RANGE`); an op belongs to the step
    its start lies in, and counts with its self time (its children are counted on their own), so
    the categories add up to the profiled time. `python` is the rest of each step's wall time: the
    interpreter between ops (peft, transformers and our own Python).
    """
    steps = sorted((e.time_range.start, e.time_range.end) for e in events if e.name == step_range)[1:]
    if not steps:
        raise ValueError(f"no {step_range!r} ranges after the first step: profile at least two steps")
    totals: dict[str, float] = {}
    for event in events:
        if event.name == step_range or not any(a <= event.time_range.start < b for a, b in steps):
            continue
        category = key(event.name)
        totals[category] = totals.get(category, 0.0) + event.self_cpu_time_total / 1e6
    wall = sum(b - a for a, b in steps) / 1e6
    totals["python"] = max(wall - sum(totals.values()), 0.0)
    return {category: seconds / len(steps) for category, seconds in totals.items()}


def profile_one(backbone: str, preset_name: str, kind: str, path: str, steps: int) -> dict:
    """`train_one`'s step under the torch profiler: seconds per step by op category (`step_profile`).

    The profiler adds a few microseconds per op, so the step is slower than unprofiled; the shares
    are what matters. `matmul_flop_per_s` is the useful FLOPs of a step over the time in matmul
    ops: how fast the GEMMs themselves run (LoRA's rank-r products included in their time).
    """
    from torch.profiler import ProfilerActivity, profile

    from t2t.core.runtime import Runtime
    from t2t.training.loop import STEP_RANGE
    from t2t.training.pipeline import build_model

    spec = stage_spec(backbone, preset_name, kind, steps)
    with tempfile.TemporaryDirectory() as cache, profile(activities=[ProfilerActivity.CPU]) as profiler:
        os.environ["T2T_CACHE_DIR"] = cache
        model, _, logs = build_model(spec, Runtime(progress=False, **PATHS[path]))
    events = profiler.events()
    seconds = step_profile(events, STEP_RANGE)
    by_op = step_profile(events, STEP_RANGE, key=lambda name: name)
    del by_op["python"]
    tokens = sum(entry["tokens"] for entry in logs[0][1:]) / len(logs[0][1:])
    flops = tokens * useful_flops_per_token(kind, model.config)
    return {
        "kind": kind,
        "path": path,
        "seconds_per_step": seconds,
        "matmul_flop_per_s": flops / seconds["matmul"] if seconds.get("matmul") else None,
        "top_ops": dict(sorted(by_op.items(), key=lambda kv: -kv[1])[:12]),
    }


def print_profiles(rows: list[dict], gemm_bf16: float) -> None:
    """One line per profiled stage: each category's share of a step, and the matmul ops' own rate."""
    print("where a training step's time goes (torch profiler; share of the step's wall time):")
    for row in rows:
        if "failed" in row:
            continue
        seconds = row["seconds_per_step"]
        total = sum(seconds.values())
        shares = ", ".join(
            f"{category} {value / total:.0%}"
            for category, value in sorted(seconds.items(), key=lambda kv: -kv[1])
        )
        rate = row["matmul_flop_per_s"]
        speed = f"; matmul ops run at {rate / gemm_bf16:.0%} of GEMM" if rate else ""
        print(f"  {row['kind']:13s} {row['path']}: {total:.2f} s/step: {shares}{speed}", flush=True)
        top = ", ".join(f"{name} {value / total:.0%}" for name, value in list(row["top_ops"].items())[:8])
        print(f"  {'':13s} top ops: {top}", flush=True)


def bench_profiles(backbone: str, preset_name: str, kinds, steps: int, gemm_bf16: float) -> list[dict]:
    """`profile_one` on the fast path for every kind, each in a fresh process (`in_child`), with the
    matmul ops' rate as a fraction of the bf16 GEMM rate; printed (`print_profiles`)."""
    profiles = [in_child("--profile-one", backbone, preset_name, kind, "fast", steps) for kind in kinds]
    for row in profiles:
        if "failed" not in row and row["matmul_flop_per_s"]:
            row["matmul_gemm_fraction"] = row["matmul_flop_per_s"] / gemm_bf16
    print_profiles(profiles, gemm_bf16)
    return profiles
