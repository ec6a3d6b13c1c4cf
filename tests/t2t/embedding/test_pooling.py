"""Prompting, truncation and pooling math."""

from __future__ import annotations

import pytest
import torch

from t2t.embedding.pooling import PROMPT_EOL, PoolingSpec, format_texts, last_token_index, pool, tokenize
from t2t.models.backbones import load_tokenizer


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
