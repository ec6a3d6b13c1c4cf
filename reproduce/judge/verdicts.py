"""From a claim's comparisons to verdicts: cells, paired intervals, Holm, stability, degenerate cells.

A comparison says "cell `better` > cell `worse` - margin" on one backbone. The comparisons of one
claim at one preset (every backbone together) are one **family**, decided by Holm's step-down at
5% (`t2t.stats.decide_family`) on the p-values of their paired intervals (test items, the
evaluator's fits and seeds, `t2t.stats.linear_contrast`; every trained side, a single-seed one
included, with its method's pooled seed variance, `reproduce.cells.samples`). Each comparison reads:

- **holds** / **fails**: significant after Holm, above / below the margin, in every one of the 5
  resampling blocks and on all of them together;
- **inconclusive**: not significant, significant in some blocks only (the resampling seed would
  decide it), or a cell without item outputs (no interval); with an interval, the evidence says
  what would settle it: the seeds per cell for 80% power and their cost here (`reproduce.judge.settle`);
- **not comparable**: a side is degenerate (`reproduce.judge.degenerate`: a trained cell significantly
  below its own untrained backbone), so winning or losing against it means nothing.

A backbone's (and the claim's) verdict is the worst of its comparisons, in the order fails, not
comparable, inconclusive, holds: a claim never holds through a broken baseline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from reproduce.cells.collect import cell_averages
from reproduce.cells.manifest import Manifest
from reproduce.cells.results import Results, Source, as_results
from reproduce.cells.samples import restricted, run_config, samples, score_manifests
from reproduce.judge.degenerate import DEGENERATE, Degenerate, degenerate_cells
from reproduce.judge.settle import settle_text
from t2t.stats import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Bootstrap,
    Sample,
    decide_family,
    full_average,
    linear_contrast,
)

NOT_COMPARABLE = "not comparable"
SEVERITY = [FAILS, NOT_COMPARABLE, INCONCLUSIVE, HOLDS]
MARKS = {HOLDS: "✓ ", FAILS: "✗ ", INCONCLUSIVE: "? ", NOT_COMPARABLE: "⊘ ", None: "· "}


@dataclasses.dataclass(frozen=True)
class Side:
    """One complete cell of a score table, as a claim uses it."""

    table: str
    row: str
    role: str
    backbone: str
    method: str
    value: float  # what the table prints: the mean over seeds with item outputs, else seed 0
    sample: Sample | None  # None: no item outputs (stored before them)
    tasks: tuple[str, ...]
    setting: tuple[str | None, str | None]  # (pooling, attention) of its seed-0 run
    degenerate: Degenerate | None = None

    @property
    def seeds(self) -> int:
        return len(self.sample.runs) if self.sample else 1

    @property
    def run_ids(self) -> tuple:
        return tuple(run.key[0] for run in self.sample.runs) if self.sample else (self.table, self.row)

    @property
    def terms(self) -> list[tuple[float, Sample]]:
        """The cell as a linear combination of samples (`t2t.stats.linear_contrast`): itself."""
        return [(1.0, self.sample)]

    @property
    def samples(self) -> list[Sample]:
        return [self.sample] if self.sample else []


@dataclasses.dataclass(frozen=True)
class Interpolated:
    """A point between two measured cells of one curve: `weight x lower + (1 - weight) x upper`,
    e.g. SimCSE at Text2Token's training FLOPs, between its two bracketing budgets (`reproduce.report.claims`).
    Degenerate when either end is; without item outputs when either end has none."""

    lower: Side
    upper: Side
    weight: float
    row: str

    def __getattr__(self, name):  # table, role, backbone, method, tasks, setting: the lower end's
        if name in ("lower", "upper"):  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.lower, name)

    @property
    def value(self) -> float:
        return self.weight * self.lower.value + (1 - self.weight) * self.upper.value

    @property
    def sample(self):
        return self.lower.sample if self.lower.sample and self.upper.sample else None

    @property
    def degenerate(self) -> Degenerate | None:
        return self.lower.degenerate or self.upper.degenerate

    @property
    def seeds(self) -> int:
        return min(self.lower.seeds, self.upper.seeds)

    @property
    def run_ids(self) -> tuple:
        return (*self.lower.run_ids, *self.upper.run_ids)

    @property
    def terms(self) -> list[tuple[float, Sample]]:
        return [(self.weight, self.lower.sample), (1 - self.weight, self.upper.sample)]

    @property
    def samples(self) -> list[Sample]:
        return [*self.lower.samples, *self.upper.samples]


def table_sides(manifest: Manifest, results: Source = None) -> dict[tuple, Side]:
    """`{(row, role): Side}` for the complete cells of one score table; for a curve (one row at
    several values of its parameter: `reproduce.plan.budget`), `{(row, role, value): Side}`. A cell whose
    run evaluates only some of the tasks (BM25: Retrieval, `reproduce.cells.samples.restricted`) has no
    task-set average and is no side: it enters no claim."""
    results = as_results(results)
    curve = bool(manifest.sweeps) and not manifest.score_table
    found = {
        (row, role, value) if curve else (row, role): s
        for (row, role, _, value), s in samples(manifest, results, comparison=True).items()
    }
    degenerate = degenerate_cells(manifest, results)
    out = {}
    for cell, average in cell_averages(manifest.seed_cells(), manifest.tasks, results):
        if average.value is None or average.partial or restricted(cell.run_id, manifest, results):
            continue
        key = (cell.row, cell.role, cell.value) if curve else (cell.row, cell.role)
        sample = found.get(key)
        value = average.value
        if sample is not None:
            value = float(np.mean([full_average(run, manifest.tasks) for run in sample.runs]))
        config = run_config(cell.run_id, results)
        setting = (config.get("pooling", {}).get("mode"), config.get("attention"))
        out[key] = Side(manifest.output, cell.row, cell.role, cell.backbone, cell.method, value, sample,
                        tuple(manifest.tasks), setting, degenerate.get(key))  # fmt: skip
    return out


def preset_sides(preset: str, results: Results) -> list[Side]:
    """The complete cells of every score table at a preset (registry tables, then `compare-*`)."""
    manifests = sorted(
        score_manifests(preset, results), key=lambda m: (m.output.startswith("compare-"), m.output)
    )
    return [side for manifest in manifests for side in table_sides(manifest, results).values()]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """ "`better` > `worse` - `margin`" on the backbone column `role`; `note` says why this cell."""

    role: str
    better: Side
    worse: Side | Interpolated
    margin: float = 0.0
    note: str = ""
    weights: dict[str, float] | None = None  # task weights of the average (None: mean over tasks)

    def terms(self) -> list[tuple[float, Sample]]:
        """`better - worse` as a linear combination of samples."""
        return [*self.better.terms, *((-c, sample) for c, sample in self.worse.terms)]


@dataclasses.dataclass(frozen=True)
class Finding:
    """A line already decided (no interval: e.g. the spectrum's largest component), or context
    (`verdict` None: shown, never counted)."""

    role: str
    text: str
    verdict: str | None


def _label(side: Side, other: Side) -> str:
    return side.row if side.table == other.table else f"{side.table}: {side.row}"


def _seed_source(samples: Sequence[Sample]) -> str:
    sources = []
    for sample in samples:
        variance = sample.seed_variance
        text = "untrained" if variance.untrained else variance.source if variance.measured else "not measured"
        sources += [text] if text not in sources else []
    return "seed variance: " + " / ".join(sources)


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _text(comparison: Comparison, decision=None, interval=None) -> str:
    bootstrap = Bootstrap()
    a, b = comparison.better, comparison.worse
    claim = f"[{comparison.role}] {_label(a, b)} > {_label(b, a)}" + (
        f" - {comparison.margin:g}" if comparison.margin else ""
    )
    claim += f" ({comparison.note})" if comparison.note else ""
    if a.degenerate or b.degenerate:
        broken = a if a.degenerate else b
        return (
            f"{claim}: not comparable, {_label(broken, a if broken is b else b)} is {DEGENERATE} "
            f"({broken.value:.2f}, {-broken.degenerate.difference.estimate:.2f} below "
            f"{broken.degenerate.reference})"
        )
    if interval is None:
        return (
            f"{claim}: {a.value:.2f} vs {b.value:.2f}, difference {a.value - b.value:+.2f}, no interval "
            "(runs stored before item outputs)"
        )
    text = (
        f"{claim}: difference {interval.estimate:+.2f}, Holm {100 * decision.level:.1f}% interval "
        f"[{decision.low:+.2f}, {decision.high:+.2f}], adjusted p {_p(decision.adjusted_p)} "
        f"({a.seeds} vs {b.seeds} seeds; {_seed_source([*a.samples, *b.samples])}; "
        f"{bootstrap.blocks} x {bootstrap.resamples:,} resamples)"
    )
    if not decision.stable:
        agreeing = sum(v == decision.pooled for v in decision.block_verdicts)
        text += (
            f"; unstable: {decision.pooled} on all resamples but in {agreeing} of "
            f"{len(decision.block_verdicts)} blocks, so inconclusive"
        )
    return text


@dataclasses.dataclass(frozen=True)
class Decided:
    """One line of a claim's evidence: the comparison or finding, its text and verdict (None:
    context), and for a tested comparison its Holm decision and paired interval."""

    role: str
    text: str
    verdict: str | None
    item: Comparison | Finding
    decision: Any = None  # t2t.stats decision (level, low, high, adjusted p), tested comparisons only
    interval: Any = None  # t2t.stats paired interval (estimate), tested comparisons only

    @property
    def line(self) -> tuple[str, str, str | None]:
        return (self.role, self.text, self.verdict)


def decide_claim(
    items: Sequence[Comparison | Finding], results: Source = None
) -> list[tuple[str, str, str | None]]:
    """`(role, evidence text, verdict)` per comparison or finding (`decide_comparisons`)."""
    return [decided.line for decided in decide_comparisons(items, results)]


def decide_comparisons(items: Sequence[Comparison | Finding], results: Source = None) -> list[Decided]:
    """Each comparison or finding decided, the comparisons as one Holm family (those with an interval
    and no degenerate side); an inconclusive one also says what would settle it
    (`reproduce.judge.settle`: seeds for 80% power, priced from the stored runs)."""
    tested = [
        c
        for c in items
        if isinstance(c, Comparison)
        and c.better.sample
        and c.worse.sample
        and not (c.better.degenerate or c.worse.degenerate)
    ]
    intervals = [linear_contrast(c.terms(), list(c.better.tasks), weights=c.weights) for c in tested]
    decisions = dict(
        zip(map(id, tested), zip(decide_family(intervals, [-c.margin for c in tested]), intervals))
    )
    out = []
    for item in items:
        if isinstance(item, Finding):
            out.append(Decided(item.role, item.text, item.verdict, item))
        elif id(item) in decisions:
            decision, interval = decisions[id(item)]
            text = _text(item, decision, interval)
            if decision.verdict == INCONCLUSIVE:  # what would settle it (`reproduce.judge.settle`)
                text += "; " + settle_text(
                    item.terms(), interval, decision, item.margin, item.better.tasks, results
                )
            out.append(Decided(item.role, text, decision.verdict, item, decision, interval))
        else:
            broken = item.better.degenerate or item.worse.degenerate
            out.append(Decided(item.role, _text(item), NOT_COMPARABLE if broken else INCONCLUSIVE, item))
    return out


def verdict(decided: Sequence[tuple[str, str, str | None]]) -> str:
    """The worst verdict of the counted lines (fails, not comparable, inconclusive, holds)."""
    verdicts = {v for _, _, v in decided if v is not None}
    if not verdicts:
        return "not measured"
    return next(v for v in SEVERITY if v in verdicts)


def per_backbone(decided: Sequence[tuple[str, str, str | None]]) -> str:
    """`role: verdict` for each backbone column with counted lines, in the order they came."""
    by_role: dict[str, list] = {}
    for line in decided:
        if line[2] is not None:
            by_role.setdefault(line[0], []).append(line)
    return ", ".join(f"{role}: {verdict(lines)}" for role, lines in by_role.items()) or "--"
