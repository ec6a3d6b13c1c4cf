"""Text2Token: loss, model-derived targets, training through the frozen head, stages, resume, DDP."""

from __future__ import annotations

import json

import peft
import pytest
import torch
import transformers

from t2t.core.runtime import Runtime
from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbones import LoraSpec, attach_lora, load_backbone
from t2t.text2token.loss import sparse_kl_divergence
from t2t.text2token.objectives import DataDrivenObjective
from t2t.text2token.targets.model_derived import common_distribution, filter_ratio, model_derived_targets
from t2t.text2token.targets.sparse import SparseTargets
from t2t.training.loop import NonFiniteLoss
from t2t.training.objective import StageContext
from t2t.training.pipeline import build_model, stage_dir, trained_with
from t2t.training.spec import ModelSpec

FIXED_BATCH = [
    "The Eiffel Tower stands in Paris.",
    "A violinist played a sonata in the old cathedral.",
    "Heavy rain flooded the coastal highway overnight.",
    "The committee approved the annual budget for schools.",
]
RUNTIME = Runtime(device="cpu", precision="fp32", progress=False, checkpoint_every=2)


def test_sparse_kl_matches_dense_formula():
    torch.manual_seed(0)
    logits = torch.randn(3, 50)
    rows = [{3: 0.5, 7: 0.3, 9: 0.2}, {1: 1.0}, {4: 0.25, 5: 0.25, 6: 0.25, 8: 0.25}]
    targets = SparseTargets.from_rows(rows, k=4)
    dense = targets.to_dense(50)
    log_q = torch.log_softmax(logits, -1)
    expected = (
        torch.where(dense > 0, dense * (dense.clamp_min(1e-30).log() - log_q), torch.zeros(())).sum(-1).mean()
    )
    torch.testing.assert_close(sparse_kl_divergence(logits, targets), expected)
    # the gradient also matches the dense formula's
    a = logits.clone().requires_grad_()
    sparse_kl_divergence(a, targets).backward()
    b = logits.clone().requires_grad_()
    torch.nn.functional.kl_div(torch.log_softmax(b, -1), dense, reduction="batchmean").backward()
    torch.testing.assert_close(a.grad, b.grad)


def test_sparse_kl_skips_empty_rows_and_is_zero_at_the_target():
    targets = SparseTargets.from_rows([{2: 1.0}, {}], k=2)
    logits = torch.full((2, 5), -30.0)
    logits[:, 2] = 30.0
    assert float(sparse_kl_divergence(logits, targets)) < 1e-6
    empty = SparseTargets.from_rows([{}, {}], k=2)
    loss = sparse_kl_divergence(logits.clone().requires_grad_(), empty)
    assert float(loss) == 0.0 and loss.requires_grad


def test_filter_ratio_prefers_specific_over_common_tokens():
    # token 0: likely for x but also everywhere; token 1: likely for x, rare in general
    log_p = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.1]]))
    log_q = torch.log(torch.tensor([0.7, 0.01, 0.19, 0.1]))
    ratio = filter_ratio(log_p, log_q)
    torch.testing.assert_close(ratio, torch.tensor([[0.5 / 1.2, 0.3 / 0.31, 0.1 / 0.29, 0.5]]))
    targets, kept = model_derived_targets(log_p, log_q, tau=1e-4, top_k=2)
    assert targets.ids[0, 0] == 1 and targets.weights[0, 0] > 0.999
    assert float(kept[0]) > 0.999


def test_model_derived_top_tokens_differ_from_common_top_tokens():
    model, tokenizer = load_backbone("tiny-llama")
    pooling = PoolingSpec(mode="last")
    log_q = common_distribution(model, tokenizer, FIXED_BATCH * 4, pooling, progress=False)
    from t2t.text2token.targets.model_derived import pooled_logits

    logits = pooled_logits(model, tokenizer, FIXED_BATCH, pooling, max_length=64)
    targets, kept = model_derived_targets(logits, log_q, tau=1e-4, top_k=10)
    common_top = set(log_q.topk(10).indices.tolist())
    for row in range(len(FIXED_BATCH)):
        assert len(set(targets.ids[row].tolist()) & common_top) <= 2
        torch.testing.assert_close(targets.weights[row].sum(), torch.tensor(1.0))


