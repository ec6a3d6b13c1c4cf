"""Shared fixtures: an isolated cache root per test that already holds the converted tokenizer.

Converting the SmolLM2 tokenizer from its GGUF file takes seconds; tests that want a fresh
`T2T_CACHE_DIR` (for adapters, targets, checkpoints) get a copy of a once-per-session conversion.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tokenizer_cache(tmp_path_factory) -> Path:
    """The tiny presets' tokenizer, converted once per session into a cache root of its own."""
    from t2t.backbones import smollm2_tokenizer_dir

    root = tmp_path_factory.mktemp("t2t-tokenizer-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("T2T_CACHE_DIR", str(root))
        smollm2_tokenizer_dir()
    return root / "tokenizers"


@pytest.fixture
def make_cache(tmp_path, monkeypatch, tokenizer_cache) -> Callable[[str], Path]:
    """`make_cache("name")`: point `T2T_CACHE_DIR` at a fresh root (with the tokenizer) and return it."""

    def make(name: str = "cache") -> Path:
        root = tmp_path / name
        if not (root / "tokenizers").exists():
            shutil.copytree(tokenizer_cache, root / "tokenizers")
        monkeypatch.setenv("T2T_CACHE_DIR", str(root))
        return root

    return make


@pytest.fixture
def cache(make_cache) -> Path:
    """A fresh cache root for this test (adapters, targets, checkpoints, packed blocks)."""
    return make_cache("cache")
