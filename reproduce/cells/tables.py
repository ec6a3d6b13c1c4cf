"""Table builders: results (a DataFrame) -> `Table`. Pure functions, no models.

Rendered by `reproduce.report.markdown` (Markdown) and `reproduce.report.latex` (LaTeX).

Rules (STYLE.md, "Results are files, tables are pure functions"):
- a cell is the mean of MTEB main scores x100 over the tasks of its column (a category, or all
  tasks for "Avg" = MTEB's mean over tasks);
- a missing number prints `--`, never 0; a cell averaged over fewer tasks than the task set has
  is marked partial (†) with a footnote saying how many;
- a row whose runs evaluate only some task types (BM25: Retrieval) has numbers in those categories'
  columns only: its other columns, Avg and Mean(TaskType) print `--` (by design, not "partial"),
  and a footnote says why;
- the best value of each column is bold (ours only, never the reported column);
- "Reported" and "Δ" columns compare the average with the reference (`reproduce.paper.reported`);
  an empty reference slot prints "no reference".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

import pandas as pd

from reproduce.paper.reported import ReferenceCell

CATEGORY_ORDER = [
    "Retrieval",
    "Reranking",
    "Clustering",
    "PairClassification",
    "Classification",
    "STS",
    "Summarization",
]
MISSING = "--"
PARTIAL = "†"
FAILED = "failed‡"
PARTIAL_NOTE = f"{PARTIAL} partial: averaged over the tasks present only (some runs are unfinished)."


@dataclasses.dataclass
class Cell:
    """One number of a table. `half_width`: half the 95% interval (`t2t.stats`), printed as
    `65.74 ± 0.41`; None for cells without item outputs (printed without ±)."""

    value: float | None = None
    partial: bool = False
    text: str | None = None
    bold: bool = False
    half_width: float | None = None
    key: object = None  # what the cell stands for, for callers that compare cells (e.g. (row, role))
    mark: str = ""  # printed after the number, e.g. " degenerate‡" (`reproduce.judge.degenerate`)

    def render(self, bold: tuple[str, str] = ("**", "**"), digits: int = 2, plus_minus: str = " ± ") -> str:
        if self.text is not None:
            return self.text
        if self.value is None or (isinstance(self.value, float) and math.isnan(self.value)):
            return MISSING
        body = f"{self.value:.{digits}f}" + (PARTIAL if self.partial else "")
        if self.half_width is not None:
            body += f"{plus_minus}{self.half_width:.{digits}f}"
        return (f"{bold[0]}{body}{bold[1]}" if self.bold else body) + self.mark


@dataclasses.dataclass
class Table:
    """A rendered-agnostic table: grouped columns, labelled rows of cells, footnotes."""

    id: str
    title: str
    caption: str
    groups: list[tuple[str, list[str]]]
    rows: list[tuple[str, list[Cell]]]
    footnotes: list[str] = dataclasses.field(default_factory=list)
    bold_columns: set[int] = dataclasses.field(default_factory=set)
    # Short notes under the LaTeX table (`reproduce.report.latex`), set by its builder; the footnotes go
    # into `%` comments there (Markdown prints the footnotes, never these).
    legend: list[str] = dataclasses.field(default_factory=list)

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(group, column) for group, columns in self.groups for column in columns]


def aggregate(scores: dict[str, float], tasks: Sequence[str]) -> Cell:
    """Mean over `tasks` of the available scores; partial if some are missing, empty if all are."""
    present = [scores[task] for task in tasks if task in scores]
    if not present:
        return Cell()
    return Cell(sum(present) / len(present), partial=len(present) < len(tasks))


NOT_WORSE_NOTE = (
    "Bold: the best cell of its column and every cell not significantly worse than it (paired "
    "difference at 95% over test items, the evaluator's fits and seeds, every trained side with its "
    "method's pooled seed variance; a difference significant in only some of the resampling blocks is "
    "not significant); ± is half the 95% interval of the cell."
)


def seed_model_note(intervals: dict, sources: dict[str, str]) -> str:
    """What a table's ± hold (`t2t.stats`): the formula, the resamples, where the seed variance was
    pooled (`sources`: column label -> description), and which cells have no seed term."""
    models = {getattr(interval, "seed_model", "") for interval in intervals.values()}
    first = next(iter(intervals.values()))
    blocks = len(getattr(first, "item_variances", ())) or 1
    note = (
        "± = t sqrt(V_items + V_eval + s²/S) (`t2t.stats`): V_items, the variance of the cell's mean over "
        f"seeds under {blocks} x {first.resamples // blocks:,} resamples of the test items (the same for "
        "every run)"
    )
    if any(getattr(interval, "evaluator_terms", ()) for interval in intervals.values()):
        note += (
            "; V_eval, the spread of mteb's repeated classifier fits and k-means runs over their "
            "number (`t2t.stats.evaluator`; classification and clustering columns, and the averages over them)"
        )
    if sources:
        pooled = "; ".join(f"{label}: {source}" for label, source in sources.items())
        note += (
            "; s², the unbiased between-seed variance of one trained run's average, per training method "
            f"pooled over its cells with several seeds ({pooled}); S, the cell's seeds (a single-seed "
            "trained cell: S = 1); t with Welch-Satterthwaite df"
        )
    if "test items only" in models:
        note += "; trained cells with no seed variance to pool on their backbone: no seed term"
    if "test items only (untrained)" in models:
        note += "; zero-shot rows: test items only (untrained: no seed effect)"
    return note + "."


MEAN_TASK_TYPE = "Mean(TaskType)"
MEAN_TASK_TYPE_NOTE = (
    f"{MEAN_TASK_TYPE}: the mean over MTEB task categories of each category's mean (the MTEB "
    "leaderboard's aggregate), so a category does not weigh by its number of tasks."
)


def mean_over_categories(
    scores: dict[str, float], tasks: Sequence[str], category_of: dict[str, str], categories: Sequence[str]
) -> Cell:
    """Mean(TaskType): the mean of the per-category means; partial or empty like `aggregate`."""
    means = [aggregate(scores, [t for t in tasks if category_of.get(t) == c]) for c in categories]
    if any(cell.value is None for cell in means):
        return Cell()
    return Cell(sum(cell.value for cell in means) / len(means), partial=any(cell.partial for cell in means))


def category_weights(tasks: Sequence[str], category_of: dict[str, str]) -> dict[str, float]:
    """Per-task weights that turn a weighted mean over tasks into Mean(TaskType)."""
    sizes: dict[str, int] = {}
    for task in tasks:
        sizes[category_of.get(task, "Other")] = sizes.get(category_of.get(task, "Other"), 0) + 1
    return {task: 1 / (len(sizes) * sizes[category_of.get(task, "Other")]) for task in tasks}


def mark_best(table: Table, not_worse: Callable[[int, Cell, Cell], bool] | None = None) -> None:
    """Bold the largest complete value of every column in `table.bold_columns` (ties all bold).

    `not_worse(column, best, other)`, when given, also bolds every cell it says is not significantly
    worse than the best one (a paired comparison, `t2t.stats.paired_difference`).
    """
    for column in table.bold_columns:
        candidates = [
            cells[column]
            for _, cells in table.rows
            if cells[column].value is not None and cells[column].text is None and not cells[column].partial
        ]
        if not candidates:
            continue
        best = max(candidates, key=lambda cell: cell.value)
        for cell in candidates:
            cell.bold = abs(cell.value - best.value) < 1e-9 or bool(
                not_worse is not None and cell is not best and not_worse(column, best, cell)
            )


def score_table(
    *,
    table_id: str,
    title: str,
    caption: str,
    scores: pd.DataFrame,
    row_labels: Sequence[str],
    roles: dict[str, str],
    tasks: Sequence[str],
    category_of: dict[str, str],
    by_category: bool,
    references: dict[tuple[str, str], ReferenceCell | None] | None = None,
    failed: dict[tuple[str, str], str] | None = None,
    intervals: dict[tuple[str, str, str], object] | None = None,
    not_worse: Callable[[int, Cell, Cell], bool] | None = None,
    scope: dict[tuple[str, str], Sequence[str]] | None = None,
    scope_reasons: dict[str, str] | None = None,
) -> Table:
    """Build a score table: its columns (`_data_columns`), each row's cells (`_row_cells`, by
    `_CellRules.cell`), the best cells bold (`mark_best`) and its footnotes (`_score_footnotes`).

    Args:
        scores: long frame with columns `row`, `role`, `task`, `score` (x100).
        row_labels: rows in display order.
        roles: backbone role -> column-group label, in display order.
        tasks: the task set's tasks (the denominator of every average).
        category_of: task -> MTEB category.
        by_category: one column per category present, plus "Avg"; else "Avg" only.
        references: (row, role) -> reported cell (None or missing key = no reference slot).
        failed: (row, role) -> why that cell's run failed; its empty cells print `failed‡` with the
            reason in a footnote (a failed run is never shown as "not measured").
        intervals: (row, role, column) -> an interval (`t2t.stats.Interval`: `estimate`,
            `half_width`, `seeds`); such a cell shows the estimate (the mean over seeds) ± half width.
        not_worse: bolds cells not significantly worse than the best (see `mark_best`); cells carry
            `key = (row, role, column)` for it.
        scope: (row, role) -> the tasks that cell's runs evaluate, for runs restricted to some task
            types (`t2t.evaluation.task_types`); a column over any other task prints `--` (text, so
            neither "not measured" nor bold), Avg and Mean(TaskType) included.
        scope_reasons: row -> what the row is, for the footnote on its `--` (e.g. BM25's "a lexical
            retrieval baseline ..."); a scoped row without one is said to be restricted.
    """
    references = references or {}
    categories, data_columns = _data_columns(tasks, category_of, by_category)
    with_reference = {role for (_, role), ref in references.items() if ref is not None}
    groups = [
        (label, data_columns + (["Reported", "Δ"] if role in with_reference else []))
        for role, label in roles.items()
    ]
    lookup = _scores_by_cell(scores)
    rules = _CellRules(tasks, category_of, categories, scope or {}, intervals or {}, failed or {})
    rows = [
        (label, _row_cells(label, roles, lookup, data_columns, rules, with_reference, references))
        for label in row_labels
    ]
    table = Table(
        table_id, title, caption, groups, rows, bold_columns=_bold_columns(groups, len(data_columns))
    )
    mark_best(table, not_worse)
    table.footnotes = _score_footnotes(table, rules, roles, row_labels, scope_reasons or {})
    return table


def _scores_by_cell(scores: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    """`{(row, role): {task: score}}` from the long frame of scores."""
    lookup: dict[tuple[str, str], dict[str, float]] = {}
    for item in scores.itertuples(index=False):
        lookup.setdefault((item.row, item.role), {})[item.task] = float(item.score)
    return lookup


def _data_columns(
    tasks: Sequence[str], category_of: dict[str, str], by_category: bool
) -> tuple[list[str], list[str]]:
    """`(categories, data columns)` of a score table: the categories present among `tasks` in
    `CATEGORY_ORDER` (unknown ones after, sorted), and the columns each role shows: one per category
    and "Avg" (or "Avg" only), plus Mean(TaskType) when the tasks span two or more categories."""
    categories = [c for c in CATEGORY_ORDER if any(category_of.get(t) == c for t in tasks)]
    categories += sorted({category_of.get(t, "Other") for t in tasks} - set(categories))
    data_columns = [*categories, "Avg"] if by_category else ["Avg"]
    if len(categories) > 1:
        data_columns.append(MEAN_TASK_TYPE)
    return categories, data_columns


def _bold_columns(groups: list[tuple[str, list[str]]], data_width: int) -> set[int]:
    """Indices of the columns that can be bold: each group's first `data_width` (its scores; never
    its Reported or Δ)."""
    bold_columns, index = set(), 0
    for _, columns in groups:
        bold_columns.update(range(index, index + data_width))
        index += len(columns)
    return bold_columns


@dataclasses.dataclass(frozen=True)
class _CellRules:
    """What a score table's data cells are computed from besides their own scores (`score_table`'s
    arguments of the same names): which tasks a column averages, which cells a scope empties, which
    cells show an interval, and which failed."""

    tasks: Sequence[str]
    category_of: dict[str, str]
    categories: list[str]
    scope: dict[tuple[str, str], Sequence[str]]
    intervals: dict[tuple[str, str, str], object]
    failed: dict[tuple[str, str], str]

    def cell(self, key: tuple[str, str, str], found: dict[str, float]) -> Cell:
        """The cell of `key = (row, role, column)` from that (row, role)'s task scores `found`:
        `--` outside its scope; the mean over the column's tasks (`aggregate`; Mean(TaskType) for
        that column), or its interval's estimate ± half width; `failed‡` when empty and its run failed."""
        label, role, column = key
        whole = column in ("Avg", MEAN_TASK_TYPE)
        members = self.tasks if whole else [t for t in self.tasks if self.category_of.get(t) == column]
        evaluated = self.scope.get((label, role))
        if evaluated is not None and not set(members) <= set(evaluated):  # not what its runs score
            return Cell(text=MISSING, key=key)
        if column == MEAN_TASK_TYPE:
            cell = mean_over_categories(found, self.tasks, self.category_of, self.categories)
        else:
            cell = aggregate(found, members)
        interval = self.intervals.get(key)
        if interval is not None:
            cell = Cell(interval.estimate, half_width=interval.half_width)
        if cell.value is None and (label, role) in self.failed:
            cell.text = FAILED
        cell.key = key
        return cell


