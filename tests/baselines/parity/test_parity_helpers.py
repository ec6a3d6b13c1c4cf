"""Pure helpers of the llm2vec parity check (`baselines.parity`); the check itself is `nox -s llm2vec-parity`."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoTokenizer

from baselines.masking import IGNORE_INDEX, mask_token_id
from baselines.parity.legacy import (
    legacy_model_config,
    legacy_tokenizer_config,
    legacy_tokenizer_json,
    rewrite_for_transformers_4,
)
from baselines.parity.ours import SIMCSE_TEXTS, TEXTS, with_bos
from baselines.parity.quantities import (
    MNTP_SHAPE,
    SIMCSE_GRADIENT_WEIGHTS,
    hidden_state_batches,
    mntp_batch,
    simcse_loss_and_gradients,
)
from baselines.recipes import MEAN
from baselines.simcse import info_nce
from t2t.embedding.pooling import embed_batch, tokenize
from t2t.models.backbones import load_backbone, load_tokenizer, tiny_config


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("tiny-llama")


def test_legacy_model_config_moves_rope_dtype_and_sets_the_name():
    config = {
        "model_type": "llama",
        "hidden_size": 64,
        "dtype": "float32",
        "is_causal": False,
        "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"},
    }
    legacy = legacy_model_config(config, "t2t-parity/llama")
    assert legacy == {
        "model_type": "llama",
        "hidden_size": 64,
        "torch_dtype": "float32",
        "rope_theta": 500000.0,
        "_name_or_path": "t2t-parity/llama",
    }
    assert "dtype" in config  # the input is not mutated


def test_legacy_model_config_keeps_rope_scaling_and_rejects_causal_models():
    scaled = {"rope_parameters": {"rope_theta": 5e5, "rope_type": "llama3", "factor": 8.0}}
    assert legacy_model_config(scaled, "x")["rope_scaling"] == {"rope_type": "llama3", "factor": 8.0}
    with pytest.raises(ValueError, match="bidirectional"):
        legacy_model_config({"is_causal": True}, "x")


def test_legacy_tokenizer_config_uses_the_generic_fast_class_without_token_type_ids():
    config = {
        "backend": "tokenizers",
        "is_local": True,
        "tokenizer_class": "TokenizersBackend",
        "bos_token": "<s>",
    }
    assert legacy_tokenizer_config(config) == {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "model_input_names": ["input_ids", "attention_mask"],
    }


def test_legacy_tokenizer_json_writes_merges_as_strings():
    pairs = {"model": {"type": "BPE", "merges": [["Ġ", "t"], ["i", "n"]], "vocab": {}}, "version": "1.0"}
    assert legacy_tokenizer_json(pairs)["model"]["merges"] == ["Ġ t", "i n"]
    strings = {"model": {"type": "BPE", "merges": ["Ġ t"]}}
    assert legacy_tokenizer_json(strings) is strings
    with pytest.raises(ValueError, match="space"):
        legacy_tokenizer_json({"model": {"type": "BPE", "merges": [["a b", "c"]]}})


def test_rewritten_folder_reads_the_same_in_transformers_5(tokenizer, tmp_path):
    """The 4.x-compatible files lose nothing for 5.x either: same RoPE θ, same ids, BOS template kept."""
    bos_tokenizer = with_bos(tokenizer)
    config = tiny_config("tiny-llama", tokenizer)
    config.is_causal = False
    config.save_pretrained(tmp_path)
    bos_tokenizer.save_pretrained(tmp_path)
    rewrite_for_transformers_4(tmp_path, "t2t-parity/test")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert "rope_parameters" not in saved and saved["_name_or_path"] == "t2t-parity/test"
    reloaded = AutoConfig.from_pretrained(tmp_path)
    assert reloaded.rope_parameters["rope_theta"] == config.rope_parameters["rope_theta"]
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(list(TEXTS)).input_ids == bos_tokenizer(list(TEXTS)).input_ids
    assert again("x").input_ids[0] == tokenizer.bos_token_id


def test_with_bos_prepends_bos_to_a_copy(tokenizer):
    bos_tokenizer = with_bos(tokenizer)
    plain = tokenizer("A man.").input_ids
    assert bos_tokenizer("A man.").input_ids == [tokenizer.bos_token_id, *plain]
    assert tokenizer("A man.").input_ids == plain  # the shared tokenizer is untouched


def test_hidden_state_batches_pad_on_both_sides(tokenizer):
    batches = hidden_state_batches(tokenizer, TEXTS)
    assert bool(batches["single"]["attention_mask"].all())
    right, left = batches["right-padded"]["attention_mask"], batches["left-padded"]["attention_mask"]
    assert not bool(right.all()) and torch.equal(right.sum(1), left.sum(1))
    assert bool(right[:, 0].all()) and bool(left[:, -1].all())
    assert tokenizer.padding_side == "right"


@pytest.mark.parametrize("architecture", ["llama", "mistral"])
def test_mntp_batch_is_deterministic_and_masks_per_backbone(tokenizer, architecture):
    inputs, labels = mntp_batch(tokenizer, architecture, TEXTS)
    again_inputs, again_labels = mntp_batch(tokenizer, architecture, TEXTS)
    assert inputs.shape == labels.shape == MNTP_SHAPE
    assert torch.equal(inputs, again_inputs) and torch.equal(labels, again_labels)
    selected = labels != IGNORE_INDEX
    assert bool(selected[:, 1:].any())
    if architecture == "mistral":  # all-mask: every selected token becomes the mask token
        assert bool((inputs[selected] == mask_token_id(tokenizer)).all())


def test_simcse_parity_step_is_seeded_uses_dropout_and_restores_the_model():
    """The SimCSE parity step must be reproducible (the reference replays its dropout masks from the
    seed), must really drop out (else it would compare two equal views), and must leave the model
    as it found it (eval mode, no dropout) for nothing else to be affected."""
    model, tokenizer = load_backbone("tiny-llama", attention="bidirectional")
    lengths = {len(ids) for ids in tokenizer(list(SIMCSE_TEXTS)).input_ids}
    assert len(lengths) == 1, "the SimCSE parity texts need equal token counts (no padding)"
    first = simcse_loss_and_gradients(model, tokenizer, SIMCSE_TEXTS)
    second = simcse_loss_and_gradients(model, tokenizer, SIMCSE_TEXTS)
    assert torch.equal(first["loss"], second["loss"])
    assert set(first["grads"]) == set(SIMCSE_GRADIENT_WEIGHTS)
    for name in SIMCSE_GRADIENT_WEIGHTS:
        assert torch.equal(first["grads"][name], second["grads"][name])
        assert first["grads"][name].abs().max() > 1e-4, "near-duplicate texts give a real gradient"
    assert not model.training and model.config.attention_dropout == 0.0
    with torch.no_grad():
        batch = tokenize(list(SIMCSE_TEXTS), tokenizer, MEAN, 512)
        view = embed_batch(model, batch, MEAN, tokenizer.bos_token_id)
        no_dropout = info_nce(view, view, 0.05)
    assert abs(float(no_dropout) - float(first["loss"])) > 1e-3
