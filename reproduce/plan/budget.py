"""Training budgets: what a stored run trained, and the budget curves (score against compute).

Every trained row of `compare` states its budget (`add_budget`): optimiser steps, real (non-pad)
training tokens, estimated training FLOPs and the wall time of its steps, all from the run's
training log, so a method that simply trained more is visible. Training-free rows state 0.

The `budget` output (a `curve` manifest) trains each method at several budgets (factors of the
preset's steps, `reproduce.paper.methods.scaled_steps`) and plots Mean(TaskType), with its interval,
against training FLOPs and against training tokens, one line per method and a panel per backbone
(`curve_section`; the panels are `reproduce.report.figures.curve_panels`). The claim "at equal training
FLOPs, Text2Token is at least as good as SimCSE" is decided on these curves (`reproduce.report.claims`).
Files only, as one `reproduce.cells.results.Results` holds them: no model is loaded.
"""

from __future__ import annotations

import dataclasses

from reproduce.cells.manifest import Manifest
from reproduce.cells.results import Results, Source, as_results
from reproduce.cells.samples import samples
from reproduce.cells.tables import MEAN_TASK_TYPE, MISSING, Cell, Table, category_weights
from t2t.core.atomic import read_json
from t2t.stats import cell_interval

BUDGET_COLUMNS = ["steps", "train tokens", "train FLOPs", "train time"]
BUDGET_NOTE = (
    "Budget: training steps and real (non-pad) training tokens of all stages (SimCSE counts both "
    "views), from each run's training log; FLOPs estimated from them as in `reproduce.plan.gpu_hours` "
    "(4N per token with a frozen base, plus 4H where the objective scores the vocabulary, plus "
    "2(N + H) for model-derived targets; N = decoder projections, H = LM head); time is the sum of "
    "the optimiser steps' wall times (setup such as a model-derived stage's common distribution "
    "is not included). Training-free rows train nothing: 0."
)
BUDGET_LEGEND = (  # under the LaTeX table (`Table.legend`); the note above goes into its comments
    "Budget: optimiser steps, real training tokens, estimated training FLOPs and the steps' wall "
    "time (training-free rows: 0)."
)


@dataclasses.dataclass(frozen=True)
class Budget:
    """What one run trained: steps, tokens, FLOPs (None without a known shape), seconds of steps."""

    steps: int
    tokens: int
    flops: float | None
    seconds: float


def training_budget(results: Results, run_id: str, backbone: str) -> Budget | None:
    """The budget of a complete stored run, from its training log (None when incomplete or when
    the log does not match its stages), once per `Results`."""
    return results.derived(("budget", run_id, backbone), lambda: _training_budget(results, run_id, backbone))


def _training_budget(results: Results, run_id: str, backbone: str) -> Budget | None:
    from reproduce.plan.gpu_hours import SHAPES, Shape, token_flops

    info = results.record(run_id)
    if info.get("status") != "complete":
        return None
    stages = info.get("config", {}).get("model", {}).get("stages", [])
    log_path = results.store(run_id).dir / "train_log.json"
    logs = read_json(log_path, "its budget prints --.") if stages else []
    if stages and (logs is None or len(logs) != len(stages)):
        return None
    recorded = info.get("backbone_shape")  # runs stored before it: the preset's shape, if known
    shape = Shape.from_mapping(recorded) if recorded else SHAPES.get(backbone)
    flops = (
        sum(
            token_flops(stage["objective"], shape) * sum(s["tokens"] for s in log)
            for stage, log in zip(stages, logs)
        )
        if shape is not None
        else None
    )
    return Budget(
        steps=sum(len(log) for log in logs),
        tokens=sum(step["tokens"] for log in logs for step in log),
        flops=flops,
        seconds=sum(step["seconds"] for log in logs for step in log),
    )


def budget_cells(results: Results, run_id: str, backbone: str) -> list[Cell]:
    """Steps, training tokens, estimated training FLOPs and step time of one stored run."""
    budget = training_budget(results, run_id, backbone)
    if budget is None:
        return [Cell() for _ in BUDGET_COLUMNS]
    return [
        Cell(text=f"{budget.steps:,}"),
        Cell(text=f"{budget.tokens:,}"),
        Cell(text=MISSING if budget.flops is None else f"{budget.flops:.2g}"),
        Cell(text=f"{budget.seconds / 60:.1f} min"),
    ]


