"""README's "Add a method", done as a newcomer would: a training-free row in three declarations.

The three declarations stand for the three files the README names: a pooling mode that states its
embedding size (a module of `baselines.training_free`), the method (`reproduce.paper.methods.METHODS`)
and the row (`reproduce.paper.registry.TRAINING_FREE`, i.e. `main`'s rows). Here they are made with
`monkeypatch`, at tiny scale, in a temporary results folder that already holds a committed `main`
table: the new row's runs are the only ones computed, and the row lands in `main` where the
registry puts it, with numbers.
"""

from __future__ import annotations

import dataclasses
import re

import torch

from reproduce.__main__ import main
from reproduce.cells.manifest import rows_in_plan_order
from reproduce.paper.methods import METHODS
from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import REGISTRY, TRAINING_FREE, Row
from reproduce.plan.grid import expand
from t2t.embedding.pooling import (
    POOLING_MODES,
    PoolingMode,
    PoolingSpec,
    hidden_states_module,
    last_token_index,
    tokenize_prompt_or_text,
)
from t2t.evaluation.tasks import TASK_SETS
from t2t.training.spec import ModelSpec
from tests.fakes import plan, store_run

TINY = SCALE_PRESETS["tiny"]
MEAN = PoolingSpec(mode="mean")
LABEL = "Mean + last (zero-shot)"


# --- file 1, baselines/training_free/mean_last.py: the pooling mode and the model -------------------
def tokenize_plain(texts, tokenizer, spec, max_length):
    """The raw texts, no prompt (as mean pooling tokenises them)."""
    return tokenize_prompt_or_text(texts, tokenizer, MEAN, max_length)


def embed_mean_and_last(model, batch, spec, bos_token_id=None):
    """The mean of the last layer's states next to the last token's: (batch, 2 * hidden)."""
    hidden = hidden_states_module(model)(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
    ).last_hidden_state  # (batch, seq, hidden)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (hidden.float() * mask).sum(1) / mask.sum(1)
    last = hidden[torch.arange(hidden.shape[0]), last_token_index(batch["attention_mask"])].float()
    return torch.cat([mean, last], dim=-1)


MEAN_LAST = PoolingMode(
    "mean-last", tokenize_plain, embed_mean_and_last, embedding_size=lambda config: 2 * config.hidden_size
)


def mean_last_model(backbone: str) -> ModelSpec:
    return ModelSpec(backbone=backbone, pooling=PoolingSpec(mode="mean-last"), stages=())


# --- file 2, reproduce/paper/methods.py: the method --------------------------------------------------
def mean_last(preset, backbone: str) -> ModelSpec:
    return mean_last_model(backbone)


# --- file 3, reproduce/paper/registry.py: the row ----------------------------------------------------
NEW_ROW = Row(LABEL, "mean-last")


def main_with_the_new_row():
    """`main` as it is once `NEW_ROW` is appended to `TRAINING_FREE` (its rows name them in place)."""
    spec = REGISTRY["main"]
    at = spec.rows.index(TRAINING_FREE[-1]) + 1
    return dataclasses.replace(spec, rows=(*spec.rows[:at], NEW_ROW, *spec.rows[at:]))


def test_a_training_free_row_in_three_declarations_reaches_the_main_table(tmp_path, monkeypatch, cache):
    root = tmp_path / "results"
    monkeypatch.setenv("T2T_RESULTS_DIR", str(root))
    tasks = TASK_SETS[TINY.task_set].tasks
    for cell in plan(root, REGISTRY["main"], TINY):  # a committed main table, every run stored
        store_run(root, cell.run, {task: 0.5 for task in tasks})

    monkeypatch.setitem(POOLING_MODES, MEAN_LAST.name, MEAN_LAST)
    monkeypatch.setitem(METHODS, "mean-last", mean_last)
    monkeypatch.setitem(REGISTRY, "main", main_with_the_new_row())

    new = {cell.run_id for cell in expand(REGISTRY["main"], TINY) if cell.row == LABEL}
    assert len(new) == len(TINY.backbones)  # one run per column, nothing else to compute
    assert main(["main", "--preset", "tiny", "--quiet"]) == 0
    for run_id in new:
        assert (root / "runs" / run_id / "run.json").is_file()

    rows = [line for line in (root / "tables" / "main.md").read_text().splitlines() if line.startswith("| ")]
    labels = [line.split("|")[1].strip() for line in rows]
    assert labels.index(TRAINING_FREE[-1].label) + 1 == labels.index(LABEL) == labels.index("LLM2Vec") - 1
    for line in (line for line in rows if line.startswith(f"| {LABEL} ")):
        cells = [cell.strip(" *") for cell in line.split("|")[2:-1]]
        assert cells and all(re.match(r"\d+\.\d\d( ± \d+\.\d\d)?$", cell) for cell in cells), line  # no --


def test_rows_follow_the_plan_and_keep_the_committed_ones_in_place():
    assert rows_in_plan_order(("A", "New", "B"), ("A", "B")) == ("A", "New", "B")
    assert rows_in_plan_order(("A", "B"), ("A", "Old", "B")) == ("A", "Old", "B")
    assert rows_in_plan_order(("B", "C"), ("Old", "B")) == ("Old", "B", "C")
    assert rows_in_plan_order(("A", "B"), ("A", "B")) == ("A", "B")


def test_the_readme_names_the_three_files_and_the_golden_command():
    """README's "Add a method" names the three places the test above declares in, and they exist."""
    from reproduce.plan.golden import UPDATE_COMMAND
    from t2t.core.paths import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Add a method", 1)[1].split("\n## ", 1)[0]
    files = ("baselines/training_free/", "reproduce/paper/methods.py", "reproduce/paper/registry.py")
    assert [
        line.split("`")[1].split("<")[0] for line in section.splitlines() if line[:3] in ("1. ", "2. ", "3. ")
    ] == list(files)
    assert all((REPO_ROOT / path).exists() for path in files)
    assert UPDATE_COMMAND in section
