"""Rewrite outputs, the claims and the index from manifests and stored files (no model, no torch).

    rebuild(["table3"])     # that output, then claims.md and results/README.md
    rebuild_after("table3") # after a run: it, every other output that has a manifest, claims, index
    rebuild_all()           # `nox -s tables`: every output that has a manifest, compare tables too

A rebuild loads one `reproduce.cells.results.Results` (every manifest, and the run.json, task
scores and item outputs of the runs they name, each file read once) and hands it to every step.
First, the stored task and item files every manifest names are checked (`reproduce.cells.integrity`):
a wrong number stops the rebuild with one line per file and nothing is written.

Each output is built whole before any of its files is written, and one that fails to build is
logged with its traceback and skipped: the others are still written, then `RebuildFailed` names
what failed (the previous files of the failed output are kept).

First, every run's test items are resampled once (`t2t.stats.precompute`, in `T2T_JOBS` processes, 2
by default): tables, figures and claims then read the same per-(run, task) resampled scores from the
process's cache instead of each drawing their own. The task sets outputs moved from are checked and
resampled too: the index's "What changed" section (`reproduce.report.changes`) decides the claims there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from reproduce.cells.integrity import check_stored
from reproduce.cells.manifest import outputs
from reproduce.cells.results import Results
from reproduce.cells.samples import resample_work
from reproduce.report.builders import write_output
from reproduce.report.changes import moves
from reproduce.report.claims import check_claims, write_claims
from reproduce.report.index import write_index
from t2t.stats import Bootstrap, precompute

logger = logging.getLogger(__name__)


class RebuildFailed(RuntimeError):
    """Some outputs could not be rebuilt (each logged with its traceback); the others were written."""


def rebuild(output_ids: Iterable[str], root: Path | Results | None = None) -> str:
    """Rebuild the given outputs, then the claims and the index; returns "wrote ..." . Stops before
    writing anything when a stored number is wrong (`reproduce.cells.integrity.check_stored`).
    `root`: the results folder, or the `Results` already loaded from it."""
    results = root if isinstance(root, Results) else Results.load(root)
    earlier = [results.on_task_set(preset, before) for preset, before, _ in moves(results)]
    for view in [results, *earlier]:  # the "What changed" section reads the sets outputs moved from
        check_stored(view)
    bootstrap = Bootstrap()
    work = [pair for view in [results, *earlier] for pair in resample_work(view)]
    precompute(work, bootstrap.resamples, bootstrap.block_seeds)
    parts: list[tuple[str, Callable[[], list[Path]]]] = [
        (output, lambda output=output: write_output(output, results)) for output in output_ids
    ]
    checked: list = []  # the claims' verdicts, computed once for claims.md and the index's summary

    def claims() -> list[Path]:
        checked.append(check_claims(results))
        return [write_claims(results, checked[0])]

    parts += [("claims", claims), ("index", lambda: [write_index(results, checked[0] if checked else None)])]
    written: list[Path] = []
    failed: list[str] = []
    for name, build in parts:
        try:
            written += build()
        except Exception as error:  # keep going: one broken output must not block the others
            logger.exception("could not rebuild %s", name)
            failed.append(f"{name}: {type(error).__name__}: {error}")
    base = results.base
    message = "wrote " + ", ".join(
        str(p.relative_to(base)) if p.is_relative_to(base) else str(p) for p in written
    )
    if failed:
        raise RebuildFailed(f"{message}\nfailed to rebuild (previous files kept): " + "; ".join(failed))
    return message


def rebuild_after(output: str, root: Path | None = None) -> str:
    """After `output` ran: it, then every other output with a manifest (tables quote each other:
    a cell is degenerate against main's zero-shot rows, claims compare across tables), then the
    claims and the index, so no file is left describing the previous state of another. The
    results are loaded once, after the run (`Results`): nothing computed before it is reused."""
    results = Results.load(root)
    return rebuild([output, *(other for other in results.outputs() if other != output)], results)


def rebuild_all(root: Path | None = None) -> str:
    """Every output with a manifest, the claims and the index, plus a note on orphaned runs."""
    results = Results.load(root)
    message = rebuild(outputs(root), results)
    unnamed, missing = results.orphans()
    if unnamed:
        message += f"\n{len(unnamed)} run folders are named by no manifest (orphaned): {', '.join(unnamed)}"
    if missing:
        message += f"\n{len(missing)} planned cells have no run folder (not run yet, or deleted):\n  " + (
            "\n  ".join(missing)
        )
    return message
