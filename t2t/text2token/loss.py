"""Text2Token's loss: KL(target ‖ prediction) from sparse targets (PAPER.md §1).

The prediction is `Q_θ(w|x) = softmax(W_lm e)` over the whole vocabulary; the target `T(w|x)` is
sparse (`t2t.text2token.targets.sparse`). Because `T` is zero off its support,

    KL(T ‖ Q_θ) = Σ_{w ∈ supp T} T(w) · (log T(w) − log Q_θ(w)),

so we only gather `log Q_θ` at the target ids: no `(batch, vocab)` target is ever built.
The first term is constant in θ (KL = soft-label cross-entropy − entropy(T)); we keep it so the
reported loss is a true KL (0 for a perfect prediction).
"""

from __future__ import annotations

import torch

from t2t.text2token.targets.sparse import SparseTargets


def sparse_kl_divergence(logits: torch.Tensor, targets: SparseTargets) -> torch.Tensor:
    """Batch-mean KL(T ‖ softmax(logits)).

    Args:
        logits: `(batch, vocab)` LM-head logits of the pooled embeddings.
        targets: `(batch, k)` sparse targets on the same device. Rows whose weights sum to 0 (a text
            with no usable target token) are skipped; if every row is empty the loss is 0 with a
            gradient path, so the step is a no-op rather than a NaN.

    Returns:
        scalar tensor (fp32).
    """
    log_q = torch.log_softmax(logits.float(), dim=-1)  # (batch, vocab)
    log_q_at_target = log_q.gather(1, targets.ids)  # (batch, k)
    weights = targets.weights.float()
    log_weights = torch.where(weights > 0, weights.clamp_min(1e-30).log(), torch.zeros_like(weights))
    per_row = (weights * (log_weights - log_q_at_target)).sum(-1)  # (batch,)
    valid = weights.sum(-1) > 0
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return per_row[valid].mean()
