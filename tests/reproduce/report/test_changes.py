"""What changed when an output moves to another task set: the manifest keeps the set it left, and the
index decides each claim on both sets from the same run folders (`reproduce.report.changes`)."""

from __future__ import annotations

import pytest

from reproduce.cells.manifest import committed_manifest, write_manifest
from reproduce.cells.results import Results
from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import get_spec
from reproduce.plan.grid import expand, plan_manifest
from reproduce.plan.record import record_plan
from reproduce.report.changes import changes_lines, moves
from t2t.evaluation.tasks import TASK_SETS
from tests.fakes import store_run, unwrap

BEFORE = SCALE_PRESETS["tiny"].replace(task_set="offline")
AFTER = BEFORE.replace(task_set="offline-balanced")  # same pool: the same runs, more tasks
MAIN = get_spec("main")


def _move(root, scale):
    """Record main at `scale` as the runner does after planning it (`--task-set` when it moves)."""
    planned = expand(MAIN, scale)
    manifest, note = record_plan(MAIN, scale, planned, committed_manifest("main", scale.name, root), False)
    write_manifest(manifest, root)
    return manifest, note


def test_a_move_records_the_set_it_left_once_and_a_move_back_forgets_it(tmp_path):
    """offline -> offline-balanced keeps offline's tasks and categories in `earlier`; re-running on
    the new set carries them; moving back drops the set moved to from `earlier`; a manifest never
    moved writes no `earlier` key (its bytes are what they were)."""
    first, _ = _move(tmp_path, BEFORE)
    assert first.earlier == () and "earlier" not in first.to_dict()
    moved, note = _move(tmp_path, AFTER)
    assert [e.task_set for e in moved.earlier] == ["offline"] and "moves from `offline`" not in note
    assert moved.earlier[0].tasks == tuple(TASK_SETS["offline"].tasks)
    assert moved.earlier[0].categories["Banking77Classification"] == "Classification"
    assert committed_manifest("main", "tiny", tmp_path) == moved  # written and read back alike
    again, _ = _move(tmp_path, AFTER)
    assert again.earlier == moved.earlier
    back, _ = _move(tmp_path, BEFORE)
    assert [e.task_set for e in back.earlier] == ["offline-balanced"]
    on_before = moved.on_task_set("offline")
    assert on_before.tasks == tuple(TASK_SETS["offline"].tasks) and on_before.cells == moved.cells
    assert moved.on_task_set("offline-lite") is None


