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
moved says which categories moved it. Below the table, one sentence per verdict that moved says why
(`why_moved`): another comparison decides it (a cell not on the new set yet), or the same one,
moved by the categories the new set adds or by the tasks it keeps of a category.
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


def category_tasks(comparison: Comparison, categories: dict[str, str]) -> dict[str, list[str]]:
    """`{category: tasks}` of a comparison's tasks (its better side's; both sides hold the same)."""
    groups: dict[str, list[str]] = {}
    for task in comparison.better.tasks:
        groups.setdefault(categories.get(task, "?"), []).append(task)
    return groups


def category_differences(comparison: Comparison, categories: dict[str, str]) -> dict[str, float] | None:
    """`{category: better - worse}` (x100, each side the mean over its seeds of the run's mean over the
    category's tasks); None when a side has no item outputs (its per-run scores are not held)."""
    terms = comparison.terms()
    if any(sample is None for _, sample in terms):
        return None
    groups = category_tasks(comparison, categories)
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
    return _split_text(split)


def _cells(line: Decided) -> tuple[tuple[str, str], tuple[str, str]]:
    """The (table, row) of a comparison's two sides."""
    return (line.item.better.table, line.item.better.row), (line.item.worse.table, line.item.worse.row)


def _pair(line: Decided) -> str:
    return " vs ".join(f"{table}: {row}" for table, row in _cells(line))


def _split_text(split: dict[str, float]) -> str:
    return ", ".join(
        f"{category} {value:+.2f}" for category, value in sorted(split.items(), key=lambda kv: kv[1])
    )


def why_moved(
    was: Decided | None,
    now: Decided | None,
    categories: tuple[dict[str, str], dict[str, str]],
    moved: set[str],
    sets: tuple[str, str],
) -> str | None:
    """One sentence on why a backbone's verdict moved between the two sets (None: it did not move).

    Either the comparison that decides it is another one (a cell it compared is not on the new set
    yet, or another cell became the worst), or it is the same pair of cells: then the sentence gives
    each category's difference on both sets, saying where a category kept only some of its tasks,
    which categories the new set adds or drops, and whether a cell's runs (its seeds) differ.
    `moved`: the tables recorded on the new set (`sets[1]`)."""
    if was is None or now is None or was.verdict == now.verdict:
        return None
    if not (isinstance(was.item, Comparison) and isinstance(now.item, Comparison)):
        return f"{was.verdict} -> {now.verdict}."
    before, after = sets
    if _cells(was) != _cells(now):
        missing = [f"{table}: {row}" for table, row in _cells(was) if table not in moved]
        return (
            f"{was.verdict} -> {now.verdict}: another comparison decides it, {_pair(was)} on `{before}`, "
            f"{_pair(now)} on `{after}`"
            + (f" ({' and '.join(missing)}: not on `{after}` yet)." if missing else ".")
        )
    head = f"{was.verdict} -> {now.verdict}: same comparison ({_pair(now)})"
    reseeded = [
        f"{side_now.row}: {len(side_was.run_ids)} -> {len(side_now.run_ids)} runs"
        for side_was, side_now in ((was.item.better, now.item.better), (was.item.worse, now.item.worse))
        if set(side_was.run_ids) != set(side_now.run_ids)
    ]
    head += f", with other runs ({'; '.join(reseeded)})" if reseeded else ""
    old, new = (category_differences(line.item, table) for line, table in zip((was, now), categories))
    if old is None or new is None:
        return head + "."
    old_tasks, new_tasks = category_tasks(was.item, categories[0]), category_tasks(now.item, categories[1])
    kept = []
    for category in (c for c in new if c in old):
        text = f"{category} {old[category]:+.2f} -> {new[category]:+.2f}"
        if set(old_tasks[category]) != set(new_tasks[category]):
            shared = len(set(old_tasks[category]) & set(new_tasks[category]))
            text += (
                f" ({len(new_tasks[category])} tasks, {shared} of `{before}`'s {len(old_tasks[category])})"
            )
        kept.append(text)
    added = {c: v for c, v in new.items() if c not in old}
    dropped = [c for c in old if c not in new]
    return (
        f"{head}; by category {', '.join(kept) or 'none in common'}"
        + (f"; `{after}` adds {_split_text(added)}" if added else "")
        + (f"; it drops {', '.join(dropped)}" if dropped else "")
        + "."
    )


def _checked(view: Results, preset: str) -> tuple[dict[str, list[Decided]], dict[str, str]]:
    categories = {task: c for m in view.all_manifests() for task, c in m.categories.items()}
    return {claim.id: decide_comparisons(claim.check(preset, view), view) for claim in CLAIMS}, categories


def move_lines(results: Results, preset: str, before: str, after: str) -> list[str]:
    """One move's table: per claim and backbone, the verdict and deciding difference on both sets,
    and where the difference comes from by category on each."""
    old, old_categories = _checked(results.on_task_set(preset, before), preset)
    now_view = results.on_task_set(preset, after)
    new, new_categories = _checked(now_view, preset)
    moved = {m.output for m in now_view.all_manifests() if m.preset == preset and m.task_set == after}
    why = []
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
            reason = why_moved(was, now, (old_categories, new_categories), moved, (before, after))
            why += wrap(f"{claim.text} [{role}]: {reason}", first="- ", rest="  ") if reason else []
    if why:
        lines += ["", "Why each verdict that moved did:", "", *why]
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
        "moved, the categories say why, and a sentence below the table says whether the same comparison "
        "decides it on both sets. An output not moved yet counts on its earlier set only."
    )
    for preset, before, after in found:
        lines += [
            "",
            f"### {preset}: `{before}` -> `{after}`",
            "",
            *move_lines(results, preset, before, after),
        ]
    return [*lines, ""]
