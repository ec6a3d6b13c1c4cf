"""From texts to one vector per text: prompt formatting, tokenisation and pooling (PAPER.md §1).

Two poolings:

- **last**: the text is wrapped in the PromptEOL template
  `This sentence : "[X]" means in one word:"` and the hidden state of the final real token is the
  embedding. The text (not the template) is truncated so the template always fits.
- **mean**: the raw text, no prompt; the mean of the last layer's hidden states over non-pad
  positions (special tokens the tokenizer adds, such as Llama-3's BOS, are included: see
  `PoolingSpec.mean_skip_bos`).

The same functions serve training (with gradients) and evaluation (`t2t.encoder`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import torch

from t2t.config import Config

PROMPT_EOL = 'This sentence : "{text}" means in one word:"'


@dataclasses.dataclass(frozen=True)
class PoolingSpec(Config):
    """How a text becomes one vector.

    Attributes:
        mode: `last` (PromptEOL prompt, final token) or `mean` (no prompt, mean over tokens).
        template: the prompt for `last` pooling; `{text}` marks the text. Paper: PromptEOL.
        mean_skip_bos: exclude BOS tokens from the mean. Text2Token's paper averages over all
            non-pad positions (default False); llm2vec 0.2.3's `LLM2Vec.encode` averages over the
            text tokens only (its embed mask leaves BOS out), so the LLM2Vec and SimCSE recipes set
            True. Tokenizers that add no BOS (SmolLM2) are unaffected.
    """

    mode: Literal["last", "mean"] = "last"
    template: str = PROMPT_EOL
    mean_skip_bos: bool = False

    def __post_init__(self) -> None:
        if self.mode == "last" and self.template.count("{text}") != 1:
            raise ValueError("template must contain '{text}' exactly once")


def format_texts(texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int) -> list[str]:
    """Apply the pooling's prompt; under `last`, cut each text so the template always fits.

    The budget is `max_length` minus the template's own tokens (with the tokenizer's special tokens),
    minus 2 tokens of slack for merges at the joins. Texts are cut on token boundaries and decoded
    back, so the whole prompt is tokenised jointly as the model would see it.
    """
    if spec.mode == "mean":
        return list(texts)
    prefix, suffix = spec.template.split("{text}")
    template_tokens = len(tokenizer(prefix + suffix).input_ids)
    budget = max(1, max_length - template_tokens - 2)
    encoded = tokenizer(list(texts), add_special_tokens=False).input_ids
    out = []
    for text, ids in zip(texts, encoded):
        if len(ids) > budget:
            text = tokenizer.decode(ids[:budget])
        out.append(prefix + text + suffix)
    return out


def tokenize(texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int) -> dict[str, torch.Tensor]:
    """Format and tokenise a batch, right-padded: `input_ids`, `attention_mask` of shape (batch, seq)."""
    formatted = format_texts(texts, tokenizer, spec, max_length)
    batch = tokenizer(
        formatted,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
    )
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last real token of each row (works for left or right padding). Shape (batch,)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * (positions + 1)).argmax(dim=1)


def pool(
    hidden: torch.Tensor,
    attention_mask: torch.Tensor,
    spec: PoolingSpec,
    bos_token_id: int | None = None,
    input_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pool `hidden` (batch, seq, dim) into (batch, dim), in fp32.

    `last`: the hidden state at each row's last real position.
    `mean`: masked mean over real positions (optionally without a leading BOS).
    """
    if spec.mode == "last":
        index = last_token_index(attention_mask)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), index].float()
    mask = attention_mask.to(hidden.dtype)
    if spec.mean_skip_bos and bos_token_id is not None and input_ids is not None:
        mask = mask * (input_ids != bos_token_id).to(hidden.dtype)
    mask = mask.unsqueeze(-1).float()
    return (hidden.float() * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def hidden_states_module(model: torch.nn.Module) -> torch.nn.Module:
    """The module that maps `input_ids` to last-layer hidden states.

    For a causal LM (optionally wrapped by peft) this is its decoder stack, so we never pay for the
    `(batch, seq, vocab)` logits when only the pooled state is needed. LoRA layers live inside the
    decoder, so adapters (and `disable_adapter()`) still apply.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    return decoder if decoder is not None and decoder is not base else base


def lm_head(model: torch.nn.Module) -> torch.nn.Module:
    """The (frozen) output projection `W_lm` of a causal LM, through a peft wrapper if present."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_output_embeddings()


def embed_batch(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], spec: PoolingSpec, bos_token_id: int | None = None
) -> torch.Tensor:
    """Pooled embeddings (batch, dim) of a tokenised batch; differentiable."""
    hidden = hidden_states_module(model)(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state
    return pool(hidden, batch["attention_mask"], spec, bos_token_id, batch["input_ids"])
