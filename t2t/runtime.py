"""How to run (not what to run): device, precision, checkpointing, batch sizes for evaluation.

None of these fields enter a run's identity (its config hash): they change speed, not meaning.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from t2t.hardware import default_device, fast_bf16


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Execution settings.

    Attributes:
        device: `cpu` or `cuda` (default: cuda when visible).
        precision: `auto` = bf16 weights on GPUs, fp32 weights + bf16 autocast on CPUs with native
            bf16, fp32 elsewhere; `fp32` forces fp32 everywhere; `bf16` forces bf16 weights.
        checkpoint_every: training checkpoint interval, in steps.
        gradient_checkpointing: trade compute for memory (paper-scale training on one GPU).
        eval_batch_size: texts per forward pass in evaluation.
        progress: progress bars.
        on_stale: what to do with a stored result (run or cached stage) whose recorded inputs
            (data files, weights: `t2t.fingerprint`) differ from today's: `error` (default) stops
            with a message listing the differences; `recompute` moves the stale result aside and
            computes it again; `accept` keeps it and records the acceptance in its metadata.
        add_items: re-evaluate stored tasks that have no per-item outputs (runs stored before them),
            so their cells get intervals; the new score replaces the stored one and both are
            recorded in `run.json` (`reevaluated`). The model is rebuilt from cached stages, or
            retrained where the cache is gone.
    """

    device: str = dataclasses.field(default_factory=default_device)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    checkpoint_every: int = 50
    gradient_checkpointing: bool = False
    eval_batch_size: int = 32
    progress: bool = True
    on_stale: Literal["error", "recompute", "accept"] = "error"
    add_items: bool = False

    def __post_init__(self) -> None:
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if self.on_stale not in ("error", "recompute", "accept"):
            raise ValueError(f"on_stale must be error, recompute or accept, got {self.on_stale!r}")

    def weight_dtype(self) -> torch.dtype:
        if self.precision == "bf16" or (self.precision == "auto" and self.device.startswith("cuda")):
            return torch.bfloat16
        return torch.float32

    def autocast_dtype(self) -> torch.dtype:
        if self.precision == "fp32":
            return torch.float32
        if self.precision == "bf16" or fast_bf16(self.device):
            return torch.bfloat16
        return torch.float32

    def eval_dtype(self) -> torch.dtype:
        return self.autocast_dtype()
