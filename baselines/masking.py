"""MNTP masking: which tokens LLM2Vec hides, and what it puts in their place (PAPER.md §2).

LLM2Vec's masked next-token prediction (MNTP) corrupts a fraction of the tokens of each packed
block and trains the model to recover them. Two styles, as in llm2vec's `experiments/run_mntp.py`
(`data_collator_type`):

- `bert` (`default`, HF `DataCollatorForLanguageModeling`): each non-special token is selected with
  probability `mask_ratio`; a selected token becomes the mask token 80% of the time, a random token
  10%, and stays unchanged 10%. LLM2Vec uses 0.2 for Llama-3 (and Llama-2, Sheared-Llama, Qwen2).
- `all-mask` (`all_mask`, llm2vec's `DataCollatorForLanguageModelingWithFullMasking`): every
  selected token becomes the mask token. LLM2Vec uses 0.8 for Mistral.

The mask token: the tokenizer's own when it has one; otherwise (Llama, Mistral) llm2vec's
`mask_token_type="blank"` sets `tokenizer.mask_token = "_"`, i.e. the ordinary vocabulary token
`_`. We look that id up without mutating the shared tokenizer.

    inputs, labels = mask_tokens(ids, ratio=0.2, style="bert", mask_token_id=79,
                                 vocab_size=49152, special_ids=[0, 1, 2], generator=g)
    # labels: ids where selected, -100 elsewhere; inputs: corrupted at the selected positions
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Literal

import torch

from t2t.core.config import Config, ConfigError
from t2t.models.backbone_catalog import mntp_for
from t2t.training.objective import declare_objective

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100  # label of positions that carry no loss (PyTorch's cross-entropy default)
MaskingStyle = Literal["bert", "all-mask"]


@dataclasses.dataclass(frozen=True)
class MNTPConfig(Config):
    """Options of an MNTP stage (`StageSpec.options` of objective `mntp`).

    Attributes:
        mask_ratio: probability that a non-special token is selected (llm2vec `mlm_probability`).
        masking: `bert` (80% mask / 10% random / 10% unchanged) or `all-mask` (100% mask token).
        mask_token: used only when the tokenizer has no mask token, as llm2vec's
            `mask_token_type`: `blank` = the vocabulary token `_` (llm2vec's configs), `eos` = EOS.

    The defaults are LLM2Vec's Llama-3 setting; `mntp_defaults(architecture)` gives the per-backbone
    rule from the backbone records (Mistral: 0.8, all-mask). Options carry no backbone knowledge,
    so recipes set them.
    """

    mask_ratio: float = 0.2
    masking: MaskingStyle = "bert"
    mask_token: Literal["blank", "eos"] = "blank"

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_ratio <= 1.0:
            raise ConfigError(f"MNTPConfig.mask_ratio must be in (0, 1], got {self.mask_ratio}")


# The objective `mntp` (a `StageSpec` name) with these options; MNTP's result does not depend on the
# pooling. Declared here, with the options, so a spec validates without the implementation.
declare_objective("mntp", MNTPConfig, uses_pooling=False, module="baselines.mntp")


def mntp_defaults(architecture: str) -> MNTPConfig:
    """LLM2Vec's MNTP setting for a backbone architecture (`llama`, `mistral`, ...; HF `model_type`),
    from the backbone records (`t2t.models.backbone_catalog.mntp_for`: llm2vec's train_configs/mntp/*.json).
    An architecture no record covers is a `ConfigError` that says how to add it (no silent default).

    >>> mntp_defaults("mistral")
    MNTPConfig(mask_ratio=0.8, masking='all-mask', mask_token='blank')
    """
    try:
        masking = mntp_for(architecture)
    except KeyError as error:
        raise ConfigError(error.args[0]) from None
    return MNTPConfig(mask_ratio=masking.mask_ratio, masking=masking.masking)


def mask_token_id(tokenizer, kind: str = "blank") -> int:
    """The id that replaces masked tokens: the tokenizer's mask token, else `_` (blank) or EOS."""
    if tokenizer.mask_token is not None:
        return int(tokenizer.mask_token_id)
    if kind == "eos":
        return int(tokenizer.eos_token_id)
    token_id = tokenizer.convert_tokens_to_ids("_")
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ConfigError("this tokenizer has no mask token and no '_' token; use mask_token='eos'")
    return int(token_id)


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    ratio: float,
    style: MaskingStyle,
    mask_token_id: int,
    vocab_size: int,
    special_ids: Sequence[int] | torch.Tensor = (),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch for MNTP: `(inputs, labels)`, both (batch, seq) long, on the CPU.

    `labels` holds the original token at selected positions and -100 elsewhere; `inputs` is a copy of
    `input_ids` with the selected positions replaced according to `style`. Special tokens (BOS, EOS,
    pad, ...) are never selected. The random draws happen in the order of HF's
    `DataCollatorForLanguageModeling.torch_mask_tokens` (transformers 4.44), so with
    `generator=None` and the same global torch seed the result equals HF's collator bit for bit.

    Args:
        input_ids: (batch, seq) token ids.
        ratio: selection probability of each non-special token.
        style: `bert` (80/10/10) or `all-mask`.
        mask_token_id: id of the mask token (`mask_token_id(tokenizer)`).
        vocab_size: random replacements are drawn from `[0, vocab_size)` (HF: `len(tokenizer)`).
        special_ids: ids that are never selected.
        generator: source of randomness (None: the global torch RNG).
    """
    input_ids = input_ids.cpu().long()
    labels = input_ids.clone()
    probability = torch.full(labels.shape, ratio)
    special = torch.isin(input_ids, torch.as_tensor(special_ids, dtype=torch.long))
    probability.masked_fill_(special, 0.0)
    selected = torch.bernoulli(probability, generator=generator).bool()
    labels[~selected] = IGNORE_INDEX

    inputs = input_ids.clone()
    if style == "all-mask":
        inputs[selected] = mask_token_id
        return inputs, labels
    replaced = torch.bernoulli(torch.full(labels.shape, 0.8), generator=generator).bool() & selected
    inputs[replaced] = mask_token_id
    randomised = torch.bernoulli(torch.full(labels.shape, 0.5), generator=generator).bool()
    randomised &= selected & ~replaced
    random_words = torch.randint(vocab_size, labels.shape, dtype=torch.long, generator=generator)
    inputs[randomised] = random_words[randomised]
    return inputs, labels
