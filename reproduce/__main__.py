"""Command line: `python -m reproduce <id> [options]` (what the nox sessions call).

python -m reproduce table3 --preset smol --dry-run     # the grid, what is cached, the cost
python -m reproduce table3                              # default preset: paper on GPU, else smol
python -m reproduce all --preset tiny                   # every table and figure
python -m reproduce tables                              # rebuild outputs from stored results
python -m reproduce compare --backbone org/model        # all methods on a new backbone
"""

from __future__ import annotations

import argparse
import logging
import sys

from reproduce.registry import REGISTRY
from t2t.runtime import Runtime


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reproduce", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("target", choices=[*REGISTRY, "all", "tables", "compare"])
    parser.add_argument(
        "--preset",
        choices=["tiny", "smol", "paper"],
        default=None,
        help="scale (default: paper when a CUDA GPU is visible, else smol)",
    )
    parser.add_argument(
        "--backbone",
        default=None,
        help="replace the preset's backbones by one (preset name, HF id or local folder)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the plan and cost; run nothing")
    parser.add_argument("--limit", type=int, default=None, help="start at most this many runs")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    parser.add_argument("--eval-batch-size", type=int, default=32)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "datasets", "mteb", "transformers", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    runtime = Runtime(
        precision=args.precision,
        eval_batch_size=args.eval_batch_size,
        gradient_checkpointing=args.gradient_checkpointing,
        progress=not args.quiet,
    )
    from reproduce.runner import rebuild, reproduce

    if args.target == "tables":
        for spec in REGISTRY.values():
            print(rebuild(spec))
        return 0
    if args.target == "compare":
        from reproduce.compare import compare

        if not args.backbone:
            print("compare needs --backbone <preset, HF id or local folder>", file=sys.stderr)
            return 2
        print(compare(args.backbone, args.preset, dry_run=args.dry_run, limit=args.limit, runtime=runtime))
        return 0
    targets = list(REGISTRY) if args.target == "all" else [args.target]
    for target in targets:
        print(
            reproduce(
                target, args.preset, args.backbone, dry_run=args.dry_run, limit=args.limit, runtime=runtime
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
