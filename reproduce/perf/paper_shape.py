"""Full-width check: one training step of every objective, and one encode batch, at the paper's shapes.

    python -m reproduce.perf.paper_shape                         # CPU: 2-layer Llama-3-8B / Mistral-7B shapes
    python -m reproduce.perf.paper_shape --device cuda --layers 32   # the GPU check: full depth
    nox -s paper-shape  /  nox -s paper-shape-gpu

A 135M model never meets what 7-8B backbones bring: a 128,256-token vocabulary in the LM head and in
every sparse target, 4,096-wide hidden states, grouped-query attention with 8 KV heads. This check
builds decoders with the paper backbones' real configs (`t2t.shapes`: width, heads, vocabulary,
RoPE) and random weights, with `--layers` decoder layers (backbones `llama3-8b-shape-<L>l`, whose
tokenizer is SmolLM2's BPE resized to the vocabulary: `t2t.models.backbones.resized_bpe_dir`), and runs,
each in its own process so that peak memory is its own:

- one optimiser step of each objective (data-driven, model-derived, MNTP, SimCSE) through the real
  pipeline (`t2t.training.pipeline.build_model`) at the `paper` preset's batch size and length
  (`reproduce.paper.presets`), LoRA as in the paper;
- one batch of encoding at the paper's evaluation length (`eval_max_length`, 1,024 tokens) and
  evaluation batch size (`Runtime.eval_batch_size`).

Rows are filled to the length: training reads `wikitext2-passages` (WikiText-2 sentences joined
into passages longer than 1,024 tokens), so every row of a batch is `max_length` tokens, the worst
case for memory (the paper's corpora are sentences and passages; real batches are padded to their
longest row). Model-derived targets use `--common-samples` texts (the paper's N is a one-off cost
before training, not part of a step).

Gradient checkpointing (`--checkpointing`): `off`, `on`, or `auto` (the default `Runtime`: on
where the estimated activations exceed `Runtime.checkpoint_above_gb`). Each row says which ran.

Reported per row: seconds, tokens (real tokens; SimCSE counts both views), tokens/s, useful FLOP/s
(4 × decoder parameters per training token, 6 × for model-derived, 2 × for encoding: the LM head
and attention scores are not counted, so these are lower bounds), peak memory (max RSS on CPU,
`torch.cuda.max_memory_allocated` on a GPU) and, on a GPU of a kind in `reproduce.plan.gpu_hours.GPU_KINDS`,
MFU against its dense bf16 peak. With two or more layer counts, `extrapolate` fits time and memory
linearly in the layers and predicts the 32-layer step (an estimate, printed as one).

Writes `results/benchmarks/paper-shape-<device>.json` after every row; `--resume` keeps the rows
an interrupted check wrote and measures the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reproduce.perf.benchmark.gemm import useful_flops_per_token
from reproduce.perf.benchmark.training import STAGE_KINDS, stage_spec
from reproduce.plan.gpu_hours import GPU_KINDS, Shape

PAPER_BACKBONES = ("llama3-8b", "mistral-7b")
PASSAGES = "wikitext2-passages"
CHECKPOINTING = {  # Runtime fields of each --checkpointing choice
    "auto": {},
    "on": {"gradient_checkpointing": True},
    "off": {"checkpoint_above_gb": None},
}


def shape_backbone(paper: str, layers: int) -> str:
    """The `shape` backbone name of a paper backbone at `layers` layers (`t2t.models.backbones`)."""
    return f"{paper}-shape-{layers}l"


def peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def gpu_peak(device: str) -> float | None:
    """Dense bf16 peak FLOP/s of this GPU when its kind is in `GPU_KINDS`, else None."""
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((kind.peak_bf16 for key, kind in GPU_KINDS.items() if key in name), None)


def train_step(
    backbone: str,
    kind: str,
    device: str,
    checkpointing: str,
    common_samples: int,
    batch_size: int | None = None,
    max_length: int | None = None,
) -> dict:
    """One optimiser step of a `kind` stage at the paper preset's settings (in this process);
    `batch_size` and `max_length` override the preset's (smaller checks, tests)."""
    from t2t.core.runtime import Runtime
    from t2t.training.fastpath import activation_gb
    from t2t.training.objective import get_objective
    from t2t.training.pipeline import build_model

    spec = stage_spec(backbone, "paper", kind, steps=1)
    stage = spec.stages[0].replace(corpus=PASSAGES)
    stage = stage.replace(
        batch_size=batch_size or stage.batch_size, max_length=max_length or stage.max_length
    )
    if kind == "model-derived":
        stage = stage.replace(
            options={**stage.options, "common_samples": common_samples, "common_corpus": None}
        )
    spec = spec.replace(stages=(stage,))
    runtime = Runtime(progress=False, device=device, checkpoint_every=10**9, **CHECKPOINTING[checkpointing])
    passes = get_objective(stage.objective).passes_per_item
    before = os.environ.get("T2T_CACHE_DIR")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["T2T_CACHE_DIR"] = cache  # adapters and targets of a throwaway stage
        try:
            model, _, logs = build_model(spec, runtime)
        finally:
            if before is None:
                os.environ.pop("T2T_CACHE_DIR", None)
            else:
                os.environ["T2T_CACHE_DIR"] = before
    step = logs[0][-1]
    estimate = activation_gb(model.config, stage.batch_size * stage.max_length * passes)
    checkpointed = runtime.gradient_checkpointing or (
        runtime.checkpoint_above_gb is not None and estimate > runtime.checkpoint_above_gb
    )
    return {
        "what": kind,
        "batch_size": stage.batch_size,
        "max_length": stage.max_length,
        "passes": passes,
        "checkpointed": bool(checkpointed),
        "seconds": step["seconds"],
        "tokens": step["tokens"],
        "useful_flops": step["tokens"] * useful_flops_per_token(kind, model.config),
        "loss": step.get("loss"),
    }