def _row_cells(
    label: str,
    roles: dict[str, str],
    lookup: dict[tuple[str, str], dict[str, float]],
    data_columns: list[str],
    rules: _CellRules,
    with_reference: set[str],
    references: dict[tuple[str, str], ReferenceCell | None],
) -> list[Cell]:
    """One row's cells: for each role its data columns (`_CellRules.cell`), then, where the role has
    a reference, Reported and Δ against its Avg."""
    cells: list[Cell] = []
    for role in roles:
        found = lookup.get((label, role), {})
        cells += [rules.cell((label, role, column), found) for column in data_columns]
        if role in with_reference:
            average = cells[len(cells) - len(data_columns) + data_columns.index("Avg")]
            cells.extend(_reference_cells(average, references.get((label, role))))
    return cells


def _score_footnotes(
    table: Table,
    rules: _CellRules,
    roles: dict[str, str],
    row_labels: Sequence[str],
    scope_reasons: dict[str, str],
) -> list[str]:
    """A score table's footnotes: partial cells and missing references (`_footnotes`), scoped rows
    (`scope_notes`), what ± means when cells have intervals, and why each shown `failed‡` failed."""
    notes = _footnotes(table, len(rules.tasks))
    notes += scope_notes(rules.scope, scope_reasons, row_labels, rules.category_of)
    if rules.intervals:
        notes.append(
            NOT_WORSE_NOTE + f" Cells with ± are means over {_seed_counts(rules.intervals, roles)}; "
            "cells without ± have no stored item outputs (one seed, point estimate)."
        )
    shown = {
        key: why
        for key, why in rules.failed.items()
        if any(c.text == FAILED for c in dict(table.rows).get(key[0], []))
    }
    if shown:
        notes.append(
            f"{FAILED} the run stopped with an error and stored no score (rerun its table to retry): "
            + "; ".join(f"{row} [{role}] {why}" for (row, role), why in sorted(shown.items()))
        )
    return notes


