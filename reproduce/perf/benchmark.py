"""Throughput benchmark: rates as fractions of this machine's own matrix rate, and against peers.

    python -m reproduce.perf.benchmark --backbone smollm2-135m          # or: nox -s benchmark

Machines are shared and noisy, so everything is measured in one run and reported as ratios:

1. **GEMM rate**: bf16 and fp32 matrix products at the model's own shapes (1024 tokens × each
   projection of one decoder layer), best of a few repeats. Every rate below is also a fraction of
   the bf16 rate: that is how close the code comes to what the machine can do.
2. **Encoding**: our `Embedder` (and the same with a 4,096-token budget per batch instead of
   `--batch-size` texts: `Embedder(batch_tokens=...)`) against sentence-transformers (bf16 weights, the same PromptEOL
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
4. **llm2vec** (`--llm2vec-python`, which `nox -s benchmark` passes): our mean-pooled bidirectional
   encoder against `LLM2Vec.encode` in llm2vec's own environment.
5. **mteb's scoring**: the seconds `mteb.evaluate` spends on each mirrored classification task
   besides encoding (an encoder whose vectors cost nothing), for comparison with a run's encoding time.
6. **Profile** (`--profile`): one stage of each kind under the torch profiler, its step time split
   by op category (matmul, elementwise, copies, attention, loss, optimizer, framework, Python).
7. **Long texts**: the same `Embedder` (last pooling, max 512 tokens) on `--long-texts` STSBenchmark
   sentences and as many SciFact abstracts (~15x longer), interleaved, best of `--repeats`: tokens/s
   of each, from the data root. Two batchings: evaluation's default (`Runtime.eval_batching`:
   `--batch-size` texts, long texts' batches cut at 2,048 tokens) and `--batch-size` texts whatever
   their length (before the cut).
8. **Item scoring**: seconds of `t2t.evaluation.item_scores`' vectorised resamples per task type
   (`--resamples`, default 10,000) on synthetic records of the real sizes (what tables' intervals cost).

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
from pathlib import Path

import numpy as np
import torch

from reproduce.plan.gpu_hours import Shape
from t2t.models.backbone_catalog import DEFAULT_BACKBONE

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


def useful_flops_per_token(kind: str, config) -> int:
    """Useful FLOPs per real training token of a stage kind: 4 × the decoder's parameters (6 × for
    model-derived, whose targets take one more forward pass), as the module docstring says."""
    return (6 if kind == "model-derived" else 4) * Shape.from_config(config).decoder_parameters


def gemm_rate(config, dtype: torch.dtype, tokens: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of `(tokens, in) @ (in, out)` over one decoder layer's projection shapes."""
    shapes = Shape.from_config(config).projections
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
        script = Path(__file__).resolve().parents[2] / "baselines" / "parity" / "encode_speed.py"
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


