"""Point the suite at a new backbone: zero-shot, SimCSE, LLM2Vec and Text2Token on it, one table.

    python -m reproduce compare --backbone Qwen/Qwen2.5-0.5B-Instruct --preset smol

The preset sets the steps, corpora and tasks (default: paper on a GPU, else smol); the backbone
replaces the preset's. Writes `results/tables/compare-<backbone>.{md,tex}`.

Rows (`COMPARE_ROWS`): the zero-shot backbone (PromptEOL, i.e. last pooling, and mean pooling), the
training-free methods (`reproduce.paper.registry.TRAINING_FREE`, as in `main`), SimCSE, LLM2Vec and
Text2Token as each paper configures them, plus SimCSE and LLM2Vec with last-token pooling and causal attention (LLM2Vec's
best cell at smol; SimCSE there says how much of it SimCSE alone gives), and BM25, the lexical
reference on retrieval (scored on Retrieval only). The table is budget-aware:
each row states its training steps, training tokens, estimated training FLOPs and the time its
steps took (`reproduce.plan.budget.budget_cells`), so a reader sees when one method simply trained
more; the untrained rows state 0.
"""

from __future__ import annotations

import re
from pathlib import Path

from reproduce.paper.presets import get_preset, with_backbone
from reproduce.paper.registry import BM25, PROMPTEOL, T2T_BEST, TRAINING_FREE, Row, TableSpec
from reproduce.plan.gpu_hours import CostModel
from reproduce.plan.planner import build_plan
from reproduce.run.executors import ExecutorSpec
from reproduce.run.runner import run_plan
from reproduce.run.verify import verify_plan
from t2t.core.runtime import Runtime
from t2t.models.backbones import resolve_backbone

COMPARE_ROWS = (
    PROMPTEOL,
    Row("Zero-shot, mean", "zero-shot", {"pooling": "mean", "attention": "causal"}),
    *TRAINING_FREE,
    Row("SimCSE", "simcse"),
    # SimCSE alone in LLM2Vec's best smol cell's setting: separates SimCSE's share of that cell
    Row("SimCSE, last + causal", "simcse", {"pooling": "last", "attention": "causal"}),
    Row("LLM2Vec", "llm2vec"),
    Row("LLM2Vec, last + causal", "llm2vec", {"pooling": "last", "attention": "causal"}),
    Row("Text2Token", "text2token", dict(T2T_BEST)),
    BM25,
)


def compare_spec(backbone: str) -> TableSpec:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", backbone.strip("/")).strip("-").lower()
    return TableSpec(
        id=f"compare-{slug}",
        caption=f"All methods on {backbone}. Budget: what each row trained (steps, tokens, FLOPs, time).",
        rows=COMPARE_ROWS,
        budget=True,
    )


def compare(
    backbone: str,
    preset: str | None = None,
    *,
    dry_run: bool = False,
    limit: int | None = None,
    runtime: Runtime | None = None,
    root: Path | None = None,
    drop: bool = False,
    task_set: str | None = None,
    seeds: int | None = None,
    gpu: CostModel | None = None,
    executor: ExecutorSpec | None = None,
    from_scratch: bool = False,
    verify: bool = False,
    verify_dir: Path | None = None,
    verify_tolerance: float | None = None,
) -> tuple[str, bool]:
    """Plan (and run, or `--dry-run`, or `--verify`) the compare table of `backbone`; returns the
    report and whether it succeeded (False only when `verify` found a stored score not reproduced).
    Takes every option a registered output takes (`reproduce.run.runner.run_output`)."""
    resolve_backbone(backbone)  # fail early with the list of named backbones on a typo
    plan = build_plan(
        compare_spec(backbone),
        with_backbone(get_preset(preset), backbone),
        seeds=seeds,
        root=root,
        drop=drop,
        task_set=task_set,
        add_items=bool(runtime and runtime.add_items),
        statuses=not verify,
    )
    if verify:
        return verify_plan(plan, runtime=runtime, scratch=verify_dir, tolerance=verify_tolerance)
    report = run_plan(
        plan,
        dry_run=dry_run,
        limit=limit,
        runtime=runtime,
        gpu=gpu,
        executor=executor,
        from_scratch=from_scratch,
    )
    return report, True
