"""Train the stages of a model spec from the command line (single process or `accelerate launch`).

    python -m reproduce.run.train --spec spec.json
    accelerate launch --num_processes 8 -m reproduce.run.train --spec spec.json     # DDP on 8 GPUs

`spec.json` holds a `ModelSpec` (or a `RunSpec`, whose `model` is used). Finished stages are
reused, interrupted ones resume from their last checkpoint. Prints one JSON line per stage with its
artifact folder, so scripts (and the distributed test) can find the adapters.

This entry point lives in `reproduce`, the layer that composes the methods, because a spec may name
any objective: importing `reproduce.paper.methods` registers the baselines' (`mntp`, `simcse`) next to
Text2Token's, which `t2t` alone does not know (`t2t` never imports `baselines`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path

import torch

import reproduce.paper.methods  # noqa: F401  (registers every objective a spec may name)
from t2t.core.cli import add_training_arguments, integer, training_runtime_fields
from t2t.core.errors import report_user_errors
from t2t.core.plugins import load_plugins
from t2t.core.runtime import Runtime
from t2t.training.pipeline import build_model, make_accelerator, stage_dir
from t2t.training.spec import ModelSpec


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes, in name order (identical models <=> identical digests)."""
    digest = hashlib.sha256()
    for name, parameter in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(parameter.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spec", type=Path, required=True, help="JSON file with a ModelSpec or RunSpec")
    add_training_arguments(parser)
    parser.add_argument("--checkpoint-every", type=integer(minimum=1), default=50)
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--debug", action="store_true", help="tracebacks for user errors too")
    args = parser.parse_args(argv)
    load_plugins()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    payload = json.loads(args.spec.read_text())
    spec = ModelSpec.from_dict(payload.get("model", payload) if "method" in payload else payload)
    runtime = Runtime(
        **training_runtime_fields(args),
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress,
    )
    accelerator = make_accelerator(runtime)
    model, _, _ = build_model(spec, runtime, accelerator)
    print(
        json.dumps({"rank": accelerator.process_index, "weights_sha256": weights_digest(model)}), flush=True
    )
    if accelerator.is_main_process:
        for index, stage in enumerate(spec.stages):
            print(
                json.dumps(
                    {
                        "stage": index,
                        "objective": stage.objective,
                        "artifact": str(stage_dir(spec.stage_key(index))),
                    }
                )
            )


if __name__ == "__main__":
    sys.exit(report_user_errors(main))