def synthetic_records(rng: np.random.Generator) -> dict[str, tuple[dict, int]]:
    """One record per task type at the sizes of the offline tasks (`offline-balanced` and SICK-R):
    `{label: (record, items)}`, with the ties real scores have (STS gold scores, tied similarities)."""
    records: dict[str, tuple[dict, int]] = {}
    for n in (1379, 9927):  # STSBenchmark, SICK-R
        gold = rng.integers(0, 26, n) / 5
        records[f"STS n={n}"] = (
            {"gold": gold.tolist(), "predicted": (gold + rng.normal(0, 2, n)).tolist()},
            n,
        )
    gold = rng.integers(0, 77, 3080)  # Banking77, 10 experiments
    predicted = [
        np.where(rng.random(3080) < 0.7, gold, rng.integers(0, 77, 3080)).tolist() for _ in range(10)
    ]
    records["Classification n=3080 x10"] = ({"gold": gold.tolist(), "predicted": predicted}, 3080)
    records["Retrieval n=300"] = ({"gold": [{}] * 300, "ndcg_at_10": rng.random(300).tolist()}, 300)
    for n in (3000, 9334):  # TwitterURLCorpus-testpart-lite and -testpart
        labels = (rng.random(n) < 0.2).astype(int)
        scores = {
            k: (labels + rng.normal(0, 1, n)).tolist()
            for k in ("cosine_scores", "dot_scores", "euclidean_distances", "manhattan_distances")
        }
        scores["similarity_scores"] = scores["cosine_scores"]
        records[f"PairClassification n={n}"] = ({"gold": labels.tolist(), "predicted": scores}, n)
    human = [rng.integers(1, 6, 16).tolist() for _ in range(100)]
    records["Summarization n=100"] = (
        {"gold": human, "predicted": [rng.random(16).tolist() for _ in human]},
        100,
    )
    n, labels = 2381, rng.integers(0, 20, 2381)  # TwentyNewsgroupsClustering-bydate-test
    seen, clusters = [], []
    for _ in range(10):  # experiments: 16,384 draws each, clusters agreeing with labels half the time
        drawn = np.bincount(rng.integers(0, n, 16384), minlength=n)
        cluster = np.where(rng.random(n) < 0.5, labels, rng.integers(0, 20, n))
        cluster[drawn == 0] = -1
        seen.append(drawn.tolist())
        clusters.append(cluster.tolist())
    record = {"gold": [[int(x)] for x in labels], "levels": [0] * 10, "predicted": clusters, "counts": seen}
    records["Clustering n=2381 x10"] = (record, n)
    return records


def bench_item_scores(resamples: int, seed: int = 0) -> list[dict]:
    """Seconds to score `resamples` bootstrap resamples of one record per task type (`synthetic_records`)."""
    from t2t.evaluation.item_scores import scorer

    rng = np.random.default_rng(seed)
    rows = []
    for label, (record, n) in synthetic_records(rng).items():
        draw = rng.integers(0, n, size=(resamples, n))
        start = time.perf_counter()
        scorer(label.split()[0]).resampled(record, draw)
        rows.append({"record": label, "resamples": resamples, "seconds": time.perf_counter() - start})
        print(
            f"  item scores {label:32s}: {rows[-1]['seconds']:5.2f} s for {resamples:,} resamples", flush=True
        )
    return rows


SCORED_TASKS = ("AmazonCounterfactualClassification", "Banking77Classification")


def free_encoder(dim: int = 64):
    """An mteb encoder whose embeddings cost nothing: a fixed random vector per text (seeded by the
    text's CRC), so that `mteb.evaluate` measures only mteb's own scoring (fitting the classifiers,
    the metrics and their input checks)."""
    import zlib

    from mteb.models.abs_encoder import AbsEncoder

    from t2t.embedding.encoder import base_meta

    class FreeEncoder(AbsEncoder):
        def __init__(self) -> None:
            self.mteb_model_meta = base_meta(
                "t2t-benchmark/free", n_parameters=0, max_tokens=None, embed_dim=dim
            )

        def encode(self, inputs, **kwargs) -> np.ndarray:
            texts = [text for batch in inputs for text in batch["text"]]
            rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(dim) for t in texts]
            return np.asarray(rows, dtype=np.float32)

    return FreeEncoder()


def bench_scoring(names=SCORED_TASKS) -> list[dict]:
    """Seconds `mteb.evaluate` spends on each classification task besides encoding (`free_encoder`).

    Tasks not mirrored under the data root are skipped (the benchmark never downloads)."""
    import mteb

    from t2t.core.paths import data_root
    from t2t.evaluation.offline import offline_available, offline_task

    root, rows = data_root(), []
    for name in names:
        if not offline_available(name, root):
            print(f"  scoring {name}: skipped (not under the data root {root})", flush=True)
            continue
        task = offline_task(name, root)
        start = time.perf_counter()
        mteb.evaluate(free_encoder(), [task], cache=None, show_progress_bar=False)
        rows.append({"task": name, "scoring_seconds": time.perf_counter() - start})
        print(f"  scoring {name}: {rows[-1]['scoring_seconds']:.1f} s besides encoding", flush=True)
    return rows


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


