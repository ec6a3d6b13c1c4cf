"""Helpers that only tests need: read a model's attention mode, merge an adapter, count parameters."""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from t2t.models.backbones import AttentionMode


def attention_mode(model: PreTrainedModel) -> AttentionMode:
    """What `t2t.models.backbones.set_attention` left on a model (Gemma-3's own switch, or `is_causal`)."""
    config = model.config
    if getattr(config, "use_bidirectional_attention", False):
        return "bidirectional"
    return "causal" if getattr(config, "is_causal", True) else "bidirectional"


def merge_lora(model) -> PreTrainedModel:
    """Fold a peft adapter into the base weights and return the plain model."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied weights counted once."""
    seen: set[int] = set()
    trainable = total = 0
    for parameter in model.parameters():
        if id(parameter) in seen:
            continue
        seen.add(id(parameter))
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    return trainable, total
