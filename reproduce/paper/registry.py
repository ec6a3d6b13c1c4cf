"""The paper's tables and figures as data (PAPER.md §4). Everything else reads this registry.

A `TableSpec` lists rows (a label, a method from `reproduce.paper.methods.METHODS`, its parameters);
its runs are the rows x the preset's backbones (`reproduce.plan.grid.expand`). A `FigureSpec` lists
sweeps of one parameter. An `AnalysisSpec` names methods whose trained models are analysed
(spectrum, token alignment) rather than scored on MTEB.

All three implement one small protocol, `OutputSpec`, which is all that planning reads:
`points(preset)` (the rows or curve points to run) and `manifest_fields(preset)` (what the manifest
records about the output's shape), plus `analysis` (None unless its cells are analyses). Building
reads the manifest's `kind` through `reproduce.cells.manifest.KINDS` and `reproduce.report.builders.BUILDERS`.

Only Table 3 and Figure 5 carry paper numbers; the others are known by content and have
descriptive ids (PAPER.md §4).
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import TYPE_CHECKING, Any, Literal, Protocol

from t2t.core.config import choose

if TYPE_CHECKING:
    from reproduce.paper.presets import ScalePreset

Point = tuple["Row", "str | None", Any]
"""`(row, swept parameter or None, its value)`: one row or curve point of an output."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One table row: a label, a method, its parameters (e.g. pooling, attention, stage order).

    `backbones`: plan the row on these backbones only (empty: every column of the preset);
    `excluding`: never on these. Together they let rows stand for a per-family choice (the budget
    curves' LLM2Vec: its best cell per family, and LLM2Vec's own recipe on every other backbone).
    `task_types`: its runs evaluate only the task set's tasks of these MTEB types
    (`t2t.runs.run.EvalSpec.task_types`; BM25: Retrieval). Its other columns and its averages print `--`
    (`reproduce.cells.tables.score_table`), and at a preset whose task set has none of them the row has
    no cell and no line (`reproduce.plan.grid`).
    """

    label: str
    method: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    backbones: tuple[str, ...] = ()
    excluding: tuple[str, ...] = ()
    task_types: tuple[str, ...] = ()

    def plans_on(self, backbone: str) -> bool:
        """Whether this row has a cell in `backbone`'s column."""
        return (not self.backbones or backbone in self.backbones) and backbone not in self.excluding


class OutputSpec(Protocol):
    """What every output (table, figure, analysis) gives the planner."""

    id: str
    caption: str
    paper_number: str | None
    kind: str
    analysis: str | None  # its cells are analyses of this kind (`reproduce.run.analysis`), not runs

    def points(self, preset: ScalePreset) -> list[Point]:
        """Every row or curve point to plan at `preset` (crossed with its backbones and seeds)."""
        ...

    def manifest_fields(self, preset: ScalePreset) -> dict[str, Any]:
        """The output-shape fields of its manifest at `preset` (`reproduce.cells.manifest.Manifest`)."""
        ...


def _rows(rows) -> tuple[tuple[str, str], ...]:
    return tuple((row.label, row.method) for row in rows)


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """A results table: rows x (backbone, column) cells of aggregated MTEB main scores x100.

    `columns="categories"`: one column per MTEB category present plus the average over tasks;
    `columns="average"`: the average over tasks only (wide grids).
    """

    id: str
    caption: str
    rows: tuple[Row, ...]
    paper_number: str | None = None
    columns: Literal["categories", "average"] = "categories"
    kind: str = "table"
    budget: bool = False  # add each row's training budget (steps, tokens, FLOPs, time): `compare`
    analysis: None = None

    def points(self, preset: ScalePreset) -> list[Point]:
        return [(row, None, None) for row in self.rows]

    def manifest_fields(self, preset: ScalePreset) -> dict[str, Any]:
        return {"columns": self.columns, "rows": _rows(self.rows), "budget": self.budget}


@dataclasses.dataclass(frozen=True)
class Sweep:
    """One curve: `parameter` takes each value of the preset's `values_from` list."""

    parameter: str
    label: str
    values_from: str
    scale: Literal["log", "linear"] = "log"


