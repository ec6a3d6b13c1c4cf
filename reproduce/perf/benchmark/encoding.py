"""Encoding against peers: our `Embedder` against sentence-transformers and against llm2vec's
`LLM2Vec.encode` on the same weights and texts, after checking they agree (items 2 and 4 of the
package docstring)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from t2t.core.paths import REPO_ROOT


def benchmark_texts(count: int) -> list[str]:
    """`count` WikiText-2 sentences of four words or more, plus a tenth of them again (STS tasks
    repeat texts, and encoders may cache them)."""
    from t2t.training.corpus import load_corpus

    texts = [t for t in load_corpus("wikitext2-sentences") if len(t.split()) >= 4][:count]
    return texts + texts[: len(texts) // 10]  # 10% repeats, as in STS tasks


def sentence_transformer_peer(backbone: str, pooling: str):
    """sentence-transformers on the same weights: text-only modality, bf16, the given pooling."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    from t2t.models.backbones import _local_weights, converted_gguf, resolve_backbone

    preset = resolve_backbone(backbone)
    path = converted_gguf(preset.name) if preset.source == "gguf" else _local_weights(preset)
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
    """Tokens/s of our `Embedder` (`batch_size` texts per batch, and a 4,096-token budget per batch)
    and of sentence-transformers (`sentence_transformer_peer`) on the same formatted `texts`, best of
    `repeats` interleaved rounds, with the cosines between their vectors (do they agree?)."""
    from t2t.embedding.encoder import Embedder
    from t2t.embedding.pooling import PoolingSpec, format_texts
    from t2t.models.backbones import load_backbone

    spec = PoolingSpec(mode=pooling)
    model, tokenizer = load_backbone(backbone, dtype=torch.bfloat16)
    embedder = Embedder(model, tokenizer, spec, batch_size=batch_size, progress=False)
    peer = sentence_transformer_peer(backbone, pooling)
    formatted = format_texts(texts, tokenizer, spec, 512)
    tokens = sum(len(ids) for ids in tokenizer(formatted).input_ids)
    budget = Embedder(model, tokenizer, spec, batch_size=4096, batch_tokens=4096, progress=False)
    ours_s, peer_s, budget_s = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        ours = embedder.embed(texts)
        ours_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        by_tokens = budget.embed(texts)
        budget_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        theirs = peer.encode(formatted, batch_size=batch_size, convert_to_numpy=True)
        peer_s.append(time.perf_counter() - start)
    theirs = np.asarray(theirs, dtype=np.float32)
    return {
        "pooling": pooling,
        "texts": len(texts),
        "tokens": tokens,
        "ours_tokens_per_s": tokens / min(ours_s),
        "st_bf16_tokens_per_s": tokens / min(peer_s),
        "ours_vs_st": min(peer_s) / min(ours_s),
        "token_budget_4096_vs_texts": min(ours_s) / min(budget_s),
        "min_cosine_token_budget_vs_texts": float(cosines(by_tokens, ours).min()),
        "min_cosine_vs_st": float(cosines(ours, theirs).min()),
        "median_cosine_vs_st": float(np.median(cosines(ours, theirs))),
    }


