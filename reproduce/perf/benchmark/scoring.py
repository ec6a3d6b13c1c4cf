"""Scoring besides encoding: the seconds mteb spends on a task when encoding is free, and the seconds
of `t2t.evaluation.item_scores`' resamples per task type (items 5 and 8 of the package docstring)."""

from __future__ import annotations

import time

import numpy as np


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
