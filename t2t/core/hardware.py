"""What machine we are on: device choice, bf16 support, a description for `run.json`."""

from __future__ import annotations

import functools
import os
import platform
from typing import Any

import torch


def default_device() -> str:
    """`cuda` when a CUDA GPU is visible, else `cpu`."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def cpu_has_fast_bf16() -> bool:
    """True when the CPU has native bf16 matmuls (AVX512-BF16 or AMX), where bf16 is ~2x fp32."""
    try:
        with open("/proc/cpuinfo") as handle:
            flags = handle.read()
    except OSError:
        return False
    return any(flag in flags for flag in ("avx512_bf16", "amx_bf16"))


def fast_bf16(device: str) -> bool:
    """Whether bf16 compute is a good idea on `device`."""
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return cpu_has_fast_bf16()


def describe_hardware() -> dict[str, Any]:
    """A small, JSON-ready description of this machine (recorded with every run)."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_fast_bf16": cpu_has_fast_bf16(),
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
