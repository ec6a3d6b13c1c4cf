"""The paper's qualitative claims, checked on whatever results exist at each preset.

Each claim is a family of comparisons between complete table cells (all tasks of the task set; the
aggregate is the paper's: the mean over tasks), decided together (`reproduce.judge.verdicts`): paired
intervals over test items and training seeds (`t2t.stats`), Holm's step-down over the family at
5%, every verdict checked on 5 blocks of resamples (one that changes between blocks is
inconclusive), and a comparison with a degenerate cell (`reproduce.judge.degenerate`: a trained cell
below its own untrained backbone) **not comparable**. A claim, and each backbone column, reads the
worst of its comparisons: fails, not comparable, inconclusive, holds; **not measured** when no
comparison could be made. So a claim that holds on one family and fails on another (smol's
SmolLM2 and Gemma-3 in `main`) says so instead of hiding behind one word.

"Within a point of LLM2Vec" is decided against two LLM2Vec cells of the same backbone, from any
score table of the preset (registry and `compare-*`): the one with Text2Token's pooling and
attention (last + causal), and LLM2Vec's best non-degenerate cell. Below each preset's claims, a
table gives every method's best complete cell over all score tables with the value the table
prints (mean over seeds), degenerate cells skipped. Written to `results/tables/claims.md`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from reproduce.cells.collect import load_analysis
from reproduce.cells.manifest import PRESET_ORDER, Manifest
from reproduce.cells.results import Results, Source, as_results
from reproduce.cells.samples import preset_pools
from reproduce.cells.tables import category_weights
from reproduce.judge.degenerate import DEGENERATE
from reproduce.judge.verdicts import (
    MARKS,
    NOT_COMPARABLE,
    Comparison,
    Finding,
    Interpolated,
    Side,
    decide_claim,
    per_backbone,
    preset_sides,
    table_sides,
    verdict,
)
from reproduce.plan.budget import curve_points
from reproduce.report.markdown import wrap
from t2t.core.atomic import atomic_write_text
from t2t.stats import FAILS, HOLDS, INCONCLUSIVE, Bootstrap


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    text: str
    check: Callable[[str, Results], Sequence[Comparison | Finding]]


def sides(output: str, preset: str, results: Results) -> tuple[list[str], dict[tuple[str, str], Side]]:
    """`(backbone roles, {(row, role): Side})` of one table at a preset."""
    manifest = results.manifest(output, preset)
    return (list(manifest.backbones), table_sides(manifest, results)) if manifest else ([], {})


def _greater(values, role: str, better: str, worse: str, margin: float = 0.0) -> list[Comparison]:
    if (better, role) not in values or (worse, role) not in values:
        return []
    return [Comparison(role, values[(better, role)], values[(worse, role)], margin)]


def last_beats_mean(preset, results):
    roles, values = sides("pooling-attention", preset, results)
    return [
        c
        for role in roles
        for attention in ("causal", "bidirectional")
        for c in _greater(values, role, f"Text2Token, last + {attention}", f"Text2Token, mean + {attention}")
    ]


def dd_then_md_wins(preset, results):
    roles, values = sides("table3", preset, results)
    return [
        c
        for role in roles
        for other in ("DD only", "MD only", "MD -> DD")
        for c in _greater(values, role, "DD -> MD", other)
    ]


def close_to_llm2vec(preset, results):
    """Text2Token (main) vs LLM2Vec with Text2Token's pooling and attention, and vs LLM2Vec's best
    non-degenerate cell (one comparison when they are the same cell); main's own LLM2Vec row (the
    paper's setting) is shown as context when it is neither, and says so when it is degenerate."""
    roles, values = sides("main", preset, results)
    llm2vec = [s for s in preset_sides(preset, results) if s.method == "llm2vec"]
    out: list[Comparison | Finding] = []
    for role in roles:
        ours = values.get(("Text2Token", role))
        if ours is None:
            continue
        mine = [s for s in llm2vec if s.backbone == ours.backbone and s.tasks == ours.tasks]  # one task set
        same = sorted((s for s in mine if s.setting == ours.setting), key=lambda s: -s.seeds)
        usable = [s for s in mine if s.degenerate is None]
        best = max(usable, key=lambda s: s.value) if usable else None
        pooling, attention = ours.setting
        if same:
            also = ", also LLM2Vec's best" if best is not None and best.run_ids == same[0].run_ids else ""
            out.append(
                Comparison(
                    role, ours, same[0], 1.0, f"same pooling and attention: {pooling} + {attention}{also}"
                )
            )
        if best is not None and (not same or best.run_ids != same[0].run_ids):
            out.append(Comparison(role, ours, best, 1.0, "LLM2Vec's best non-degenerate cell"))
        paper = values.get(("LLM2Vec", role))
        if paper is not None and all(
            paper.run_ids != c.worse.run_ids for c in out if isinstance(c, Comparison)
        ):
            state = (
                f"{DEGENERATE}, {-paper.degenerate.difference.estimate:.2f} below {paper.degenerate.reference}"
                if paper.degenerate
                else f"difference {ours.value - paper.value:+.2f}, not one of the claim's comparisons"
            )
            out.append(
                Finding(
                    role,
                    f"[{role}] context: main's LLM2Vec row (paper setting) {paper.value:.2f}: {state}",
                    None,
                )
            )
    return out


