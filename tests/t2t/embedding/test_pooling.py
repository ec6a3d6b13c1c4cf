"""Prompting, truncation and pooling math, and the contract every registered pooling mode keeps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2t.core.plugins import load_plugins
from t2t.embedding.encoder import Embedder, EmbeddingSizeMismatch
from t2t.embedding.pooling import (
    POOLING_MODES,
    PROMPT_EOL,
    PoolingMode,
    PoolingSpec,
    embed_last_or_mean,
    format_texts,
    last_token_index,
    pool,
    pooling_mode,
    tokenize,
    tokenize_prompt_or_text,
)
from t2t.evaluation.token_count import count_tokens
from t2t.models.backbones import load_backbone, load_tokenizer
from t2t.runs.export import NotExportable, export_encoder


def registered_modes() -> list[str]:
    """Every pooling mode a process of the suite knows (t2t's own and the plugins'), by name."""
    load_plugins()
    return sorted(POOLING_MODES)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny-llama")


def test_last_token_index_left_and_right_padding():
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    left = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 1]])
    assert last_token_index(right).tolist() == [2, 3, 0]
    assert last_token_index(left).tolist() == [3, 3, 3]


def test_mean_pool_ignores_pads_and_optional_bos():
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    pooled = pool(hidden, mask, PoolingSpec(mode="mean"))
    torch.testing.assert_close(pooled[0], hidden[0, :2].mean(0))
    torch.testing.assert_close(pooled[1], hidden[1].mean(0))
    ids = torch.tensor([[7, 5, 0], [7, 5, 6]])
    skip = pool(hidden, mask, PoolingSpec(mode="mean", mean_skip_bos=True), bos_token_id=7, input_ids=ids)
    torch.testing.assert_close(skip[0], hidden[0, 1])
    torch.testing.assert_close(skip[1], hidden[1, 1:].mean(0))


def test_last_pool_takes_final_real_position():
    hidden = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = pool(hidden, mask, PoolingSpec(mode="last"))
    torch.testing.assert_close(pooled, torch.stack([hidden[0, 1], hidden[1, 3]]))


def test_prompt_eol_wraps_text_and_keeps_template_under_truncation(tokenizer):
    spec = PoolingSpec(mode="last")
    assert format_texts(["A cat."], tokenizer, spec, 64) == ['This sentence : "A cat." means in one word:"']
    long_text = " ".join(["word"] * 500)
    batch = tokenize([long_text, "short"], tokenizer, spec, max_length=48)
    assert batch["input_ids"].shape[1] <= 48
    first = tokenizer.decode(batch["input_ids"][0][batch["attention_mask"][0].bool()])
    assert first.startswith('This sentence : "word word') and first.endswith('" means in one word:"')
    assert PROMPT_EOL.endswith('means in one word:"')


def test_mean_pooling_has_no_prompt(tokenizer):
    batch = tokenize(["A cat."], tokenizer, PoolingSpec(mode="mean"), 64)
    assert tokenizer.decode(batch["input_ids"][0]) == "A cat."


def test_template_must_have_one_slot():
    with pytest.raises(ValueError, match="exactly once"):
        PoolingSpec(mode="last", template="no slot")


CONTRACT_TEXTS = ["A man plays a guitar.", "Dogs.", "", " ".join(["word"] * 300), "Dogs."]


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama")


@pytest.mark.parametrize("name", registered_modes())
def test_every_registered_pooling_mode_keeps_the_encoder_contract(tiny, name, tmp_path):
    """What every `PoolingMode` promises, for each registered one (a new mode is checked by being
    registered): rows within `max_length`, one real token at least per text ("" included), token
    counts equal to what the encoder feeds the model; embeddings of the stated `embedding_size`, in
    input order, the same alone as in a batch and under token-budget batching, equal for equal
    texts; and an export that either works or is refused with the mode's stated reason."""
    model, tokenizer = tiny
    mode, spec, max_length = pooling_mode(name), PoolingSpec(mode=name), 64
    batch = tokenize(CONTRACT_TEXTS, tokenizer, spec, max_length)
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["input_ids"].shape[1] <= max_length and (batch["attention_mask"].sum(1) >= 1).all()
    per_text = [
        int(tokenize([t], tokenizer, spec, max_length)["attention_mask"].sum()) for t in CONTRACT_TEXTS
    ]
    assert count_tokens(CONTRACT_TEXTS, tokenizer, spec, max_length) == sum(per_text)

    def embedder(**batching):
        return Embedder(
            model, tokenizer, spec, max_length=max_length, dtype=torch.float32, progress=False, **batching
        )

    together = embedder(batch_size=2).embed(CONTRACT_TEXTS)
    assert together.shape == (len(CONTRACT_TEXTS), mode.embedding_size(model.config))
    alone = np.stack([embedder(batch_size=2).embed([text])[0] for text in CONTRACT_TEXTS])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-5)
    by_tokens = embedder(batch_size=64, batch_tokens=200).embed(CONTRACT_TEXTS)
    np.testing.assert_allclose(by_tokens, together, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(together[1], together[4])
    assert not np.allclose(together[0], together[1])
    if mode.not_exportable is not None:
        with pytest.raises(NotExportable, match=name):
            export_encoder(model, tokenizer, spec, tmp_path / "out")
        assert not (tmp_path / "out").exists()


def test_a_mode_returning_another_size_than_it_states_is_named(tiny, monkeypatch):
    """A mode whose `embed` returns another width than its `embedding_size` fails with an error that
    names the mode and both sizes (not a numpy broadcast error)."""
    model, tokenizer = tiny
    mean = PoolingSpec(mode="mean")

    def half(model, batch, spec, bos_token_id=None):  # states the hidden size, returns half of it
        return embed_last_or_mean(model, batch, mean, bos_token_id)[:, :32]

    def as_mean(texts, tokenizer, spec, max_length):
        return tokenize_prompt_or_text(texts, tokenizer, mean, max_length)

    monkeypatch.setitem(POOLING_MODES, "half", PoolingMode("half", as_mean, half))
    embedder = Embedder(model, tokenizer, PoolingSpec(mode="half"), dtype=torch.float32, progress=False)
    with pytest.raises(
        EmbeddingSizeMismatch, match=r"'half' returned embeddings of shape \(2, 32\).* size of 64"
    ):
        embedder.embed(["A cat.", "A dog."])