@pytest.mark.slow
def test_a_verdict_that_moves_with_the_task_set_says_which_categories_moved_it(tmp_path):
    """Text2Token equals LLM2Vec on offline's tasks (within a point: holds) and is 15 points below it
    on the tasks offline-balanced adds (fails): the section gives both verdicts with their
    intervals and puts the loss in the new categories, not in STS."""
    tasks = dict.fromkeys([*TASK_SETS["offline"].tasks, *TASK_SETS["offline-balanced"].tasks])
    old = set(TASK_SETS["offline"].tasks)
    runs = {c.row: c.run for c in expand(MAIN, BEFORE) if c.role == "llama"}
    store_run(tmp_path, runs["Text2Token"], {t: 0.60 if t in old else 0.55 for t in tasks}, items=True)
    store_run(tmp_path, runs["LLM2Vec"], {t: 0.60 if t in old else 0.70 for t in tasks}, items=True)
    write_manifest(plan_manifest(MAIN, BEFORE, expand(MAIN, BEFORE)), tmp_path)
    assert changes_lines(Results.load(tmp_path)) == []  # nothing moved: no section
    _move(tmp_path, AFTER)
    results = Results.load(tmp_path)
    assert moves(results) == [("tiny", "offline", "offline-balanced")]
    text = unwrap("\n".join(changes_lines(results)))
    row = next(line for line in text.splitlines() if line.startswith("| Text2Token is within a point"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "llama"
    assert cells[2].startswith("✓ holds: +0.00 [")
    assert cells[3].startswith("✗ fails: -7.50 [")  # 4 of its 8 tasks 15 below: -60/8
    assert set(cells[4].split(", ")) == {"STS +0.00", "Classification +0.00"}
    after = dict(part.rsplit(" ", 1) for part in cells[5].split(", "))
    assert after.pop("STS") == after.pop("Classification") == "+0.00"
    assert set(after) == {"Retrieval", "Clustering", "PairClassification", "Summarization"}
    assert set(after.values()) == {"-15.00"}
    why = next(line for line in text.splitlines() if line.startswith("- Text2Token is within a point"))
    assert why.startswith(
        "- Text2Token is within a point of LLM2Vec or better on average. [llama]: holds -> fails: same "
        "comparison (main: Text2Token vs main: LLM2Vec); by category "
    )
    # STS keeps 2 of offline's 7 tasks; Classification both of its 2
    assert "STS +0.00 -> +0.00 (2 tasks, 2 of `offline`'s 7)" in why
    assert "Classification +0.00 -> +0.00;" in why or "Classification +0.00 -> +0.00," in why
    added = why.split("; `offline-balanced` adds ")[1].rstrip(".").split(", ")
    assert sorted(added) == [
        f"{c} -15.00" for c in ("Clustering", "PairClassification", "Retrieval", "Summarization")
    ]
    # the view on the earlier set leaves the loaded Results on today's set
    assert results.manifest("main", "tiny").task_set == "offline-balanced"


@pytest.mark.slow
def test_while_some_tables_have_moved_claims_compare_like_with_like(tmp_path):
    """main moved to offline-balanced, pooling-attention still on offline: its bidirectional last cell
    is still degenerate against main's zero-shot row, found through main's record of offline; and
    "within a point of LLM2Vec" does not pit main's Text2Token (offline-balanced) against
    pooling-attention's LLM2Vec (offline): no comparison across task sets, so not measured yet.
    The best cells list each set's apart."""
    from reproduce.report.claims import claims_markdown
    from tests.fakes import claim_block

    tasks = dict.fromkeys([*TASK_SETS["offline"].tasks, *TASK_SETS["offline-balanced"].tasks])
    scores = {
        ("main", "PromptEOL (zero-shot, last)"): 0.50,
        ("main", "Text2Token"): 0.52,
        ("pooling-attention", "Text2Token, last + bidirectional"): 0.30,  # 20 below zero-shot last
        ("pooling-attention", "Text2Token, mean + bidirectional"): 0.46,
        ("pooling-attention", "LLM2Vec, last + causal"): 0.525,
    }
    for (output, row), score in scores.items():
        cell = next(c for c in expand(get_spec(output), BEFORE) if c.row == row and c.role == "llama")
        store_run(tmp_path, cell.run, {task: score for task in tasks}, items=True)
    for output in ("main", "pooling-attention"):
        spec = get_spec(output)
        write_manifest(plan_manifest(spec, BEFORE, expand(spec, BEFORE)), tmp_path)
    _move(tmp_path, AFTER)
    text = claims_markdown(tmp_path)
    last = unwrap(claim_block(text, "Last pooling"))
    assert "Text2Token, last + bidirectional > Text2Token, mean + bidirectional: not comparable" in last
    assert "degenerate‡ (30.00, 20.00 below main: PromptEOL (zero-shot, last))" in last
    assert "| Text2Token is within a point of LLM2Vec or better on average. | not measured | -- |" in text
    assert "| main: Text2Token (`offline-balanced`) | 52.00 |" in text
    assert "| pooling-attention: Text2Token, last + causal (`offline`) | 52.00 |" in text  # main's run


@pytest.mark.slow
def test_a_verdict_decided_by_a_cell_not_on_the_new_set_yet_says_so(tmp_path):
    """On offline, LLM2Vec's best cell is pooling-attention's last + causal (10 points above main's
    Text2Token: fails); main moves to offline-balanced, pooling-attention does not, so there only
    main's LLM2Vec row compares (2 points below: holds). The sentence names both comparisons and the
    cell that has not moved, rather than crediting the new tasks."""
    tasks = dict.fromkeys([*TASK_SETS["offline"].tasks, *TASK_SETS["offline-balanced"].tasks])
    scores = {
        ("main", "Text2Token"): 0.60,
        ("main", "LLM2Vec"): 0.58,
        ("pooling-attention", "LLM2Vec, last + causal"): 0.70,
    }
    for (output, row), score in scores.items():
        cell = next(c for c in expand(get_spec(output), BEFORE) if c.row == row and c.role == "llama")
        store_run(tmp_path, cell.run, dict.fromkeys(tasks, score), items=True)
    for output in ("main", "pooling-attention"):
        spec = get_spec(output)
        write_manifest(plan_manifest(spec, BEFORE, expand(spec, BEFORE)), tmp_path)
    _move(tmp_path, AFTER)
    text = unwrap("\n".join(changes_lines(Results.load(tmp_path))))
    why = next(line for line in text.splitlines() if line.startswith("- Text2Token is within a point"))
    assert why == (
        "- Text2Token is within a point of LLM2Vec or better on average. [llama]: fails -> holds: another "
        "comparison decides it, main: Text2Token vs pooling-attention: LLM2Vec, last + causal on "
        "`offline`, main: Text2Token vs main: LLM2Vec on `offline-balanced` (pooling-attention: LLM2Vec, "
        "last + causal: not on `offline-balanced` yet)."
    )


def test_a_cell_with_other_runs_on_the_new_set_is_named_in_the_reason():
    """Same cells on both sets, but Text2Token's cell holds another number of seeds on the new one
    (a seed not re-scored yet, say): the sentence says so, since seeds as well as tasks move a mean."""
    from reproduce.judge.verdicts import Comparison, Decided, Side
    from reproduce.report.changes import why_moved
    from t2t.stats.intervals import Sample
    from t2t.stats.resample import RunItems

    def side(row, runs):
        sample = Sample(tuple(RunItems((run,), {}) for run in runs))
        return Side("main", row, "llama", "tiny-llama", row.lower(), 0.6, sample, (), (None, None))

    def decided(verdict, t2t_runs):
        item = Comparison("llama", side("Text2Token", t2t_runs), side("LLM2Vec", ["b"]), margin=1.0)
        return Decided("llama", "", verdict, item)

    reason = why_moved(
        decided("fails", ["a1", "a2", "a3"]),
        decided("inconclusive", ["a1", "a2"]),
        ({}, {}),
        {"main"},
        ("x", "y"),
    )
    assert reason.startswith(
        "fails -> inconclusive: same comparison (main: Text2Token vs main: LLM2Vec), with other runs "
        "(Text2Token: 3 -> 2 runs)"
    )
    assert (
        why_moved(decided("fails", ["a1"]), decided("fails", ["a1", "a2"]), ({}, {}), {"main"}, ("x", "y"))
        is None
    )