def targets_suit_poolings(preset, results):
    roles, values = sides("targets", preset, results)
    return [
        c
        for role in roles
        for c in _greater(values, role, "Data-driven only, last", "Data-driven only, mean")
        + _greater(values, role, "Model-derived only, mean", "Model-derived only, last")
    ]


def first_component_moves(preset, results):
    manifest = results.manifest("spectrum", preset)
    out = []
    for cell in manifest.seed_cells() if manifest else []:
        data = load_analysis(manifest.analysis, cell.analysis_id, results.root)
        if data is None:
            continue
        primary = data["result"][data["result"]["primary"]]
        top, share = primary["top_component"], primary["first_component_share"]
        if top is not None:
            out.append(
                Finding(
                    cell.role,
                    f"[{cell.role}] {cell.row}: largest change on PC{top + 1}, PC1 share {share:.2f}",
                    HOLDS if top == 0 else FAILS,
                )
            )
    return out


BUDGET_MARGIN = 1.0
"""Non-inferiority margin of the budget claim (points of Mean(TaskType), as "within a point")."""


def equal_flops(preset, results):
    """Text2Token vs SimCSE at Text2Token's training FLOPs, on the budget curves (`reproduce.plan.budget`):
    each Text2Token budget whose FLOPs lie within SimCSE's measured range is compared with SimCSE
    interpolated there, linearly in log FLOPs between its two bracketing budgets (an `Interpolated`
    side: a linear contrast of three cells, `t2t.stats.linear_contrast`), on Mean(TaskType), with a
    non-inferiority margin of `BUDGET_MARGIN`. Points outside SimCSE's range are listed, not compared."""
    manifest = results.manifest("budget", preset)
    if manifest is None:
        return []
    values = table_sides(manifest, results)
    budgets = {(p.row, p.role, p.factor): p.budget for p in curve_points(manifest, results)}
    weights = category_weights(manifest.tasks, manifest.categories)
    out: list[Comparison | Finding] = []
    for role in manifest.backbones:
        line = sorted(
            (budgets[key].flops, key[2], side)
            for key, side in values.items()
            if key[:2] == ("SimCSE, last + causal", role) and budgets.get(key) and budgets[key].flops
        )
        for (row, r, factor), side in values.items():
            budget = budgets.get((row, r, factor))
            if (row, r) != ("Text2Token", role) or budget is None or not budget.flops:
                continue
            flops = budget.flops
            bracket = next(((lo, hi) for lo, hi in zip(line, line[1:]) if lo[0] <= flops <= hi[0]), None)
            if bracket is None:
                text = f"[{role}] Text2Token x{factor:g} ({flops:.2g} FLOPs): outside SimCSE's measured FLOPs"
                out.append(Finding(role, text + ", not compared", None))
                continue
            (f_lo, x_lo, lo), (f_hi, x_hi, hi) = bracket
            weight = (
                1.0
                if f_hi == f_lo
                else (math.log(f_hi) - math.log(flops)) / (math.log(f_hi) - math.log(f_lo))
            )
            interpolated = Interpolated(lo, hi, weight, f"SimCSE at {flops:.2g} FLOPs")
            note = f"Text2Token x{factor:g}; SimCSE interpolated in log FLOPs between x{x_lo:g} and x{x_hi:g}"
            out.append(Comparison(role, side, interpolated, BUDGET_MARGIN, note, weights))
    return out


CLAIMS = [
    Claim("last-beats-mean", "Last pooling beats mean pooling for Text2Token.", last_beats_mean),
    Claim(
        "dd-md-best",
        "Data-driven then model-derived (DD -> MD) beats each single stage and MD -> DD.",
        dd_then_md_wins,
    ),
    Claim(
        "close-to-llm2vec", "Text2Token is within a point of LLM2Vec or better on average.", close_to_llm2vec
    ),
    Claim(
        "targets-poolings",
        "Data-driven targets favour last pooling; model-derived targets favour mean pooling.",
        targets_suit_poolings,
    ),
    Claim(
        "first-component",
        "Text2Token and LLM2Vec both mostly change the first principal component.",
        first_component_moves,
    ),
    Claim(
        "equal-flops",
        "At equal training FLOPs, Text2Token is at least as good as SimCSE (Mean(TaskType), within a "
        "point: the budget curves).",
        equal_flops,
    ),
]


