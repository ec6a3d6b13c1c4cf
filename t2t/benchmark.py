"""Throughput benchmark: our encoder and training step against a plain peer, same machine, same run.

    python -m t2t.benchmark --backbone smollm2-135m --texts 512

Encoding: `t2t.encoder.Embedder` (length-sorted batches, duplicates encoded once, bf16 where the CPU
or GPU is fast at it) against the plain loop everyone writes first (batches in input order, fp32
weights, same pooling, same model). Training: one Text2Token data-driven step under bf16 autocast
against fp32. Rates vary with machine load, so the ratios are the result; each side is timed on
the same texts, interleaved, best of `--repeats`.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from t2t.atomic import atomic_write_json
from t2t.backbones import LoraSpec, attach_lora, load_backbone
from t2t.cli import integer
from t2t.corpus import load_corpus
from t2t.encoder import Embedder
from t2t.errors import report_user_errors
from t2t.hardware import describe_hardware, fast_bf16
from t2t.objectives import DataDrivenObjective
from t2t.paths import results_root
from t2t.pooling import PoolingSpec, embed_batch, tokenize
from t2t.provenance import git_state
from t2t.training.objective import StageContext


@torch.inference_mode()
def plain_encode(model, tokenizer, texts, pooling, batch_size, max_length) -> tuple[np.ndarray, int]:
    """The peer: input-order batches, the model as loaded (fp32), no de-duplication."""
    out, tokens = [], 0
    for first in range(0, len(texts), batch_size):
        batch = tokenize(texts[first : first + batch_size], tokenizer, pooling, max_length)
        out.append(embed_batch(model, batch, pooling, tokenizer.bos_token_id).numpy())
        tokens += int(batch["attention_mask"].sum())
    return np.concatenate(out), tokens


def bench_encoding(backbone: str, texts: list[str], pooling: str, batch_size: int, repeats: int) -> dict:
    spec = PoolingSpec(mode=pooling)
    plain_model, tokenizer = load_backbone(backbone)
    ours_model, _ = load_backbone(backbone)
    embedder = Embedder(ours_model, tokenizer, spec, batch_size=batch_size, progress=False)
    plain_s, ours_s = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        reference, tokens = plain_encode(plain_model, tokenizer, texts, spec, batch_size, 512)
        plain_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        ours = embedder.embed(texts)
        ours_s.append(time.perf_counter() - start)
    cosine = (ours * reference).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1))
    return {
        "pooling": pooling,
        "texts": len(texts),
        "tokens": tokens,
        "ours_dtype": str(embedder.dtype),
        "plain_tokens_per_s": tokens / min(plain_s),
        "ours_tokens_per_s": tokens / min(ours_s),
        "speedup": min(plain_s) / min(ours_s),
        "min_cosine_vs_plain": float(cosine.min()),
    }


def bench_training(backbone: str, texts: list[str], batch_size: int, max_length: int, repeats: int) -> dict:
    model, tokenizer = load_backbone(backbone)
    model = attach_lora(model, LoraSpec())
    batch = texts[:batch_size]
    context = StageContext(
        tokenizer=tokenizer,
        pooling=PoolingSpec(mode="last"),
        max_length=max_length,
        batch_size=batch_size,
        corpus="benchmark",
        model_key="benchmark",
    )
    objective = DataDrivenObjective(DataDrivenObjective.options_class(), context)
    objective.prepare(model, batch, np.arange(len(batch)))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5)
    device = next(model.parameters()).device.type
    rates = {}
    for name, dtype in [("fp32", torch.float32), ("bf16_autocast", torch.bfloat16)]:
        seconds = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            with torch.autocast(device, dtype=dtype, enabled=dtype != torch.float32):
                loss, tokens = objective.loss(model, batch, range(len(batch)))
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            seconds.append(time.perf_counter() - start)
        rates[f"{name}_tokens_per_s"] = tokens / min(seconds[1:])  # first step warms up
    rates["bf16_speedup"] = rates["bf16_autocast_tokens_per_s"] / rates["fp32_tokens_per_s"]
    return {"batch_size": batch_size, "max_length": max_length, **rates}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default="smollm2-135m")
    parser.add_argument("--texts", type=integer(minimum=1), default=512)
    parser.add_argument("--batch-size", type=integer(minimum=1), default=32)
    parser.add_argument(
        "--repeats", type=integer(minimum=2), default=2, help="timed repeats (>= 2: the first warms up)"
    )
    parser.add_argument("--train-batch-size", type=integer(minimum=1), default=16)
    parser.add_argument("--train-max-length", type=integer(minimum=8), default=64)
    parser.add_argument("--debug", action="store_true", help="tracebacks for user errors too")
    args = parser.parse_args(argv)
    texts = [t for t in load_corpus("wikitext2-sentences") if len(t.split()) >= 4][: args.texts]
    texts += texts[: len(texts) // 10]  # 10% repeats, as in STS tasks
    report = {
        "backbone": args.backbone,
        "hardware": describe_hardware(),
        "git": git_state(),
        "fast_bf16": fast_bf16("cuda" if torch.cuda.is_available() else "cpu"),
        "encoding": [
            bench_encoding(args.backbone, texts, pooling, args.batch_size, args.repeats)
            for pooling in ("last", "mean")
        ],
        "training": bench_training(
            args.backbone, texts, args.train_batch_size, args.train_max_length, args.repeats
        ),
    }
    for row in report["encoding"]:
        print(
            f"encode {args.backbone} [{row['pooling']}]: ours {row['ours_tokens_per_s']:.0f} tok/s, "
            f"plain fp32 loop {row['plain_tokens_per_s']:.0f} tok/s, ratio {row['speedup']:.2f}x "
            f"(min cosine vs plain {row['min_cosine_vs_plain']:.4f})"
        )
    train = report["training"]
    print(
        f"train step {args.backbone} (batch {train['batch_size']} x {train['max_length']}): "
        f"bf16 autocast {train['bf16_autocast_tokens_per_s']:.0f} tok/s, fp32 {train['fp32_tokens_per_s']:.0f} "
        f"tok/s, ratio {train['bf16_speedup']:.2f}x"
    )
    path = results_root() / "benchmarks" / f"benchmark-{args.backbone.replace('/', '_')}.json"
    atomic_write_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(report_user_errors(main))
