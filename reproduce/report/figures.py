"""Figures from stored results (matplotlib, headless), sized for print.

Every figure is one column of a two-column paper wide (`COLUMN_WIDTH`, 3.3 in) with its panels
stacked, one per sweep, backbone or axis (`PANEL_HEIGHT` each), drawn at that size so its text is
8-9 pt in print (`STYLE`), with TrueType fonts in the PDF (`pdf.fonttype` 42: no Type 3 bitmaps,
text stays selectable and editable). One legend under the panels names every mark: each line,
hollow (partial) points, and what an error bar or band is (a 95% interval over test items, and
seeds where a point has several; only points with item outputs have one). Titles name a panel's
backbone where the legend does not; never a preset id.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from reproduce.cells.manifest import Manifest  # noqa: E402

COLUMN_WIDTH = 3.3
"""Inches: one column of a two-column paper (ACL 3.03 in, ICML 3.25 in, IEEE 3.5 in)."""
PANEL_HEIGHT = 2.2
"""Inches per stacked panel."""
STYLE = {
    "pdf.fonttype": 42,  # TrueType in PDFs, not Type 3
    "ps.fonttype": 42,
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "lines.linewidth": 1.2,
    "lines.markersize": 4,
    "axes.linewidth": 0.6,
    "grid.linewidth": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
}
"""Matplotlib settings every figure is drawn and saved under (`draw`): sizes in points at print size."""
logging.getLogger("fontTools").setLevel(logging.WARNING)  # TrueType subsetting logs every table at INFO

SCORE_LABEL = "Avg. MTEB main score (×100)"
AXIS_LABELS = {"tau": "temperature τ", "common_samples": "samples N for Q(w)"}
"""Sweep parameter -> axis label with its symbol (the manifest's label otherwise)."""

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


def _stacked(n: int):
    """A figure of `n` panels stacked in one column (`COLUMN_WIDTH` wide), constrained layout."""
    figure, axes = plt.subplots(
        n, 1, figsize=(COLUMN_WIDTH, PANEL_HEIGHT * n), squeeze=False, layout="constrained"
    )
    return figure, [row[0] for row in axes]


def interval_label(seeds: Sequence[int], some_without: bool) -> str:
    """What an error bar is, for the legend: a 95% interval over test items (and seeds where its
    points have several, `t2t.stats`), and whether only some points have one.

    >>> interval_label([1], some_without=True)
    '95% interval over test items\\n(only points with item outputs)'
    """
    if max(seeds) == 1:
        over = "test items"
    elif min(seeds) > 1:
        over = "test items and seeds"
    else:
        over = "test items (and seeds\nwhere a point has several)"
    return f"95% interval over {over}" + ("\n(only points with item outputs)" if some_without else "")


def _bar_key(ax, label: str, colors: Sequence[str]) -> None:
    """A legend entry for error bars: a bar with caps in the bars' colour (grey when the lines'
    bars have several); draws nothing on the panel (one NaN point)."""
    color = colors[0] if len(set(colors)) == 1 else "0.3"
    ax.errorbar([math.nan], [math.nan], yerr=[math.nan], fmt="none", ecolor=color, capsize=2, label=label)


def _shared_ylabel(figure, axes, label: str) -> None:
    """One y label for a column of panels that all plot the same quantity (one per panel would not
    fit a panel's height at print size); a single panel keeps its own."""
    if len(axes) == 1:
        axes[0].set_ylabel(label)
    else:
        figure.supylabel(label, fontsize=plt.rcParams["axes.labelsize"])


def _legend(figure, extra: Sequence[tuple[object, str]] = ()) -> None:
    """One legend under the panels: every distinct label of every panel in drawing order, then
    `extra` (handle, label) entries; two columns when every label is short."""
    entries: dict[str, object] = {}
    for ax in figure.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    for handle, label in extra:
        entries.setdefault(label, handle)
    if not entries:
        return
    short = all(len(line) <= 22 for label in entries for line in label.split("\n"))
    figure.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncols=2 if short and len(entries) > 1 else 1,
        frameon=False,
    )


def _tick(value: float) -> str:
    """A sweep value as a tick label: 250, 0.01, and powers of ten below 0.001 as 10⁻⁶."""
    if 0 < value < 1e-3 and math.log10(value).is_integer():
        return f"$10^{{{int(math.log10(value))}}}$"
    return f"{value:g}"