def best_cells(preset: str, results: Results) -> list[tuple[str, str, str, Side]]:
    """Per method and backbone, its best complete cell over every score table of the preset, by the
    value the table prints (the mean over seeds); degenerate cells are skipped unless a method has
    nothing else (then the best is shown marked). Returns `(method, backbone, "table: row", side)`.

    Not one of the paper's claims: context for them. The paper compares Text2Token with LLM2Vec's
    main-table setting (mean pooling, bidirectional attention); at a small scale another setting of a
    method can be far better (at smol, LLM2Vec with last-token pooling and causal attention), and a
    reader of the claims should see that.

    While the preset's tables are on different task sets (some moved, `--task-set`), averages over
    different tasks are not compared: each set has its own best cells, its name after the cell.
    """
    sides = preset_sides(preset, results)
    sets = {side.table: results.manifest(side.table, preset).task_set for side in sides}
    best: dict[tuple[str, str, str], Side] = {}
    for side in sides:
        key = (side.method, side.backbone, sets[side.table])
        current = best.get(key)
        rank = (side.degenerate is None, side.value)
        if current is None or rank > (current.degenerate is None, current.value):
            best[key] = side
    mixed = len(set(sets.values())) > 1
    return [
        (method, backbone, f"{s.table}: {s.row}" + (f" (`{task_set}`)" if mixed else ""), s)
        for (method, backbone, task_set), s in sorted(best.items())
    ]


Checked = list[tuple[Manifest, list[tuple[Claim, list[tuple[str, str, str | None]]]]]]
"""Per preset (largest first, with one of its manifests for its description): each claim with its
decided comparisons (`reproduce.judge.verdicts.decide_claim`: `(role, evidence text, verdict)`)."""


def check_claims(results: Source = None) -> Checked:
    """Every claim at every preset that has any planned output (`reproduce.cells.manifest`)."""
    results = as_results(results)
    presets: dict[str, Manifest] = {}
    for manifest in results.all_manifests():
        presets.setdefault(manifest.preset, manifest)
    order = sorted(presets, key=lambda n: PRESET_ORDER.index(n) if n in PRESET_ORDER else len(PRESET_ORDER))
    return [
        (presets[name], [(c, decide_claim(c.check(name, results), results)) for c in CLAIMS])
        for name in order
    ]


MARKS_LEGEND = (
    "Marks: ✓ holds; ✗ fails; ? inconclusive (not significant, unstable across resampling blocks, or "
    f"no item outputs); ⊘ not comparable (a side is {DEGENERATE}: significantly below its own untrained "
    "backbone with the same pooling); · context, not counted."
)


def method_text(bootstrap: Bootstrap) -> str:
    """How a comparison is decided (the "Method" section of claims.md)."""
    return (
        "Comparisons use complete task-set averages (MTEB main score x100, mean over tasks and seeds). "
        "Each difference has a paired interval over test items, the evaluator's fits and training seeds "
        f"(`t2t.stats`): the item-bootstrap variance ({bootstrap.blocks} blocks of {bootstrap.resamples:,} "
        "resamples, the same for every run), plus the spread of mteb's repeated classifier fits and k-means "
        "runs (`t2t.stats.evaluator`), plus s²/S per side, s² the unbiased between-seed variance of the "
        "side's training method pooled over its multi-seed cells of the preset and backbone (a single-seed "
        "side included; none for zero-shot; the values are at the top), with a Welch-Satterthwaite t "
        "critical value. The comparisons of one claim form a family decided by "
        "**Holm's step-down at 5%** on their p-values; the evidence gives each difference with its "
        "interval at its Holm step's level and the adjusted p. A verdict must be the same on every block "
        "of resamples, else it is inconclusive. A claim and each backbone read the worst of their "
        "comparisons (fails, not comparable, inconclusive, holds); see `reproduce/report/claims.py` and "
        "`reproduce/judge/verdicts.py`."
    )


def seed_variance_lines(checked: Checked, results: Results) -> list[str]:
    """The seed variances s² the comparisons use, per preset, task set and backbone, each method's
    with its df and where it was pooled (or whose it borrows: `reproduce.cells.samples`)."""
    lines = []
    for manifest, _ in checked:
        for (task_set, backbone), pools in sorted(preset_pools(manifest.preset, results).items()):
            shown = "; ".join(
                pool.source or f"{method}: not measured (no cell with 2 seeds)"
                for method, pool in sorted(pools.items())
            )
            lines += wrap(f"{manifest.preset}, {task_set}, {backbone}: {shown}", first="- ", rest="  ")
    if not lines:
        return []
    return [
        *wrap(
            "Seed variances s² (x100², of one trained run's task-set average) per training method, pooled "
            "over its cells with 2 or more seeds; a method with none yet borrows the pool with the most df:"
        ),
        "",
        *lines,
        "",
    ]


