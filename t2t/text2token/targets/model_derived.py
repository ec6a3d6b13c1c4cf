"""Model-derived token targets (PAPER.md §1, stage 2).

For a text `x` the frozen current model gives `P(w|x) = softmax(W_lm · pool(f(x)))`. Most of that
mass sits on tokens that are likely after *any* text (punctuation, "the", the prompt's answer
format), so it is filtered against a common distribution `Q(w)` estimated from N corpus samples:

    r(w|x) = P(w|x) / (P(w|x) + Q(w))          high where w is far more likely for x than in general
    T(w|x) = softmax(r(w|x) / τ)               τ tiny (default 1e-4): ~uniform over top-ratio tokens

We compute `r` as `sigmoid(log P − log Q)`, which equals the ratio and never divides by a
denormal. `T` is kept as its top-k entries (`SparseTargets`); with τ this small the top-k hold
almost all the mass (`kept_mass` reports how much). Its options, `ModelDerivedConfig`, live in
`t2t.text2token.targets.options`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence

import torch
from tqdm.auto import tqdm

from t2t.core.atomic import atomic_write_bytes
from t2t.core.config import stable_hash
from t2t.core.paths import cache_root
from t2t.embedding.pooling import PoolingSpec, embed_batch, lm_head, tokenize
from t2t.text2token.targets.sparse import SparseTargets

logger = logging.getLogger(__name__)


@torch.no_grad()
def pooled_logits(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    pooling: PoolingSpec,
    max_length: int,
) -> torch.Tensor:
    """`W_lm · pool(f(x))` for a batch of texts: `(batch, vocab)` fp32 logits."""
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in tokenize(texts, tokenizer, pooling, max_length).items()}
    embeddings = embed_batch(model, batch, pooling, tokenizer.bos_token_id)
    head = lm_head(model)
    return head(embeddings.to(head.weight.dtype)).float()


@torch.no_grad()
def common_distribution(
    model: torch.nn.Module,
    tokenizer,
    texts: Sequence[str],
    pooling: PoolingSpec,
    *,
    aggregation: str = "softmax-mean-logits",
    max_length: int = 128,
    batch_size: int = 32,
    autocast_dtype: torch.dtype | None = None,
    progress: bool = True,
) -> torch.Tensor:
    """`log Q(w)`, shape `(vocab,)`, from the pooled next-token distributions of `texts`."""
    device = next(model.parameters()).device
    total: torch.Tensor | None = None
    enabled = autocast_dtype is not None and autocast_dtype != torch.float32
    for first in tqdm(
        range(0, len(texts), batch_size), desc="common Q(w)", disable=not progress, leave=False
    ):
        with torch.autocast(device.type, dtype=autocast_dtype or torch.float32, enabled=enabled):
            logits = pooled_logits(model, tokenizer, texts[first : first + batch_size], pooling, max_length)
        part = logits if aggregation == "softmax-mean-logits" else torch.softmax(logits, -1)
        part = part.double().sum(0)
        total = part if total is None else total + part
    if total is None:
        raise ValueError("common_distribution needs at least one text")
    mean = total / len(texts)
    if aggregation == "softmax-mean-logits":
        return torch.log_softmax(mean, -1).float()
    if aggregation == "mean-probs":
        return mean.clamp_min(1e-300).log().float()
    raise ValueError(f"unknown aggregation {aggregation!r}")


def cached_common_distribution(
    key: dict, compute: Callable[[], torch.Tensor], cache_dir: str = "common"
) -> torch.Tensor:
    """Load `log Q` from the cache under `stable_hash(key)`, computing and saving it if absent."""
    path = cache_root() / cache_dir / f"{stable_hash(key)}.pt"
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    log_q = compute()
    buffer = io.BytesIO()
    torch.save(log_q.cpu(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return log_q


def filter_ratio(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """`r = P / (P + Q) = sigmoid(log P − log Q)`, elementwise; `(batch, vocab)` in [0, 1]."""
    return torch.sigmoid(log_p - log_q)


def model_derived_targets(
    logits: torch.Tensor, log_q: torch.Tensor, tau: float, top_k: int
) -> tuple[SparseTargets, torch.Tensor]:
    """Targets `softmax(r / tau)` from frozen-model logits `(batch, vocab)` and `log Q` `(vocab,)`.

    Returns the top-k sparse targets and the fraction of each row's mass the top-k kept `(batch,)`.
    """
    log_p = torch.log_softmax(logits.float(), -1)
    ratio = filter_ratio(log_p, log_q.to(log_p.device))
    dense = torch.softmax(ratio / tau, -1)
    weights, ids = dense.topk(min(top_k, dense.shape[-1]), dim=-1)
    kept = weights.sum(-1)
    return SparseTargets(ids, weights / kept.unsqueeze(-1)), kept
