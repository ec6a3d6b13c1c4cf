"""LLM2Vec (MNTP + SimCSE) and SimCSE baselines: masking, packing, losses, stages, DDP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.masking import IGNORE_INDEX, MNTPConfig, mask_token_id, mask_tokens, mntp_defaults
from baselines.mntp import MNTPObjective, mntp_loss
from baselines.packing import pack_blocks, packed_corpus
from baselines.recipes import (
    LLM2VecSettings,
    llm2vec_model,
    mntp_stage,
    simcse_model,
    simcse_stage,
    zero_shot_model,
)
from baselines.simcse import SimCSEConfig, SimCSEObjective, info_nce
from t2t.core.config import ConfigError
from t2t.core.runtime import Runtime
from t2t.embedding.encoder import Embedder, text_encoder
from t2t.embedding.pooling import PoolingSpec, embed_batch, tokenize
from t2t.models.backbones import LoraSpec, attach_lora, load_backbone, load_tokenizer
from t2t.training import pipeline
from t2t.training.corpus import load_corpus
from t2t.training.objective import StageContext
from t2t.training.pipeline import build_model, stage_dir
from t2t.training.spec import ModelSpec

RUNTIME = Runtime(device="cpu", precision="fp32", progress=False)
COLOURS = ["red", "blue", "green", "white", "black", "yellow", "grey", "pink"]
# near-duplicates, so that telling the texts apart is not already trivial for a random model
SIMILAR_TEXTS = [f"The old house on the hill was painted {colour} last summer." for colour in COLOURS]
TINY_SCALE = LLM2VecSettings(
    mntp_steps=2, mntp_batch_size=4, mntp_max_length=64, mntp_corpus="wikitext2-sentences",
    simcse_steps=2, simcse_batch_size=8, simcse_max_length=32, simcse_corpus="wikitext2-sentences",
)  # fmt: skip


pytestmark = pytest.mark.usefixtures("cache")


@pytest.fixture
def tokenizer(cache):
    return load_tokenizer("tiny-llama")


def _context(tokenizer, pooling: str = "mean", max_length: int = 32, rank: int = 0) -> StageContext:
    return StageContext(
        tokenizer=tokenizer,
        pooling=PoolingSpec(mode=pooling),
        max_length=max_length,
        batch_size=8,
        corpus="wikitext2-sentences",
        model_key="test",
        rank=rank,
    )


# --- masking -------------------------------------------------------------------------------------


def _random_blocks(tokenizer, shape=(64, 512), seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random ids with a special token at every 16th position; returns (ids, special mask)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(100, len(tokenizer), shape, generator=generator)
    specials = torch.tensor(tokenizer.all_special_ids)
    ids[:, ::16] = specials[torch.arange(ids[:, ::16].numel()) % len(specials)].view(shape[0], -1)
    return ids, torch.isin(ids, specials)


def test_mntp_defaults_follow_llm2vec_per_backbone():
    assert mntp_defaults("mistral") == MNTPConfig(mask_ratio=0.8, masking="all-mask")
    assert mntp_defaults("llama") == MNTPConfig(mask_ratio=0.2, masking="bert")
    with pytest.raises(
        ConfigError, match="no MNTP masking known for architecture 'something-new'.*backbone_catalog"
    ):
        mntp_defaults("something-new")  # an error that names the fix, never Llama's setting silently
    assert mntp_stage("tiny-mistral").options["masking"] == "all-mask"
    assert mntp_stage("tiny-llama").options == MNTPConfig().to_dict()


def test_mask_token_is_llm2vecs_blank_underscore(tokenizer):
    assert tokenizer.mask_token is None
    assert mask_token_id(tokenizer) == tokenizer.convert_tokens_to_ids("_")
    assert mask_token_id(tokenizer, "eos") == tokenizer.eos_token_id


def test_bert_masking_statistics(tokenizer):
    ids, special = _random_blocks(tokenizer)
    mask_id = mask_token_id(tokenizer)
    generator = torch.Generator().manual_seed(1)
    inputs, labels = mask_tokens(
        ids,
        ratio=0.2,
        style="bert",
        mask_token_id=mask_id,
        vocab_size=len(tokenizer),
        special_ids=tokenizer.all_special_ids,
        generator=generator,
    )
    selected = labels != IGNORE_INDEX
    assert not (selected & special).any(), "special tokens are never selected"
    assert float(selected.sum() / (~special).sum()) == pytest.approx(0.2, abs=0.01)
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(inputs[~selected], ids[~selected]), "unselected tokens are left alone"
    n = int(selected.sum())
    as_mask = float((inputs[selected] == mask_id).sum()) / n
    unchanged = float((inputs[selected] == ids[selected]).sum()) / n
    assert as_mask == pytest.approx(0.8, abs=0.015)
    assert unchanged == pytest.approx(0.1, abs=0.01)
    assert 1 - as_mask - unchanged == pytest.approx(0.1, abs=0.01)  # random replacements


def test_all_mask_masking(tokenizer):
    ids, special = _random_blocks(tokenizer, shape=(16, 512))
    inputs, labels = mask_tokens(
        ids,
        ratio=0.8,
        style="all-mask",
        mask_token_id=7,
        vocab_size=len(tokenizer),
        special_ids=tokenizer.all_special_ids,
        generator=torch.Generator().manual_seed(0),
    )
    selected = labels != IGNORE_INDEX
    assert float(selected.sum() / (~special).sum()) == pytest.approx(0.8, abs=0.01)
    assert not (selected & special).any()
    assert (inputs[selected] == 7).all() and torch.equal(inputs[~selected], ids[~selected])


def test_masking_equals_hf_collator_under_the_same_seed(tokenizer):
    """llm2vec's `default` collator is HF's DataCollatorForLanguageModeling: same draws, same result."""
    from transformers import DataCollatorForLanguageModeling

    hf_tokenizer = load_tokenizer("tiny-llama")
    hf_tokenizer.mask_token = "_"  # what llm2vec's mask_token_type="blank" does
    collator = DataCollatorForLanguageModeling(hf_tokenizer, mlm_probability=0.2)
    ids, special = _random_blocks(tokenizer, shape=(4, 256))
    torch.manual_seed(3)
    hf_inputs, hf_labels = collator.torch_mask_tokens(ids.clone(), special_tokens_mask=special)
    torch.manual_seed(3)
    inputs, labels = mask_tokens(
        ids,
        ratio=0.2,
        style="bert",
        mask_token_id=mask_token_id(tokenizer),
        vocab_size=len(tokenizer),
        special_ids=tokenizer.all_special_ids,
    )
    assert torch.equal(inputs, hf_inputs) and torch.equal(labels, hf_labels)


def test_mntp_objective_masks_differ_by_rank_and_repeat_with_the_global_seed(tokenizer):
    blocks = torch.randint(100, 1000, (2, 64))
    masks = []
    for rank in (0, 0, 1):
        objective = MNTPObjective(MNTPConfig(), _context(tokenizer, rank=rank))
        torch.manual_seed(0)
        masks.append(objective.mask(blocks)[1])
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


# --- packing -------------------------------------------------------------------------------------


def test_pack_blocks_concatenates_in_order_and_drops_remainders():
    lists = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10], [11, 12, 13]]
    stream = pack_blocks(lists, 4, texts_per_group=None)
    assert stream.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]
    grouped = pack_blocks(lists, 4, texts_per_group=2)  # HF group_texts per map batch of 2 texts
    assert grouped.tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]
    assert pack_blocks([[1, 2]], 4).shape == (0, 4)


def test_packed_corpus_blocks_are_the_tokenized_texts_in_order(cache, tokenizer):
    texts = [f"Sentence number {i} talks about topic {i * 7}." for i in range(40)]
    blocks = packed_corpus(texts, tokenizer, 16, "test-corpus")
    stream = [token for ids in tokenizer(texts).input_ids for token in ids]
    assert blocks.shape == (len(stream) // 16, 16)
    assert blocks.reshape(-1).tolist() == stream[: blocks.size]
    assert list((cache / "mntp-blocks").glob("*.npy")), "packed once, cached"
    np.testing.assert_array_equal(packed_corpus(texts, tokenizer, 16, "test-corpus"), blocks)
    with pytest.raises(ValueError, match="no full block"):
        packed_corpus(texts[:1], tokenizer, 512, "tiny")


# --- losses --------------------------------------------------------------------------------------


def test_mntp_loss_predicts_token_i_from_logits_at_i_minus_1():
    model, _ = load_backbone("tiny-llama", attention="bidirectional")
    torch.manual_seed(0)
    inputs = torch.randint(100, 1000, (2, 10))
    labels = torch.full_like(inputs, IGNORE_INDEX)
    targets = {(0, 3): 11, (0, 7): 12, (1, 5): 13}
    for (row, position), token in targets.items():
        labels[row, position] = token
    labels[1, 0] = 14  # a masked first token has no predecessor: no loss (as in LlamaForCausalLM)
    with torch.no_grad():
        logits = model(input_ids=inputs).logits  # (2, 10, vocab)
        loss = mntp_loss(model, inputs, labels)
    by_hand = torch.stack(
        [
            F.cross_entropy(logits[row, position - 1], torch.tensor(token))
            for (row, position), token in targets.items()
        ]
    ).mean()
    unshifted = torch.stack(
        [
            F.cross_entropy(logits[row, position], torch.tensor(token))
            for (row, position), token in targets.items()
        ]
    ).mean()
    torch.testing.assert_close(loss, by_hand)
    with torch.no_grad():  # = the causal-LM loss llm2vec's *BiForMNTP inherit from LlamaForCausalLM
        torch.testing.assert_close(loss, model(input_ids=inputs, labels=labels).loss)
    assert not torch.allclose(loss, unshifted)
    nothing = mntp_loss(model, inputs, torch.full_like(inputs, IGNORE_INDEX))
    assert nothing.item() == 0.0 and nothing.requires_grad


def test_mntp_loss_decreases_on_a_fixed_batch(tokenizer):
    torch.manual_seed(0)
    model, _ = load_backbone("tiny-llama", attention="bidirectional")
    model = attach_lora(model, LoraSpec(r=8, alpha=16, dropout=0.0))
    text = "The Eiffel Tower stands in Paris, and the old house on the hill was painted red last summer. " * 3
    blocks = torch.tensor(tokenizer([text] * 4).input_ids)[:, :48]
    inputs, labels = mask_tokens(
        blocks,
        ratio=0.2,
        style="bert",
        mask_token_id=mask_token_id(tokenizer),
        vocab_size=len(tokenizer),
        special_ids=tokenizer.all_special_ids,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-3)
    losses = []
    for _ in range(8):
        loss = mntp_loss(model, inputs, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.2, losses
    objective = MNTPObjective(MNTPConfig(), _context(tokenizer))
    loss, tokens = objective.loss(model, [block.numpy() for block in blocks], range(4))
    assert torch.isfinite(loss) and tokens == blocks.numel()


def test_info_nce_is_cross_entropy_of_scaled_cosines():
    torch.manual_seed(0)
    q, k = torch.randn(5, 8), torch.randn(5, 8)
    scores = F.cosine_similarity(q[:, None], k[None], dim=-1) * 20  # llm2vec: cos_sim * loss_scale 20
    torch.testing.assert_close(info_nce(q, k, 0.05), F.cross_entropy(scores, torch.arange(5)))


def test_simcse_loss_decreases_and_separates_views_from_other_texts(tokenizer):
    torch.manual_seed(0)
    model, _ = load_backbone("tiny-llama", attention="bidirectional")
    model = attach_lora(model, LoraSpec(r=8, alpha=16, dropout=0.05))
    objective = SimCSEObjective(SimCSEConfig(dropout=0.3), _context(tokenizer))
    objective.configure_model(model)
    assert model.config.attention_dropout == 0.3
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(6):
        loss, tokens = objective.loss(model, SIMILAR_TEXTS, range(8))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        assert tokens > 0
    assert losses[-1] < losses[0] / 4, losses
    batch = tokenize(SIMILAR_TEXTS, tokenizer, objective.context.pooling, 32)
    with torch.no_grad():
        first = F.normalize(embed_batch(model, batch, objective.context.pooling), dim=-1)
        second = F.normalize(embed_batch(model, batch, objective.context.pooling), dim=-1)
    assert not torch.allclose(first, second), "dropout makes two different views"
    cosine = first @ second.T  # (8, 8)
    off_diagonal = cosine[~torch.eye(8, dtype=torch.bool)]
    assert float(cosine.diagonal().mean()) > float(off_diagonal.mean()) + 0.3


# --- stages --------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.needs_data
def test_llm2vec_stages_chain_through_build_model_and_encode(cache):
    base, tokenizer = load_backbone("tiny-llama", attention="bidirectional")
    head_before = base.lm_head.weight.detach().clone()
    stages = (
        mntp_stage("tiny-llama", TINY_SCALE.replace(mntp_steps=3, mntp_learning_rate=2e-3)),
        simcse_stage(TINY_SCALE.replace(simcse_steps=3, simcse_learning_rate=2e-3)),
    )
    spec = ModelSpec(
        backbone="tiny-llama", attention="bidirectional", pooling=PoolingSpec(mode="mean"), stages=stages
    )
    model, _, logs = build_model(spec, RUNTIME)
    assert [len(log) for log in logs] == [3, 3]
    assert all(np.isfinite(entry["loss"]) for log in logs for entry in log)
    assert logs[0][0]["tokens"] == 4 * 64, "MNTP steps see full packed blocks"
    assert not any("lora" in name for name, _ in model.named_parameters()), "both adapters merged"
    assert torch.equal(model.lm_head.weight, head_before), "MNTP trains through a frozen LM head"
    assert model.config.attention_dropout == 0.0, "SimCSE's dropout is restored after its stage"

    def encode(m):
        embedder = Embedder(m, tokenizer, spec.pooling, max_length=64, dtype=torch.float32, progress=False)
        encoder = text_encoder("t2t-repro/llm2vec-tiny", embedder)
        return encoder.encode(
            [{"text": SIMILAR_TEXTS}], task_metadata=None, hf_split="test", hf_subset="default"
        )

    trained, original = encode(model), encode(base)
    assert trained.shape == (8, 64) and np.isfinite(trained).all()
    assert not np.allclose(trained, original, atol=1e-4)


@pytest.mark.slow
@pytest.mark.needs_data
def test_interrupted_mntp_stage_resumes_with_the_same_masks(monkeypatch, make_cache):
    """Masks come from the checkpointed global RNG, so a resumed MNTP run equals an uninterrupted one."""
    stage = mntp_stage("tiny-llama", TINY_SCALE.replace(mntp_steps=4, mntp_learning_rate=2e-3))
    spec = ModelSpec(backbone="tiny-llama", attention="bidirectional", stages=(stage,))
    runtime = Runtime(device="cpu", precision="fp32", progress=False, checkpoint_every=2)
    monkeypatch.setattr(pipeline, "load_corpus", lambda name: load_corpus(name, limit=300))  # pack less
    make_cache("straight")
    build_model(spec, runtime)
    straight = (stage_dir(spec.stage_key(0)) / "adapter" / "adapter_model.safetensors").read_bytes()

    make_cache("killed")
    original_loss, calls = MNTPObjective.loss, {"n": 0}

    def dying_loss(self, model, items, indices):
        calls["n"] += 1
        if calls["n"] == 4:  # during step 4, after the step-2 checkpoint
            raise KeyboardInterrupt
        return original_loss(self, model, items, indices)

    monkeypatch.setattr(MNTPObjective, "loss", dying_loss)
    with pytest.raises(KeyboardInterrupt):
        build_model(spec, runtime)
    monkeypatch.setattr(MNTPObjective, "loss", original_loss)
    build_model(spec, runtime)
    assert (stage_dir(spec.stage_key(0)) / "adapter" / "adapter_model.safetensors").read_bytes() == straight


def test_mntp_stage_is_shared_between_poolings_but_simcse_is_not():
    last = llm2vec_model("tiny-llama", pooling=PoolingSpec(mode="last"), settings=TINY_SCALE)
    mean = llm2vec_model("tiny-llama", pooling=PoolingSpec(mode="mean"), settings=TINY_SCALE)
    assert [stage.objective for stage in mean.stages] == ["mntp", "simcse"]
    assert mean.attention == "bidirectional"
    assert last.stage_key(0) == mean.stage_key(0)
    assert last.stage_key(1) != mean.stage_key(1)
    alone = [simcse_model("tiny-llama", pooling=PoolingSpec(mode=mode)) for mode in ("last", "mean")]
    assert alone[0].stage_key(0) != alone[1].stage_key(0)
    assert zero_shot_model("tiny-llama").stages == ()


def test_paper_settings_of_the_recipes():
    spec = llm2vec_model("mistral-7b")
    mntp, simcse = spec.stages
    assert (mntp.steps, mntp.batch_size, mntp.max_length, mntp.learning_rate, mntp.corpus) == (
        1000,
        32,
        512,
        5e-5,
        "wikitext-103",
    )
    assert mntp.options == {"mask_ratio": 0.8, "masking": "all-mask", "mask_token": "blank"}
    assert (simcse.steps, simcse.batch_size, simcse.max_length, simcse.learning_rate, simcse.corpus) == (
        1000,
        128,
        128,
        3e-5,
        "wiki1m",
    )
    assert simcse.options == {"dropout": 0.3, "temperature": 0.05, "gather_negatives": True}
    assert mntp.lora == LoraSpec() and mntp.lora.r == 16 and len(mntp.lora.target_modules) == 7


@pytest.mark.slow
@pytest.mark.needs_data
@pytest.mark.distributed
def test_two_process_simcse_with_gathered_negatives_matches_one_process(train_twice):
    """Gathered negatives + DDP averaging = one process with the global batch (dropout off to compare)."""
    stage = simcse_stage(
        TINY_SCALE.replace(
            simcse_learning_rate=2e-3,
            simcse_options=SimCSEConfig(dropout=0.0),
            lora=LoraSpec(r=4, alpha=8, dropout=0.0),
        )
    )
    spec = ModelSpec(
        backbone="tiny-llama", attention="bidirectional", pooling=PoolingSpec(mode="mean"), stages=(stage,)
    )
    ddp, one, digests = train_twice(spec, port=29563)
    assert set(digests) == {0, 1} and digests[0] == digests[1], "ranks disagree"
    for name in one:
        torch.testing.assert_close(ddp[name], one[name], rtol=1e-4, atol=1e-6)
    assert any(not torch.equal(t, torch.zeros_like(t)) for n, t in one.items() if "lora_B" in n)
