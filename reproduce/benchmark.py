"""Throughput benchmark: rates as fractions of this machine's own matrix rate, and against peers.

    python -m reproduce.benchmark --backbone smollm2-135m          # or: nox -s benchmark

Machines are shared and noisy, so everything is measured in one run and reported as ratios:

1. **GEMM rate**: bf16 and fp32 matrix products at the model's own shapes (1024 tokens × each
   projection of one decoder layer), best of a few repeats. Every rate below is also a fraction of
   the bf16 rate: that is how close the code comes to what the machine can do.
2. **Encoding**: our `Embedder` against sentence-transformers (bf16 weights, the same PromptEOL
   texts, `lasttoken`/`mean` pooling, a text-only modality config so that it does not wrap texts
   in the chat template), after checking the two agree (cosine). Useful FLOPs per token:
   2 × the non-embedding parameters (attention scores not counted).
3. **Training**: one stage of each kind at the preset's settings (batch, length, LoRA), a few steps
   of the real pipeline (`t2t.training.pipeline.train_stage`), each in its own process so that its
   peak memory (max RSS) is its own. Two paths: `plain` (fp32 weights under bf16 autocast, sdpa,
   `nn.Dropout`: the code before `t2t.training.fastpath`) and `fast` (the default `Runtime`).
   Useful FLOPs per real token: 4 × non-embedding parameters (forward, and the backward through
   the activations; the frozen weights get no gradient), 6 × for model-derived (its targets take
   one more forward pass with the adapter off). Padding is work the machine does but not useful
   work: "fill" is the real tokens' share of batch × max_length (rows are padded to the batch's
   longest, so the padded share is at most 1 - fill).

Writes `results/benchmarks/benchmark-<backbone>.json`.
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

import numpy as np
import torch

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


def projection_shapes(config) -> list[tuple[int, int]]:
    """`(in, out)` of one decoder layer's seven projections (q, k, v, o, gate, up, down)."""
    hidden, inner = config.hidden_size, config.intermediate_size
    heads = config.num_attention_heads
    kv = getattr(config, "num_key_value_heads", heads) * (hidden // heads)
    return [
        (hidden, hidden),
        (hidden, kv),
        (hidden, kv),
        (hidden, hidden),
        (hidden, inner),
        (hidden, inner),
        (inner, hidden),
    ]


def non_embedding_parameters(config) -> int:
    """Parameters of the decoder layers (what every token multiplies through), from the config."""
    return sum(i * o for i, o in projection_shapes(config)) * config.num_hidden_layers


def gemm_rate(config, dtype: torch.dtype, tokens: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of `(tokens, in) @ (in, out)` over one decoder layer's projection shapes."""
    shapes = projection_shapes(config)
    pairs = [(torch.randn(tokens, i, dtype=dtype), torch.randn(i, o, dtype=dtype)) for i, o in shapes]
    flops = sum(2 * tokens * i * o for i, o in shapes)
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for a, b in pairs:
            a @ b
        best = min(best, time.perf_counter() - start)
    return flops / best


def benchmark_texts(count: int) -> list[str]:
    from t2t.corpus import load_corpus

    texts = [t for t in load_corpus("wikitext2-sentences") if len(t.split()) >= 4][:count]
    return texts + texts[: len(texts) // 10]  # 10% repeats, as in STS tasks


def sentence_transformer_peer(backbone: str, pooling: str):
    """sentence-transformers on the same weights: text-only modality, bf16, the given pooling."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    from t2t.backbones import _local_weights, converted_smollm2, resolve_preset

    preset = resolve_preset(backbone)
    path = converted_smollm2() if preset.source == "gguf" else _local_weights(preset)
    module = Transformer(
        str(path),
        model_kwargs={"dtype": torch.bfloat16},
        modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        module_output_name="token_embeddings",
        max_seq_length=512,
    )
    mode = {"last": "lasttoken", "mean": "mean"}[pooling]
    return SentenceTransformer(modules=[module, Pooling(module.get_embedding_dimension(), pooling_mode=mode)])


def bench_encoding(backbone: str, texts: list[str], pooling: str, batch_size: int, repeats: int) -> dict:
    from t2t.backbones import load_backbone
    from t2t.encoder import Embedder
    from t2t.pooling import PoolingSpec, format_texts

    spec = PoolingSpec(mode=pooling)
    model, tokenizer = load_backbone(backbone, dtype=torch.bfloat16)
    embedder = Embedder(model, tokenizer, spec, batch_size=batch_size, progress=False)
    peer = sentence_transformer_peer(backbone, pooling)
    formatted = format_texts(texts, tokenizer, spec, 512)
    tokens = sum(len(ids) for ids in tokenizer(formatted).input_ids)
    ours_s, peer_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours = embedder.embed(texts)
        ours_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = peer.encode(formatted, batch_size=batch_size, convert_to_numpy=True)
        peer_s.append(time.perf_counter() - start)
    theirs = np.asarray(theirs, dtype=np.float32)
    cosine = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    return {
        "pooling": pooling,
        "texts": len(texts),
        "tokens": tokens,
        "ours_tokens_per_s": tokens / min(ours_s),
        "st_bf16_tokens_per_s": tokens / min(peer_s),
        "ours_vs_st": min(peer_s) / min(ours_s),
        "min_cosine_vs_st": float(cosine.min()),
    }


def stage_spec(backbone: str, preset_name: str, kind: str, steps: int):
    """The `ModelSpec` of one stage of `kind` at the preset's settings, cut to `steps` steps."""
    from reproduce.methods import llm2vec, simcse, text2token
    from reproduce.presets import get_preset

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
    from t2t.runtime import Runtime
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
    flops_per_token = (6 if kind == "model-derived" else 4) * non_embedding_parameters(model.config)
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


def bench_training(backbone: str, preset_name: str, kinds, paths, steps: int) -> list[dict]:
    """`train_one` for every (kind, path), each in a fresh process (its own peak memory).

    A process that fails (e.g. killed for memory) is reported as such and the others still run.
    """
    rows = []
    for kind in kinds:
        for path in paths:
            command = [sys.executable, "-m", "reproduce.benchmark", "--train-one", kind, path]
            command += ["--backbone", backbone, "--preset", preset_name, "--steps", str(steps)]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode:
                reason = "killed (out of memory?)" if done.returncode in (-9, 137) else done.stderr[-1500:]
                print(f"  train {kind:13s} {path}: FAILED, exit {done.returncode}: {reason}", flush=True)
                rows.append({"kind": kind, "path": path, "failed": f"exit {done.returncode}: {reason}"})
                continue
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            row = rows[-1]
            print(
                f"  train {kind:13s} {path}: {row['tokens_per_s']:7.0f} tok/s, "
                f"peak RSS {row['peak_rss_gb']:.1f} GB",
                flush=True,
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    from t2t.cli import integer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--preset", default="smol", help="whose stage settings to train with")
    parser.add_argument("--texts", type=integer(minimum=2), default=512)
    parser.add_argument("--batch-size", type=integer(minimum=1), default=32)
    parser.add_argument("--repeats", type=integer(minimum=1), default=2)
    parser.add_argument(
        "--steps", type=integer(minimum=2), default=4, help="steps per stage (the first warms up)"
    )
    parser.add_argument("--kinds", nargs="+", choices=STAGE_KINDS, default=list(STAGE_KINDS))
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    parser.add_argument("--skip-encoding", action="store_true")
    parser.add_argument("--train-one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_one:
        print(json.dumps(train_one(args.backbone, args.preset, *args.train_one, args.steps)))
        return
    from t2t.atomic import atomic_write_json
    from t2t.backbones import load_backbone
    from t2t.hardware import describe_hardware
    from t2t.paths import results_root
    from t2t.provenance import git_state

    config = load_backbone(args.backbone, dtype=torch.bfloat16)[0].config
    gemm = {"bf16": gemm_rate(config, torch.bfloat16), "fp32": gemm_rate(config, torch.float32)}
    params = non_embedding_parameters(config)
    print(
        f"GEMM at {args.backbone}'s shapes: bf16 {gemm['bf16'] / 1e12:.3f} TFLOP/s, "
        f"fp32 {gemm['fp32'] / 1e12:.3f} TFLOP/s ({torch.get_num_threads()} threads); "
        f"{params / 1e6:.0f}M non-embedding parameters",
        flush=True,
    )
    encoding = []
    if not args.skip_encoding:
        texts = benchmark_texts(args.texts)
        for pooling in ("last", "mean"):
            row = bench_encoding(args.backbone, texts, pooling, args.batch_size, args.repeats)
            row["ours_gemm_fraction"] = row["ours_tokens_per_s"] * 2 * params / gemm["bf16"]
            row["st_gemm_fraction"] = row["st_bf16_tokens_per_s"] * 2 * params / gemm["bf16"]
            encoding.append(row)
            print(
                f"  encode [{pooling}]: ours {row['ours_tokens_per_s']:.0f} tok/s "
                f"({row['ours_gemm_fraction']:.0%} of GEMM), sentence-transformers bf16 "
                f"{row['st_bf16_tokens_per_s']:.0f} tok/s ({row['st_gemm_fraction']:.0%}); ours "
                f"{row['ours_vs_st']:.2f}x (min cosine {row['min_cosine_vs_st']:.4f})",
                flush=True,
            )
    training = bench_training(args.backbone, args.preset, args.kinds, args.paths, args.steps)
    for row in training:
        if "failed" in row:
            continue
        row["gemm_fraction"] = row["useful_flop_per_s"] / gemm["bf16"]
        row["fill"] = row["tokens_per_step"] / (row["batch_size"] * row["max_length"] * row["passes"])
    print("training (useful FLOP/s as a fraction of bf16 GEMM; real tokens / (batch x max_length)):")
    for kind in args.kinds:
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
    report = {
        "backbone": args.backbone,
        "preset": args.preset,
        "hardware": describe_hardware(),
        "git": git_state(),
        "gemm_flop_per_s": gemm,
        "non_embedding_parameters": params,
        "encoding": encoding,
        "training": training,
    }
    path = results_root() / "benchmarks" / f"benchmark-{args.backbone.replace('/', '_')}.json"
    atomic_write_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