def preset_heading(manifest: Manifest) -> str:
    return f"preset {manifest.preset} ({manifest.preset_description}; tasks: {manifest.task_set})"


def _evidence(name: str, claims: list[tuple[Claim, list]]) -> list[str]:
    """Under the verdicts: each measured claim in bold with its verdict, then one list item per
    comparison (every number of it), wrapped."""
    measured = [(claim, decided) for claim, decided in claims if decided]
    if not measured:
        return []
    lines = [f"### Evidence at {name}", ""]
    for claim, decided in measured:
        lines += [f"**{claim.text}** Verdict: {verdict(decided)}.", ""]
        for _, text, mark in decided:
            lines += wrap(MARKS[mark] + text, first="- ", rest="  ")
        lines.append("")
    return lines


def _best_cells_section(name: str, results: Results) -> list[str]:
    best = best_cells(name, results)
    if not best:
        return []
    return [
        f"### Best cell per method at {name}",
        "",
        *wrap(
            "Best complete cell per method over every score table, by the value the table prints (mean "
            f"over seeds), {DEGENERATE} cells skipped (context for the claims, not a claim):"
        ),
        "",
        "| method | backbone | best cell | average | seeds |",
        "|---|---|---|---:|---:|",
        *(
            f"| {method} | {backbone} | {where} | {side.value:.2f}"
            f"{' ' + DEGENERATE if side.degenerate else ''} | {side.seeds} |"
            for method, backbone, where, side in best
        ),
        "",
    ]


def claims_markdown(results: Source = None, checked: Checked | None = None) -> str:
    """claims.md: per preset (largest first) one verdict line per claim, then the evidence of each
    measured claim as a list, then the best cell per method; the marks' legend at the top and the
    method once, at the end. `checked`: `check_claims(results)` when already computed."""
    results = as_results(results)
    checked = check_claims(results) if checked is None else checked
    lines = [
        "# The paper's claims, checked on stored results",
        "",
        *wrap(
            "Per preset, one line per claim with its verdict and each backbone's, then the evidence: "
            "every comparison with its difference, interval and adjusted p. How a comparison is "
            "decided: [Method](#method)."
        ),
        "",
        *wrap(MARKS_LEGEND),
        "",
        *seed_variance_lines(checked, results),
    ]
    for manifest, claims in checked:
        lines += [
            f"## {preset_heading(manifest)}",
            "",
            "| claim | verdict | per backbone |",
            "|---|---|---|",
            *(
                f"| {claim.text} | {verdict(decided)} | {per_backbone(decided)} |"
                for claim, decided in claims
            ),
            "",
        ]
        lines += _evidence(manifest.preset, claims)
        lines += _best_cells_section(manifest.preset, results)
    lines += ["## Method", "", *wrap(method_text(Bootstrap())), ""]
    return "\n".join(lines)


def reproduction_summary(checked: Checked) -> list[str]:
    """A few lines for the top of results/README.md, from the claims' verdicts: per preset with a
    measured claim, how many hold, then each claim's verdict (what held first); the presets with
    none measured in one line."""
    order = [HOLDS, FAILS, NOT_COMPARABLE, INCONCLUSIVE, "not measured"]
    lines, unmeasured = [], []
    for manifest, claims in checked:
        verdicts = [(claim, verdict(decided), per_backbone(decided)) for claim, decided in claims]
        if all(v == "not measured" for _, v, _ in verdicts):
            unmeasured.append(f"**{manifest.preset}**")
            continue
        counts = {v: sum(1 for _, x, _ in verdicts if x == v) for v in order}
        tally = ", ".join(f"{v}: {n}" for v, n in counts.items() if n and v != HOLDS)
        lines.append(f"- **{manifest.preset}**: {counts[HOLDS]} of {len(verdicts)} claims hold ({tally}).")
        for v in order:
            lines += [
                f"  - {v}: {claim.text.rstrip('.')}" + (f" ({backbones})" if backbones != "--" else "")
                for claim, x, backbones in verdicts
                if x == v
            ]
    if unmeasured:
        lines.append(f"- {', '.join(unmeasured)}: no claim measured yet.")
    return lines


def write_claims(results: Source = None, checked: Checked | None = None) -> Path:
    results = as_results(results)
    path = results.base / "tables" / "claims.md"
    atomic_write_text(path, claims_markdown(results, checked))
    return path