def sweep_panels(rows: list[tuple[Manifest, pd.DataFrame]]):
    """Score against each swept parameter, one panel per sweep (and preset), one line per backbone;
    error bars where a point has item outputs, hollow markers for unfinished (partial) points."""
    sweeps = rows[0][0].sweeps
    figure, axes = _stacked(len(rows) * len(sweeps))
    seeds: list[int] = []  # of the points with an error bar
    colors: list[str] = []  # of the lines with error bars
    some_without = False  # a complete point without item outputs (no bar)
    for r, (manifest, points) in enumerate(rows):
        for c, sweep in enumerate(manifest.sweeps):
            ax = axes[r * len(sweeps) + c]
            subset = points[points.sweep == sweep.parameter]
            for role, label in manifest.labels.items():
                line = subset[subset.role == role].sort_values("value")
                done, partial = line[~line.partial.astype(bool)], line[line.partial.astype(bool)]
                if len(done):
                    (drawn,) = ax.plot(done.value, done.score, marker="o", label=label)
                    bars = done[done.half.notna()] if "half" in done else done.iloc[:0]
                    if len(bars):  # 95% intervals (t2t.stats)
                        ax.errorbar(bars.value, bars.score, yerr=bars.half, fmt="none",
                                    ecolor=drawn.get_color(), capsize=2)  # fmt: skip
                        seeds += [int(n) for n in bars.seeds] if "seeds" in bars else [1] * len(bars)
                        colors.append(drawn.get_color())
                    some_without |= len(bars) < len(done)
                # Unfinished runs: hollow markers, off the line (their average is not comparable).
                if len(partial):
                    color = drawn.get_color() if len(done) else None
                    ax.scatter(partial.value, partial.score, facecolors="none", edgecolors=color,
                               label=f"{label} (partial)")  # fmt: skip
            ax.set_xscale(sweep.scale)
            planned = sorted(sweep.values)
            ax.set_xticks(planned, [_tick(value) for value in planned])  # the grid's values, not 3x10^2
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(AXIS_LABELS.get(sweep.parameter, sweep.label))
            ax.grid(alpha=0.3)
            if ax.lines or ax.collections:
                _widen(ax, MIN_SCORE_SPAN)
    _shared_ylabel(figure, axes, SCORE_LABEL)
    if seeds:
        _bar_key(axes[-1], interval_label(seeds, some_without), colors)
    _legend(figure)
    return figure


SPECTRUM_TICKS = 5
"""Spectrum x ticks: PC1 (the component the claim is about), then every fifth component."""


def spectrum_panels(rows: list[tuple[Manifest, dict]]):
    """Share of the squared change per principal component, one panel per backbone (and preset),
    one line per method, a 95% band over resampled sentences where the per-sentence file exists."""
    panels = [
        (manifest, role, methods) for manifest, data in rows for role, methods in data.items() if methods
    ]
    figure, axes = _stacked(max(len(panels), 1))
    band = False
    for ax, (manifest, role, methods) in zip(axes, panels, strict=False):
        components = 1
        for method, curve in methods.items():
            x = range(1, len(curve["share"]) + 1)
            (drawn,) = ax.plot(x, curve["share"], marker=".", label=method)
            if curve["low"] is not None:  # 95% band over resampled sentences (t2t.stats)
                ax.fill_between(x, curve["low"], curve["high"], color=drawn.get_color(), alpha=0.2)
                band = True
            components = max(components, len(curve["share"]))
        ticks = [1, *range(SPECTRUM_TICKS, components + 1, SPECTRUM_TICKS)]
        ax.set_xticks(ticks if components > 2 * SPECTRUM_TICKS else range(1, components + 1))
        ax.set_xlim(0.5, components + 0.5)
        ax.set_xlabel("principal component (untrained model)")
        ax.set_ylabel("share of\nsquared change")
        ax.set_title(manifest.labels[role])
        ax.grid(alpha=0.3)
    key = Patch(facecolor="0.5", alpha=0.3, label="95% band over resampled sentences")
    _legend(figure, [(key, key.get_label())] if band else [])
    return figure


METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}
"""No dates or versions in the files: a rebuild from the same results gives the same bytes."""


def draw(rows: list[tuple[Manifest, object]], folder: Path, panels) -> dict[Path, bytes]:
    """Draw one output's figure with `panels` (its kind's, `reproduce.report.builders.BUILDERS`) from
    `(manifest, data)` rows (one per preset); return `{path: PNG or PDF bytes}` to write (the caller
    writes every file of an output together)."""
    output = rows[0][0].output
    with plt.rc_context(STYLE):  # sizes at creation, font types at saving: both inside
        figure = panels(rows)
        try:
            files = {}
            for suffix in ("png", "pdf"):
                buffer = io.BytesIO()
                figure.savefig(buffer, dpi=300, format=suffix, metadata=METADATA[suffix])
                files[folder / f"{output}.{suffix}"] = buffer.getvalue()
        finally:
            plt.close(figure)
    return files


def curve_panels(rows: list[tuple[Manifest, list]]):
    """Budget curves (`reproduce.plan.budget`): per preset and backbone, Mean(TaskType) with its 95%
    interval against training FLOPs and against training tokens (log axes, one panel each), one
    line per method."""
    roles = list(dict.fromkeys(role for manifest, _ in rows for role in manifest.labels))
    figure, axes = _stacked(len(rows) * 2 * len(roles))
    seeds: list[int] = []
    for r, (manifest, points) in enumerate(rows):
        for c, role in enumerate(roles):
            for k, (axis, label) in enumerate((("flops", "training FLOPs"), ("tokens", "training tokens"))):
                ax = axes[(r * len(roles) + c) * 2 + k]
                for row, _ in manifest.rows:
                    line = sorted(
                        (p for p in points if p.row == row and p.role == role), key=lambda p: p.factor
                    )
                    xs = [p.budget.flops if axis == "flops" else p.budget.tokens for p in line]
                    if not line or any(x is None or x <= 0 for x in xs):
                        continue  # training-free or unknown shape: not on a log axis
                    ax.errorbar(xs, [p.score for p in line], yerr=[p.half_width for p in line], marker="o",
                                capsize=2, label=row)  # fmt: skip
                    seeds += [p.seeds for p in line]
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(NullFormatter())  # 2x10^10, 3x10^10, ... would overlap
                ax.set_xlabel(label)
                ax.set_title(manifest.labels.get(role, role))
                ax.grid(alpha=0.3)
    _shared_ylabel(figure, axes, "Mean(TaskType), MTEB main score (×100)")
    if seeds:
        _bar_key(axes[-1], interval_label(seeds, some_without=False), ["0.3"])
    _legend(figure)
    return figure
