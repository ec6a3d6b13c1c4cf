"""LLM2Vec's masked next-token prediction (MNTP), the first step of LLM2Vec (PAPER.md §2).

After switching the decoder to bidirectional attention, LLM2Vec teaches it to use the right-hand
context by masked language modelling with a twist: a masked token at position i is predicted from
the model's output at position **i − 1** (the position that predicted it during pre-training), so the
pretrained LM head is reused unchanged:

    blocks   = packed corpus, (batch, 512)                       # `baselines.packing`
    inputs, labels = mask_tokens(blocks)                         # `baselines.masking`
    hidden   = decoder(inputs), with the model's attention       # (batch, seq, dim)
    loss     = CE(lm_head(hidden[:, i-1]), labels[:, i]) averaged over masked i

This is exactly the loss of llm2vec's `LlamaBiForMNTP` / `MistralBiForMNTP`
(`llm2vec/models/bidirectional_llama.py` l.191, `bidirectional_mistral.py` l.222), which inherit
`LlamaForCausalLM.forward`: labels shifted left by one (`logits[..., :-1]` vs `labels[..., 1:]`),
cross-entropy in fp32, mean over positions whose label is not -100. A masked token at position 0
has no predecessor and carries no loss (as there). We apply the LM head only at the positions that
carry a label instead of materialising (batch, seq, vocab) logits; the values are the same.

The result does not depend on the pooling (declared with `uses_pooling=False` in `baselines.masking`),
so one MNTP stage is shared by LLM2Vec's last- and mean-pooling variants.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F

from baselines.masking import IGNORE_INDEX, MNTPConfig, mask_token_id, mask_tokens, mntp_defaults
from baselines.packing import packed_corpus
from t2t.embedding.pooling import hidden_states_module, lm_head
from t2t.training.objective import Objective, StageContext, register_objective

logger = logging.getLogger(__name__)


def mntp_loss(model: torch.nn.Module, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the masked tokens, each predicted from the previous position's logits.

    Args:
        model: a causal LM (optionally peft-wrapped); its attention mode is used as set.
        input_ids: (batch, seq) corrupted blocks.
        labels: (batch, seq) original ids at masked positions, -100 elsewhere.

    Returns a scalar; `mean_i CE(logits[:, i-1], labels[:, i])` over positions i >= 1 with a label.
    """
    attention_mask = torch.ones_like(input_ids)
    hidden = hidden_states_module(model)(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]  # (batch, seq-1): the token at i+1 ...
    predicted = targets != IGNORE_INDEX
    if not bool(predicted.any()):  # nothing masked: a zero that keeps every parameter in the graph
        return hidden.sum() * 0.0
    states = hidden[:, :-1][predicted]  # ... predicted from position i: (n_masked, dim)
    head = lm_head(model)
    logits = head(states.to(head.weight.dtype)).float()  # (n_masked, vocab)
    return F.cross_entropy(logits, targets[predicted])


@register_objective("mntp")  # declared with its options in baselines.masking
class MNTPObjective(Objective):
    """MNTP as a training stage: items are packed blocks of `max_length` tokens of the stage corpus.

    Masks are drawn anew every step from a generator seeded by the global torch RNG (which the loop
    checkpoints, so a resumed run masks as an uninterrupted one) and this process's rank (so the
    processes of a distributed run mask their blocks independently).
    """

    def __init__(self, options: MNTPConfig, context: StageContext) -> None:
        super().__init__(options, context)
        tokenizer = context.tokenizer
        self.mask_token_id = mask_token_id(tokenizer, options.mask_token)
        self.special_ids = torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)
        self.vocab_size = len(tokenizer)

    def configure_model(self, model: torch.nn.Module) -> None:
        architecture = getattr(model.config, "model_type", "")
        expected = mntp_defaults(architecture)
        if (expected.mask_ratio, expected.masking) != (self.options.mask_ratio, self.options.masking):
            logger.warning(
                "MNTP with mask_ratio=%s masking=%s on a %s backbone; LLM2Vec used mask_ratio=%s masking=%s "
                "(baselines.recipes sets them per backbone)",
                self.options.mask_ratio,
                self.options.masking,
                architecture,
                expected.mask_ratio,
                expected.masking,
            )

    def items(self, texts):
        """Packed blocks, (n_blocks, max_length) int32, memory-mapped from the cache."""
        return packed_corpus(texts, self.context.tokenizer, self.context.max_length, self.context.corpus)

    def mask(self, blocks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(inputs, labels)` for a (batch, seq) tensor of blocks, with this step's generator."""
        draw = int(torch.randint(0, 2**62, (1,)).item())
        seed = int(np.random.SeedSequence([draw, self.context.rank]).generate_state(1, np.uint64)[0])
        generator = torch.Generator().manual_seed(seed)
        options: MNTPConfig = self.options
        return mask_tokens(
            blocks,
            ratio=options.mask_ratio,
            style=options.masking,
            mask_token_id=self.mask_token_id,
            vocab_size=self.vocab_size,
            special_ids=self.special_ids,
            generator=generator,
        )

    def loss(self, model, items, indices):
        blocks = torch.from_numpy(np.stack([np.asarray(block) for block in items])).long()
        inputs, labels = self.mask(blocks)
        device = next(model.parameters()).device
        return mntp_loss(model, inputs.to(device), labels.to(device)), int(blocks.numel())
