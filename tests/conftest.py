"""Shared fixtures: an isolated cache root per test that already holds the converted tokenizer.

Converting the SmolLM2 tokenizer from its GGUF file takes seconds; tests that want a fresh
`T2T_CACHE_DIR` (for adapters, targets, checkpoints) get a copy of a once-per-session conversion.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    """Tests marked `needs_data` read the offline task data or corpora. Without a data root (a user's
    clone, offline) they are skipped with a reason that names the fix; `T2T_REQUIRE_DATA=1` (CI)
    runs them anyway, so a missing data root fails loudly there instead of passing by skipping."""
    from t2t.core.paths import data_root

    if data_root() is not None or os.environ.get("T2T_REQUIRE_DATA") == "1":
        return
    skip = pytest.mark.skip(
        reason="no offline data root: set T2T_DATA_DIR to the offline assets folder (tasks and corpora)"
    )
    for item in items:
        if "needs_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Tests run torch on one thread: tiny models run fastest so, and it keeps a test's speed from
    depending on which test ran before it. Tests of real-size models ask for `all_cores`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def all_cores():
    """torch on every core of the machine for this test (real-size models: MiniLM parity, paper shapes)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tokenizer_cache(tmp_path_factory) -> Path:
    """The tiny presets' tokenizer, converted once per session into a cache root of its own."""
    from t2t.models.backbones import smollm2_tokenizer_dir

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


@pytest.fixture
def train_twice(tmp_path, make_cache):
    """`train_twice(spec, port)`: train `spec` with 2 CPU processes (torchrun, gloo) and with one.

    Returns `(ddp_adapter, single_adapter, rank_digests)`: the two saved adapters as tensor dicts and
    each rank's digest of its merged weights. torchrun is what `accelerate launch` uses on GPUs.
    """
    from safetensors.torch import load_file

    def run(spec, port: int):
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(spec.to_dict()))
        command = ["-m", "reproduce.run.train", "--spec", str(path), "--precision", "fp32", "--no-progress"]
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(port),
        ]
        adapters, digests = [], {}
        for name, prefix in (("ddp", launcher), ("single", [sys.executable])):
            env = {**os.environ, "T2T_CACHE_DIR": str(make_cache(name)), "OMP_NUM_THREADS": "1"}
            out = subprocess.run(prefix + command, env=env, capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, out.stderr[-3000:]
            if name == "ddp":  # both ranks print to one pipe: their lines can run together ("}{")
                reports = [json.loads(found) for found in re.findall(r'\{"rank": \d+, [^{}]*\}', out.stdout)]
                digests = {report["rank"]: report["weights_sha256"] for report in reports}
            folder = tmp_path / name / "models" / spec.stage_key(len(spec.stages) - 1) / "adapter"
            adapters.append(load_file(folder / "adapter_model.safetensors"))
        return adapters[0], adapters[1], digests

    return run
