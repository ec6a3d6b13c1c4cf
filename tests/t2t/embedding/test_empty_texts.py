"""Empty texts in pooling and encoding (`t2t.embedding`): one special token, one embedding whatever
the batch, an empty matrix for no texts (fault probes on inputs).

Each test names its probe: the bad input, and the behaviour the suite must show for it.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import PoolingSpec, empty_text_token, pool, tokenize
from t2t.models.backbones import load_backbone

SHORT = "Dogs."
LONG = "A very long sentence about the weather in Paris today, with rain, wind and a little sun."


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama")  # on one thread, as every test (conftest.one_torch_thread)


def _embedder(tiny, mode: str, batch_size: int) -> Embedder:
    model, tokenizer = tiny
    spec = PoolingSpec(mode=mode)
    return Embedder(model, tokenizer, spec, batch_size=batch_size, dtype=torch.float32, progress=False)


# ---- empty texts ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["mean", "last"])
def test_empty_text_has_one_embedding_whatever_its_batch(tiny, mode):
    """Probe: "" alone, in an all-empty batch, next to short and long texts, batch size 1 and 8.
    Expected: one finite, non-zero vector, the same (atol 1e-5) in every case (no crash)."""
    alone = _embedder(tiny, mode, 8).embed([""])[0]
    assert np.isfinite(alone).all() and np.abs(alone).max() > 0
    for batch_size in (1, 8):
        embedder = _embedder(tiny, mode, batch_size)
        all_empty = embedder.embed(["", ""])
        mixed = embedder.embed([SHORT, "", LONG])
        for vector in (all_empty[0], all_empty[1], mixed[1]):
            np.testing.assert_allclose(vector, alone, rtol=0, atol=1e-5)
        assert not np.allclose(mixed[0], alone)


def test_embed_of_no_texts_is_an_empty_matrix(tiny):
    """Probe: `embed([])`. Expected: a (0, dim) float32 array, not an IndexError."""
    embedder = _embedder(tiny, "mean", 8)
    out = embedder.embed([])
    assert out.shape == (0, embedder.dim) and out.dtype == np.float32


def test_empty_text_is_one_special_token(tiny):
    """Probe: tokenise ["", "Dogs."] and ["", ""] for mean pooling (SmolLM2 tokenizer: no BOS added,
    EOS = pad). Expected: the empty row is one token at index 0 with mask 1 (right padding), BOS here
    since EOS doubles as pad; an all-empty batch has width 1."""
    _, tokenizer = tiny
    assert tokenizer.eos_token_id == tokenizer.pad_token_id != tokenizer.bos_token_id
    token = empty_text_token(tokenizer)
    assert token == tokenizer.bos_token_id
    spec = PoolingSpec(mode="mean")
    mixed = tokenize(["", SHORT], tokenizer, spec, 64)
    assert mixed["input_ids"][0, 0] == token
    assert mixed["attention_mask"][0].tolist() == [1] + [0] * (mixed["attention_mask"].shape[1] - 1)
    empty = tokenize(["", ""], tokenizer, spec, 64)
    assert empty["input_ids"].tolist() == [[token]] * 2
    assert empty["attention_mask"].tolist() == [[1], [1]]


def test_empty_text_token_prefers_eos_unless_it_is_the_pad_token():
    """Probe: tokenizers with distinct EOS/pad, EOS = pad, no EOS, only a pad token.
    Expected: EOS; BOS; BOS; pad."""

    def ids(eos, bos, pad):
        return SimpleNamespace(eos_token_id=eos, bos_token_id=bos, pad_token_id=pad)

    assert empty_text_token(ids(eos=2, bos=1, pad=0)) == 2
    assert empty_text_token(ids(eos=2, bos=1, pad=2)) == 1
    assert empty_text_token(ids(eos=None, bos=1, pad=0)) == 1
    assert empty_text_token(ids(eos=2, bos=None, pad=2)) == 2
    assert empty_text_token(ids(eos=None, bos=None, pad=0)) == 0


def test_empty_text_under_left_padding_sits_at_the_last_index(tiny):
    """Probe: a left-padding tokenizer, ["", "Dogs."]. Expected: EOS at the last index, mask 1 there only."""
    _, tokenizer = tiny
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"
    batch = tokenize(["", SHORT], left, PoolingSpec(mode="mean"), 64)
    width = batch["input_ids"].shape[1]
    assert batch["input_ids"][0, -1] == empty_text_token(left)
    assert batch["attention_mask"][0].tolist() == [0] * (width - 1) + [1]


@pytest.mark.parametrize("mode", ["mean", "last"])
def test_non_empty_texts_tokenise_as_before(tiny, mode):
    """Probe: a batch without empty texts. Expected: exactly the tokenizer's own padded output."""
    _, tokenizer = tiny
    spec = PoolingSpec(mode=mode)
    texts = [SHORT, LONG, "x"]
    ours = tokenize(texts, tokenizer, spec, 64)
    formatted = [spec.template.format(text=t) for t in texts] if mode == "last" else texts
    theirs = tokenizer(formatted, padding=True, truncation=True, max_length=64, return_tensors="pt")
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    assert torch.equal(ours["attention_mask"], theirs["attention_mask"])


def test_mean_skip_bos_keeps_a_bos_only_row():
    """Probe: mean pooling with `mean_skip_bos`, a row whose only real token is BOS.
    Expected: the BOS hidden state (its unmasked positions), not a zero vector; other rows skip BOS."""
    hidden = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) + 1
    mask = torch.tensor([[1, 0, 0], [1, 1, 1]])
    ids = torch.tensor([[7, 0, 0], [7, 5, 6]])
    spec = PoolingSpec(mode="mean", mean_skip_bos=True)
    pooled = pool(hidden, mask, spec, bos_token_id=7, input_ids=ids)
    torch.testing.assert_close(pooled[0], hidden[0, 0])
    torch.testing.assert_close(pooled[1], hidden[1, 1:].mean(0))
