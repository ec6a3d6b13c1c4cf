"""Sparse token targets: per text, the top-k token ids and their weights.

Text2Token's targets are distributions over the LLM vocabulary (PAPER.md §1). They are very
peaked: a data-driven target lives on the handful of tokens of a text's key words, and a
model-derived target `softmax(r / tau)` with tau = 1e-4 is nearly uniform over the few tokens with
the highest ratio. Storing `k` (id, weight) pairs per text instead of a dense `vocab`-sized row
keeps caches small and lets the loss gather only the target positions (`t2t.text2token.loss`).

Layout: two `(n, k)` tensors; padding slots have id 0 and weight 0; each row's weights sum to 1.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import torch

from t2t.core.atomic import atomic_write_bytes


@dataclasses.dataclass
class SparseTargets:
    """`n` sparse distributions over the vocabulary.

    Attributes:
        ids: `(n, k)` int64 token ids.
        weights: `(n, k)` float32 probabilities; zero in padding slots; rows sum to 1
            (or to 0 for a text with no usable token, which the loss skips).
    """

    ids: torch.Tensor
    weights: torch.Tensor

    def __post_init__(self) -> None:
        if self.ids.shape != self.weights.shape or self.ids.dim() != 2:
            raise ValueError(
                f"ids {tuple(self.ids.shape)} and weights {tuple(self.weights.shape)} must be (n, k)"
            )

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def k(self) -> int:
        return self.ids.shape[1]

    def __getitem__(self, index: int | slice | torch.Tensor | list[int]) -> SparseTargets:
        if isinstance(index, int):
            index = [index]
        return SparseTargets(self.ids[index], self.weights[index])

    def row(self, i: int) -> dict[int, float]:
        """Row `i` as `{token_id: weight}`, padding dropped."""
        return {int(t): float(w) for t, w in zip(self.ids[i], self.weights[i]) if w > 0}

    @classmethod
    def from_rows(cls, rows: list[dict[int, float]], k: int | None = None) -> SparseTargets:
        """Build from `{token_id: weight}` dicts: keep each row's top-k, renormalise to sum 1."""
        width = k or max((len(r) for r in rows), default=1) or 1
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        weights = torch.zeros(len(rows), width, dtype=torch.float32)
        for i, row in enumerate(rows):
            top = sorted(row.items(), key=lambda item: (-item[1], item[0]))[:width]
            total = sum(w for _, w in top)
            if total <= 0:
                continue
            for j, (token, weight) in enumerate(top):
                ids[i, j] = token
                weights[i, j] = weight / total
        return cls(ids, weights)

    @classmethod
    def from_dense(cls, probs: torch.Tensor, k: int) -> SparseTargets:
        """Keep the top-k entries of each row of a dense `(n, vocab)` distribution, renormalised."""
        weights, ids = probs.float().topk(min(k, probs.shape[-1]), dim=-1)
        weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-30)
        return cls(ids.long(), weights)

    def to_dense(self, vocab_size: int) -> torch.Tensor:
        """`(n, vocab)` dense version (for tests and small inspections only)."""
        dense = torch.zeros(len(self), vocab_size, dtype=self.weights.dtype)
        dense.scatter_add_(1, self.ids, self.weights)
        return dense

    @classmethod
    def cat(cls, parts: list[SparseTargets]) -> SparseTargets:
        width = max(p.k for p in parts)
        pad = [(p.ids, p.weights) if p.k == width else _pad(p, width) for p in parts]
        return cls(torch.cat([i for i, _ in pad]), torch.cat([w for _, w in pad]))

    def save(self, path: Path) -> None:
        """Atomic save (write to a temporary name, then rename)."""
        buffer = io.BytesIO()
        torch.save({"ids": self.ids, "weights": self.weights}, buffer)
        atomic_write_bytes(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> SparseTargets:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return cls(data["ids"], data["weights"])


def _pad(targets: SparseTargets, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    extra = width - targets.k
    n = len(targets)
    ids = torch.cat([targets.ids, torch.zeros(n, extra, dtype=targets.ids.dtype)], 1)
    weights = torch.cat([targets.weights, torch.zeros(n, extra, dtype=targets.weights.dtype)], 1)
    return ids, weights
