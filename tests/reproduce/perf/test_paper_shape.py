"""The full-width check (`reproduce.perf.paper_shape`) and the `shape` backbones it runs on."""

from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch

from reproduce.perf import paper_shape
from reproduce.plan.gpu_hours import SHAPES, Shape
from t2t.core.config import ConfigError
from t2t.models.backbones import load_backbone, load_tokenizer, resolve_backbone, set_attention


def test_shape_names_resolve_to_paper_configs_with_their_layers():
    preset = resolve_backbone("llama3-8b-shape-4l")
    assert (preset.source, preset.hf_id, preset.layers, preset.architecture) == (
        "shape",
        "llama3-8b",
        4,
        "llama",
    )
    assert resolve_backbone("mistral-7b-shape").layers == 2
    with pytest.raises(ConfigError, match="no paper shape"):
        resolve_backbone("gpt-9-shape")
    with pytest.raises(ConfigError, match="at least 1 layer"):
        resolve_backbone("llama3-8b-shape-0l")


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["llama3-8b", "mistral-7b"])
def test_resized_tokenizer_has_the_paper_vocabulary_and_round_trips(make_cache, paper):
    make_cache()
    tokenizer = load_tokenizer(f"{paper}-shape")
    vocab = SHAPES[paper].vocab
    assert len(tokenizer) == vocab
    text = "Paper-scale shapes break things that 135M models do not: 128,256 tokens!"
    ids = tokenizer(text).input_ids
    assert max(ids) < vocab
    assert tokenizer.decode(ids, skip_special_tokens=True) == text
    if vocab < 49152:  # cut: fewer merges, so at least as many tokens as the full BPE
        assert len(ids) >= len(load_tokenizer("tiny-llama")(text).input_ids)


@pytest.mark.slow
def test_shape_backbone_is_full_width_with_few_layers(make_cache):
    make_cache()
    model, tokenizer = load_backbone("mistral-7b-shape-1l", dtype=torch.bfloat16)
    shape = Shape.from_config(model.config)
    assert shape == dataclasses.replace(SHAPES["mistral-7b"], layers=1)
    assert model.lm_head.weight.shape == (32000, 4096)
    assert model.model.layers[0].self_attn.k_proj.weight.shape == (8 * 128, 4096)  # GQA: 8 KV heads
    assert model.config.sliding_window is None
    assert model.config.rope_parameters["rope_theta"] == 1e6


@pytest.fixture
def reuse_one_model(monkeypatch):
    """Every load of a shape backbone in this test returns a copy of one model (random init of a
    full-width model takes tens of seconds; the check's own processes load once each)."""
    from t2t.training import pipeline

    loaded = {}

    def load(backbone, *, attention="causal", dtype=torch.float32, device="cpu", seed=0, **_):
        if backbone not in loaded:
            loaded[backbone] = load_backbone(backbone, dtype=torch.bfloat16)
        model, tokenizer = loaded[backbone]
        model = copy.deepcopy(model).to(dtype)
        set_attention(model, attention)
        return model, tokenizer

    monkeypatch.setattr(pipeline, "load_backbone", load)
    monkeypatch.setattr("t2t.models.backbones.load_backbone", load)
    return loaded


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.usefixtures("all_cores")
@pytest.mark.parametrize(
    ("paper", "kinds"),
    [
        ("mistral-7b", ("data-driven", "model-derived", "mntp", "simcse")),
        ("llama3-8b", ("model-derived", "mntp")),
    ],
)
def test_one_step_of_each_objective_at_full_width(make_cache, reuse_one_model, paper, kinds):
    """One real optimiser step per objective on a 1-layer model of the paper's width and vocabulary
    (small batches, to stay fast): finite loss, every row filled to the length, peak memory
    above the weights. Llama-3's 128,256-token head puts model-derived target ids above 65,535."""
    make_cache()
    backbone = paper_shape.shape_backbone(paper, 1)
    for kind in kinds:
        row = paper_shape.train_step(
            backbone, kind, "cpu", "off", common_samples=4, batch_size=2, max_length=24
        )
        assert math.isfinite(row["loss"]), (kind, row)
        full = 2 * 24 * row["passes"]  # passages fill every row (PromptEOL's truncated text
        assert 0.85 * full <= row["tokens"] <= full, (kind, row)  # re-tokenizes a few tokens shorter)
        assert row["passes"] == (2 if kind == "simcse" else 1)
        assert not row["checkpointed"]
    encoded = paper_shape.encode_batch(backbone, "cpu", batch_size=2, max_length=48)
    assert 0.85 * 2 * 48 <= encoded["tokens"] <= 2 * 48


def test_extrapolation_recovers_a_linear_cost():
    rows = [
        {
            "backbone": "b",
            "what": "mntp",
            "checkpointed": False,
            "layers": n,
            "seconds": 3 + 2 * n,
            "peak_memory_gb": 10 + 0.5 * n,
        }
        for n in (1, 2, 4)
    ]
    rows.append({"failed": "exit 137: killed", "backbone": "b", "what": "simcse", "layers": 2})
    (estimate,) = paper_shape.extrapolate(rows, layers=32)
    assert estimate["seconds"] == pytest.approx(3 + 64)
    assert estimate["peak_memory_gb"] == pytest.approx(26)
    assert estimate["seconds_per_layer"] == pytest.approx(2)
    assert paper_shape.extrapolate(rows[:1]) == []  # one layer count: nothing to fit


def test_the_check_saves_every_row_and_resumes_without_remeasuring(tmp_path, monkeypatch):
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    calls = []

    def fake_child(args):
        paper, layers, what = args[0], int(args[1]), args[2]
        calls.append((paper, layers, what))
        if what == "mntp":
            return {"failed": "exit 137: killed (out of memory?)"}
        return {"what": what, "batch_size": 2, "max_length": 8, "passes": 1, "checkpointed": False,
                "seconds": float(layers), "tokens": 16, "peak_memory_gb": 1.0 + layers,
                "tokens_per_s": 16 / layers, "useful_flop_per_s": 1e9, "mfu": None}  # fmt: skip

    monkeypatch.setattr(paper_shape, "in_child", fake_child)
    argv = ["--device", "cpu", "--backbones", "mistral-7b", "--layers", "1", "2", "--what", "simcse", "mntp"]
    paper_shape.main(argv)
    assert len(calls) == 4
    calls.clear()
    paper_shape.main([*argv, "--resume"])
    assert calls == [("mistral-7b", 1, "mntp"), ("mistral-7b", 2, "mntp")]  # only the failed rows again
    import json

    report = json.loads((tmp_path / "benchmarks" / "paper-shape-cpu.json").read_text())
    (estimate,) = report["extrapolated"]
    assert estimate["what"] == "simcse" and estimate["seconds"] == pytest.approx(32)
