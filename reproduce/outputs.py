"""Write a spec's outputs from stored results: `results/tables/<id>.{md,tex}`, `results/figures/<id>.{png,pdf}`.

One file per id holds a section per preset that has results (paper, smol, tiny: largest first), so
`results/tables/table3.md` shows every scale it was run at. Nothing here loads a model.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from reproduce.collect import failed_runs, scores_frame
from reproduce.grid import PlannedRun, expand
from reproduce.presets import PRESETS, ScalePreset, backbone_label
from reproduce.reference import reported_cell
from reproduce.registry import FigureSpec, TableSpec
from reproduce.tables import PARTIAL_NOTE, Cell, Table, aggregate, score_table, to_latex, to_markdown
from t2t.atomic import atomic_write_bytes
from t2t.evaluation.tasks import TASK_SETS, task_category
from t2t.paths import results_root

logger = logging.getLogger(__name__)
PRESET_ORDER = ("paper", "smol", "tiny")


def section_title(spec, preset: ScalePreset) -> str:
    name = spec.paper_number or spec.id
    return f"{name} — preset {preset.name} ({preset.description}; tasks: {preset.task_set})"


def table_section(spec: TableSpec, preset: ScalePreset, root: Path | None = None) -> Table | None:
    """The table of `spec` at `preset`, or None when no run of it has stored results."""
    planned = expand(spec, preset)
    frame = scores_frame(planned, root)
    if frame.empty and not failed_runs(planned, root):
        return None
    tasks = TASK_SETS[preset.task_set].tasks
    methods = {row.label: row.method for row in spec.rows}
    references = {
        (label, role): reported_cell(spec.id, spec.paper_number, method, backbone, tasks)
        for label, method in methods.items()
        for role, backbone in preset.backbones.items()
    }
    return score_table(
        table_id=spec.id,
        title=section_title(spec, preset),
        caption=spec.caption,
        scores=frame,
        row_labels=list(methods),
        roles={role: backbone_label(backbone) for role, backbone in preset.backbones.items()},
        tasks=tasks,
        category_of={task: task_category(task) for task in tasks},
        by_category=spec.columns == "categories",
        references=references,
        failed=failed_runs(planned, root),
    )


def sweep_points(spec: FigureSpec, preset: ScalePreset, root: Path | None = None) -> pd.DataFrame:
    """`sweep, value, role, score, partial` per point with results (score = Avg over tasks x100)."""
    planned = expand(spec, preset)
    frame = scores_frame(planned, root)
    tasks = TASK_SETS[preset.task_set].tasks
    records = []
    for item in planned:
        scores = dict(frame[frame.run_id == item.run_id][["task", "score"]].itertuples(index=False))
        cell = aggregate(scores, tasks)
        if cell.value is not None:
            records.append((item.sweep, item.value, item.role, cell.value, cell.partial))
    return pd.DataFrame.from_records(records, columns=["sweep", "value", "role", "score", "partial"])


def figure_table(spec: FigureSpec, preset: ScalePreset, points: pd.DataFrame) -> Table:
    """The numbers behind a sweep figure, as a table (rows = points, columns = backbones)."""
    roles = {role: backbone_label(backbone) for role, backbone in preset.backbones.items()}
    values = preset.analysis.to_dict(shallow=True)
    rows = []
    for sweep in spec.sweeps:
        for value in values[sweep.values_from]:
            cells = []
            for role in roles:
                match = points[
                    (points.sweep == sweep.parameter) & (points.value == value) & (points.role == role)
                ]
                cells.append(
                    Cell(float(match.score.iloc[0]), bool(match.partial.iloc[0])) if len(match) else Cell()
                )
            rows.append((f"{sweep.label} = {value:g}", cells))
    table = Table(
        spec.id,
        section_title(spec, preset),
        spec.caption,
        [(label, ["Avg"]) for label in roles.values()],
        rows,
        bold_columns=set(),
    )
    table.footnotes = ["Avg: mean MTEB main score x100 over the task set; -- = point not run yet."]
    if any(cell.partial for _, row in rows for cell in row):
        table.footnotes.append(PARTIAL_NOTE)
    return table


def write_spec_outputs(
    spec, presets: list[ScalePreset] | None = None, root: Path | None = None
) -> list[Path]:
    """Rebuild every output file of one registry spec from stored results; returns the paths."""
    presets = presets or [PRESETS[name] for name in PRESET_ORDER]
    root = root or results_root()
    sections: list[Table] = []
    figures: list[tuple[ScalePreset, object]] = []
    for preset in presets:
        if isinstance(spec, TableSpec):
            table = table_section(spec, preset, root)
        elif isinstance(spec, FigureSpec):
            points = sweep_points(spec, preset, root)
            table = figure_table(spec, preset, points) if len(points) else None
            if table is not None:
                figures.append((preset, points))
        else:
            from reproduce.analysis_outputs import analysis_section

            table, data = analysis_section(spec, preset, root)
            if table is not None and data:
                figures.append((preset, data))
        if table is not None:
            sections.append(table)
    files = _table_files(spec, sections, root)
    if figures and not isinstance(spec, TableSpec):
        from reproduce.figures import draw

        files.update(draw(spec, figures, root / "figures"))
    return write_all(files)


def write_all(files: dict[Path, str | bytes]) -> list[Path]:
    """Write an output's files together: every file is built before any is written, each write is
    atomic, so a failure while building leaves the previous version of every file in place."""
    for path, content in files.items():
        atomic_write_bytes(path, content.encode("utf-8") if isinstance(content, str) else content)
    return list(files)


def _table_files(spec, sections: list[Table], root: Path) -> dict[Path, str]:
    name = spec.paper_number or spec.id
    if sections:
        markdown = f"# {name}: {spec.caption}\n\n" + "\n".join(to_markdown(t) for t in sections)
        latex = "\n".join(to_latex(t) for t in sections)
    else:
        markdown = f"# {name}\n\nNo results stored yet. Run `nox -s {spec.id}`.\n"
        latex = f"% {name}: no results stored yet. Run `nox -s {spec.id}`.\n"
    return {root / "tables" / f"{spec.id}.md": markdown, root / "tables" / f"{spec.id}.tex": latex}


def planned_for(spec, presets: list[ScalePreset]) -> list[PlannedRun]:
    return [item for preset in presets for item in expand(spec, preset)]
