"""The training fast path: the same update as the plain peft loop, with less work per step.

A LoRA step on a frozen 135M model does ~4 × 106M FLOP per token (forward, and the backward
through the activations; the frozen weights get no gradient). Profiled on a 2-core AVX-512-BF16
CPU (SmolLM2-135M, batch 16 × 64 tokens, `python -m reproduce.perf.benchmark`), the plain path spent only
~35% of a step in matrix products. The rest, and what this module does about it:

- **fp32 weights under bf16 autocast** (the plain CPU recipe): every linear layer casts its weight
  to bf16 on every call, and the residual stream stays fp32 because the fp32 RMSNorm weights
  promote it. The fast path loads the frozen base in bf16 (`Runtime.weight_dtype`) and keeps the
  LoRA parameters and the optimiser state in fp32 (peft upcasts adapters by default), as LLM2Vec
  trains on GPUs.
- **peft casts each LoRA input to the adapter's dtype** (`_cast_input_dtype`): with fp32 adapters
  that is a bf16 → fp32 copy of every projection's input, and dropout and `lora_A` then run on
  fp32. Under autocast the cast is pointless (autocast runs `lora_A` in bf16 anyway), so
  `prepare_lora` switches it off (peft's `cast_input_dtype_enabled`).
- **LoRA dropout on the CPU** (`nn.Dropout(0.05)` on the input of each of the 7 adapted
  projections, 30 layers): torch draws one random number per element, ~19% of a step.
  `SparseDropout` draws only the dropped positions, as geometric gaps between them: the same
  i.i.d. Bernoulli(p) mask in distribution, ~1/p fewer random draws. GPUs keep `nn.Dropout`.
- **sdpa's CPU backward** for short padded sequences was ~18% of a step; the eager attention
  (the same softmax(QKᵀ/√d + mask)V, dropout included) is faster there. `Runtime.train_attention`
  picks it on CPUs; GPUs keep sdpa. Evaluation is untouched.

None of these changes what is optimised. `tests/t2t/training/test_fastpath.py` checks that one step's loss and
LoRA gradients match the plain path within bf16 tolerance, and that `SparseDropout` drops at rate p
and rescales like `nn.Dropout`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class SparseDropout(nn.Module):
    """Inverted dropout (`nn.Dropout(p)` semantics) that draws only the dropped positions.

    In training, each element is zeroed independently with probability `p` and the rest are scaled
    by `1 / (1 - p)`; in eval mode it is the identity. The positions of the zeros are the partial
    sums of Geometric(p) gaps (the number of trials up to each success of a Bernoulli(p)
    sequence), which is exactly an i.i.d. Bernoulli(p) mask, drawn with ~`p · n` random numbers
    instead of `n`. Worth it for small `p` on a CPU (LoRA's 0.05: ~5x faster than `nn.Dropout`
    on bf16 inputs); the random stream differs from torch's, so a seed gives other masks than
    `nn.Dropout` would.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = p

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0 or x.numel() == 0:
            return x
        positions = dropped_positions(x.numel(), self.p, x.device)
        return _ScatterZero.apply(x, positions, 1.0 / (1.0 - self.p))


class _ScatterZero(torch.autograd.Function):
    """`x * scale` with the flat `positions` set to zero; the backward does the same to the
    gradient. Saves only the positions (~p · 8 bytes per element), not a full mask."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, positions: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(positions)
        ctx.scale = scale
        out = x * scale
        out.view(-1)[positions] = 0
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (positions,) = ctx.saved_tensors
        grad = (grad * ctx.scale).contiguous()
        grad.view(-1)[positions] = 0
        return grad, None, None


def dropped_positions(n: int, p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """Sorted indices in `[0, n)` of an i.i.d. Bernoulli(p) sample's successes (see `SparseDropout`).

    Gaps are drawn in float64 (exact integers up to 2^53) in blocks sized to pass `n` with
    overwhelming probability; another block is drawn in the rare case they fall short.
    """
    mean = n * p
    block = int(mean + 8.0 * mean**0.5 + 16)
    found, end = [], -1.0
    while end < n - 1:
        gaps = torch.empty(block, dtype=torch.float64, device=device).geometric_(p)
        positions = gaps.cumsum_(0).add_(end)
        found.append(positions)
        end = float(positions[-1])
    positions = torch.cat(found)
    return positions[positions < n].long()


def prepare_lora(model: nn.Module, *, autocast: bool, sparse_dropout: bool) -> int:
    """Switch a peft model's LoRA layers to the fast path, in place; returns the layers changed.

    `autocast`: skip peft's cast of each LoRA input to the adapter dtype (autocast decides the
    matmul dtype anyway). `sparse_dropout`: replace each `nn.Dropout` of the adapters with
    `SparseDropout` of the same `p`.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    changed = 0
    for module in model.modules():
        if not isinstance(module, BaseTunerLayer):
            continue
        changed += 1
        if autocast:
            module.cast_input_dtype_enabled = False
        dropouts = getattr(module, "lora_dropout", None)
        if sparse_dropout and dropouts is not None:
            for name, layer in list(dropouts.items()):
                if type(layer) is nn.Dropout and layer.p > 0:
                    dropouts[name] = SparseDropout(layer.p)
    return changed


#: stored activation bytes per token, layer and hidden unit on the fast path (bf16), measured by
#: `python -m reproduce.perf.benchmark` at smol: MNTP (16 × 128 tokens, 30 layers, hidden 576, no
#: padding) peaks at 4.8 GB, ~1 GB of it weights and buffers: 3.8 GB / (2048 · 30 · 576) ≈ 107.
ACTIVATION_BYTES = 110


def activation_gb(config, tokens_per_step: int) -> float:
    """Estimated activation memory (GB) of one training step: tokens × layers × hidden × bytes.

    `tokens_per_step` counts every position with a graph (batch × max_length × passes per item).
    """
    return tokens_per_step * config.num_hidden_layers * config.hidden_size * ACTIVATION_BYTES / 1e9


@contextlib.contextmanager
def attention_implementation(model: nn.Module, name: str | None) -> Iterator[None]:
    """Run a block with the model's attention kernel set to `name` (`eager`, `sdpa`), then restore.

    `None` leaves it as it is. Uses transformers' `set_attn_implementation`, which switches every
    attention layer of the model (and of a peft wrapper's base model).
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    before = getattr(base.config, "_attn_implementation", None)
    if name is None or name == before:
        yield
        return
    base.set_attn_implementation(name)
    try:
        yield
    finally:
        base.set_attn_implementation(before)
