"""The GPU-hour cost model (`reproduce.plan.gpu_hours`): known FLOP counts, token counts and totals."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import baselines.training_free  # noqa: F401  (registers the echo pooling mode)
from reproduce.plan import gpu_hours
from reproduce.plan.gpu_hours import (
    GPU_KINDS,
    SHAPES,
    CostModel,
    Shape,
    evaluation_tokens,
    run_gpu_hours,
    stage_flops,
    task_texts,
)
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbones import load_backbone
from t2t.runs.run import EvalSpec, RunSpec
from t2t.training.spec import ModelSpec, StageSpec

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SHAPE = Shape(hidden=8, intermediate=16, layers=2, heads=2, kv_heads=1, vocab=100)


def test_decoder_parameters_are_the_models_projection_weights():
    model, _ = load_backbone("tiny-llama")
    shape = Shape.from_config(model.config)
    weights = sum(p.numel() for n, p in model.named_parameters() if n.rsplit(".", 2)[-2] in PROJECTIONS)
    assert shape.decoder_parameters == weights
    assert shape.head_parameters == model.lm_head.weight.numel()


@pytest.mark.slow
def test_smollm2_shape_is_the_loaded_models():
    model, _ = load_backbone("smollm2-135m")
    assert SHAPES["smollm2-135m"] == Shape.from_config(model.config)


def test_paper_shapes_are_7_to_8_billion_parameters():
    for name, low, high in (("llama3-8b", 7.9e9, 8.1e9), ("mistral-7b", 7.1e9, 7.3e9)):
        shape = SHAPES[name]
        embeddings = shape.hidden * shape.vocab  # untied: input embeddings and LM head
        total = shape.decoder_parameters + shape.head_parameters + embeddings
        assert low < total < high, (name, total)  # norms (~0.3M) left out


@pytest.mark.parametrize(
    ("objective", "passes", "per_token"),
    [
        ("data-driven", 1, lambda n, h: 4 * (n + h)),
        ("model-derived", 1, lambda n, h: 6 * (n + h)),
        ("mntp", 1, lambda n, h: 4 * (n + h)),
        ("simcse", 2, lambda n, h: 4 * n),
    ],
)
def test_stage_flops_per_objective(objective, passes, per_token):
    import baselines.recipes  # noqa: F401  (registers mntp and simcse)

    stage = StageSpec(objective=objective, steps=10, batch_size=2, max_length=8)
    n, h = SHAPE.decoder_parameters, SHAPE.head_parameters
    assert stage_flops(stage, SHAPE, CostModel()) == 10 * 2 * 8 * passes * per_token(n, h)
    assert stage_flops(stage, SHAPE, CostModel(fill=0.5)) == pytest.approx(
        5 * 2 * 8 * passes * per_token(n, h)
    )


def test_gpu_hours_divide_flops_by_peak_times_utilisation(monkeypatch):
    monkeypatch.setitem(SHAPES, "toy", SHAPE)
    monkeypatch.setattr(gpu_hours, "task_set_texts", lambda task_set: ((1000.0, 40.0),))
    run = RunSpec(
        method="text2token",
        model=ModelSpec(
            backbone="toy",
            pooling=PoolingSpec(mode="mean"),
            stages=(StageSpec(objective="data-driven", steps=10, batch_size=2, max_length=8),),
        ),
        evaluation=EvalSpec(task_set="offline"),
    )
    model = CostModel(gpu="A100", mfu=0.5)
    hours = run_gpu_hours(run, model)
    rate = GPU_KINDS["A100"].peak_bf16 * 0.5
    n, h = SHAPE.decoder_parameters, SHAPE.head_parameters
    assert hours.train == pytest.approx(160 * 4 * (n + h) / rate / 3600)
    assert hours.evaluate == pytest.approx(1000 * (40 / 4) * 2 * n / rate / 3600)
    assert hours.total == pytest.approx(hours.train + hours.evaluate)
    default = run_gpu_hours(run, CostModel(gpu="A100"))
    assert default.train == pytest.approx(hours.train * 0.5 / GPU_KINDS["A100"].mfu)


def test_evaluation_tokens_add_the_prompt_and_the_echo_copy_and_cut_at_max_length(monkeypatch):
    monkeypatch.setattr(gpu_hours, "task_set_texts", lambda task_set: ((10.0, 40.0), (2.0, 4000.0)))
    model = CostModel(chars_per_token=4.0, prompt_tokens=12)
    mean = evaluation_tokens(EvalSpec(max_length=512), PoolingSpec(mode="mean"), model)
    assert mean == 10 * 10 + 2 * 512  # 4000 characters = 1000 tokens, cut at 512
    last = evaluation_tokens(EvalSpec(max_length=512), PoolingSpec(mode="last"), model)
    assert last == 10 * (10 + 12) + 2 * 512
    echo = evaluation_tokens(EvalSpec(max_length=512), PoolingSpec(mode="echo"), model)
    assert echo == 10 * (2 * 10 + 12) + 2 * 512  # the text twice in its prompt


def test_task_texts_reads_mteb_statistics_of_the_tasks_subsets_and_caps_classification_training():
    def stats(total, mean, labels=None):
        block = {"text_statistics": {"total_text_length": total, "average_text_length": mean}}
        if labels:
            block["label_statistics"] = {"labels": {str(i): {} for i in range(labels)}}
        return block

    task = SimpleNamespace(
        eval_splits=["test"],
        hf_subsets=["en"],
        train_split="train",
        n_experiments=10,
        samples_per_label=8,
        metadata=SimpleNamespace(
            type="Classification",
            descriptive_stats={
                "test": {"hf_subset_descriptive_stats": {"en": stats(800, 8.0), "de": stats(9e9, 9.0)}},
                "train": {"hf_subset_descriptive_stats": {"en": stats(50_000, 10.0, labels=2)}},
            },
        ),
    )
    # test: 100 English texts of 8 characters (German left out); train: 5,000 texts, capped at 10 x 8 x 2
    assert task_texts(task) == [(100.0, 8.0), (160.0, 10.0)]
    sts = SimpleNamespace(
        eval_splits=["test"],
        hf_subsets=["default"],
        metadata=SimpleNamespace(
            type="STS",
            descriptive_stats={
                "test": {
                    "num_samples": 5,
                    "text1_statistics": {"total_text_length": 50, "average_text_length": 10.0},
                    "text2_statistics": {"total_text_length": 100, "average_text_length": 20.0},
                }
            },
        ),
    )
    assert task_texts(sts) == [(5.0, 10.0), (5.0, 20.0)]


def test_cost_model_rejects_unknown_gpus_and_impossible_utilisation():
    with pytest.raises(ValueError, match="unknown GPU kind"):
        CostModel(gpu="TPU")
    with pytest.raises(ValueError, match="fraction"):
        CostModel(mfu=1.5)


@pytest.mark.slow
def test_paper_dry_run_prints_gpu_hours_per_run_and_in_total():
    from reproduce.run import runner

    report = runner.run_output("table3", "paper", dry_run=True)
    assert "GPU-hours" in report and "GPU-h" in report.splitlines()[2]
    smol = runner.run_output("table3", "smol", dry_run=True)
    assert "GPU-hours" not in smol
