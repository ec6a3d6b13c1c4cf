"""Fault probes on inputs: empty texts in pooling, and the messages of backbone and training failures.

Each test names its probe: the bad input, and the behaviour the suite must show for it.
"""

from __future__ import annotations

import copy
import json
import socket
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from t2t.core import hub
from t2t.core.config import ConfigError
from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import PoolingSpec, empty_text_token, pool, tokenize
from t2t.models import backbones
from t2t.models.backbones import BackboneUnavailable, load_backbone, resolve_preset
from t2t.training.loop import LoopSettings, NonFiniteLoss, train
from t2t.training.objective import Objective

SHORT = "Dogs."
LONG = "A very long sentence about the weather in Paris today, with rain, wind and a little sun."
NON_PRESET = "Qwen/Qwen2.5-0.5B-Instruct"


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama")  # on one thread, as every test (conftest.one_torch_thread)


def _embedder(tiny, mode: str, batch_size: int) -> Embedder:
    model, tokenizer = tiny
    spec = PoolingSpec(mode=mode)
    return Embedder(model, tokenizer, spec, batch_size=batch_size, dtype=torch.float32, progress=False)


# ---- item 5: empty texts ----------------------------------------------------------------------


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


# ---- item 7a: NonFiniteLoss names the real checkpoint ----------------------------------------


class NaNAtStep(Objective):
    """A fake objective: a finite quadratic loss of a tiny model's weights, NaN from call `nan_from`."""

    def __init__(self, nan_from: int) -> None:
        super().__init__(options=None, context=None)
        self.nan_from = nan_from
        self.calls = 0

    def loss(self, model, items, indices):
        self.calls += 1
        loss = (model.weight**2).sum()
        return (loss * float("nan") if self.calls >= self.nan_from else loss), len(indices)


def _train_until_nan(tmp_path, nan_from: int, checkpoint_every: int) -> str:
    from accelerate import Accelerator

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1, bias=False)
    settings = LoopSettings(
        steps=6, batch_size=1, learning_rate=1e-2, checkpoint_every=checkpoint_every, progress=False
    )
    with pytest.raises(NonFiniteLoss) as error:
        train(
            model,
            NaNAtStep(nan_from),
            ["a", "b"],
            settings,
            checkpoint_dir=tmp_path / "checkpoint",
            accelerator=Accelerator(cpu=True, mixed_precision="no"),
        )
    return str(error.value)


def test_non_finite_loss_at_the_first_step_says_no_checkpoint_exists(tmp_path):
    """Probe: the loss is NaN at step 1 (no checkpoint written yet).
    Expected: the message says no checkpoint exists and the stage restarts from step 0."""
    message = _train_until_nan(tmp_path, nan_from=1, checkpoint_every=2)
    assert not (tmp_path / "checkpoint").exists()
    assert "step 1" in message and "No checkpoint exists yet" in message and "step 0" in message
    assert "is kept in" not in message


def test_non_finite_loss_names_the_checkpoint_on_disk(tmp_path):
    """Probe: NaN at step 4 with checkpoints every 2 steps (the last logged step is 3).
    Expected: the message names the checkpoint folder and its stored step, 2."""
    message = _train_until_nan(tmp_path, nan_from=4, checkpoint_every=2)
    folder = tmp_path / "checkpoint"
    assert json.loads((folder / "state.json").read_text())["step"] == 2
    assert "last good checkpoint (step 2)" in message and str(folder) in message


# ---- item 7b, 7e: Hub ids that cannot be fetched -----------------------------------------------


@pytest.fixture
def empty_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, and no T2T_WEIGHTS_ overrides."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path


