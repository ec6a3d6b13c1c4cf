"""Stored results -> DataFrames and records for the builders, from the run folders named by manifest
cells (`reproduce.cells.manifest.ManifestCell`) as one `reproduce.cells.results.Results` holds them
(read once), and from analysis files; no models, no mteb, no torch."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from reproduce.cells.manifest import ManifestCell, analysis_path
from reproduce.cells.results import Results, Source, as_results
from reproduce.cells.tables import aggregate
from t2t.core.atomic import read_json

COLUMNS = ["row", "role", "backbone", "task", "score", "run_id", "sweep", "value"]


def scores_frame(cells: Sequence[ManifestCell], results: Results) -> pd.DataFrame:
    """One line per (cell, stored task): scores x100. Unfinished runs contribute their finished
    tasks; runs with nothing stored contribute nothing (their cells print `--`)."""
    records = []
    for cell in cells:
        for task, score in results.scores(cell.run_id).items():
            records.append(
                (cell.row, cell.role, cell.backbone, task, 100.0 * score, cell.run_id, cell.sweep, cell.value)
            )
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def cell_averages(cells: Sequence[ManifestCell], tasks: Sequence[str], results: Source = None) -> list:
    """`[(cell, Cell)]`: each cell's mean main score x100 over `tasks` (partial, or empty, when
    some or all of its tasks are not stored)."""
    frame = scores_frame(cells, as_results(results))
    out = []
    for cell in cells:
        scores = dict(frame[frame.run_id == cell.run_id][["task", "score"]].itertuples(index=False))
        out.append((cell, aggregate(scores, tasks)))
    return out


def failed_runs(cells: Sequence[ManifestCell], results: Results, *, points: bool = False) -> dict[tuple, str]:
    """`{(row, role): "run <id>: <error>"}` for cells whose run's last attempt failed (run.json
    status `failed`), so a table can say "failed" instead of "not measured". `points`: key by
    `(sweep, value, role)` instead (sweep figures, whose points share one row label)."""
    failed = {}
    for cell in cells:
        info = results.record(cell.run_id)
        if info.get("status") == "failed":
            key = (cell.sweep, cell.value, cell.role) if points else (cell.row, cell.role)
            failed[key] = f"run {cell.run_id}: {info.get('error') or 'no message'}"
    return failed


def searcher_descriptions(cells: Sequence[ManifestCell], results: Results) -> dict[str, str]:
    """`{row: what it is}` for the rows whose runs are searchers (`t2t.evaluation.searchers`, e.g. BM25: "a
    lexical retrieval baseline ..."), as `run.json` records it (`searcher`), for the tables' footnotes."""
    found = {}
    for cell in cells:
        description = results.record(cell.run_id).get("searcher")
        if description:
            found.setdefault(cell.row, description)
    return found


def load_analysis(analysis: str, analysis_id: str, root: Path | None = None) -> dict | None:
    return read_json(
        analysis_path(analysis, analysis_id, root),
        "the analysis counts as not done and is recomputed by the next run of its output.",
    )


def run_dates(cells: Sequence[ManifestCell], results: Results) -> list[str]:
    """When every stored run named by `cells` last computed a score: its `written_at` and those of its
    later evaluations (`reevaluations`), for the results index."""
    dates = []
    for run_id in {cell.run_id for cell in cells}:
        info = results.record(run_id)
        for origin in [
            info.get("provenance", {}),
            *(e.get("provenance", {}) for e in info.get("reevaluations", [])),
        ]:
            if origin.get("written_at"):
                dates.append(origin["written_at"])
    return dates


def unverified(cells: Sequence[ManifestCell], results: Results) -> dict[tuple[str, str], str]:
    """`{(row, role): run id}` for cells whose run was kept with `--on-stale accept`: its recorded
    inputs differ from those of the machine that accepted it (e.g. the offline mirror vs the Hub), so
    a table built from it must say so (`run.json` `stale_accepted`)."""
    return {
        (cell.row, cell.role): cell.run_id
        for cell in cells
        if results.record(cell.run_id).get("stale_accepted")
    }
