"""The paper's qualitative claims, checked on whatever results exist at each preset.

Each claim is a set of comparisons between complete table cells (all tasks of the task set; the
aggregate is the paper's: the mean over tasks). A comparison is decided by the **paired bootstrap
interval** of the difference (`t2t.stats.paired_difference`: the same test-item resamples for
both cells, seeds drawn per side, 95%):

- **holds**: the interval excludes 0 (or the claim's margin) in the claimed direction;
- **fails**: it excludes it in the opposite direction;
- **inconclusive**: it contains it (the test items and seeds alone could produce the difference),
  and also when a cell has no item outputs (runs stored before them): a point difference alone
  decides nothing.

A claim holds when every comparison holds, fails when any fails, is inconclusive otherwise, and is
**not measured** when no comparison could be made. The same rule gives a verdict per backbone
column, so a claim that holds on one family and fails on another (smol's SmolLM2 and Gemma-3 in
`main`) says so instead of hiding behind one word. The evidence gives each difference with its
interval and how many seeds and resamples it rests on. Below each preset's claims, a table gives
every method's best complete cell over all score tables (`best_cells`), because the paper's
comparisons use one fixed setting per method. Written to `results/tables/claims.md`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from reproduce.collect import cell_averages, load_analysis
from reproduce.manifest import PRESET_ORDER, Manifest, ManifestCell, all_manifests, read_manifests
from reproduce.registry import REGISTRY
from reproduce.samples import cell_runs
from t2t.atomic import atomic_write_text
from t2t.paths import results_root
from t2t.stats import full_average, paired_difference

Comparison = tuple[str, str, str]  # (backbone role, evidence text, holds | fails | inconclusive)


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    text: str
    check: Callable[[str, Path | None], list[Comparison]]


def manifest_for(output: str, preset: str, root: Path | None) -> Manifest | None:
    return next((m for m in read_manifests(output, root) if m.preset == preset), None)


def roles(output: str, preset: str, root: Path | None) -> list[str]:
    manifest = manifest_for(output, preset, root)
    return list(manifest.backbones) if manifest else []


def complete_cells(output: str, preset: str, root: Path | None) -> list[tuple[ManifestCell, float]]:
    """The cells of a table with a complete task-set average x100, as `(cell, value)`."""
    manifest = manifest_for(output, preset, root)
    if manifest is None:
        return []
    return [
        (cell, average.value)
        for cell, average in cell_averages(manifest.seed_cells(), manifest.tasks, root)
        if average.value is not None and not average.partial
    ]


def averages(output: str, preset: str, root: Path | None) -> dict[tuple[str, str], float]:
    """Complete task-set averages x100 of a table's cells: `{(row label, role): value}`."""
    return {(cell.row, cell.role): value for cell, value in complete_cells(output, preset, root)}


def best_cells(preset: str, root: Path | None) -> list[tuple[str, str, str, float]]:
    """Per method and backbone role, its best complete cell over every score table of the registry.

    Not one of the paper's claims: context for them. The paper compares Text2Token with LLM2Vec's
    main-table setting (mean pooling, bidirectional attention); at a small scale another setting of a
    method can be far better (at smol, LLM2Vec with last-token pooling and causal attention), and a
    reader of the claims should see that. Returns `(method, role, "table: row", value)` rows.
    """
    best: dict[tuple[str, str], tuple[str, float]] = {}
    for output, spec in REGISTRY.items():
        if spec.kind != "table":
            continue
        for cell, value in complete_cells(output, preset, root):
            key = (cell.method, cell.role)
            if key not in best or value > best[key][1]:
                best[key] = (f"{output}: {cell.row}", value)
    return [(method, role, where, value) for (method, role), (where, value) in sorted(best.items())]


def evidence(
    output: str, preset: str, root: Path | None
) -> dict[tuple[str, str], tuple[float, list | None, list]]:
    """`{(row, role): (value, per-seed item outputs or None, tasks)}` for the complete cells of a
    table; with item outputs the value is the mean over seeds, as the table shows it."""
    manifest = manifest_for(output, preset, root)
    if manifest is None:
        return {}
    runs = {(row, role): found for (row, role, _, _), found in cell_runs(manifest, root).items()}
    tasks = list(manifest.tasks)
    out = {}
    for (row, role), value in averages(output, preset, root).items():
        found = runs.get((row, role))
        if found:
            value = float(np.mean([full_average(run, tasks) for run in found]))
        out[(row, role)] = (value, found, tasks)
    return out


def _greater(values, role, better: str, worse: str, margin: float = 0.0) -> list[Comparison]:
    """Is `better` above `worse` (or above it minus `margin`)? One comparison, with its verdict."""
    if (better, role) not in values or (worse, role) not in values:
        return []
    (a, runs_a, tasks), (b, runs_b, _) = values[(better, role)], values[(worse, role)]
    claim = f"> {worse}" + (f" - {margin:g}" if margin else "")
    if not runs_a or not runs_b:
        text = (
            f"[{role}] {better} {a:.2f} vs {worse} {b:.2f}: difference {a - b:+.2f}, no interval "
            "(runs stored before item outputs)"
        )
        return [(role, text, INCONCLUSIVE)]
    d = paired_difference(runs_a, runs_b, tasks)
    verdict = HOLDS if d.low > -margin else FAILS if d.high < -margin else INCONCLUSIVE
    text = (
        f"[{role}] {better} {claim}: difference {d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}] "
        f"({len(runs_a)} vs {len(runs_b)} seeds, {d.resamples} resamples)"
    )
    return [(role, text, verdict)]


