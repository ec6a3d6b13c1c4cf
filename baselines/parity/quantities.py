"""Our side of the llm2vec parity check: the three quantities we compare, computed with our code.

For one model (a tiny preset loaded with `attention="bidirectional"`) and its tokenizer:

1. `hidden_state_batches` / `hidden_states`: last-layer hidden states, (batch, seq, dim), from
   `t2t.embedding.pooling.hidden_states_module` (what `Embedder` and MNTP run) on fixed token ids: one
   unpadded text, and all texts right-padded (our `Embedder`'s convention) and left-padded
   (llm2vec's). The reference feeds the same `input_ids`/`attention_mask` to `*BiModel` and
   compares the non-pad positions.
2. `mntp_batch` / `baselines.mntp.mntp_loss`: packed blocks of text tokens corrupted by
   `baselines.masking.mask_tokens` with the backbone's LLM2Vec setting and a fixed seed; the exact
   `input_ids`/`labels` are saved so the reference scores the very same batch with `*BiForMNTP`.
3. `mean_embeddings`: `t2t.embedding.encoder.Embedder` with `PoolingSpec(mode="mean")`, with and without
   `mean_skip_bos`, compared with `LLM2Vec.encode` (pooling "mean", no instruction).
4. `simcse_loss_and_gradients`: one step of `baselines.simcse.SimCSEObjective` (dropout 0.3, the
   LLM2Vec recipe's pooling and temperature) from a fixed seed: the loss and the gradients of two
   decoder weights, which the reference recomputes with llm2vec's `run_simcse.py` step
   (`LLM2Vec.forward` on each view, `HardNegativeNLLLoss` with scale 20, `backward`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from baselines.masking import mask_token_id, mask_tokens, mntp_defaults
from baselines.recipes import MEAN
from baselines.simcse import SimCSEConfig, SimCSEObjective
from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import PoolingSpec, hidden_states_module
from t2t.models.backbones import set_attention_dropout
from t2t.training.objective import StageContext

MNTP_SEED = 1234
MNTP_SHAPE = (2, 32)  # (blocks, tokens per block), like llm2vec's packed MNTP blocks but tiny
SIMCSE_SEED = 4321
# Decoder weights whose SimCSE gradient is compared (names as in llm2vec's `*BiModel`): the first
# layer's query projection (the gradient passes through every layer) and the last layer's MLP output.
SIMCSE_GRADIENT_WEIGHTS = ("layers.0.self_attn.q_proj.weight", "layers.1.mlp.down_proj.weight")


def hidden_state_batches(tokenizer, texts: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
    """Token-id batches for the hidden-state check: `single` (no padding), `right-padded`, `left-padded`.

    Each is `{"input_ids", "attention_mask"}`, (batch, seq) long; the texts differ in length so the
    padded batches really contain padding.
    """
    batches = {"single": tokenizer([texts[0]], return_tensors="pt")}
    for side in ("right", "left"):
        tokenizer.padding_side = side
        batches[f"{side}-padded"] = tokenizer(list(texts), padding=True, return_tensors="pt")
    tokenizer.padding_side = "right"
    return {
        name: {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        for name, batch in batches.items()
    }


@torch.inference_mode()
def hidden_states(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Last-layer hidden states (batch, seq, dim), fp32, as our encoder and MNTP compute them."""
    return hidden_states_module(model)(**batch).last_hidden_state.float()


def mntp_batch(tokenizer, architecture: str, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """`(input_ids, labels)`, (blocks, seq) long: packed text tokens masked as LLM2Vec does.

    The texts' tokens (no special tokens) are concatenated and repeated to fill `MNTP_SHAPE`, like
    llm2vec's packed blocks; masking follows `mntp_defaults(architecture)` (Llama: 20% BERT-style,
    Mistral: 80% all-mask) with the mask token `_` and a fixed seed.
    """
    stream = [i for ids in tokenizer(list(texts), add_special_tokens=False).input_ids for i in ids]
    count = MNTP_SHAPE[0] * MNTP_SHAPE[1]
    blocks = torch.tensor((stream * (count // len(stream) + 1))[:count]).view(MNTP_SHAPE)
    options = mntp_defaults(architecture)
    inputs, labels = mask_tokens(
        blocks,
        ratio=options.mask_ratio,
        style=options.masking,
        mask_token_id=mask_token_id(tokenizer, options.mask_token),
        vocab_size=len(tokenizer),
        special_ids=sorted(set(tokenizer.all_special_ids)),
        generator=torch.Generator().manual_seed(MNTP_SEED),
    )
    if not bool((labels[:, 1:] != -100).any()):
        raise RuntimeError("the MNTP parity batch has no masked position to score; change MNTP_SEED")
    return inputs, labels


def mean_embeddings(
    model: torch.nn.Module, tokenizer, texts: Sequence[str], *, skip_bos: bool
) -> torch.Tensor:
    """(n, dim) fp32 mean-pooled embeddings from our `Embedder`, as the LLM2Vec baseline evaluates.

    `skip_bos=True` is the LLM2Vec recipe's pooling (`baselines.recipes.MEAN`): BOS is left out of
    the mean, as `LLM2Vec.encode` does. `False` is Text2Token's convention (every non-pad token).
    """
    spec = PoolingSpec(mode="mean", mean_skip_bos=skip_bos)
    embedder = Embedder(
        model, tokenizer, spec, max_length=512, batch_size=32, dtype=torch.float32, progress=False
    )
    return torch.from_numpy(embedder.embed(list(texts)))


def simcse_loss_and_gradients(model: torch.nn.Module, tokenizer, texts: Sequence[str]) -> dict:
    """Our SimCSE loss on one batch and its gradients: `{"loss": (), "grads": {name: tensor}}`, fp32.

    One training step's computation exactly as `SimCSEObjective` runs it (`configure_model` sets
    attention dropout 0.3; our tokenisation; two forward passes in train mode; the LLM2Vec recipe's
    mean pooling; InfoNCE at τ = 0.05), after `torch.manual_seed(SIMCSE_SEED)`. With the same torch
    and the same seed, llm2vec's step draws the same dropout masks (both call `F.dropout` on the
    attention probabilities, layer by layer, view by view, on tensors of the same shape), so the
    views, the loss and the gradients can be compared exactly. The texts must have equal token counts
    (no padding): we right-pad, llm2vec left-pads, which would put the masks on other tokens.
    Gradients are those of `SIMCSE_GRADIENT_WEIGHTS` in the decoder (`hidden_states_module`).
    """
    context = StageContext(
        tokenizer=tokenizer,
        pooling=MEAN,
        max_length=512,
        batch_size=len(texts),
        corpus="llm2vec-parity",
        model_key="llm2vec-parity",
        progress=False,
    )
    objective = SimCSEObjective(SimCSEConfig(), context)
    dropout_before = model.config.attention_dropout
    objective.configure_model(model)
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(SIMCSE_SEED)
    with torch.enable_grad():
        loss, _ = objective.loss(model, list(texts), range(len(texts)))
        loss.backward()
    weights = dict(hidden_states_module(model).named_parameters())
    grads = {name: weights[name].grad.detach().float().clone() for name in SIMCSE_GRADIENT_WEIGHTS}
    model.zero_grad(set_to_none=True)
    model.eval()
    set_attention_dropout(model, dropout_before)
    return {"loss": loss.detach().float(), "grads": grads}