def bench_llm2vec_encoding(
    backbone: str, texts: list[str], batch_size: int, repeats: int, python: str, dtype=torch.bfloat16
) -> dict:
    """Our mean-pooled bidirectional encoder against llm2vec's `LLM2Vec.encode` (the LLM2Vec baseline's
    evaluation), both in `dtype` (bf16 in the benchmark), on the same weights and texts.

    llm2vec needs transformers 4.44, so it runs in its own environment (`python`, the interpreter of
    `nox -s llm2vec-parity`'s reference venv) on a model folder saved for it
    (`baselines.parity.legacy`), through `baselines/parity/encode_speed.py`.
    """
    from baselines.parity.legacy import rewrite_for_transformers_4
    from t2t.embedding.encoder import Embedder
    from t2t.embedding.pooling import PoolingSpec, format_texts
    from t2t.models.backbones import load_backbone

    spec = PoolingSpec(mode="mean", mean_skip_bos=True)  # llm2vec means over the text's own tokens
    model, tokenizer = load_backbone(backbone, attention="bidirectional", dtype=dtype)
    tokens = sum(len(ids) for ids in tokenizer(format_texts(texts, tokenizer, spec, 512)).input_ids)
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        rewrite_for_transformers_4(Path(folder), f"t2t-benchmark/{backbone}")
        Path(folder, "texts.json").write_text(json.dumps(texts))
        script = REPO_ROOT / "baselines" / "parity" / "encode_speed.py"
        command = [python, str(script), "--model", folder, "--texts", f"{folder}/texts.json"]
        command += [
            "--out",
            f"{folder}/theirs.npy",
            "--batch-size",
            str(batch_size),
            "--repeats",
            str(repeats),
            "--dtype",
            str(dtype).removeprefix("torch."),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(
                f"LLM2Vec.encode timing failed (exit {done.returncode}): {done.stderr[-1500:]}"
            )
        peer = json.loads(done.stdout.strip().splitlines()[-1])
        theirs = np.load(f"{folder}/theirs.npy")
    embedder = Embedder(model, tokenizer, spec, batch_size=batch_size, dtype=dtype, progress=False)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        ours = embedder.embed(texts)
        seconds.append(time.perf_counter() - start)
    return {
        "pooling": "mean (bidirectional)",
        "texts": len(texts),
        "tokens": tokens,
        "ours_tokens_per_s": tokens / min(seconds),
        "llm2vec_tokens_per_s": tokens / peer["seconds"],
        "ours_vs_llm2vec": peer["seconds"] / min(seconds),
        "min_cosine_vs_llm2vec": float(cosines(ours, theirs).min()),
        "median_cosine_vs_llm2vec": float(np.median(cosines(ours, theirs))),
    }


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The cosine similarity of each row of `a` with the same row of `b`."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def report_encoding(row: dict, label: str, peer_name: str, peer: str, params: int, gemm: dict) -> dict:
    """Add both sides' fractions of the bf16 GEMM rate (2 × decoder parameters per token) to an
    encoding row of `bench_encoding`/`bench_llm2vec_encoding` (peer `st` or `llm2vec`) and print it."""
    peer_rate = row["st_bf16_tokens_per_s" if peer == "st" else f"{peer}_tokens_per_s"]
    row["ours_gemm_fraction"] = row["ours_tokens_per_s"] * 2 * params / gemm["bf16"]
    row[f"{peer}_gemm_fraction"] = peer_rate * 2 * params / gemm["bf16"]
    print(
        f"  encode {label}: ours {row['ours_tokens_per_s']:.0f} tok/s ({row['ours_gemm_fraction']:.0%} of "
        f"GEMM), {peer_name} {peer_rate:.0f} tok/s ({row[f'{peer}_gemm_fraction']:.0%}); ours "
        f"{row[f'ours_vs_{peer}']:.2f}x (cosine min {row[f'min_cosine_vs_{peer}']:.4f}, "
        f"median {row[f'median_cosine_vs_{peer}']:.5f})",
        flush=True,
    )
    if "token_budget_4096_vs_texts" in row:
        print(
            f"  encode {label}: a 4,096-token budget per batch runs at {row['token_budget_4096_vs_texts']:.2f}x "
            f"the texts-per-batch rate (cosine min {row['min_cosine_token_budget_vs_texts']:.4f})",
            flush=True,
        )
    return row


def bench_encodings(
    backbone: str,
    count: int,
    batch_size: int,
    repeats: int,
    llm2vec_python: str | None,
    params: int,
    gemm: dict,
) -> list[dict]:
    """Every encoding row, reported (`report_encoding`): last and mean pooling against
    sentence-transformers on `count` texts (`benchmark_texts`), then, given `llm2vec_python`, the
    bidirectional mean against `LLM2Vec.encode`."""
    texts = benchmark_texts(count)
    encoding = []
    for pooling in ("last", "mean"):
        row = bench_encoding(backbone, texts, pooling, batch_size, repeats)
        encoding.append(
            report_encoding(row, f"[{pooling}]", "sentence-transformers bf16", "st", params, gemm)
        )
    if llm2vec_python:
        row = bench_llm2vec_encoding(backbone, texts, batch_size, repeats, llm2vec_python)
        encoding.append(
            report_encoding(
                row, "[mean, bidirectional]", "llm2vec LLM2Vec.encode bf16", "llm2vec", params, gemm
            )
        )
    return encoding