def last_beats_mean(preset, root):
    values = evidence("pooling-attention", preset, root)
    return [
        c
        for role in roles("pooling-attention", preset, root)
        for attention in ("causal", "bidirectional")
        for c in _greater(values, role, f"Text2Token, last + {attention}", f"Text2Token, mean + {attention}")
    ]


def dd_then_md_wins(preset, root):
    values = evidence("table3", preset, root)
    return [
        c
        for role in roles("table3", preset, root)
        for other in ("DD only", "MD only", "MD -> DD")
        for c in _greater(values, role, "DD -> MD", other)
    ]


def close_to_llm2vec(preset, root):
    values = evidence("main", preset, root)
    return [
        c
        for role in roles("main", preset, root)
        for c in _greater(values, role, "Text2Token", "LLM2Vec", margin=1.0)
    ]


def targets_suit_poolings(preset, root):
    values = evidence("targets", preset, root)
    return [
        c
        for role in roles("targets", preset, root)
        for c in _greater(values, role, "Data-driven only, last", "Data-driven only, mean")
        + _greater(values, role, "Model-derived only, mean", "Model-derived only, last")
    ]


def first_component_moves(preset, root):
    manifest = manifest_for("spectrum", preset, root)
    out = []
    for cell in manifest.seed_cells() if manifest else []:
        data = load_analysis(manifest.analysis, cell.analysis_id, root)
        if data is None:
            continue
        primary = data["result"][data["result"]["primary"]]
        top, share = primary["top_component"], primary["first_component_share"]
        if top is not None:
            out.append(
                (
                    cell.role,
                    f"[{cell.role}] {cell.row}: largest change on PC{top + 1}, PC1 share {share:.2f}",
                    HOLDS if top == 0 else FAILS,
                )
            )
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
]


HOLDS, FAILS, INCONCLUSIVE = "holds", "fails", "inconclusive"
MARKS = {HOLDS: "✓ ", FAILS: "✗ ", INCONCLUSIVE: "? "}


def verdict(comparisons: list[Comparison]) -> str:
    if not comparisons:
        return "not measured"
    verdicts = {v for _, _, v in comparisons}
    if FAILS in verdicts:
        return FAILS
    return HOLDS if verdicts == {HOLDS} else INCONCLUSIVE


def per_backbone(comparisons: list[Comparison]) -> str:
    """`role: verdict` for each backbone column with comparisons, in the order they came."""
    by_role: dict[str, list[Comparison]] = {}
    for comparison in comparisons:
        by_role.setdefault(comparison[0], []).append(comparison)
    return ", ".join(f"{role}: {verdict(found)}" for role, found in by_role.items()) or "--"


def claims_markdown(root: Path | None = None) -> str:
    """The claims per preset that has any planned output (`reproduce.manifest`), largest first."""
    presets: dict[str, Manifest] = {}
    for manifest in all_manifests(root):
        presets.setdefault(manifest.preset, manifest)
    lines = [
        "# The paper's claims, checked on stored results",
        "",
        "Comparisons use complete task-set averages (MTEB main score x100, mean over tasks), decided by",
        "paired intervals of each difference (95%, test items and seeds, `t2t.stats`): ✓ holds, ✗ fails,",
        "? inconclusive (the interval contains 0, or a cell has no item outputs); see `reproduce/claims.py`.",
        "",
    ]
    for name in sorted(
        presets, key=lambda n: PRESET_ORDER.index(n) if n in PRESET_ORDER else len(PRESET_ORDER)
    ):
        info = presets[name]
        lines += [
            f"## preset {name} ({info.preset_description}; tasks: {info.task_set})",
            "",
            "| claim | status | per backbone | evidence |",
            "|---|---|---|---|",
        ]
        for claim in CLAIMS:
            comparisons = claim.check(name, root)
            shown = "<br>".join(MARKS[v] + text for _, text, v in comparisons) or "--"
            lines.append(f"| {claim.text} | {verdict(comparisons)} | {per_backbone(comparisons)} | {shown} |")
        lines.append("")
        best = best_cells(name, root)
        if best:
            lines += [
                "Best complete cell per method over every score table (context for the claims, not a claim):",
                "",
                "| method | backbone | best cell | average |",
                "|---|---|---|---|",
                *(f"| {method} | {role} | {where} | {value:.2f} |" for method, role, where, value in best),
                "",
            ]
    return "\n".join(lines)


def write_claims(root: Path | None = None) -> Path:
    path = (root or results_root()) / "tables" / "claims.md"
    atomic_write_text(path, claims_markdown(root))
    return path