@dataclasses.dataclass(frozen=True)
class SweepInfo:
    """A `Sweep` with its values resolved for one preset, as a manifest records it."""

    parameter: str
    label: str
    values: tuple[Any, ...]
    scale: str = "log"


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    """A sensitivity figure: for each sweep, `base` with one parameter varied; y = average score."""

    id: str
    caption: str
    base: Row
    sweeps: tuple[Sweep, ...]
    paper_number: str | None = None
    kind: str = "figure"
    analysis: None = None

    def points(self, preset: ScalePreset) -> list[Point]:
        values = preset.analysis.to_dict(shallow=True)
        return [
            (
                Row(self.base.label, self.base.method, {**self.base.params, sweep.parameter: value}),
                sweep.parameter,
                value,
            )
            for sweep in self.sweeps
            for value in values[sweep.values_from]
        ]

    def manifest_fields(self, preset: ScalePreset) -> dict[str, Any]:
        values = preset.analysis.to_dict(shallow=True)
        sweeps = tuple(
            SweepInfo(sweep.parameter, sweep.label, tuple(values[sweep.values_from]), sweep.scale)
            for sweep in self.sweeps
        )
        return {"columns": "average", "rows": _rows([self.base]), "sweeps": sweeps}


@dataclasses.dataclass(frozen=True)
class AnalysisSpec:
    """An analysis of trained models' embeddings (no MTEB): `analysis` names the function."""

    id: str
    caption: str
    analysis: Literal["spectrum", "alignment"]
    rows: tuple[Row, ...]
    paper_number: str | None = None
    kind: str = "analysis"

    def points(self, preset: ScalePreset) -> list[Point]:
        return [(row, None, None) for row in self.rows]

    def manifest_fields(self, preset: ScalePreset) -> dict[str, Any]:
        return {"columns": "average", "rows": _rows(self.rows), "analysis": self.analysis}


@dataclasses.dataclass(frozen=True)
class CurveSpec:
    """Methods (rows) each trained at several budgets: y = Mean(TaskType), x = training FLOPs and
    tokens (`reproduce.plan.budget`). `parameter` takes each value of the preset's `values_from` list."""

    id: str
    caption: str
    rows: tuple[Row, ...]
    parameter: str = "budget"
    label: str = "training budget (x the preset's optimiser steps)"
    values_from: str = "budgets"
    paper_number: str | None = None
    kind: str = "curve"
    analysis: None = None

    def points(self, preset: ScalePreset) -> list[Point]:
        values = preset.analysis.to_dict(shallow=True)[self.values_from]
        return [
            (dataclasses.replace(row, params={**row.params, self.parameter: value}), self.parameter, value)
            for row in self.rows
            for value in values
        ]

    def manifest_fields(self, preset: ScalePreset) -> dict[str, Any]:
        values = tuple(preset.analysis.to_dict(shallow=True)[self.values_from])
        return {
            "columns": "average",
            "rows": _rows(self.rows),
            "sweeps": (SweepInfo(self.parameter, self.label, values, "log"),),
        }