def _objective(tokenizer, pooling, model):
    context = StageContext(
        tokenizer=tokenizer,
        pooling=pooling,
        max_length=64,
        batch_size=4,
        corpus="wikitext2-sentences",
        model_key="test",
    )
    objective = DataDrivenObjective(DataDrivenObjective.options_class(), context)
    objective.prepare(model, FIXED_BATCH, torch.arange(len(FIXED_BATCH)).numpy())
    return objective


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("attention", ["causal", "bidirectional"])
def test_kl_loss_decreases_on_a_fixed_batch(cache, pooling, attention):
    torch.manual_seed(0)
    model, tokenizer = load_backbone("tiny-llama", attention=attention)
    model = attach_lora(model, LoraSpec(r=8, alpha=16, dropout=0.0))
    objective = _objective(tokenizer, PoolingSpec(mode=pooling), model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    for _ in range(8):
        loss, tokens = objective.loss(model, FIXED_BATCH, range(4))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
        assert tokens > 0
    assert losses[-1] < losses[0] - 0.1, losses


def _spec(stages, pooling="last"):
    base = {"batch_size": 4, "max_length": 48, "corpus": "wikitext2-sentences", "learning_rate": 2e-3}
    return ModelSpec.from_dict(
        {
            "backbone": "tiny-llama",
            "attention": "causal",
            "pooling": {"mode": pooling},
            "stages": [{**base, **stage} for stage in stages],
        }
    )


DD = {"objective": "data-driven", "steps": 4}
MD = {"objective": "model-derived", "steps": 3, "options": {"common_samples": 32}}


@pytest.mark.slow
@pytest.mark.needs_data
def test_two_stage_run_merges_freezes_head_and_changes_embeddings(cache):
    base, tokenizer = load_backbone("tiny-llama")
    head_before = base.lm_head.weight.detach().clone()
    spec = _spec([DD, MD])
    model, _, logs = build_model(spec, RUNTIME)
    assert [len(log) for log in logs] == [4, 3]
    assert torch.equal(model.lm_head.weight, head_before), "the LM head must stay frozen, bit for bit"
    assert not any("lora" in name for name, _ in model.named_parameters())

    def embed(m):
        return Embedder(m, tokenizer, spec.pooling, dtype=torch.float32, progress=False).embed(FIXED_BATCH)

    trained, original = embed(model), embed(base)
    assert not torch.allclose(torch.from_numpy(trained), torch.from_numpy(original), atol=1e-4)
    reloaded, _, _ = build_model(spec, RUNTIME)  # from the stored adapters, no training
    torch.testing.assert_close(torch.from_numpy(embed(reloaded)), torch.from_numpy(trained))
    assert (stage_dir(spec.stage_key(1)) / "adapter" / "adapter_config.json").is_file()


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_stage_records_how_it_was_trained_and_reuse_on_another_path_says_so(cache, caplog):
    """The stage key covers what is trained, not how; `stage.json` keeps the path (weights dtype,
    autocast, attention kernel, dropout kind, checkpointing), a run reads it back, and reusing the
    stage from a runtime that would train it otherwise logs both paths and how to retrain."""
    spec = _spec([{**DD, "steps": 2}])
    build_model(spec, RUNTIME)
    (recorded,) = trained_with(spec)
    assert recorded == {
        **RUNTIME.training_path(),
        "gradient_checkpointing": False,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
    assert recorded["weights"] == "float32" and recorded["attention"] == "eager"
    with caplog.at_level("WARNING"):
        build_model(spec, RUNTIME)
    assert "trained with" not in caplog.text  # the same path: reused quietly
    other = Runtime(device="cpu", precision="mixed", train_attention="sdpa", progress=False)
    with caplog.at_level("WARNING"):
        build_model(spec, other)
    assert "weights float32 (now float32)" not in caplog.text
    assert "autocast float32 (now bfloat16)" in caplog.text and "attention eager (now sdpa)" in caplog.text
    assert str(stage_dir(spec.stage_key(0))) in caplog.text
    # trained by other package versions: reused, and the log says which
    info = json.loads((stage_dir(spec.stage_key(0)) / "stage.json").read_text())
    info["trained_with"]["transformers"] = "0.0"
    (stage_dir(spec.stage_key(0)) / "stage.json").write_text(json.dumps(info))
    caplog.clear()
    with caplog.at_level("INFO"):
        build_model(spec, RUNTIME)
    assert f"it was trained with transformers 0.0 (now {transformers.__version__})" in caplog.text


@pytest.mark.slow
@pytest.mark.needs_data
def test_resume_after_kill_equals_uninterrupted_run(make_cache, monkeypatch):
    spec = _spec([{**DD, "steps": 6}])
    make_cache("straight")
    build_model(spec, RUNTIME)
    straight = (stage_dir(spec.stage_key(0)) / "adapter" / "adapter_model.safetensors").read_bytes()

    make_cache("killed")
    original_loss = DataDrivenObjective.loss
    calls = {"n": 0}

    def dying_loss(self, model, items, indices):
        calls["n"] += 1
        if calls["n"] == 6:  # during step 6, after the step-4 checkpoint
            raise KeyboardInterrupt
        return original_loss(self, model, items, indices)

    monkeypatch.setattr(DataDrivenObjective, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        build_model(spec, RUNTIME)
    folder = stage_dir(spec.stage_key(0))
    assert json.loads((folder / "checkpoint" / "state.json").read_text())["step"] == 4
    assert not (folder / "adapter").exists()
    monkeypatch.setattr(DataDrivenObjective, "loss", original_loss)
    _, _, logs = build_model(spec, RUNTIME)
    assert [entry["step"] for entry in logs[0]] == [1, 2, 3, 4, 5, 6]
    resumed = (folder / "adapter" / "adapter_model.safetensors").read_bytes()
    assert resumed == straight


@pytest.mark.slow
@pytest.mark.needs_data
def test_non_finite_loss_stops_and_keeps_last_checkpoint(cache, monkeypatch):
    spec = _spec([{**DD, "steps": 5}])
    original_loss = DataDrivenObjective.loss
    calls = {"n": 0}

    def nan_loss(self, model, items, indices):
        calls["n"] += 1
        loss, tokens = original_loss(self, model, items, indices)
        return (loss * float("nan"), tokens) if calls["n"] == 3 else (loss, tokens)

    monkeypatch.setattr(DataDrivenObjective, "loss", nan_loss)
    with pytest.raises(NonFiniteLoss, match="step 3.*last good checkpoint \\(step 2\\)"):
        build_model(spec, RUNTIME)
    folder = stage_dir(spec.stage_key(0))
    assert json.loads((folder / "checkpoint" / "state.json").read_text())["step"] == 2
    assert not (folder / "adapter").exists()


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.distributed
def test_two_process_ddp_matches_one_process(train_twice):
    """2 CPU processes over gloo: identical ranks, and the 1-process update on the same global batch."""
    spec = _spec([{**DD, "steps": 3, "batch_size": 8, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}}], "mean")
    ddp, one, digests = train_twice(spec, port=29561)
    assert set(digests) == {0, 1} and digests[0] == digests[1], "ranks disagree"
    assert ddp.keys() == one.keys()
    for name in ddp:
        torch.testing.assert_close(ddp[name], one[name], rtol=1e-4, atol=1e-6)
    assert any(not torch.equal(t, torch.zeros_like(t)) for n, t in one.items() if "lora_B" in n)
