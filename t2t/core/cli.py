"""Argument types for the command lines: every numeric option has a range, checked when parsed.

    parser.add_argument("--limit", type=integer(minimum=0))
    parser.add_argument("--tau", type=number(minimum=0, inclusive=False))

A value out of range is refused by argparse with the option's name, the value and the range
(`argument --limit: -1 is not an integer >= 0`) and exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import Any


def _describe(kind: str, minimum: float | None, maximum: float | None, inclusive: bool) -> str:
    low = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
    if minimum is not None and maximum is not None:
        return (
            f"{kind} in [{minimum:g}, {maximum:g}]" if inclusive else f"{kind} in ({minimum:g}, {maximum:g}]"
        )
    if minimum is not None:
        return f"{kind} {low}"
    return f"{kind} <= {maximum:g}" if maximum is not None else kind


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse `type` accepting whole numbers in `[minimum, maximum]` (either end optional)."""
    return _ranged(int, "an integer", minimum, maximum, inclusive=True)


def number(
    minimum: float | None = None, maximum: float | None = None, *, inclusive: bool = True
) -> Callable[[str], float]:
    """An argparse `type` accepting finite floats above `minimum` (or equal when `inclusive`) and
    up to `maximum`."""
    return _ranged(float, "a number", minimum, maximum, inclusive=inclusive)


def _ranged(cast, kind: str, minimum, maximum, *, inclusive: bool):
    wanted = _describe(kind, minimum, maximum, inclusive)

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
        below = minimum is not None and (value < minimum if inclusive else value <= minimum)
        if not math.isfinite(value) or below or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{value:g} is not {wanted}")
        return value

    parse.__name__ = cast.__name__  # argparse names the type in its messages
    return parse


def add_training_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The `t2t.core.runtime.Runtime` options of every command that trains: precision and memory."""
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "mixed"], default="auto")
    parser.add_argument(
        "--gradient-checkpointing", action="store_true", help="recompute activations in every stage"
    )
    parser.add_argument(
        "--checkpoint-above-gb",
        type=number(minimum=0, inclusive=False),
        default=6.0,
        help="checkpoint stages whose estimated activations exceed this many GB (default 6)",
    )
    parser.add_argument(
        "--train-attention",
        choices=["auto", "sdpa", "eager"],
        default="auto",
        help="attention kernel while training (auto: eager on CPUs, sdpa on GPUs)",
    )
    parser.add_argument(
        "--sparse-dropout",
        choices=["auto", "on", "off"],
        default="auto",
        help="LoRA dropout drawing only the dropped positions (auto: on CPUs)",
    )
    parser.add_argument(
        "--train-threads",
        type=integer(minimum=1),
        default=None,
        help="CPU threads a stage trains with (default: the process's). A stored run that gains tasks "
        "or is verified retrains as it recorded (precision, kernel, dropout, threads), whatever these "
        "options say",
    )


def training_runtime_fields(args: argparse.Namespace) -> dict[str, Any]:
    """`Runtime` keyword arguments from the options `add_training_arguments` added."""
    return {
        "precision": args.precision,
        "gradient_checkpointing": args.gradient_checkpointing,
        "checkpoint_above_gb": args.checkpoint_above_gb,
        "train_attention": args.train_attention,
        "sparse_dropout": args.sparse_dropout,
        "train_threads": args.train_threads,
    }
