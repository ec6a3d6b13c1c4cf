"""Echo embeddings (Springer et al. 2024, "Repetition Improves Language Model Embeddings",
arXiv 2402.15449): the text is written twice in one prompt and only the second copy is pooled.

Under causal attention a token sees only what precedes it, so the tokens of a single copy of a text
know nothing of the words after them. In the second copy every token can attend to the whole first
copy, so pooling the second copy's tokens gives each of them the full text (paper §3, Fig. 1):

    prompt  = "Rewrite the following sentence: {x}\\nThe rewritten sentence: {x}"
    hidden  = f(prompt)                                # (batch, seq, dim), last layer, causal
    e       = mean(hidden[t] for t in second copy)     # (batch, dim)

Settings (`EchoOptions`), with their sources:

- `template`: the zero-shot, instruction-free prompt of the paper's own experiments with a frozen
  model ("Rewrite the following sentence: {x}\\nThe rewritten sentence: {x}"; the classical baseline
  is "Write a sentence: {x}"), as third-party reproductions quote it from the paper's appendix (I
  could read neither the appendix nor the paper's full text here; the authors' repository,
  `jakespringer/echo-embeddings` `README.md`, only shows the instruction templates of its
  fine-tuned model, `'<s>Instruct:{!%%prompt%%,}\\nQuery:{!%%text%%}\\nQuery again:{%%text%%}{</s>}'`
  and `'<s>Document:{!%%text%%}\\nDocument again:{%%text%%}{</s>}'`). The suite evaluates without
  instructions (PAPER.md §3), so one template serves queries and documents alike.
- `pooling`: `mean` over the second copy's tokens (default: the paper's description, "extract
  embeddings from the second occurrence", with mean token pooling) or `last`, its last token; the
  repository offers both (`EchoPooling(strategy='mean' | 'last')`) and a checkpoint for each.

How the second copy is found: the prompt is tokenised jointly (as the model reads it) and a token
is pooled when its character span (the tokenizer's offsets) overlaps the second copy's characters.
A token that a BPE merge shares between the template and the text (`Ġ` + the first word) is pooled,
so both copies are pooled as the same tokens. Known differences from the authors' code
(`echo_embeddings.py`, `EchoParser` / `EchoPooling`):

- it tokenises each template piece separately and concatenates the ids; we tokenise the whole
  prompt, as the model would see it (the same choice as our PromptEOL), so the tokens at the joins
  can differ;
- its templates add `<s>` by hand and end with a pooled `{</s>}`; we add the tokenizer's own
  special tokens (BOS where it has one) and pool the text's tokens only;
- it cuts each braced piece to `max_length` tokens (a row can hold twice that); here `max_length`
  bounds the whole row, so each copy gets half of what the template leaves (`max_length` minus the
  template's tokens, minus 2 tokens of slack per copy), and both copies are the same cut text;
- an empty text has no second copy: its authors' mean is 0/0, set to a zero vector; we pool the
  prompt's last token instead, so "" has one finite embedding whatever its batch.

Not exportable as a sentence-transformers folder: its `Pooling` module averages every token (or
takes the last); it cannot select the second copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import torch

from t2t.core.config import Config, ConfigError
from t2t.embedding.pooling import (
    PoolingMode,
    PoolingSpec,
    cut_to_tokens,
    hidden_states_module,
    last_token_index,
    register_pooling_mode,
)
from t2t.models.backbones import AttentionMode
from t2t.training.spec import ModelSpec

ECHO_PROMPT = "Rewrite the following sentence: {text}\nThe rewritten sentence: {text}"
SLACK_PER_COPY = 2  # tokens a BPE merge at a copy's two joins can add


@dataclasses.dataclass(frozen=True)
class EchoOptions(Config):
    """Echo embeddings' settings (module docstring). `template` holds `{text}` exactly twice."""

    template: str = ECHO_PROMPT
    pooling: Literal["mean", "last"] = "mean"

    def __post_init__(self) -> None:
        if self.template.count("{text}") != 2:
            raise ConfigError(f"an echo template holds '{{text}}' exactly twice, got {self.template!r}")


def echo_prompts(
    texts: Sequence[str], tokenizer, options: EchoOptions, max_length: int
) -> tuple[list[str], list[tuple[int, int]]]:
    """The prompts of `texts` and the character span `[start, end)` of each prompt's second copy.

    Each text is cut first (`t2t.embedding.pooling.cut_to_tokens`) so that both copies and the template fit in
    `max_length` tokens, and both copies are the same cut text.
    """
    prefix, middle, suffix = options.template.split("{text}")
    template_tokens = len(tokenizer(prefix + middle + suffix).input_ids)
    budget = max(1, (max_length - template_tokens - 2 * SLACK_PER_COPY) // 2)
    prompts, spans = [], []
    for text in cut_to_tokens(texts, tokenizer, budget):
        start = len(prefix) + len(text) + len(middle)
        prompts.append(prefix + text + middle + text + suffix)
        spans.append((start, start + len(text)))
    return prompts, spans


def tokenize_echo(
    texts: Sequence[str], tokenizer, spec: PoolingSpec, max_length: int
) -> dict[str, torch.Tensor]:
    """The echo prompts, tokenised and padded, with `pool_mask` (batch, seq): 1 on the second copy.

    A row whose second copy has no token (an empty text) pools its last real token instead.
    """
    prompts, spans = echo_prompts(texts, tokenizer, EchoOptions.from_dict(spec.options), max_length)
    batch = tokenizer(
        prompts,
        padding=True,
        truncation=True,
        max_length=max_length,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    offsets, mask = batch["offset_mapping"], batch["attention_mask"]  # (batch, seq, 2), (batch, seq)
    start = torch.tensor([s for s, _ in spans]).unsqueeze(1)  # (batch, 1)
    end = torch.tensor([e for _, e in spans]).unsqueeze(1)
    pool = (offsets[..., 0] < end) & (offsets[..., 1] > start) & mask.bool()
    empty = ~pool.any(dim=1)
    pool[empty, last_token_index(mask)[empty]] = True
    return {"input_ids": batch["input_ids"], "attention_mask": mask, "pool_mask": pool.long()}


def embed_echo(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], spec: PoolingSpec, bos_token_id: int | None = None
) -> torch.Tensor:
    """The mean (or last) of the last layer's hidden states over the second copy; (batch, dim) fp32."""
    hidden = hidden_states_module(model)(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state  # (batch, seq, dim)
    pool = batch["pool_mask"]
    if EchoOptions.from_dict(spec.options).pooling == "last":
        index = last_token_index(pool)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), index].float()
    weights = pool.unsqueeze(-1).float()
    return (hidden.float() * weights).sum(1) / weights.sum(1)


ECHO = register_pooling_mode(
    PoolingMode(
        "echo",
        tokenize_echo,
        embed_echo,
        options_class=EchoOptions,
        text_copies=2,
        not_exportable="echo embeddings pool the second copy of the text only, and sentence-transformers' "
        "Pooling module can only average every token or take the last one",
    )
)


def echo_model(
    backbone: str, *, options: EchoOptions = EchoOptions(), attention: AttentionMode = "causal"
) -> ModelSpec:
    """Echo embeddings of the frozen `backbone`: no training stages, causal attention (the paper's
    point is that repetition stands in for bidirectional attention)."""
    pooling = PoolingSpec(mode="echo", options=options.to_dict())
    return ModelSpec(backbone=backbone, attention=attention, pooling=pooling, stages=())
