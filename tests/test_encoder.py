"""The shared encoder: order, de-duplication, batching invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2t.backbones import load_backbone
from t2t.encoder import Embedder, text_encoder
from t2t.pooling import PoolingSpec

TEXTS = ["A man plays a guitar.", "Dogs.", "A very long sentence about the weather in Paris today.", "Dogs."]


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama")


@pytest.mark.parametrize("mode", ["last", "mean"])
def test_embeddings_keep_input_order_and_match_one_by_one(tiny, mode):
    model, tokenizer = tiny
    embedder = Embedder(
        model, tokenizer, PoolingSpec(mode=mode), batch_size=2, dtype=torch.float32, progress=False
    )
    together = embedder.embed(TEXTS)
    alone = np.stack([embedder.embed([t])[0] for t in TEXTS])
    assert together.shape == (4, model.config.hidden_size) and together.dtype == np.float32
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(together[1], together[3])
    assert not np.allclose(together[0], together[1])


def test_duplicates_are_encoded_once(tiny):
    model, tokenizer = tiny
    embedder = Embedder(model, tokenizer, PoolingSpec(mode="mean"), dtype=torch.float32, progress=False)
    embedder.embed(TEXTS)
    assert embedder.throughput.texts == 3
    assert embedder.throughput.tokens > 0 and embedder.throughput.tokens_per_second > 0


def test_text_encoder_meta_and_encode(tiny):
    model, tokenizer = tiny
    embedder = Embedder(model, tokenizer, PoolingSpec(mode="last"), dtype=torch.float32, progress=False)
    encoder = text_encoder("t2t-repro/test", embedder)
    assert encoder.mteb_model_meta.embed_dim == model.config.hidden_size
    assert encoder.mteb_model_meta.use_instructions is False
    batches = [{"text": TEXTS[:2]}, {"text": TEXTS[2:]}]
    out = encoder.encode(batches, task_metadata=None, hf_split="test", hf_subset="default")
    np.testing.assert_allclose(out, embedder.embed(TEXTS), rtol=1e-5)
