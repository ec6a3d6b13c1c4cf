"""Stored results -> DataFrames for the table and figure builders. Reads files only, no models."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reproduce.grid import PlannedRun
from t2t.paths import results_root
from t2t.results import RunStore, read_json

COLUMNS = ["row", "role", "backbone", "task", "score", "run_id", "sweep", "value"]


def scores_frame(planned: list[PlannedRun], root: Path | None = None) -> pd.DataFrame:
    """One line per (planned cell, stored task): scores x100. Unfinished runs contribute their
    finished tasks; runs with nothing stored contribute nothing (their cells print `--`)."""
    cache: dict[str, dict[str, float]] = {}
    records = []
    for item in planned:
        if item.run_id not in cache:
            cache[item.run_id] = RunStore(item.run_id, root).task_scores()
        for task, score in cache[item.run_id].items():
            records.append(
                (item.row, item.role, item.backbone, task, 100.0 * score, item.run_id, item.sweep, item.value)
            )
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def failed_runs(planned: list[PlannedRun], root: Path | None = None) -> dict[tuple[str, str], str]:
    """`{(row, role): "run <id>: <error>"}` for cells whose run's last attempt failed (run.json
    status `failed`), so a table can say "failed" instead of "not measured"."""
    failed = {}
    for item in planned:
        info = RunStore(item.run_id, root).read()
        if info.get("status") == "failed":
            failed[(item.row, item.role)] = f"run {item.run_id}: {info.get('error') or 'no message'}"
    return failed


def analysis_path(analysis: str, run_id: str, root: Path | None = None) -> Path:
    return (root or results_root()) / "analyses" / f"{analysis}-{run_id}.json"


def load_analysis(analysis: str, run_id: str, root: Path | None = None) -> dict | None:
    return read_json(
        analysis_path(analysis, run_id, root),
        "the analysis counts as not done and is recomputed by the next run of its output.",
    )


def run_dates(planned: list[PlannedRun], root: Path | None = None) -> list[str]:
    """`written_at` of every stored run of a plan (for the results index)."""
    dates = []
    for run_id in {item.run_id for item in planned}:
        written = RunStore(run_id, root).read().get("provenance", {}).get("written_at")
        if written:
            dates.append(written)
    return dates
