"""Backbones that cannot be loaded (`t2t.models.backbones`, `t2t.core.hub`): Hub ids offline or
unreachable, folders without weights, paths that do not exist; each message names the fix (fault
probes on inputs).

Each test names its probe: the bad input, and the behaviour the suite must show for it.
"""

from __future__ import annotations

import socket

import pytest

from t2t.core import hub
from t2t.core.config import ConfigError
from t2t.models import backbones
from t2t.models.backbones import BackboneUnavailable, load_backbone, resolve_backbone

NON_PRESET = "Qwen/Qwen2.5-0.5B-Instruct"


# ---- Hub ids that cannot be fetched --------------------------------------------------------------


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
    for preset in backbones.BACKBONES.values():
        name = backbones.weights_env_var(preset)
        assert name.startswith("T2T_WEIGHTS_") and name.replace("_", "").isalnum() and name.isupper()
    assert backbones.weights_env_var(resolve_backbone(NON_PRESET)) is None


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


# ---- folders without weights ---------------------------------------------------------------------


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


# ---- paths that do not exist ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nonexistent", "./x", "../x", "~/x-t2t-missing", "a/b/c"])
def test_missing_path_is_no_such_folder(path, tmp_path, monkeypatch):
    """Probe: `--backbone <path that does not exist>`. Expected: ConfigError "no such folder: <path>"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no such folder: ") as error:
        resolve_backbone(path)
    assert path in str(error.value) and "unknown backbone" not in str(error.value)


def test_hub_id_is_not_checked_for_existence():
    """Probe: `org/name` that is no folder here. Expected: a generic Hub backbone, no error."""
    preset = resolve_backbone(NON_PRESET)
    assert preset.source == "hub" and preset.hf_id == NON_PRESET