def add_budget(table: Table, manifest: Manifest, results: Results) -> None:
    """Append a "Budget" column group per backbone column to a table (`compare`), in place."""
    run_of = {(cell.row, cell.role): cell for cell in manifest.seed_cells()}
    for role, label in manifest.labels.items():
        table.groups.append(
            (f"Budget [{label}]" if len(manifest.labels) > 1 else "Budget", list(BUDGET_COLUMNS))
        )
        for row_label, cells in table.rows:
            cell = run_of.get((row_label, role))
            if cell is None:
                cells.extend(Cell() for _ in BUDGET_COLUMNS)
            else:
                cells.extend(budget_cells(results, cell.run_id, cell.backbone))
    table.footnotes.append(BUDGET_NOTE)
    table.legend.append(BUDGET_LEGEND)


# ---------------------------------------------------------------- budget curves


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """One method at one budget on one backbone: its training budget and Mean(TaskType) (x100)."""

    row: str
    role: str
    factor: float
    budget: Budget
    score: float
    half_width: float
    seeds: int


def curve_points(manifest: Manifest, results: Source = None) -> list[CurvePoint]:
    """Every complete point of a `curve` manifest with item outputs, in manifest order."""
    results = as_results(results)
    weights = category_weights(manifest.tasks, manifest.categories)
    tasks = list(manifest.tasks)
    found = samples(manifest, results)
    points = []
    for cell in manifest.seed_cells():
        sample = found.get((cell.row, cell.role, cell.sweep, cell.value))
        budget = training_budget(results, cell.run_id, cell.backbone)
        if sample is None or budget is None:
            continue
        interval = cell_interval(sample, tasks, weights=weights)
        points.append(
            CurvePoint(
                cell.row,
                cell.role,
                cell.value,
                budget,
                interval.estimate,
                interval.half_width,
                len(sample.runs),
            )
        )
    return points


CURVE_NOTE = (
    f"{MEAN_TASK_TYPE} x100 ± half its 95% interval (test items, evaluator fits and seeds; single-seed points: s²/1) "
    "at each training budget (a factor of the preset's optimiser steps; every other setting is the "
    "preset's). FLOPs and tokens as in the Budget note."
)


def curve_section(manifest: Manifest, results: Results) -> tuple[Table | None, list | None]:
    """The numbers behind the budget figure (rows: method x budget; columns per backbone), and the
    figure data (the points). None when no point is stored."""
    points = curve_points(manifest, results)
    if not points:
        return None, None
    at = {(p.row, p.role, p.factor): p for p in points}
    columns = [MEAN_TASK_TYPE, *BUDGET_COLUMNS]
    rows = []
    planned = {cell.row for cell in manifest.cells}  # a row planned on no backbone here is left out
    for label in (label for label, _ in manifest.rows if label in planned):
        for factor in manifest.sweeps[0].values:
            cells = []
            for role in manifest.labels:
                point = at.get((label, role, factor))
                if point is None:
                    cells += [Cell() for _ in columns]
                    continue
                budget = point.budget
                cells += [
                    Cell(point.score, half_width=point.half_width),
                    Cell(text=f"{budget.steps:,}"),
                    Cell(text=f"{budget.tokens:,}"),
                    Cell(text=MISSING if budget.flops is None else f"{budget.flops:.2g}"),
                    Cell(text=f"{budget.seconds / 60:.1f} min"),
                ]
            rows.append((f"{label} × {factor:g}", cells))
    table = Table(
        manifest.output,
        f"{manifest.name} — preset {manifest.preset} ({manifest.preset_description}; tasks: {manifest.task_set})",
        manifest.caption,
        [(label, list(columns)) for label in manifest.labels.values()],
        rows,
        footnotes=[CURVE_NOTE, BUDGET_NOTE],
        legend=[
            f"{MEAN_TASK_TYPE} x100 at each training budget (a factor of the preset's steps).",
            BUDGET_LEGEND,
        ],
    )
    return table, points
