"""The training fast path (`t2t.training.fastpath`) optimises the same thing as the plain path."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from t2t.core.runtime import Runtime
from t2t.embedding.pooling import PoolingSpec, embed_batch, lm_head, tokenize
from t2t.models.backbones import LoraSpec, attach_lora, load_backbone
from t2t.text2token.loss import sparse_kl_divergence
from t2t.text2token.targets.sparse import SparseTargets
from t2t.training.fastpath import (
    SparseDropout,
    activation_gb,
    attention_implementation,
    dropped_positions,
    prepare_lora,
)

TEXTS = ["A man is playing a guitar.", "Hi", "The quick brown fox jumps over the lazy dog.", "Two dogs run."]


def test_sparse_dropout_drops_at_rate_p_and_rescales_like_nn_dropout():
    torch.manual_seed(0)
    p = 0.05
    x = torch.full((2000, 1000), 3.0)
    y = SparseDropout(p).train()(x)
    dropped = y == 0
    # 2M Bernoulli(0.05) draws: the rate's standard error is 1.5e-4
    assert abs(float(dropped.float().mean()) - p) < 1e-3
    assert torch.allclose(y[~dropped], torch.tensor(3.0 / (1 - p)))
    # positions are uniform: each column's rate is p (2000 draws each, sd 0.005)
    assert float((dropped.float().mean(0) - p).abs().max()) < 0.035
    halves = dropped.view(-1).chunk(2)
    assert abs(float(halves[0].float().mean()) - float(halves[1].float().mean())) < 1e-3


def test_sparse_dropout_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(3)
    x = (torch.rand(300, 70) + 0.5).requires_grad_()
    weights = torch.randn(300, 70)
    y = SparseDropout(0.2).train()(x)
    (y * weights).sum().backward()
    kept = (y != 0).float()
    assert 0.15 < 1 - float(kept.mean()) < 0.25
    assert torch.allclose(x.grad, weights * kept / 0.8)


def test_sparse_dropout_eval_identity_seeded_and_fresh_masks():
    x = torch.randn(64, 48, dtype=torch.bfloat16)
    layer = SparseDropout(0.3)
    assert layer.eval()(x) is x
    assert SparseDropout(0.0).train()(x) is x
    layer.train()
    torch.manual_seed(7)
    first = layer(x)
    second = layer(x)
    torch.manual_seed(7)
    assert torch.equal(layer(x), first)  # the torch RNG drives it: checkpoints resume bit for bit
    assert not torch.equal(first, second)
    assert first.dtype == x.dtype


def test_dropped_positions_every_index_equally_likely_including_the_tail():
    torch.manual_seed(1)
    n, p, trials = 10, 0.2, 20000
    counts = torch.zeros(n)
    for _ in range(trials):
        positions = dropped_positions(n, p)
        assert bool((positions[1:] > positions[:-1]).all()) and (len(positions) == 0 or positions[-1] < n)
        counts[positions] += 1
    # 20000 trials per index: sd of each rate 0.0028
    assert float((counts / trials - p).abs().max()) < 0.015


def _one_step(fast: bool) -> tuple[float, torch.Tensor]:
    """Loss and concatenated LoRA gradients of one Text2Token-style step (pool, frozen LM head,
    KL to a fixed sparse target) under bf16 autocast: plain (fp32 weights, sdpa, peft's input
    casting) or fast (bf16 frozen weights, eager attention, no input casting)."""
    model, tokenizer = load_backbone("tiny-llama", dtype=torch.bfloat16 if fast else torch.float32)
    torch.manual_seed(0)
    peft_model = attach_lora(model, LoraSpec(dropout=0.0))
    with torch.no_grad():  # peft starts B at zero; give it values so every gradient is non-trivial
        generator = torch.Generator().manual_seed(1)
        for name, parameter in sorted(peft_model.named_parameters()):
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    if fast:
        assert prepare_lora(peft_model, autocast=True, sparse_dropout=True) > 0
    trainable = [p for _, p in sorted(peft_model.named_parameters()) if p.requires_grad]
    assert all(p.dtype == torch.float32 for p in trainable)  # LoRA weights stay fp32 either way
    spec = PoolingSpec(mode="last")
    batch = tokenize(TEXTS, tokenizer, spec, 64)
    vocab = lm_head(peft_model).weight.shape[0]
    targets = SparseTargets(
        torch.tensor([[5, 17, 99], [3, 8, 1], [250, 251, 252], [40, 41, 0]]) % vocab,
        torch.tensor([[0.5, 0.3, 0.2], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2], [0.6, 0.4, 0.0]]),
    )
    with attention_implementation(peft_model, "eager" if fast else "sdpa"):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            embeddings = embed_batch(peft_model, batch, spec, tokenizer.bos_token_id)
            head = lm_head(peft_model)
            loss = sparse_kl_divergence(head(embeddings.to(head.weight.dtype)), targets)
        loss.backward()
    return float(loss.detach()), torch.cat([p.grad.float().flatten() for p in trainable])


def test_fast_step_matches_plain_step_within_bf16_tolerance():
    plain_loss, plain_grad = _one_step(fast=False)
    fast_loss, fast_grad = _one_step(fast=True)
    assert abs(fast_loss - plain_loss) <= 0.02 * abs(plain_loss)
    cosine = torch.nn.functional.cosine_similarity(plain_grad, fast_grad, dim=0)
    assert float(cosine) > 0.99
    assert abs(float(fast_grad.norm() / plain_grad.norm()) - 1) < 0.05


def test_prepare_lora_swaps_only_active_dropouts_and_attention_is_restored():
    model, _ = load_backbone("tiny-llama")
    peft_model = attach_lora(model, LoraSpec(dropout=0.05))
    changed = prepare_lora(peft_model, autocast=False, sparse_dropout=True)
    layers = [m for m in peft_model.modules() if hasattr(m, "lora_dropout")]
    assert changed == len(layers) > 0
    assert all(isinstance(m.lora_dropout["default"], SparseDropout) for m in layers)
    assert all(m.lora_dropout["default"].p == 0.05 for m in layers)
    assert all(getattr(m, "cast_input_dtype_enabled", True) for m in layers)  # autocast=False keeps it
    base = peft_model.get_base_model()
    with attention_implementation(peft_model, "eager"):
        assert base.config._attn_implementation == "eager"
    assert base.config._attn_implementation == "sdpa"


def test_runtime_picks_the_fast_path_on_cpus_only_when_asked_or_auto():
    cpu = Runtime(device="cpu")
    assert cpu.training_attention() == "eager" and cpu.use_sparse_dropout()
    assert Runtime(device="cpu", train_attention="sdpa").training_attention() == "sdpa"
    assert not Runtime(device="cpu", sparse_dropout="off").use_sparse_dropout()
    assert Runtime(device="cpu", precision="fp32").weight_dtype() == torch.float32
    assert Runtime(device="cpu", precision="bf16").weight_dtype() == torch.bfloat16


def test_checkpointing_is_chosen_by_estimated_activation_memory():
    """At smol shapes (30 layers, hidden 576): SimCSE's two views of 32 x 64 tokens exceed the 6 GB
    default and are checkpointed; MNTP's 16 x 128 tokens and Text2Token's 16 x 64 are not."""
    config = SimpleNamespace(num_hidden_layers=30, hidden_size=576)
    simcse, mntp, text2token = (activation_gb(config, n) for n in (2 * 32 * 64, 16 * 128, 16 * 64))
    assert simcse > 2 * mntp - 1e-9 and mntp > text2token
    runtime = Runtime(device="cpu")
    assert runtime.checkpointing_for(simcse)
    assert not runtime.checkpointing_for(mntp) and not runtime.checkpointing_for(text2token)
    assert Runtime(device="cpu", gradient_checkpointing=True).checkpointing_for(0.0)
    assert not Runtime(device="cpu", checkpoint_above_gb=None).checkpointing_for(1e6)