def encode_batch(backbone: str, device: str, batch_size: int, max_length: int | None = None) -> dict:
    """One batch of `batch_size` passages at the paper's evaluation length, or `max_length`
    (in this process)."""
    from reproduce.paper.presets import get_preset
    from t2t.embedding.encoder import Embedder
    from t2t.embedding.pooling import format_texts
    from t2t.models.backbones import load_backbone
    from t2t.training.corpus import load_corpus

    length = max_length or get_preset("paper").eval_max_length
    spec = stage_spec(backbone, "paper", "data-driven", steps=1)
    model, tokenizer = load_backbone(backbone, dtype=torch.bfloat16, device=device)
    texts = load_corpus(PASSAGES)[:batch_size]
    formatted = format_texts(texts, tokenizer, spec.pooling, length)
    tokens = sum(min(len(ids), length) for ids in tokenizer(formatted).input_ids)
    embedder = Embedder(
        model, tokenizer, spec.pooling, max_length=length, batch_size=batch_size, progress=False
    )
    start = time.perf_counter()
    vectors = embedder.embed(texts)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if not np.isfinite(vectors).all():
        raise RuntimeError("non-finite embeddings")
    return {
        "what": "encode",
        "batch_size": batch_size,
        "max_length": length,
        "passes": 1,
        "checkpointed": False,
        "seconds": seconds,
        "tokens": tokens,
        "useful_flops": tokens * 2 * Shape.from_config(model.config).decoder_parameters,
    }


def one(paper: str, layers: int, what: str, device: str, checkpointing: str, common_samples: int, batch: int):
    """One row, measured in this process: a training step of `what`, or `encode`."""
    backbone = shape_backbone(paper, layers)
    if what == "encode":
        row = encode_batch(backbone, device, batch)
    else:
        row = train_step(backbone, what, device, checkpointing, common_samples)
    row.update(backbone=paper, layers=layers, device=device, peak_memory_gb=peak_memory_gb(device))
    row["tokens_per_s"] = row["tokens"] / row["seconds"]
    row["useful_flop_per_s"] = row["useful_flops"] / row["seconds"]
    peak = gpu_peak(device)
    row["mfu"] = row["useful_flop_per_s"] / peak if peak else None
    return row


