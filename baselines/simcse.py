"""Unsupervised SimCSE: two dropout views of each text, InfoNCE with in-batch negatives (PAPER.md §2).

SimCSE (Gao et al. 2021, §3) encodes every text twice with dropout on; the two embeddings of a text
are a positive pair and the other texts of the batch are negatives:

    e1, e2  = pool(f(x)), pool(f(x))                 # two forward passes, (batch, dim) each
    scores  = cos(e1_i, e2_j) / τ                    # (batch, batch), τ = 0.05, i.e. cosine × 20
    loss    = CE(scores, labels = diagonal)          # rows: which view-2 embedding matches e1_i

LLM2Vec's SimCSE step (llm2vec `experiments/run_simcse.py`, `SimCSETrainer.compute_loss`) does
exactly this with two separate forward passes, attention dropout 0.3 (`simcse_dropout`, passed as
the model config's `attention_dropout`), LoRA dropout 0.05, and `HardNegativeNLLLoss` with
`loss_scale` 20 (llm2vec 0.2.3 `llm2vec/loss/HardNegativeNLLLoss.py` l.39-45: cosine scores of
all queries against all positives, cross-entropy over rows).

Distributed (`world_size > 1`): like llm2vec (`loss/loss_utils.py` l.5-30 and l.58-92), every
process gathers both views from all processes, the local part with its gradient, and computes the
same global loss. `torch.distributed.nn.functional.all_gather` sums the W identical gradients of
the local rows in backward (W · ∂L/∂e_local), and DDP averages over the W processes, so the update
equals one process with the global batch; no extra scaling is needed (checked by the 2-process test).
"""

from __future__ import annotations

import dataclasses
import logging

import torch
import torch.nn.functional as F

from t2t.core.config import Config, ConfigError
from t2t.embedding.pooling import embed_batch, tokenize
from t2t.models.backbones import set_attention_dropout
from t2t.training.objective import Objective, declare_objective, register_objective

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SimCSEConfig(Config):
    """Options of a SimCSE stage (`StageSpec.options` of objective `simcse`).

    Attributes:
        dropout: attention-probability dropout while training, what makes the two views differ
            (LLM2Vec: 0.3; LoRA's own dropout adds to it). Restored after the stage.
        temperature: τ of InfoNCE; scores are cosine / τ (SimCSE and LLM2Vec: 0.05 = cosine × 20).
        gather_negatives: in a distributed run, use the whole global batch as negatives (as llm2vec);
            otherwise each process contrasts only its local share.
    """

    dropout: float = 0.3
    temperature: float = 0.05
    gather_negatives: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"SimCSEConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.temperature <= 0:
            raise ConfigError(f"SimCSEConfig.temperature must be > 0, got {self.temperature}")


# The objective `simcse` (a `StageSpec` name), its options and its class (below) in this module.
declare_objective("simcse", SimCSEConfig, uses_pooling=True, module=__name__)


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """All processes' (batch, dim) tensors stacked in rank order, (world * batch, dim); differentiable.

    Needs equal local batch sizes (the training loop splits every global batch evenly).
    """
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(local.contiguous()), dim=0)


def info_nce(
    queries: torch.Tensor, keys: torch.Tensor, temperature: float, *, gather: bool = False
) -> torch.Tensor:
    """InfoNCE with in-batch negatives: mean over rows of CE(cos(q_i, k_·) / τ, i).

    Args:
        queries, keys: (batch, dim) embeddings; row i of each is a positive pair.
        temperature: τ (0.05 gives llm2vec's scale 20).
        gather: concatenate all processes' rows first (see module docstring); needs torch.distributed.

    Returns a scalar, the loss of the global batch when gathering, else of the local one.
    """
    if gather:
        queries, keys = gather_with_grad(queries), gather_with_grad(keys)
    scores = F.normalize(queries.float(), dim=-1) @ F.normalize(keys.float(), dim=-1).T / temperature
    labels = torch.arange(scores.shape[0], device=scores.device)  # (n,): the diagonal is positive
    return F.cross_entropy(scores, labels)


@register_objective("simcse")
class SimCSEObjective(Objective):
    """SimCSE as a training stage: items are the corpus texts, pooled with the stage's pooling.

    Texts are tokenised as for evaluation (`t2t.embedding.pooling.tokenize`: right padding, the tokenizer's
    special tokens, the PromptEOL template under last pooling) and pooled with `context.pooling`
    (LLM2Vec: mean over the non-pad tokens). The token count returned covers both passes.

    One known difference from llm2vec's training code: its collator calls `LLM2Vec.tokenize` on raw
    texts (no `!@#$%^&*()` separator), so the embed mask is all zeros and `get_pooling`'s
    `hidden[i, -0:]` averages over *every* position of the left-padded batch, pads included
    (llm2vec 0.2.3 `llm2vec.py` l.182-223, 247-255). We average over real tokens only; both agree on
    batches without padding or BOS. `nox -s llm2vec-parity` replays one of our steps in llm2vec (same
    seed, so the same dropout masks) and checks the loss and gradients, and this difference.
    """

    passes_per_item = 2  # two dropout views, both kept for the backward

    def configure_model(self, model: torch.nn.Module) -> None:
        options: SimCSEConfig = self.options
        set_attention_dropout(model, options.dropout)
        if options.dropout == 0:
            logger.warning("SimCSE with attention dropout 0: the two views differ only by LoRA dropout")

    def loss(self, model, items, indices):
        context = self.context
        options: SimCSEConfig = self.options
        device = next(model.parameters()).device
        batch = tokenize(items, context.tokenizer, context.pooling, context.max_length)
        batch = {name: tensor.to(device) for name, tensor in batch.items()}
        bos = context.tokenizer.bos_token_id
        first = embed_batch(model, batch, context.pooling, bos)  # (batch, dim), one dropout mask
        second = embed_batch(model, batch, context.pooling, bos)  # (batch, dim), another
        gather = options.gather_negatives and context.world_size > 1
        loss = info_nce(first, second, options.temperature, gather=gather)
        return loss, 2 * int(batch["attention_mask"].sum())
