"""Long texts: our `Embedder` on short STS sentences against long SciFact abstracts, under
evaluation's default batching and a fixed number of texts per batch (item 7 of the package docstring)."""

from __future__ import annotations

import numpy as np
import torch


def long_and_short_texts(count: int, seed: int = 0) -> tuple[list[str], list[str]] | None:
    """`count` distinct STSBenchmark test sentences and `count` SciFact abstracts (`title text`, as
    mteb hands documents to the encoder), both a seeded random draw; None without the data root."""
    from t2t.core.paths import data_root
    from t2t.evaluation.offline import offline_available, offline_task
    from t2t.evaluation.token_count import encoded_texts

    root = data_root()
    if not (offline_available("STSBenchmark", root) and offline_available("SciFact", root)):
        print(f"  long texts: skipped (STSBenchmark and SciFact not under the data root {root})", flush=True)
        return None
    rng = np.random.default_rng(seed)
    short = encoded_texts(offline_task("STSBenchmark", root))
    long = encoded_texts(offline_task("SciFact", root))[300:]  # after the 300 claims: the abstracts
    return tuple(
        [texts[i] for i in rng.choice(len(texts), min(count, len(texts)), replace=False)]
        for texts in (short, long)
    )


def bench_long_texts(backbone: str, count: int, batch_size: int, repeats: int) -> dict | None:
    """Tokens/s of our `Embedder` (last pooling, max 512 tokens) on short STS sentences and on long
    SciFact abstracts, with evaluation's default batching and with `batch_size` texts per batch; the
    two kinds interleaved and the best of `repeats` taken, so that a busy machine slows both alike."""
    from t2t.core.runtime import Runtime
    from t2t.embedding.encoder import Embedder
    from t2t.embedding.pooling import PoolingSpec
    from t2t.models.backbones import load_backbone

    texts = long_and_short_texts(count)
    if texts is None:
        return None
    model, tokenizer = load_backbone(backbone, dtype=torch.bfloat16)
    spec = PoolingSpec(mode="last")
    batchings = {
        "default": Runtime(eval_batch_size=batch_size).eval_batching(),
        "texts": {"batch_size": batch_size},
    }
    embedders = {
        label: Embedder(model, tokenizer, spec, max_length=512, progress=False, **batching)
        for label, batching in batchings.items()
    }
    best = {(label, kind): 0.0 for label in batchings for kind in ("short", "long")}
    row: dict = {"texts": count}
    for _ in range(repeats):  # every batching and kind once per round: a busy machine slows all alike
        for label, embedder in embedders.items():
            for kind, chosen in zip(("short", "long"), texts, strict=True):
                before_tokens, before_seconds = embedder.throughput.tokens, embedder.throughput.seconds
                embedder.embed(chosen)
                tokens = embedder.throughput.tokens - before_tokens
                rate = tokens / (embedder.throughput.seconds - before_seconds)
                best[label, kind] = max(best[label, kind], rate)
                row[f"{kind}_tokens_per_text"] = tokens / len(chosen)
    for label in batchings:
        short, long = best[label, "short"], best[label, "long"]
        row.update({f"short_tokens_per_s_{label}": short, f"long_tokens_per_s_{label}": long})
        row[f"long_vs_short_{label}"] = long / short
        print(
            f"  encode long texts [{label}]: STS sentences {short:.0f} tok/s "
            f"({row['short_tokens_per_text']:.0f} tokens/text), SciFact abstracts {long:.0f} tok/s "
            f"({row['long_tokens_per_text']:.0f} tokens/text): long/short {long / short:.2f}",
            flush=True,
        )
    return row