def in_child(args: list[str]) -> dict:
    """`one` in a fresh process (its own peak memory); `{"failed": why}` when it fails or is killed."""
    done = subprocess.run(
        [sys.executable, "-m", "reproduce.perf.paper_shape", "--one", *args], capture_output=True, text=True
    )
    if done.returncode:
        reason = "killed (out of memory?)" if done.returncode in (-9, 137) else done.stderr.strip()[-1500:]
        return {"failed": f"exit {done.returncode}: {reason}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def extrapolate(rows: list[dict], layers: int = 32) -> list[dict]:
    """Per (backbone, what, checkpointed): seconds and peak memory fitted linearly in the layer
    count (least squares over the measured counts; needs two or more) and evaluated at `layers`.

    Weights, embeddings and the LM head are the intercept; each layer adds its weights, its
    activations (or, checkpointed, its input) and its compute. Estimates, not measurements.
    """
    groups: dict[tuple, dict[int, dict]] = {}
    for row in rows:
        if "failed" not in row:
            groups.setdefault((row["backbone"], row["what"], row["checkpointed"]), {})[row["layers"]] = row
    out = []
    for (backbone, what, checkpointed), by_layers in sorted(groups.items()):
        if len(by_layers) < 2:
            continue
        x = np.array(sorted(by_layers), dtype=float)
        fit = {}
        for key in ("seconds", "peak_memory_gb"):
            y = np.array([by_layers[int(n)][key] for n in x])
            slope, intercept = np.polyfit(x, y, 1)
            fit[key] = float(intercept + slope * layers)
            fit[f"{key}_per_layer"] = float(slope)
        out.append(
            {"backbone": backbone, "what": what, "checkpointed": checkpointed, "layers": layers, **fit}
        )
    return out


def print_row(row: dict) -> None:
    if "failed" in row:
        print(
            f"  {row['backbone']:10s} L={row['layers']:<2d} {row['what']:13s} FAILED: {row['failed'][-300:]}",
            flush=True,
        )
        return
    mfu = f", MFU {row['mfu']:.0%}" if row.get("mfu") else ""
    print(
        f"  {row['backbone']:10s} L={row['layers']:<2d} {row['what']:13s} "
        f"{row['batch_size']:>3d} x {row['max_length']:<4d}{' x2' if row['passes'] == 2 else '   '} "
        f"ckpt {'on ' if row['checkpointed'] else 'off'} {row['seconds']:7.1f} s  {row['tokens_per_s']:8.0f} tok/s  "
        f"{row['useful_flop_per_s'] / 1e12:6.2f} TFLOP/s{mfu}  peak {row['peak_memory_gb']:5.1f} GB",
        flush=True,
    )


def build_parser() -> argparse.ArgumentParser:
    """The check's options (the module docstring is its `--help`)."""
    from t2t.core.cli import integer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbones", nargs="+", choices=PAPER_BACKBONES, default=list(PAPER_BACKBONES))
    parser.add_argument("--layers", nargs="+", type=integer(minimum=1), default=[2])
    parser.add_argument(
        "--what", nargs="+", choices=[*STAGE_KINDS, "encode"], default=[*STAGE_KINDS, "encode"]
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--checkpointing", nargs="+", choices=list(CHECKPOINTING), default=["auto"])
    parser.add_argument("--common-samples", type=integer(minimum=1), default=64)
    parser.add_argument("--eval-batch-size", type=integer(minimum=1), default=32)
    parser.add_argument(
        "--resume", action="store_true", help="keep the rows a stopped check already wrote; measure the rest"
    )
    parser.add_argument("--extrapolate-to", type=integer(minimum=1), default=32)
    parser.add_argument(
        "--one", nargs=4, metavar=("PAPER", "LAYERS", "WHAT", "CHECKPOINTING"), help=argparse.SUPPRESS
    )
    return parser


def resumed_rows(path: Path, resume: bool) -> list[dict]:
    """The rows a stopped check wrote to `path` that did not fail (`--resume`), else none."""
    from t2t.core.atomic import read_json

    previous = read_json(path, "starting afresh.") if resume else None
    return [row for row in (previous or {}).get("rows", []) if "failed" not in row]


def save_report(path: Path, rows: list[dict], layers: int) -> None:
    """The rows so far and their extrapolation to `layers` layers; written after every row, so that a
    stopped check keeps what it measured (`--resume`)."""
    from t2t.core.atomic import atomic_write_json
    from t2t.core.hardware import describe_hardware
    from t2t.core.provenance import git_state

    report = {"hardware": describe_hardware(), "git": git_state(), "rows": rows}
    atomic_write_json(path, {**report, "extrapolated": extrapolate(rows, layers)})


def measure_missing(args: argparse.Namespace, rows: list[dict], path: Path) -> None:
    """Every (backbone, layers, what, checkpointing) not already in `rows`, each in a fresh process
    (`in_child`; encoding runs once, without checkpointing), appended, printed and saved as it lands."""
    done = {(row["backbone"], row["layers"], row["what"], row.get("checkpointing")) for row in rows}
    common = ["--device", args.device, "--common-samples", str(args.common_samples)]
    common += ["--eval-batch-size", str(args.eval_batch_size)]
    for paper in args.backbones:
        for layers in args.layers:
            for what in args.what:
                for checkpointing in args.checkpointing if what != "encode" else ["off"]:
                    if (paper, layers, what, checkpointing) in done:
                        continue
                    row = in_child([paper, str(layers), what, checkpointing, *common])
                    row.update(backbone=paper, layers=layers, what=what, checkpointing=checkpointing)
                    rows.append(row)
                    print_row(row)
                    save_report(path, rows, args.extrapolate_to)


def print_estimates(estimates: list[dict], layers: int) -> None:
    """One line per extrapolated (backbone, what, checkpointed): the step's seconds and peak memory."""
    if not estimates:
        return
    print(f"extrapolated to {layers} layers (linear in the layer count; estimates):")
    for e in estimates:
        print(
            f"  {e['backbone']:10s} {e['what']:13s} ckpt {'on ' if e['checkpointed'] else 'off'} "
            f"{e['seconds']:8.1f} s/step  peak {e['peak_memory_gb']:6.1f} GB "
            f"({e['peak_memory_gb_per_layer']:.2f} GB and {e['seconds_per_layer']:.1f} s per layer)",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    """Parse; a child (`--one`) prints its one JSON row; otherwise measure every missing row, print
    the extrapolation and write `results/benchmarks/paper-shape-<device>.json`."""
    from t2t.core.paths import results_root

    args = build_parser().parse_args(argv)
    if args.one:
        paper, layers, what, checkpointing = args.one
        row = one(
            paper, int(layers), what, args.device, checkpointing, args.common_samples, args.eval_batch_size
        )
        print(json.dumps(row))
        return
    path = results_root() / "benchmarks" / f"paper-shape-{args.device.split(':')[0]}.json"
    rows = resumed_rows(path, args.resume)
    print(f"paper-shape check on {args.device} ({torch.get_num_threads()} threads):", flush=True)
    measure_missing(args, rows, path)
    print_estimates(extrapolate(rows, args.extrapolate_to), args.extrapolate_to)
    save_report(path, rows, args.extrapolate_to)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