def main(argv: list[str] | None = None) -> None:
    from t2t.core.cli import integer

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--preset", default="smol", help="whose stage settings to train with")
    parser.add_argument("--texts", type=integer(minimum=2), default=512)
    parser.add_argument(
        "--long-texts", type=integer(minimum=1), default=200, help="STS sentences and SciFact abstracts each"
    )
    parser.add_argument("--resamples", type=integer(minimum=1), default=10_000, help="item-scoring benchmark")
    parser.add_argument("--batch-size", type=integer(minimum=1), default=32)
    parser.add_argument("--repeats", type=integer(minimum=1), default=2)
    parser.add_argument(
        "--steps", type=integer(minimum=2), default=4, help="steps per stage (the first warms up)"
    )
    parser.add_argument("--kinds", nargs="+", choices=STAGE_KINDS, default=list(STAGE_KINDS))
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    parser.add_argument("--skip-encoding", action="store_true")
    parser.add_argument(
        "--llm2vec-python",
        help="a python with llm2vec 0.2.3 (nox -s benchmark passes llm2vec-parity's): also time LLM2Vec.encode",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one step of each kind (fast path) and print where its time goes",
    )
    parser.add_argument("--train-one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_one or args.profile_one:
        one = train_one if args.train_one else profile_one
        print(json.dumps(one(args.backbone, args.preset, *(args.train_one or args.profile_one), args.steps)))
        return
    from t2t.core.atomic import atomic_write_json
    from t2t.core.hardware import describe_hardware
    from t2t.core.paths import results_root
    from t2t.core.provenance import git_state
    from t2t.models.backbones import load_backbone

    config = load_backbone(args.backbone, dtype=torch.bfloat16)[0].config
    gemm = {"bf16": gemm_rate(config, torch.bfloat16), "fp32": gemm_rate(config, torch.float32)}
    params = Shape.from_config(config).decoder_parameters
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
            encoding.append(
                report_encoding(row, f"[{pooling}]", "sentence-transformers bf16", "st", params, gemm)
            )
        if args.llm2vec_python:
            row = bench_llm2vec_encoding(
                args.backbone, texts, args.batch_size, args.repeats, args.llm2vec_python
            )
            encoding.append(
                report_encoding(
                    row, "[mean, bidirectional]", "llm2vec LLM2Vec.encode bf16", "llm2vec", params, gemm
                )
            )
    long_texts = (
        None
        if args.skip_encoding
        else bench_long_texts(args.backbone, args.long_texts, args.batch_size, args.repeats)
    )
    scoring = [] if args.skip_encoding else bench_scoring()
    item_scoring = bench_item_scores(args.resamples)
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
    profiles = []
    if args.profile:
        profiles = [
            in_child("--profile-one", args.backbone, args.preset, kind, "fast", args.steps)
            for kind in args.kinds
        ]
        for row in profiles:
            if "failed" not in row and row["matmul_flop_per_s"]:
                row["matmul_gemm_fraction"] = row["matmul_flop_per_s"] / gemm["bf16"]
        print_profiles(profiles, gemm["bf16"])
    report = {
        "backbone": args.backbone,
        "preset": args.preset,
        "hardware": describe_hardware(),
        "git": git_state(),
        "gemm_flop_per_s": gemm,
        "non_embedding_parameters": params,
        "encoding": encoding,
        "training": training,
        "profiles": profiles,
        "scoring": scoring,
        "long_texts": long_texts,
        "item_scoring": item_scoring,
    }
    path = results_root() / "benchmarks" / f"benchmark-{args.backbone.replace('/', '_')}.json"
    atomic_write_json(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
