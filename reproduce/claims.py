"""The paper's qualitative claims, checked on whatever results exist at each preset.

Each claim compares complete averages (all tasks of the task set) of table cells; a comparison
with a missing or partial cell is skipped. A claim **holds** when every measured comparison agrees,
**fails** when one disagrees, and is **not measured** when none could be made. The evidence column
gives the numbers. Below each preset's claims, a table gives every method's best complete cell over
all score tables (`best_cells`), because the paper's comparisons use one fixed setting per method.
Written to `results/tables/claims.md`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from reproduce.collect import load_analysis, scores_frame
from reproduce.grid import PlannedRun, expand
from reproduce.presets import PRESETS, ScalePreset
from reproduce.registry import REGISTRY, TableSpec, get_spec
from reproduce.tables import aggregate
from t2t.atomic import atomic_write_text
from t2t.evaluation.tasks import TASK_SETS
from t2t.paths import results_root

Comparison = tuple[str, bool]  # (evidence text, agrees with the claim)


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    text: str
    check: Callable[[ScalePreset, Path | None], list[Comparison]]


def complete_cells(spec_id: str, preset: ScalePreset, root: Path | None) -> list[tuple[PlannedRun, float]]:
    """The cells of a table with a complete task-set average x100, as `(planned run, value)`."""
    planned = expand(get_spec(spec_id), preset)
    frame = scores_frame(planned, root)
    tasks = TASK_SETS[preset.task_set].tasks
    out = []
    for item in planned:
        scores = dict(frame[frame.run_id == item.run_id][["task", "score"]].itertuples(index=False))
        cell = aggregate(scores, tasks)
        if cell.value is not None and not cell.partial:
            out.append((item, cell.value))
    return out


def averages(spec_id: str, preset: ScalePreset, root: Path | None) -> dict[tuple[str, str], float]:
    """Complete task-set averages x100 of a table's cells: `{(row label, role): value}`."""
    return {(item.row, item.role): value for item, value in complete_cells(spec_id, preset, root)}


def best_cells(preset: ScalePreset, root: Path | None) -> list[tuple[str, str, str, float]]:
    """Per method and backbone role, its best complete cell over every score table.

    Not one of the paper's claims: context for them. The paper compares Text2Token with LLM2Vec's
    main-table setting (mean pooling, bidirectional attention); at a small scale another setting of a
    method can be far better (at smol, LLM2Vec with last-token pooling and causal attention), and a
    reader of the claims should see that. Returns `(method, role, "table: row", value)` rows.
    """
    best: dict[tuple[str, str], tuple[str, float]] = {}
    for spec_id, spec in REGISTRY.items():
        if not isinstance(spec, TableSpec):
            continue
        for item, value in complete_cells(spec_id, preset, root):
            key = (item.run.method, item.role)
            if key not in best or value > best[key][1]:
                best[key] = (f"{spec_id}: {item.row}", value)
    return [(method, role, where, value) for (method, role), (where, value) in sorted(best.items())]


def _greater(values, role, better: str, worse: str, margin: float = 0.0) -> list[Comparison]:
    if (better, role) not in values or (worse, role) not in values:
        return []
    a, b = values[(better, role)], values[(worse, role)]
    relation = ">=" if margin else ">"
    return [
        (
            f"[{role}] {better} {a:.2f} {relation} {worse} {b:.2f}" + (f" - {margin:g}" if margin else ""),
            a > b - margin if margin else a > b,
        )
    ]


def last_beats_mean(preset, root):
    values = averages("pooling-attention", preset, root)
    return [
        c
        for role in preset.backbones
        for attention in ("causal", "bidirectional")
        for c in _greater(values, role, f"Text2Token, last + {attention}", f"Text2Token, mean + {attention}")
    ]


def dd_then_md_wins(preset, root):
    values = averages("table3", preset, root)
    return [
        c
        for role in preset.backbones
        for other in ("DD only", "MD only", "MD -> DD")
        for c in _greater(values, role, "DD -> MD", other)
    ]


def close_to_llm2vec(preset, root):
    values = averages("main", preset, root)
    return [
        c for role in preset.backbones for c in _greater(values, role, "Text2Token", "LLM2Vec", margin=1.0)
    ]


def targets_suit_poolings(preset, root):
    values = averages("targets", preset, root)
    return [
        c
        for role in preset.backbones
        for c in _greater(values, role, "Data-driven only, last", "Data-driven only, mean")
        + _greater(values, role, "Model-derived only, mean", "Model-derived only, last")
    ]


def first_component_moves(preset, root):
    from reproduce.runner import analysis_run

    spec = get_spec("spectrum")
    out = []
    for item in expand(spec, preset):
        run = analysis_run(spec, item, preset)
        data = load_analysis(run.analysis, run.run_id, root)
        if data is None:
            continue
        primary = data["result"][data["result"]["primary"]]
        top, share = primary["top_component"], primary["first_component_share"]
        if top is not None:
            out.append(
                (f"[{item.role}] {item.row}: largest change on PC{top + 1}, PC1 share {share:.2f}", top == 0)
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


def verdict(comparisons: list[Comparison]) -> str:
    if not comparisons:
        return "not measured"
    return "holds" if all(ok for _, ok in comparisons) else "fails"


def claims_markdown(presets: list[ScalePreset], root: Path | None = None) -> str:
    lines = [
        "# The paper's claims, checked on stored results",
        "",
        "Comparisons use complete task-set averages (MTEB main score x100); see `reproduce/claims.py`.",
        "",
    ]
    for preset in presets:
        lines += [
            f"## preset {preset.name} ({preset.description}; tasks: {preset.task_set})",
            "",
            "| claim | status | evidence |",
            "|---|---|---|",
        ]
        for claim in CLAIMS:
            comparisons = claim.check(preset, root)
            evidence = "<br>".join(("✓ " if ok else "✗ ") + text for text, ok in comparisons) or "--"
            lines.append(f"| {claim.text} | {verdict(comparisons)} | {evidence} |")
        lines.append("")
        best = best_cells(preset, root)
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


def write_claims(presets: list[ScalePreset] | None = None, root: Path | None = None) -> Path:
    presets = presets or [PRESETS[name] for name in ("paper", "smol", "tiny")]
    path = (root or results_root()) / "tables" / "claims.md"
    atomic_write_text(path, claims_markdown(presets, root))
    return path
