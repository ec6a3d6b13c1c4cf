"""Tables (and figure data) for the embedding analyses, from `results/analyses/*.json`."""

from __future__ import annotations

from pathlib import Path

from reproduce.collect import load_analysis
from reproduce.grid import expand
from reproduce.presets import ScalePreset, backbone_label
from reproduce.registry import AnalysisSpec
from reproduce.tables import Cell, Table, mark_best

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
    if data is None:
        return [Cell(), Cell()]
    result = data["result"]
    return [Cell(result["normalized"]["mean"]), Cell(result["exact_ids"]["mean"])]


COLUMNS = {
    "spectrum": (["PC1 share", "largest"], spectrum_cells),
    "alignment": (["in input", "exact ids"], alignment_cells),
}
NOTES = {
    "spectrum": [
        "PC1 share: fraction of the squared change of the (norm-scaled) embeddings that lies on the "
        "untrained model's first principal component; largest: the component that moves most."
    ],
    "alignment": [
        "Mean number of the top-10 LM-head tokens of a text's embedding that occur in the text "
        "(case- and space-insensitive; exact ids: same token id)."
    ],
}


def analysis_section(spec: AnalysisSpec, preset: ScalePreset, root: Path | None = None):
    """`(Table or None, figure data)`; figure data is `{role: {row: change shares}}` for the spectrum."""
    from reproduce.runner import analysis_run

    columns, cells_of = COLUMNS[spec.analysis]
    roles = preset.backbones
    found: dict[tuple[str, str], dict | None] = {}
    for item in expand(spec, preset):
        run = analysis_run(spec, item, preset)
        found[(item.row, item.role)] = load_analysis(run.analysis, run.run_id, root)
    if not any(found.values()):
        return None, None
    rows = [
        (row.label, [cell for role in roles for cell in cells_of(found[(row.label, role)])])
        for row in spec.rows
    ]
    digits_columns = {i for i in range(len(roles) * len(columns)) if columns[i % len(columns)] != "largest"}
    title = f"{spec.id} — preset {preset.name} ({preset.description})"
    table = Table(
        spec.id,
        title,
        spec.caption,
        [(backbone_label(backbone), list(columns)) for backbone in roles.values()],
        rows,
        footnotes=NOTES[spec.analysis],
        bold_columns=digits_columns if spec.analysis == "alignment" else set(),
    )
    mark_best(table)
    figure = None
    if spec.analysis == "spectrum":
        figure = {
            role: {
                row.label: _primary(found[(row.label, role)])["components"]["change_share"][
                    :SPECTRUM_COMPONENTS
                ]
                for row in spec.rows
                if found[(row.label, role)]
            }
            for role in roles
        }
    return table, figure
