"""What the machine can do: the GEMM rate at the model's own shapes, and the useful FLOPs a token costs.

Every other rate in the benchmark is reported as a fraction of `gemm_rates(...)["bf16"]`: how close
the code comes to the machine's own matrix rate (item 1 of the package docstring).
"""

from __future__ import annotations

import time

import torch

from reproduce.plan.gpu_hours import Shape


def useful_flops_per_token(kind: str, config) -> int:
    """Useful FLOPs per real training token of a stage kind: 4 × the decoder's parameters (6 × for
    model-derived, whose targets take one more forward pass), as the module docstring says."""
    return (6 if kind == "model-derived" else 4) * Shape.from_config(config).decoder_parameters


def gemm_rate(config, dtype: torch.dtype, tokens: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of `(tokens, in) @ (in, out)` over one decoder layer's projection shapes."""
    shapes = Shape.from_config(config).projections
    pairs = [(torch.randn(tokens, i, dtype=dtype), torch.randn(i, o, dtype=dtype)) for i, o in shapes]
    flops = sum(2 * tokens * i * o for i, o in shapes)
    best = float("inf")
    for _ in range(repeats + 1):
        start = time.perf_counter()
        for a, b in pairs:
            a @ b
        best = min(best, time.perf_counter() - start)
    return flops / best


def gemm_rates(backbone: str) -> tuple[dict[str, float], int]:
    """`({"bf16": FLOP/s, "fp32": FLOP/s}, decoder parameters)` at `backbone`'s shapes, printed: the
    yardstick every other rate is divided by."""
    from t2t.models.backbones import load_backbone

    config = load_backbone(backbone, dtype=torch.bfloat16)[0].config
    gemm = {"bf16": gemm_rate(config, torch.bfloat16), "fp32": gemm_rate(config, torch.float32)}
    params = Shape.from_config(config).decoder_parameters
    print(
        f"GEMM at {backbone}'s shapes: bf16 {gemm['bf16'] / 1e12:.3f} TFLOP/s, "
        f"fp32 {gemm['fp32'] / 1e12:.3f} TFLOP/s ({torch.get_num_threads()} threads); "
        f"{params / 1e6:.0f}M non-embedding parameters",
        flush=True,
    )
    return gemm, params
