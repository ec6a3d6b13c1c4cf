"""Outputs from manifests and run folders: one builder per kind of output, in one place.

    results/tables/<id>.{md,tex}      every kind: one section per preset with results
    results/figures/<id>.{png,pdf}    sweep figures and the spectrum (drawn by `reproduce.report.figures`)

A manifest (`reproduce.cells.manifest`) says which run or analysis fills which cell; a builder turns one
manifest into a section (a `Table`) and, for the kinds that draw, the data of one figure row, from
one `reproduce.cells.results.Results` (every manifest and run file, read once):

| kind       | section                                          | figure                          |
|------------|--------------------------------------------------|---------------------------------|
| `table`    | rows x backbone columns of task-set averages     | none                            |
| `figure`   | one row per sweep point (the numbers drawn)      | score vs parameter, per sweep   |
| `analysis` | spectrum: PC1 share / largest PC; alignment:     | spectrum: share of change per   |
|            | top-10 tokens in the input                       | component (alignment: none)     |

Nothing here imports torch, mteb or spaCy: `python -m reproduce tables` rebuilds everything from
files. Each output is built whole before any of its files is written (`write_all`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from reproduce.cells.collect import (
    cell_averages,
    failed_runs,
    load_analysis,
    scores_frame,
    searcher_descriptions,
    unverified,
)
from reproduce.cells.manifest import Manifest, analysis_path, items_path
from reproduce.cells.results import Results, Source, as_results
from reproduce.cells.samples import pool_sources, restricted, run_tasks, samples
from reproduce.cells.tables import (
    FAILED,
    MEAN_TASK_TYPE,
    PARTIAL_NOTE,
    Cell,
    Table,
    category_weights,
    mark_best,
    score_table,
    seed_model_note,
)
from reproduce.judge.degenerate import DEGENERATE, mark_degenerate
from reproduce.paper.reported import reported_cell
from reproduce.plan.budget import add_budget, curve_section
from reproduce.report.latex import to_latex
from reproduce.report.markdown import markdown_document
from t2t.core.atomic import atomic_write_bytes, read_json
from t2t.stats import HOLDS, cell_interval, decide, paired_difference, share_band

logger = logging.getLogger(__name__)


def section_title(manifest: Manifest) -> str:
    return (
        f"{manifest.name} — preset {manifest.preset} "
        f"({manifest.preset_description}; tasks: {manifest.task_set})"
    )


# ---------------------------------------------------------------- tables


def table_section(manifest: Manifest, results: Source = None) -> tuple[Table | None, None]:
    """The score table of one preset, or None when no cell has stored results (or a failure).

    Cells with item outputs print their interval (`reproduce.cells.samples`: test items, the evaluator's
    fits and, for a trained cell, its method's seed variance, one seed or several); a cell not
    significantly worse than its column's best is bold; a trained cell
    significantly below its own untrained backbone is `degenerate‡` (`reproduce.judge.degenerate`). A cell
    whose run evaluates only some task types (BM25: Retrieval, `reproduce.cells.samples.run_tasks`) has
    numbers, intervals and bold in those columns only (`scope`)."""
    results = as_results(results)
    cells = manifest.seed_cells()
    frame = scores_frame(cells, results)
    failed = failed_runs(cells, results)
    if frame.empty and not failed:
        return None, None
    references = {
        (label, role): reported_cell(manifest.output, manifest.paper_number, method, backbone, manifest.tasks)
        for label, method in manifest.rows
        for role, backbone in manifest.backbones.items()
    }
    shown = {(row, role): sample for (row, role, _, _), sample in samples(manifest, results).items()}
    columns = _columns(manifest)
    scope = {
        (cell.row, cell.role): run_tasks(cell.run_id, manifest, results)
        for cell in cells
        if restricted(cell.run_id, manifest, results)
    }
    intervals = {
        (row, role, column): cell_interval(sample, tasks, weights=weights)
        for (row, role), sample in shown.items()
        for column, (tasks, weights) in columns.items()
        if set(tasks) <= set(scope.get((row, role), tasks))
    }

    table = score_table(
        table_id=manifest.output,
        title=section_title(manifest),
        caption=manifest.caption,
        scores=frame,
        row_labels=[label for label, _ in manifest.rows],
        roles=dict(manifest.labels),
        tasks=manifest.tasks,
        category_of=manifest.categories,
        by_category=manifest.columns == "categories",
        references=references,
        failed=failed,
        intervals=intervals,
        not_worse=_not_worse(shown, columns),  # comparisons use the samples of the intervals shown
        scope=scope,
        scope_reasons=searcher_descriptions(cells, results),
    )
    _annotate(table, manifest, cells, intervals, results)
    return table, None


def _not_worse(compared: dict, columns: dict) -> Callable[[int, Cell, Cell], bool]:
    """`score_table`'s bold rule: a cell is bold when the paired difference between the column's best
    and it (over the column's tasks, `compared`'s samples) does not show the best ahead
    (`t2t.stats.decide` is not HOLDS); cells without samples are never bold this way."""

    def not_worse(_: int, best, other) -> bool:
        (best_row, best_role, column), (row, role, _) = best.key, other.key
        if (best_row, best_role) not in compared or (row, role) not in compared:
            return False
        tasks, weights = columns[column]
        difference = paired_difference(
            compared[(best_row, best_role)], compared[(row, role)], tasks, weights=weights
        )
        return decide(difference) != HOLDS

    return not_worse


def _annotate(table: Table, manifest: Manifest, cells: list, intervals: dict, results: Results) -> None:
    """What a built score table gains from the runs behind it: the seed model's note, `degenerate‡`
    marks, the budget columns, the unverified runs' note, and the LaTeX legend."""
    if intervals:
        table.footnotes.append(seed_model_note(intervals, pool_sources(manifest, results)))
    mark_degenerate(table, manifest, results)
    if manifest.budget:
        add_budget(table, manifest, results)
    if accepted := unverified(cells, results):
        table.footnotes.append(
            UNVERIFIED_NOTE
            + "; ".join(f"{row} [{role}] {run}" for (row, role), run in sorted(accepted.items()))
        )
    table.legend[:0] = score_legend(table, manifest, bool(intervals), bool(accepted))


def score_legend(table: Table, manifest: Manifest, intervals: bool, unverified: bool) -> list[str]:
    """The LaTeX legend of a score table (`Table.legend`, `reproduce.report.latex`): what its numbers are
    and what bold and ‡ mean, in a few words (the full footnotes stay in the Markdown, and in the
    LaTeX as comments)."""
    legend = [f"MTEB main scores x100; Avg: mean over the {len(manifest.tasks)} tasks."]
    if any(cell.bold for _, cells in table.rows for cell in cells):
        significance = ", or not significantly worse (paired, 95%)" if intervals else ""
        legend.append(f"Bold: best of its column{significance}.")
    if any(DEGENERATE in cell.mark for _, cells in table.rows for cell in cells):
        legend.append("‡: significantly below its own untrained backbone with the same pooling (95%).")
    if unverified:
        legend.append("Some cells come from runs whose recorded inputs differ (see the comments).")
    return legend


UNVERIFIED_NOTE = (
    "Unverified: these cells come from stored runs whose recorded inputs (data files, weights) differ "
    "from this machine's and were kept with --on-stale accept (e.g. computed from the offline data "
    "mirror, read here from the Hub): "
)


def _columns(manifest: Manifest) -> dict[str, tuple[list[str], dict[str, float] | None]]:
    """Data column -> (its tasks, task weights or None), as `score_table` lays them out: each MTEB
    category (by-category tables), "Avg", and Mean(TaskType) when the task set spans categories."""
    columns: dict[str, tuple[list[str], dict[str, float] | None]] = {}
    categories = list(dict.fromkeys(manifest.categories.get(t, "Other") for t in manifest.tasks))
    if manifest.columns == "categories":
        for category in categories:
            columns[category] = (
                [t for t in manifest.tasks if manifest.categories.get(t, "Other") == category],
                None,
            )
    columns["Avg"] = (list(manifest.tasks), None)
    if len(categories) > 1:
        columns[MEAN_TASK_TYPE] = (
            list(manifest.tasks),
            category_weights(manifest.tasks, manifest.categories),
        )
    return columns


# ---------------------------------------------------------------- sweep figures


def sweep_points(manifest: Manifest, results: Source = None) -> pd.DataFrame:
    """`sweep, value, role, score, partial, half, seeds` per point with results (score = Avg over
    tasks x100; `half` = half the 95% interval, a trained single-seed point's with its method's s²
    (`reproduce.cells.samples`), NaN without item outputs; `seeds`: the training seeds it averages)."""
    results = as_results(results)
    runs = samples(manifest, results)
    records = []
    for cell, average in cell_averages(manifest.seed_cells(), manifest.tasks, results):
        if average.value is None:
            continue
        found = runs.get((cell.row, cell.role, cell.sweep, cell.value))
        value, half, seeds = average.value, float("nan"), 1
        if found:
            interval = cell_interval(found, list(manifest.tasks))
            value, half, seeds = interval.estimate, interval.half_width, interval.seeds
        records.append((cell.sweep, cell.value, cell.role, value, average.partial, half, seeds))
    columns = ["sweep", "value", "role", "score", "partial", "half", "seeds"]
    return pd.DataFrame.from_records(records, columns=columns)


def figure_table(manifest: Manifest, points: pd.DataFrame, failed: dict | None = None) -> Table:
    """The numbers behind a sweep figure, as a table (rows = points, columns = backbones); a point
    whose run failed prints `failed‡` with the reason (`failed`: `collect.failed_runs(points=True)`)."""
    failed = failed or {}
    rows = []
    for sweep in manifest.sweeps:
        for value in sweep.values:
            cells = []
            for role in manifest.labels:
                match = points[
                    (points.sweep == sweep.parameter) & (points.value == value) & (points.role == role)
                ]
                half = float(match.half.iloc[0]) if len(match) else float("nan")
                cells.append(
                    Cell(
                        float(match.score.iloc[0]),
                        bool(match.partial.iloc[0]),
                        half_width=None if half != half else half,  # NaN: no item outputs
                    )
                    if len(match)
                    else Cell(text=FAILED if (sweep.parameter, value, role) in failed else None)
                )
            rows.append((f"{sweep.label} = {value:g}", cells))
    table = Table(
        manifest.output,
        section_title(manifest),
        manifest.caption,
        [(label, ["Avg"]) for label in manifest.labels.values()],
        rows,
        bold_columns=set(),
    )
    table.footnotes = ["Avg: mean MTEB main score x100 over the task set; -- = point not run yet."]
    table.legend = ["Avg: mean MTEB main score x100 over the task set."]
    if "half" in points and points.half.notna().any():
        table.footnotes.append(
            "± is half the 95% interval of a point (`t2t.stats`): over test items, the evaluator's "
            "fits and training seeds (a trained point with one seed: its method's pooled s²)."
        )
    if failed:
        table.footnotes.append(
            f"{FAILED} the run stopped with an error and stored no score (rerun the figure to retry): "
            + "; ".join(
                f"{sweep} = {value:g} [{role}] {why}" for (sweep, value, role), why in sorted(failed.items())
            )
        )
    if any(cell.partial for _, row in rows for cell in row):
        table.footnotes.append(PARTIAL_NOTE)
    return table


def figure_section(manifest: Manifest, results: Results) -> tuple[Table | None, pd.DataFrame | None]:
    points = sweep_points(manifest, results)
    failed = failed_runs(manifest.seed_cells(), results, points=True)
    if not len(points) and not failed:
        return None, None
    return figure_table(manifest, points, failed), points


# ---------------------------------------------------------------- analyses

SPECTRUM_COMPONENTS = 20  # components drawn in the figure


def _primary(data: dict) -> dict:
    result = data["result"]
    return result[result["primary"]]


def spectrum_cells(data: dict | None) -> list[Cell]:
    if data is None:
        return [Cell(), Cell()]
    primary = _primary(data)
    top = primary["top_component"]
    return [Cell(primary["first_component_share"]), Cell(text="--" if top is None else f"PC{top + 1}")]


def alignment_cells(data: dict | None) -> list[Cell]:
    """in input, exact ids, and how many top tokens are punctuation (`ignored_mean`: `--` for a
    result stored before it was recorded)."""
    if data is None:
        return [Cell(), Cell(), Cell()]
    result = data["result"]
    normalized = result["normalized"]
    return [Cell(normalized["mean"]), Cell(result["exact_ids"]["mean"]), Cell(normalized.get("ignored_mean"))]


@dataclasses.dataclass(frozen=True)
class AnalysisKind:
    """How one analysis becomes a table (and maybe a figure): its columns, the cells of one stored
    result, its footnotes, whether the best value of a column is bold, and whether it draws curves."""

    columns: tuple[str, ...]
    cells: Callable[[dict | None], list[Cell]]
    notes: tuple[str, ...]
    bold: tuple[str, ...]  # the columns whose best value is bold
    curves: bool
    legend: tuple[str, ...] = ()  # the notes in a few words, under the LaTeX table (`Table.legend`)


ANALYSES: dict[str, AnalysisKind] = {
    "spectrum": AnalysisKind(
        ("PC1 share", "largest"),
        spectrum_cells,
        (
            "PC1 share: fraction of the squared change of the (norm-scaled) embeddings that lies on the "
            "untrained model's first principal component; largest: the component that moves most.",
        ),
        bold=(),
        curves=True,
        legend=(
            "PC1 share: share of the embeddings' squared change on the untrained model's first "
            "principal component; largest: the component that moves most.",
        ),
    ),
    "alignment": AnalysisKind(
        ("in input", "exact ids", "punctuation"),
        alignment_cells,
        (
            "in input: mean number of the top-10 LM-head tokens of a text's embedding that occur in the "
            "text, compared case- and space-insensitively (`reproduce.run.analysis.token_alignment`). A top "
            "token with no letter or digit (punctuation, symbols) never counts, even when the text "
            "contains it: the measure is about the text's words.",
            "exact ids: the same count by token id, without normalisation, so a punctuation id that the "
            "text contains does count; that is why exact ids can exceed in input (a row whose top tokens "
            "are largely punctuation). punctuation: the mean number of top-10 tokens with no letter or "
            "digit, the ones in input skips.",
        ),
        bold=("in input", "exact ids"),
        curves=False,
        legend=(
            "Of an embedding's top-10 LM-head tokens, how many occur in its text: in input, by word "
            "(case-insensitive); exact ids, by token id; punctuation: top tokens with no letter or digit.",
        ),
    ),
}


def analysis_results(manifest: Manifest, root: Path | None = None) -> dict[tuple[str, str], dict | None]:
    """`{(row, role): stored analysis JSON or None}` for every cell of an analysis output."""
    return {
        (cell.row, cell.role): load_analysis(manifest.analysis, cell.analysis_id, root)
        for cell in manifest.seed_cells()
    }


def analysis_section(manifest: Manifest, results: Results) -> tuple[Table | None, dict | None]:
    """`(Table or None, figure data)`; figure data is `{role: {row: change shares}}` for the spectrum."""
    root = results.root
    kind = ANALYSES[manifest.analysis]
    columns, cells_of = kind.columns, kind.cells
    roles = manifest.labels
    found = analysis_results(manifest, root)
    if not any(found.values()):
        return None, None
    rows = [
        (label, [cell for role in roles for cell in cells_of(found.get((label, role)))])
        for label, _ in manifest.rows
    ]
    table = Table(
        manifest.output,
        f"{manifest.output} — preset {manifest.preset} ({manifest.preset_description})",
        manifest.caption,
        [(label, list(columns)) for label in roles.values()],
        rows,
        footnotes=list(kind.notes),
        bold_columns={i for i in range(len(roles) * len(columns)) if columns[i % len(columns)] in kind.bold},
        legend=[*kind.legend, *(["Bold: best of its column."] if kind.bold else [])],
    )
    mark_best(table)
    if not kind.curves:
        return table, None
    figure = {
        role: {
            label: spectrum_curve(manifest, found[(label, role)], root)
            for label, _ in manifest.rows
            if found.get((label, role))
        }
        for role in roles
    }
    return table, figure


def spectrum_curve(manifest: Manifest, data: dict, root: Path | None = None) -> dict:
    """`{"share": first components' change shares, "low"/"high": 95% band or None}`.

    The band resamples sentences (`t2t.stats.share_band`) from the per-sentence file stored
    next to the result; results stored before it have none and are drawn without a band.
    """
    shares = _primary(data)["components"]["change_share"][:SPECTRUM_COMPONENTS]
    items = read_json(
        items_path(analysis_path(manifest.analysis, data["run_id"], root)),
        "the spectrum is drawn without its band.",
    )
    if not items or items.get("variant") != data["result"]["primary"]:
        return {"share": shares, "low": None, "high": None}
    squared = np.asarray(items["squared_change"])[:, : len(shares)]
    low, high = share_band(squared, np.asarray(items["total"]))
    return {"share": shares, "low": low.tolist(), "high": high.tolist()}


# ---------------------------------------------------------------- one builder per kind


def _sweep_panels(rows):
    from reproduce.report.figures import sweep_panels  # matplotlib: only when there is something to draw

    return sweep_panels(rows)


def _curve_panels(rows):
    from reproduce.report.figures import curve_panels

    return curve_panels(rows)


def _spectrum_panels(rows):
    from reproduce.report.figures import spectrum_panels

    return spectrum_panels(rows)


@dataclasses.dataclass(frozen=True)
class Builder:
    """How one kind of output becomes files: its section per preset, whether a manifest of it
    draws a figure, and the panels that draw it (`reproduce.report.figures`)."""

    section: Callable[[Manifest, Results], tuple[Table | None, object]]
    draws: Callable[[Manifest], bool]
    panels: Callable[[list], object] | None = None


BUILDERS: dict[str, Builder] = {
    "table": Builder(table_section, draws=lambda manifest: False),
    "figure": Builder(figure_section, draws=lambda manifest: True, panels=_sweep_panels),
    "analysis": Builder(
        analysis_section, draws=lambda manifest: ANALYSES[manifest.analysis].curves, panels=_spectrum_panels
    ),
    "curve": Builder(curve_section, draws=lambda manifest: True, panels=_curve_panels),
}


def draws_figure(manifest: Manifest) -> bool:
    """Whether the output has a figure file (the alignment analysis is a table only)."""
    return BUILDERS[manifest.kind].draws(manifest)


def output_files(output: str, results: Source = None) -> dict[Path, str | bytes]:
    """Every file of one output, built from its manifests (nothing written yet)."""
    results = as_results(results)
    root = results.base
    manifests = results.manifests(output)
    sections, figure_rows = [], []
    for manifest in manifests:
        table, data = BUILDERS[manifest.kind].section(manifest, results)
        if table is not None:
            sections.append(table)
            if data is not None and draws_figure(manifest):
                figure_rows.append((manifest, data))
    files: dict[Path, str | bytes] = dict(_table_files(output, manifests, sections, root))
    if figure_rows:
        from reproduce.report.figures import draw  # matplotlib: only when there is something to draw

        panels = BUILDERS[figure_rows[0][0].kind].panels
        files.update(draw(figure_rows, root / "figures", panels))
    return files


def _table_files(
    output: str, manifests: list[Manifest], sections: list[Table], root: Path
) -> dict[Path, str]:
    name = manifests[0].name if manifests else output
    if sections:
        markdown = markdown_document(name, manifests[0].caption, sections)
        latex = "\n".join(to_latex(t) for t in sections)
    else:
        markdown = f"# {name}\n\nNo results stored yet. Run `nox -s {output}`.\n"
        latex = f"% {name}: no results stored yet. Run `nox -s {output}`.\n"
    return {root / "tables" / f"{output}.md": markdown, root / "tables" / f"{output}.tex": latex}


def write_all(files: dict[Path, str | bytes]) -> list[Path]:
    """Write an output's files together: every file is built before any is written, each write is
    atomic, so a failure while building leaves the previous version of every file in place."""
    for path, content in files.items():
        atomic_write_bytes(path, content.encode("utf-8") if isinstance(content, str) else content)
    return list(files)


def write_output(output: str, results: Source = None) -> list[Path]:
    """Rebuild every file of one output from its manifests and the run folders."""
    return write_all(output_files(output, results))