def test_offline_non_preset_id_suggests_a_folder_not_an_invalid_env_var(empty_hf_cache, monkeypatch):
    """Probe: HF_HUB_OFFLINE=1, empty cache, `Qwen/Qwen2.5-0.5B-Instruct`.
    Expected: BackboneUnavailable suggesting `--backbone` and `hf download`, no T2T_WEIGHTS_ name with '/'."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneUnavailable) as error:
        load_backbone(NON_PRESET)
    message = str(error.value)
    assert "--backbone" in message and f"hf download {NON_PRESET}" in message
    assert "T2T_WEIGHTS_" not in message


def test_preset_env_var_names_are_valid_shell_names():
    """Probe: the override variable of every preset. Expected: T2T_WEIGHTS_ + [A-Z0-9_] only;
    none for a Hub id that is not a preset."""
    for preset in backbones.BACKBONE_PRESETS.values():
        name = backbones.weights_env_var(preset)
        assert name.startswith("T2T_WEIGHTS_") and name.replace("_", "").isalnum() and name.isupper()
    assert backbones.weights_env_var(resolve_preset(NON_PRESET)) is None


def test_unreachable_hub_fails_at_once_with_the_fix(empty_hf_cache, monkeypatch):
    """Probe: HF_HUB_OFFLINE unset, the Hub unreachable, empty cache, a Hub id.
    Expected: an immediate BackboneUnavailable saying the Hub cannot be reached, with the fix."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(backbones, "hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(BackboneUnavailable, match="cannot be reached") as error:
        load_backbone(NON_PRESET)
    assert "--backbone" in str(error.value) and "HF_HUB_OFFLINE=1" in str(error.value)


def test_hub_reachable_is_false_offline_without_network(monkeypatch):
    """Probe: HF_HUB_OFFLINE=1. Expected: `hub_reachable()` is False and opens no connection."""

    def no_network(*args, **kwargs):
        raise AssertionError("hub_reachable touched the network while offline")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(hub, "_head_ok", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_reachable() is False


def test_hub_reachable_probes_once_and_caches(monkeypatch):
    """Probe: HF_HUB_OFFLINE unset, a refused connection. Expected: False, and one probe per process."""
    calls = []

    def refused(address, timeout=None):
        calls.append(address)
        raise ConnectionRefusedError("refused")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "create_connection", refused)
    monkeypatch.setattr(hub, "_uses_proxy", lambda scheme, host: False)
    monkeypatch.setattr(hub, "hub_endpoint", lambda: "https://hub.invalid")
    hub._probe.cache_clear()
    try:
        assert hub.hub_reachable() is False and hub.hub_reachable() is False
    finally:
        hub._probe.cache_clear()
    assert calls == [("hub.invalid", 443)]


# ---- item 7c: folders without weights ----------------------------------------------------------


def test_empty_folder_names_what_is_missing(tmp_path):
    """Probe: `--backbone <empty folder>`. Expected: BackboneUnavailable naming the folder, config.json
    and the weight files (not a message about sentencepiece)."""
    with pytest.raises(BackboneUnavailable) as error:
        load_backbone(str(tmp_path))
    message = str(error.value)
    assert str(tmp_path) in message and "config.json" in message and "safetensors" in message
    assert "sentencepiece" not in message


def test_folder_with_only_a_config_names_the_missing_weights(tmp_path):
    """Probe: a folder holding only config.json. Expected: BackboneUnavailable about the weight files."""
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BackboneUnavailable, match="no weight files") as error:
        load_backbone(str(tmp_path))
    assert str(tmp_path) in str(error.value) and "no config.json" not in str(error.value)


# ---- item 7d: paths that do not exist ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/nonexistent", "./x", "../x", "~/x-t2t-missing", "a/b/c"])
def test_missing_path_is_no_such_folder(path, tmp_path, monkeypatch):
    """Probe: `--backbone <path that does not exist>`. Expected: ConfigError "no such folder: <path>"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no such folder: ") as error:
        resolve_preset(path)
    assert path in str(error.value) and "unknown backbone" not in str(error.value)


def test_hub_id_is_not_checked_for_existence():
    """Probe: `org/name` that is no folder here. Expected: a generic Hub backbone, no error."""
    preset = resolve_preset(NON_PRESET)
    assert preset.source == "hub" and preset.hf_id == NON_PRESET
