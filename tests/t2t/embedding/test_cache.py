"""The embedding cache (`t2t.embedding.cache`): cached vectors are the fresh ones, texts are encoded
once, and a cache never answers for another model or setting."""

from __future__ import annotations

import mteb
import numpy as np
import pytest
import torch

from t2t.core.paths import data_root
from t2t.embedding.cache import EmbeddingCache, model_fingerprint
from t2t.embedding.encoder import Embedder, text_encoder
from t2t.embedding.pooling import PoolingSpec
from t2t.evaluation.offline import offline_task
from t2t.models.backbones import load_backbone

TEXTS = ["A man is playing a guitar.", "Hi", "", "The quick brown fox.", "Two dogs run in a field."]
KEY = {"run_id": "abc", "model": "m1", "pooling": "mean"}


def _embedder(cache=None, seed: int = 0):
    torch.manual_seed(seed)
    model, tokenizer = load_backbone("tiny-llama", seed=seed)
    return Embedder(
        model, tokenizer, PoolingSpec(mode="mean"), dtype=torch.float32, progress=False, cache=cache
    )


def test_cached_vectors_equal_fresh_ones_and_each_text_is_encoded_once(tmp_path):
    plain = _embedder().embed(TEXTS + TEXTS[:2])
    cached = _embedder(EmbeddingCache(tmp_path / "c", KEY))
    first = cached.embed(TEXTS[:3])
    assert cached.throughput.texts == 3 and cached.throughput.cached == 0
    both = cached.embed(TEXTS + TEXTS[:2])  # 3 cached, 2 new (each once, though repeated)
    assert cached.throughput.texts == 5 and cached.throughput.cached == 3
    np.testing.assert_array_equal(both, plain)
    np.testing.assert_array_equal(first, plain[:3])

    resumed = _embedder(EmbeddingCache(tmp_path / "c", KEY))  # a new process on the same folder
    again = resumed.embed(list(reversed(TEXTS)))
    assert resumed.throughput.texts == 0 and resumed.throughput.cached == len(TEXTS)
    np.testing.assert_array_equal(again, plain[: len(TEXTS)][::-1])


def test_a_cache_for_another_model_or_setting_is_emptied_not_read(tmp_path):
    cache = EmbeddingCache(tmp_path / "c", KEY)
    cache.add(["x", "y"], np.ones((2, 4)))
    assert len(EmbeddingCache(tmp_path / "c", KEY)) == 2
    other = EmbeddingCache(tmp_path / "c", {**KEY, "model": "m2"})
    assert len(other) == 0 and other.lookup(["x", "y"]) == {}
    assert len(EmbeddingCache(tmp_path / "c", KEY)) == 0  # the old vectors are gone for good


def test_an_unreadable_shard_is_ignored_and_recomputed(tmp_path):
    cache = EmbeddingCache(tmp_path / "c", KEY)
    cache.add(["x"], np.ones((1, 4)))
    cache.add(["y"], np.full((1, 4), 2.0))
    shards = sorted((tmp_path / "c").glob("shard-*.npz"))
    shards[0].write_bytes(shards[0].read_bytes()[:20])
    reopened = EmbeddingCache(tmp_path / "c", KEY)
    assert set(reopened.lookup(["x", "y"])) == {1}


def test_model_fingerprint_changes_with_the_weights():
    model, _ = load_backbone("tiny-llama")
    before = model_fingerprint(model)
    assert model_fingerprint(model) == before
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight[0, 0] += 1.0
    assert model_fingerprint(model) != before


def test_a_broken_embedding_is_never_cached(tmp_path):
    embedder = _embedder(EmbeddingCache(tmp_path / "c", KEY))
    with torch.no_grad():
        for parameter in embedder.model.parameters():
            parameter.fill_(float("nan"))
    with pytest.raises(Exception, match="not finite"):
        embedder.embed(TEXTS)
    assert len(EmbeddingCache(tmp_path / "c", KEY)) == 0


@pytest.mark.needs_data
def test_reevaluating_a_task_from_the_cache_gives_the_same_score(tmp_path):
    task = offline_task("STSBenchmark", data_root(), 200)
    scores, encoded = [], []
    for _ in range(2):
        embedder = _embedder(EmbeddingCache(tmp_path / "c", KEY))
        result = mteb.evaluate(
            text_encoder("t2t-repro/tiny", embedder), [task], cache=None, show_progress_bar=False
        )
        scores.append(result.task_results[0].get_score())
        encoded.append(embedder.throughput.texts)
    assert scores[0] == scores[1]
    assert encoded[0] > 0 and encoded[1] == 0


def test_data_parallel_encoding_gives_the_same_embeddings_in_input_order():
    """Two CPU workers (as two GPUs would be used): same batches, same vectors, input order."""
    texts = [f"Sentence number {i} has {'many ' * (i % 7)}words." for i in range(45)] + TEXTS
    one = Embedder(*load_backbone("tiny-llama"), PoolingSpec(mode="last"), batch_size=4, progress=False)
    two = Embedder(
        *load_backbone("tiny-llama"),
        PoolingSpec(mode="last"),
        batch_size=4,
        progress=False,
        devices=["cpu", "cpu"],
    )
    assert len(two.replicas) == 2 and two.replicas[1] is not two.model
    np.testing.assert_array_equal(two.embed(texts), one.embed(texts))
    assert two.throughput.texts == one.throughput.texts and two.throughput.tokens == one.throughput.tokens
