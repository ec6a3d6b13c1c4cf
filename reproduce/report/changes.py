"""What changed when a preset's outputs moved to another task set (`--task-set`): each claim's verdict
per backbone on the set the outputs were recorded on before and on today's, with the difference that
decides it, and by MTEB category where that difference comes from.

    moves(results)              # [("smol", "offline", "offline-balanced")]
    changes_lines(results)      # the "What changed" section of results/README.md (`reproduce.report.index`)

Both sides are computed now, from the run folders (which keep every task they evaluated) through each
manifest's record of the sets it was on before (`reproduce.cells.manifest.Manifest.earlier`), by the
claim checks of claims.md (`reproduce.report.claims.CLAIMS`, `reproduce.judge.verdicts`); nothing is
copied from an older claims.md. While some outputs of a preset have moved and others not, an output
not yet moved counts on its earlier set only, so a claim resting on it reads "not measured" on the
new set until it moves.

The backbone's verdict is the worst of its comparisons (as in claims.md); the difference shown is
that of the comparison that sets it, with its Holm interval (or its plain difference when it has
none: a degenerate side, or runs without item outputs). "By category" splits that difference into
the mean over each MTEB category's tasks (better side minus worse side, x100), so a verdict that
moved says which categories moved it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from reproduce.cells.results import Results, Source, as_results
from reproduce.judge.verdicts import MARKS, Comparison, Decided, decide_comparisons, verdict
from reproduce.report.claims import CLAIMS
from reproduce.report.markdown import wrap
from t2t.stats import full_average


def moves(results: Source = None) -> list[tuple[str, str, str]]:
    """`(preset, earlier task set, current task set)` for each move a preset's manifests record
    (their latest earlier set), in preset order."""
    results = as_results(results)
    found = {
        (m.preset, m.earlier[-1].task_set, m.task_set): None for m in results.all_manifests() if m.earlier
    }
    return list(found)


def category_differences(comparison: Comparison, categories: dict[str, str]) -> dict[str, float] | None:
    """`{category: better - worse}` (x100, each side the mean over its seeds of the run's mean over the
    category's tasks); None when a side has no item outputs (its per-run scores are not held)."""
    terms = comparison.terms()
    if any(sample is None for _, sample in terms):
        return None
    groups: dict[str, list[str]] = {}
    for task in comparison.better.tasks:
        groups.setdefault(categories.get(task, "?"), []).append(task)
    return {
        category: sum(
            weight * float(np.mean([full_average(run, tasks) for run in sample.runs]))
            for weight, sample in terms
        )
        for category, tasks in groups.items()
    }


def _deciding(decided: Sequence[Decided], role: str) -> Decided | None:
    """The line of `role` that sets its verdict (the first with the worst verdict), or None."""
    counted = [d for d in decided if d.role == role and d.verdict is not None]
    if not counted:
        return None
    worst = verdict([d.line for d in counted])
    return next(d for d in counted if d.verdict == worst)


def _difference(line: Decided | None) -> str:
    if line is None:
        return "not measured"
    mark = MARKS[line.verdict].strip()
    if line.interval is not None:
        low, high = line.decision.low, line.decision.high
        return f"{mark} {line.verdict}: {line.interval.estimate:+.2f} [{low:+.2f}, {high:+.2f}]"
    if isinstance(line.item, Comparison):
        difference = line.item.better.value - line.item.worse.value
        return f"{mark} {line.verdict}: {difference:+.2f} (no interval)"
    return f"{mark} {line.verdict}"


def _categories_text(line: Decided | None, categories: dict[str, str]) -> str:
    if line is None or not isinstance(line.item, Comparison):
        return "--"
    split = category_differences(line.item, categories)
    if split is None:
        return "--"
    return ", ".join(
        f"{category} {value:+.2f}" for category, value in sorted(split.items(), key=lambda kv: kv[1])
    )


def _checked(view: Results, preset: str) -> tuple[dict[str, list[Decided]], dict[str, str]]:
    categories = {task: c for m in view.all_manifests() for task, c in m.categories.items()}
    return {claim.id: decide_comparisons(claim.check(preset, view), view) for claim in CLAIMS}, categories


def move_lines(results: Results, preset: str, before: str, after: str) -> list[str]:
    """One move's table: per claim and backbone, the verdict and deciding difference on both sets,
    and where the difference comes from by category on each."""
    old, old_categories = _checked(results.on_task_set(preset, before), preset)
    new, new_categories = _checked(results.on_task_set(preset, after), preset)
    lines = [
        f"| claim | backbone | on `{before}` | on `{after}` | by category, `{before}` | by category, `{after}` |",
        "|---|---|---|---|---|---|",
    ]
    for claim in CLAIMS:
        roles = list(dict.fromkeys(d.role for d in [*old[claim.id], *new[claim.id]] if d.verdict is not None))
        for role in roles:
            was, now = _deciding(old[claim.id], role), _deciding(new[claim.id], role)
            lines.append(
                f"| {claim.text} | {role} | {_difference(was)} | {_difference(now)} | "
                f"{_categories_text(was, old_categories)} | {_categories_text(now, new_categories)} |"
            )
    return lines


def changes_lines(results: Source = None) -> list[str]:
    """The "What changed" section of results/README.md, one table per move (none: no lines)."""
    results = as_results(results)
    found = moves(results)
    if not found:
        return []
    lines = ["## What changed", ""]
    lines += wrap(
        "Claims whose outputs moved to another task set, decided on the set they were recorded on before "
        "and on today's, from the same run folders (`reproduce/report/changes.py`). Per backbone: the "
        "verdict and the difference that sets it (the worst comparison, Holm interval in brackets), then "
        "that difference split by MTEB category (mean over the category's tasks, x100): where a verdict "
        "moved, the categories say why. An output not moved yet counts on its earlier set only."
    )
    for preset, before, after in found:
        lines += [
            "",
            f"### {preset}: `{before}` -> `{after}`",
            "",
            *move_lines(results, preset, before, after),
        ]
    return [*lines, ""]