def expand_grid(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of named axes, in axis order: `{"a": [1, 2], "b": [3]}` -> 2 dicts."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


T2T = "text2token"
T2T_BEST = {"pooling": "last", "attention": "causal"}  # paper: last pooling + causal is best for Llama-3

PROMPTEOL = Row("PromptEOL (zero-shot, last)", "zero-shot", {"pooling": "last", "attention": "causal"})
TRAINING_FREE = (
    Row("Echo (zero-shot, mean)", "echo"),
    Row("Token Prepending (zero-shot, last)", "token-prepending"),
)
"""Methods that read the frozen backbone differently and train nothing (`baselines.training_free`),
next to PromptEOL (the zero-shot backbone with last pooling): what training must beat for free. A row
added here appears in `main` and every compare table, in this order (README: "Add a method")."""

BM25 = Row("BM25 (lexical)", "bm25", task_types=("Retrieval",))
"""mteb's BM25 (`baselines.bm25`): the lexical reference an unsupervised embedding must beat on
retrieval. Scored on Retrieval only (it has no embeddings); the last row of the tables it is in."""

POOLING_ATTENTION = tuple(
    Row(
        f"{'Text2Token' if cell['method'] == T2T else 'LLM2Vec'}, {cell['pooling']} + {cell['attention']}",
        cell["method"],
        {"pooling": cell["pooling"], "attention": cell["attention"]},
    )
    for cell in expand_grid(
        {"method": [T2T, "llm2vec"], "pooling": ["last", "mean"], "attention": ["causal", "bidirectional"]}
    )
)

REGISTRY: dict[str, OutputSpec] = {
    spec.id: spec
    for spec in [
        TableSpec(
            id="main",
            # the caption is an output (results/README.md quotes it): a new TRAINING_FREE row adds
            # its name here only when its numbers are committed
            caption="Main results: zero-shot backbone (PromptEOL, mean), training-free methods (echo "
            "embeddings, Token Prepending), LLM2Vec and Text2Token, per MTEB category and averaged over "
            "tasks (main score x100); BM25 as the lexical reference on retrieval.",
            rows=(
                PROMPTEOL,
                Row("Zero-shot, mean", "zero-shot", {"pooling": "mean", "attention": "causal"}),
                *TRAINING_FREE,
                Row("LLM2Vec", "llm2vec"),
                Row("Text2Token", T2T, dict(T2T_BEST)),
                BM25,
            ),
        ),
        TableSpec(
            id="pooling-attention",
            caption="Pooling (last with PromptEOL / mean) x attention (causal / bidirectional) for "
            "Text2Token and LLM2Vec (average main score x100).",
            rows=POOLING_ATTENTION,
            columns="average",
        ),
        TableSpec(
            id="targets",
            caption="Target type (data-driven only, model-derived only, both) x pooling (paper: data-driven "
            "targets suit last pooling, model-derived targets suit mean pooling).",
            rows=tuple(
                Row(f"{target}, {pooling}", T2T, {"pooling": pooling, "attention": "causal", "order": order})
                for target, order in [
                    ("Data-driven only", ("dd",)),
                    ("Model-derived only", ("md",)),
                    ("Both (DD -> MD)", ("dd", "md")),
                ]
                for pooling in ("last", "mean")
            ),
        ),
        TableSpec(
            id="table3",
            paper_number="Table 3",
            caption="Stage order: data-driven (DD) and model-derived (MD) targets alone and in both "
            "orders (paper: DD -> MD wins).",
            rows=(
                Row("DD only", T2T, {**T2T_BEST, "order": ("dd",)}),
                Row("MD only", T2T, {**T2T_BEST, "order": ("md",)}),
                Row("DD -> MD", T2T, {**T2T_BEST, "order": ("dd", "md")}),
                Row("MD -> DD", T2T, {**T2T_BEST, "order": ("md", "dd")}),
            ),
        ),
        FigureSpec(
            id="figure5",
            paper_number="Figure 5",
            caption="Sensitivity of Text2Token to the number N of samples for the common distribution "
            "Q(w) and to the target temperature tau (average main score x100).",
            base=Row("Text2Token", T2T, dict(T2T_BEST)),
            sweeps=(
                Sweep("common_samples", "samples N for Q(w)", "figure5_samples"),
                Sweep("tau", "temperature tau", "figure5_taus"),
            ),
        ),
        CurveSpec(
            id="budget",
            caption="Training budget curves: Text2Token (DD -> MD, last + causal), SimCSE (last + causal) and "
            "LLM2Vec (its best cell per family at 1x: last + causal on SmolLM2-135M; mean + "
            "bidirectional, its own recipe, on every other backbone) at several budgets; Mean(TaskType) "
            "x100 against training FLOPs and tokens (ours, not in the paper).",
            rows=(
                Row("Text2Token", T2T, dict(T2T_BEST)),
                Row("SimCSE, last + causal", "simcse", {"pooling": "last", "attention": "causal"}),
                Row(
                    "LLM2Vec, last + causal",
                    "llm2vec",
                    {"pooling": "last", "attention": "causal"},
                    backbones=("smollm2-135m",),
                ),  # fmt: skip
                Row("LLM2Vec, mean + bidirectional", "llm2vec", excluding=("smollm2-135m",)),
            ),
        ),
        AnalysisSpec(
            id="spectrum",
            caption="Per principal component of the untrained model's embeddings, how much training "
            "moves the embeddings (paper: both methods mainly move the first component).",
            analysis="spectrum",
            rows=(Row("LLM2Vec", "llm2vec"), Row("Text2Token", T2T, dict(T2T_BEST))),
        ),
        AnalysisSpec(
            id="alignment",
            caption="Token alignment: of the top-10 LM-head tokens of each embedding, how many occur in "
            "the input text (mean over sentences).",
            analysis="alignment",
            rows=(
                Row("Zero-shot, last", "zero-shot", {"pooling": "last", "attention": "causal"}),
                Row("Zero-shot, mean", "zero-shot", {"pooling": "mean", "attention": "causal"}),
                Row("LLM2Vec", "llm2vec"),
                Row("Text2Token", T2T, dict(T2T_BEST)),
            ),
        ),
    ]
}


def get_spec(spec_id: str) -> OutputSpec:
    return choose(REGISTRY, spec_id, "table or figure id")
