"""Figures from stored results (matplotlib, headless): one row of panels per preset, preset in titles."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from reproduce.manifest import Manifest  # noqa: E402

MIN_SCORE_SPAN = 2.0
"""Sweep panels show at least this many score points on the y axis. Matplotlib fits the axis to the
data, so a curve that is flat within run-to-run noise (figure5 at smol moves 0.1 over N = 250…9000)
would otherwise fill the panel and read as a trend."""


def _widen(ax, span: float) -> None:
    """Centre the y axis on its data and widen it to at least `span`."""
    low, high = ax.get_ylim()
    if high - low < span:
        middle = (low + high) / 2
        ax.set_ylim(middle - span / 2, middle + span / 2)


def sweep_panels(rows: list[tuple[Manifest, pd.DataFrame]]):
    sweeps = rows[0][0].sweeps
    figure, axes = plt.subplots(
        len(rows), len(sweeps), figsize=(5 * len(sweeps), 3.6 * len(rows)), squeeze=False
    )
    for r, (manifest, points) in enumerate(rows):
        for c, sweep in enumerate(manifest.sweeps):
            ax = axes[r][c]
            subset = points[points.sweep == sweep.parameter]
            for role, label in manifest.labels.items():
                line = subset[subset.role == role].sort_values("value")
                done, partial = line[~line.partial.astype(bool)], line[line.partial.astype(bool)]
                if len(done):
                    (drawn,) = ax.plot(done.value, done.score, marker="o", label=label)
                    bars = done[done.half.notna()] if "half" in done else done.iloc[:0]
                    if len(bars):  # 95% intervals over test items and seeds (t2t.stats)
                        ax.errorbar(bars.value, bars.score, yerr=bars.half, fmt="none",
                                    ecolor=drawn.get_color(), capsize=3)  # fmt: skip
                # Unfinished runs: hollow markers, off the line (their average is not comparable).
                if len(partial):
                    color = drawn.get_color() if len(done) else None
                    ax.scatter(partial.value, partial.score, facecolors="none", edgecolors=color,
                               label=f"{label} (partial)")  # fmt: skip
            ax.set_xscale(sweep.scale)
            planned = sorted(sweep.values)
            ax.set_xticks(planned, [f"{value:g}" for value in planned])  # the grid's values, not 3x10^2
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(sweep.label)
            ax.set_ylabel("avg main score x100")
            ax.set_title(f"{manifest.name} ({manifest.preset}): {sweep.label}", fontsize=10)
            ax.grid(alpha=0.3)
            if ax.lines or ax.collections:
                ax.legend(fontsize=8)
                _widen(ax, MIN_SCORE_SPAN)
    return figure


def spectrum_panels(rows: list[tuple[Manifest, dict]]):
    n_cols = max(len(data) for _, data in rows)
    figure, axes = plt.subplots(len(rows), n_cols, figsize=(5 * n_cols, 3.6 * len(rows)), squeeze=False)
    for r, (manifest, data) in enumerate(rows):
        for c, (role, methods) in enumerate(data.items()):
            ax = axes[r][c]
            for method, curve in methods.items():
                x = range(1, len(curve["share"]) + 1)
                (drawn,) = ax.plot(x, curve["share"], marker=".", label=method)
                if curve["low"] is not None:  # 95% band over resampled sentences (t2t.stats)
                    ax.fill_between(x, curve["low"], curve["high"], color=drawn.get_color(), alpha=0.2)
            ax.set_xlabel("principal component of the untrained embeddings")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # components are whole numbers
            ax.set_ylabel("share of squared change")
            ax.set_title(f"spectrum ({manifest.preset}): {manifest.labels[role]}", fontsize=10)
            ax.grid(alpha=0.3)
            if ax.lines or ax.collections:
                ax.legend(fontsize=8)
    return figure


METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}
"""No dates or versions in the files: a rebuild from the same results gives the same bytes."""


def draw(rows: list[tuple[Manifest, object]], folder: Path, panels) -> dict[Path, bytes]:
    """Draw one output's figure with `panels` (its kind's, `reproduce.builders.BUILDERS`) from
    `(manifest, data)` rows (one per preset); return `{path: PNG or PDF bytes}` to write (the caller
    writes every file of an output together)."""
    output = rows[0][0].output
    figure = panels(rows)
    try:
        figure.tight_layout()
        files = {}
        for suffix in ("png", "pdf"):
            buffer = io.BytesIO()
            figure.savefig(buffer, dpi=150, format=suffix, metadata=METADATA[suffix])
            files[folder / f"{output}.{suffix}"] = buffer.getvalue()
    finally:
        plt.close(figure)
    return files


def curve_panels(rows: list[tuple[Manifest, list]]):
    """Budget curves (`reproduce.budget`): per preset and backbone, Mean(TaskType) with its 95%
    interval against training FLOPs and against training tokens (log axes), one line per method."""
    roles = [role for manifest, _ in rows for role in manifest.labels]
    roles = list(dict.fromkeys(roles))
    figure, axes = plt.subplots(
        len(rows), 2 * len(roles), figsize=(4.5 * 2 * len(roles), 3.6 * len(rows)), squeeze=False
    )
    for r, (manifest, points) in enumerate(rows):
        for c, role in enumerate(roles):
            for k, (axis, label) in enumerate((("flops", "training FLOPs"), ("tokens", "training tokens"))):
                ax = axes[r][2 * c + k]
                for row, _ in manifest.rows:
                    line = sorted(
                        (p for p in points if p.row == row and p.role == role), key=lambda p: p.factor
                    )
                    xs = [p.budget.flops if axis == "flops" else p.budget.tokens for p in line]
                    if not line or any(x is None or x <= 0 for x in xs):
                        continue  # training-free or unknown shape: not on a log axis
                    ax.errorbar(xs, [p.score for p in line], yerr=[p.half_width for p in line], marker="o",
                                capsize=3, label=row)  # fmt: skip
                ax.set_xscale("log")
                ax.set_xlabel(label)
                ax.set_ylabel("Mean(TaskType) x100")
                ax.set_title(
                    f"{manifest.name} ({manifest.preset}): {manifest.labels.get(role, role)}", fontsize=10
                )
                ax.grid(alpha=0.3)
                if ax.lines or ax.collections:
                    ax.legend(fontsize=8)
    return figure
