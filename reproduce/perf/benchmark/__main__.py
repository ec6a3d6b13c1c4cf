"""The benchmark's command line: `python -m reproduce.perf.benchmark` (or `nox -s benchmark`).

`main` measures in the order the package docstring lists (GEMM, encoding, long texts, scoring, item
scoring, training, profiles) and writes one JSON report. `--train-one` and `--profile-one` are the
child processes that `training.in_child` starts, one per stage, so that each has its own peak memory.
"""

from __future__ import annotations

import argparse
import json

import reproduce.perf.benchmark as package
from reproduce.perf.benchmark.encoding import bench_encodings
from reproduce.perf.benchmark.gemm import gemm_rates
from reproduce.perf.benchmark.long_texts import bench_long_texts
from reproduce.perf.benchmark.profiling import bench_profiles, profile_one
from reproduce.perf.benchmark.scoring import bench_item_scores, bench_scoring
from reproduce.perf.benchmark.training import PATHS, STAGE_KINDS, bench_training, report_training, train_one
from t2t.models.backbone_catalog import DEFAULT_BACKBONE


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's options (the package docstring is its `--help`)."""
    from t2t.core.cli import integer

    parser = argparse.ArgumentParser(
        prog="benchmark.py",  # the name its usage and errors gave as a single module
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--preset", default="smol", help="whose stage settings to train with")
    parser.add_argument("--texts", type=integer(minimum=2), default=512)
    parser.add_argument(
        "--long-texts", type=integer(minimum=1), default=200, help="STS sentences and SciFact abstracts each"
    )
    parser.add_argument("--resamples", type=integer(minimum=1), default=10_000, help="item-scoring benchmark")
    parser.add_argument("--batch-size", type=integer(minimum=1), default=32)
    parser.add_argument("--repeats", type=integer(minimum=1), default=2)
    parser.add_argument(
        "--steps", type=integer(minimum=2), default=4, help="steps per stage (the first warms up)"
    )
    parser.add_argument("--kinds", nargs="+", choices=STAGE_KINDS, default=list(STAGE_KINDS))
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS))
    parser.add_argument("--skip-encoding", action="store_true")
    parser.add_argument(
        "--llm2vec-python",
        help="a python with llm2vec 0.2.3 (nox -s benchmark passes llm2vec-parity's): also time LLM2Vec.encode",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one step of each kind (fast path) and print where its time goes",
    )
    parser.add_argument("--train-one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    return parser


def measure(args: argparse.Namespace) -> dict:
    """Every measurement the options ask for, in the package docstring's order, as the report's
    sections (the encoding ones are skipped with `--skip-encoding`)."""
    gemm, params = gemm_rates(args.backbone)
    encode = not args.skip_encoding
    encoding = (
        bench_encodings(
            args.backbone, args.texts, args.batch_size, args.repeats, args.llm2vec_python, params, gemm
        )
        if encode
        else []
    )
    long_texts = (
        bench_long_texts(args.backbone, args.long_texts, args.batch_size, args.repeats) if encode else None
    )
    scoring = bench_scoring() if encode else []
    item_scoring = bench_item_scores(args.resamples)
    training = bench_training(args.backbone, args.preset, args.kinds, args.paths, args.steps)
    report_training(training, args.kinds, gemm["bf16"])
    profiles = (
        bench_profiles(args.backbone, args.preset, args.kinds, args.steps, gemm["bf16"])
        if args.profile
        else []
    )
    return {
        "gemm_flop_per_s": gemm,
        "non_embedding_parameters": params,
        "encoding": encoding,
        "training": training,
        "profiles": profiles,
        "scoring": scoring,
        "long_texts": long_texts,
        "item_scoring": item_scoring,
    }


def write_report(args: argparse.Namespace, sections: dict) -> None:
    """`results/benchmarks/benchmark-<backbone>.json`: the backbone, preset, hardware and git state,
    then the measured sections."""
    from t2t.core.atomic import atomic_write_json
    from t2t.core.hardware import describe_hardware
    from t2t.core.paths import results_root
    from t2t.core.provenance import git_state

    report = {
        "backbone": args.backbone,
        "preset": args.preset,
        "hardware": describe_hardware(),
        "git": git_state(),
        **sections,
    }
    path = results_root() / "benchmarks" / f"benchmark-{args.backbone.replace('/', '_')}.json"
    atomic_write_json(path, report)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    """Parse; a child (`--train-one`/`--profile-one`) prints its one JSON row; otherwise measure and
    write the report."""
    args = build_parser().parse_args(argv)
    if args.train_one or args.profile_one:
        one = train_one if args.train_one else profile_one
        print(json.dumps(one(args.backbone, args.preset, *(args.train_one or args.profile_one), args.steps)))
        return
    write_report(args, measure(args))


if __name__ == "__main__":
    main()
