"""The shared encoder: batching, de-duplication, its mteb wrapper. Order and batch invariance for
every pooling mode: `tests/t2t/embedding/test_pooling.py::test_every_registered_pooling_mode_keeps_the_encoder_contract`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2t.embedding.encoder import (
    LONG_ROW_TOKENS,
    Embedder,
    length_batches,
    text_encoder,
    token_budget_batches,
)
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbones import load_backbone

TEXTS = ["A man plays a guitar.", "Dogs.", "A very long sentence about the weather in Paris today.", "Dogs."]


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama")


def test_token_budget_batches_respect_the_budget_and_cap():
    rows = [50, 30, 30, 10, 10, 10, 10, 4, 4]  # row lengths, longest first
    order = list(range(100, 109))
    batches = token_budget_batches(order, rows, budget=60, cap=4)
    assert [b.tolist() for b in batches] == [[100], [101, 102], [103, 104, 105, 106], [107, 108]]
    assert all(len(b) * rows[order.index(b[0])] <= 60 for b in batches)
    assert [b.tolist() for b in token_budget_batches(order[:1], [500], budget=60, cap=4)] == [[100]]


def test_length_batches_cut_only_long_texts():
    short = [LONG_ROW_TOKENS, 100, 90, 50, 40, 30, 20, 10, 5]  # rows, longest first: never cut
    order = list(range(len(short)))
    fixed = [order[i : i + 4] for i in range(0, len(order), 4)]
    assert [b.tolist() for b in length_batches(order, short, size=4, long_tokens=300)] == fixed
    rows = [512, 400, 300, 300, 200, 150, 129, 128, 60, 50, 40, 30, 20]
    order = list(range(len(rows)))
    batches = [b.tolist() for b in length_batches(order, rows, size=4, long_tokens=600)]
    assert batches == [[0], [1], [2, 3], [4, 5, 6], [7, 8, 9, 10], [11, 12]]
    assert all(len(b) * rows[b[0]] <= 600 for b in batches if rows[b[0]] > LONG_ROW_TOKENS and len(b) > 1)


def test_long_text_batches_give_the_same_embeddings(tiny):
    model, tokenizer = tiny
    texts = [f"Document {i}: " + "a long abstract about cells " * (10 + 7 * (i % 9)) for i in range(24)]
    texts += [f"Sentence {i} is short." for i in range(16)]
    plain = Embedder(
        model, tokenizer, PoolingSpec(mode="last"), batch_size=8, dtype=torch.float32, progress=False
    )
    cut = Embedder(
        model,
        tokenizer,
        PoolingSpec(mode="last"),
        batch_size=8,
        long_batch_tokens=400,
        dtype=torch.float32,
        progress=False,
    )
    np.testing.assert_allclose(cut.embed(texts), plain.embed(texts), rtol=1e-4, atol=1e-5)
    assert cut.throughput.tokens == plain.throughput.tokens > 24 * LONG_ROW_TOKENS


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