def scope_notes(
    scope: dict[tuple[str, str], Sequence[str]],
    reasons: dict[str, str],
    row_labels: Sequence[str],
    category_of: dict[str, str],
) -> list[str]:
    """One footnote per row with scoped cells (see `score_table`): what it is and what it is scored
    on, e.g. "BM25 (lexical): a lexical retrieval baseline ..., so it is scored on Retrieval only: ..."."""
    notes = []
    for label in row_labels:
        evaluated = [tasks for (row, _), tasks in scope.items() if row == label]
        if not evaluated:
            continue
        categories = sorted({category_of.get(task, "Other") for tasks in evaluated for task in tasks})
        what = reasons.get(label, "its runs evaluate only some task types (`EvalSpec.task_types`)")
        notes.append(
            f"{label}: {what}, so it is scored on {', '.join(categories) or 'no task of this set'} only: "
            f"its other category columns, Avg and {MEAN_TASK_TYPE} print {MISSING} (no score for the "
            "other categories, and no average over fewer)."
        )
    return notes


def _seed_counts(intervals: dict[tuple[str, str, str], object], roles: dict[str, str]) -> str:
    """How many training seeds the ± cells rest on, per column group where the groups differ
    (e.g. "training seeds: 3 (SmolLM2-135M), 1/2 (Gemma-3-270M)"; else "3 training seed(s)")."""
    per_role: dict[str, set[int]] = {}
    for (_, role, _), interval in intervals.items():
        per_role.setdefault(role, set()).add(getattr(interval, "seeds", 1))

    def counts(role: str) -> str:
        return "/".join(map(str, sorted(per_role[role])))

    shown = [role for role in roles if role in per_role]
    if len({counts(role) for role in shown}) <= 1:
        return f"{counts(shown[0])} training seed(s)" if shown else "training seeds"
    return "training seeds: " + ", ".join(f"{counts(role)} ({roles[role]})" for role in shown)


def _reference_cells(ours: Cell, reference: ReferenceCell | None) -> list[Cell]:
    if reference is None:
        return [Cell(), Cell()]
    if reference.value is None:
        return [Cell(text="no reference"), Cell()]
    delta = None if ours.value is None or ours.partial else ours.value - reference.value
    return [Cell(reference.value), Cell(delta, text=None if delta is None else f"{delta:+.2f}")]


def _footnotes(table: Table, n_tasks: int) -> list[str]:
    cells = [cell for _, row in table.rows for cell in row]
    notes = [f"Scores are MTEB main scores x100; Avg is the mean over the {n_tasks} tasks of the task set."]
    if any(column == MEAN_TASK_TYPE for _, columns in table.groups for column in columns):
        notes.append(MEAN_TASK_TYPE_NOTE)
    if any(cell.partial for cell in cells):
        notes.append(PARTIAL_NOTE)
    if any(cell.value is None and cell.text is None for cell in cells):
        notes.append(f"{MISSING} not measured at this preset (no stored result).")
    if any(cell.text == "no reference" for cell in cells):
        notes.append(
            "no reference: the paper's value is not available to this project (slot kept, source noted)."
        )
    return notes
