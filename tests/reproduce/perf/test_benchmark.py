"""The benchmark's arithmetic: FLOP counts from the config, and where a profiled step's time goes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reproduce.perf.benchmark.encoding import cosines
from reproduce.perf.benchmark.gemm import useful_flops_per_token
from reproduce.perf.benchmark.profiling import op_category, step_profile
from reproduce.perf.benchmark.scoring import bench_item_scores, free_encoder, synthetic_records
from t2t.evaluation.item_scores import SCORERS, scorer
from t2t.models.backbones import load_backbone
from t2t.training.loop import STEP_RANGE

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def test_useful_flops_count_every_decoder_projection_weight_per_token():
    model, _ = load_backbone("tiny-llama")
    weights = sum(p.numel() for name, p in model.named_parameters() if name.rsplit(".", 2)[-2] in PROJECTIONS)
    assert useful_flops_per_token("data-driven", model.config) == 4 * weights
    assert useful_flops_per_token("model-derived", model.config) == 6 * weights


def test_op_categories():
    assert op_category("aten::mm") == "matmul"
    assert op_category("aten::bmm") == "matmul"
    assert op_category("aten::_softmax") == "attention"
    assert op_category("aten::_foreach_add_") == "optimizer"
    assert op_category("aten::copy_") == "copies, casts and allocation"
    assert op_category("aten::mul") == "elementwise and norms"
    assert op_category("autograd::engine::evaluate_function: MmBackward0") == "framework"


def event(name: str, start: float, end: float, self_us: float | None = None):
    return SimpleNamespace(
        name=name,
        time_range=SimpleNamespace(start=start, end=end),
        self_cpu_time_total=end - start if self_us is None else self_us,
    )


def test_step_profile_skips_the_first_step_and_ops_outside_steps():
    events = [
        event(STEP_RANGE, 0, 1_000_000),
        event("aten::mm", 10, 900_010),  # first step: warm-up, not counted
        event(STEP_RANGE, 2_000_000, 3_000_000),
        event("aten::mm", 2_000_000, 2_600_000),
        event("aten::mul", 2_600_000, 2_800_000),
        event(STEP_RANGE, 4_000_000, 5_000_000),
        event("aten::mm", 4_000_000, 4_400_000),
        event("autograd::engine::evaluate_function: MulBackward0", 4_400_000, 4_500_000, self_us=100_000),
        event("aten::mm", 6_000_000, 7_000_000),  # between steps (e.g. a checkpoint): not counted
    ]
    seconds = step_profile(events, STEP_RANGE)
    assert seconds["matmul"] == pytest.approx(0.5)  # (0.6 + 0.4) s over two steps
    assert seconds["elementwise and norms"] == pytest.approx(0.1)
    assert seconds["framework"] == pytest.approx(0.05)
    assert seconds["python"] == pytest.approx(1.0 - 0.5 - 0.1 - 0.05)  # each step lasts 1 s
    assert sum(seconds.values()) == pytest.approx(1.0)
    by_name = step_profile(events, STEP_RANGE, key=lambda name: name)
    assert by_name["aten::mm"] == pytest.approx(0.5)


def test_step_profile_of_a_real_profile_finds_the_matmuls():
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(3):
            with torch.profiler.record_function(STEP_RANGE):
                (a @ b).mul_(2)
    seconds = step_profile(profiler.events(), STEP_RANGE)
    assert seconds["matmul"] > 0 and seconds["elementwise and norms"] > 0
    with pytest.raises(ValueError, match="at least two steps"):
        step_profile(profiler.events()[:1], STEP_RANGE)


def test_free_encoder_gives_each_text_its_own_fixed_vector():
    encoder = free_encoder(dim=8)
    first = encoder.encode([{"text": ["a", "b"]}, {"text": ["a"]}])
    assert first.shape == (3, 8) and first.dtype == np.float32
    np.testing.assert_array_equal(first[0], first[2])
    assert not np.allclose(first[0], first[1])
    np.testing.assert_array_equal(free_encoder(dim=8).encode([{"text": ["b"]}])[0], first[1])


def test_cosines_are_row_by_row():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])
    np.testing.assert_allclose(cosines(a, 3 * a), [1.0, 1.0])
    np.testing.assert_allclose(cosines(a, np.array([[0.0, 1.0], [1.0, 1.0]])), [0.0, 1.0], atol=1e-12)


def test_item_scoring_benchmark_covers_every_type_at_real_sizes():
    records = synthetic_records(np.random.default_rng(0))
    assert {label.split()[0] for label in records} == set(SCORERS)
    for label, (record, n) in records.items():
        assert len(record["gold"]) == n
        assert 0 < scorer(label.split()[0]).score(record) <= 1 or label.startswith("Summarization")
    rows = bench_item_scores(resamples=3)
    assert [row["record"] for row in rows] == list(records) and all(row["seconds"] >= 0 for row in rows)
