"""Command line of the `t2t` package:

python -m t2t export <run> OUT     a sentence-transformers folder, adapters, model card (t2t.runs.export)
python -m t2t publish <run> OUT    results in MTEB's results-repository layout (t2t.runs.publish)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from t2t.core.errors import report_user_errors
from t2t.core.plugins import load_plugins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m t2t",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    publish = commands.add_parser(
        "publish", help="write a run's results in the layout of MTEB's results repository"
    )
    publish.add_argument("run", help="a run id (under T2T_RESULTS_DIR/runs) or a run folder")
    publish.add_argument("out", type=Path, help="where to write results/<org>__<model>/<revision>/")
    publish.add_argument(
        "--name", help="the model's name, org/model (default: t2t-repro/<method>-<backbone>-<run id>)"
    )
    publish.add_argument("--revision", help="the model's revision (default: the run id)")
    publish.add_argument(
        "--skip-variants",
        action="store_true",
        help="leave out our variants of MTEB tasks (SciFact-lite, ...) and publish MTEB's own tasks only",
    )
    export = commands.add_parser(
        "export", help="write a run's encoder as a sentence-transformers folder, with adapters and a card"
    )
    export.add_argument("run", help="a run id (under T2T_RESULTS_DIR/runs) or a run folder")
    export.add_argument("out", type=Path, help="a new folder")
    export.add_argument(
        "--retrain",
        action="store_true",
        help="retrain stages no longer in the cache, on the run's recorded path (else refused)",
    )
    args = parser.parse_args(argv)
    load_plugins()  # every method's objectives, whatever run is exported
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "export":
        from t2t.runs.export import export_run

        folder = export_run(args.run, args.out, retrain=args.retrain)
    else:
        from t2t.runs.publish import publish as publish_run

        folder = publish_run(
            args.run, args.out, name=args.name, revision=args.revision, skip_variants=args.skip_variants
        )
    print(f"wrote {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(report_user_errors(main))
