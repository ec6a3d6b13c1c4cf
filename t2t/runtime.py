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
    """

    device: str = dataclasses.field(default_factory=default_device)
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    checkpoint_every: int = 50
    gradient_checkpointing: bool = False
    eval_batch_size: int = 32
    progress: bool = True

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
