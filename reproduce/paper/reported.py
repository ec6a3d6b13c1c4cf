"""Reported numbers: what our cells are compared against.

- **LLM2Vec** (unsupervised, MNTP + SimCSE): public per-task MTEB(eng, v2) scores from the authors'
  model cards (`shared/reference/llm2vec_unsup_mteb_eng_v2_per_task.csv`; for Mistral, the MTEB
  maintainers' run fills the tasks the card lacks). A reported cell is the mean over exactly the
  tasks we evaluated, and exists only if every one of them has a value; so ours and reported always
  average the same tasks (Llama-3's card lacks 14 of the 41 v2 tasks: no full-benchmark value). These are public LLM2Vec numbers, not the
  Text2Token paper's re-run of LLM2Vec (unknown here).
- **Text2Token**: the paper's own tables are not available to the project. Each reported cell has a
  slot (`TEXT2TOKEN_SLOTS`) with its source and no value, printed as "no reference", so the number
  can be entered from the PDF later; never 0, never invented.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from collections.abc import Iterable

from t2t.core.paths import reference_root

LLM2VEC_SOURCE = "LLM2Vec model cards, shared/reference/llm2vec_unsup_mteb_eng_v2_per_task.csv"
# backbone -> CSV columns, in order of preference: the authors' model card, else (Mistral only) the
# MTEB maintainers' own run, which covers the v2-only tasks the card lacks.
LLM2VEC_COLUMNS = {"llama3-8b": ("llama3_card",), "mistral-7b": ("mistral_card", "mistral_mteb_run")}
TEXT2TOKEN_SOURCE = "Text2Token (arXiv 2510.10224), {where}: value not available to this project"


@dataclasses.dataclass(frozen=True)
class ReferenceCell:
    """A reported value (or an empty slot) for one row x backbone x column of a table.

    `tolerance`: how far (points x100) a paper-preset reproduction may be from it in the regression
    tests. 1.0 for averages of public scores: our runs differ in seeds, data order and LR schedule.
    """

    value: float | None
    source: str
    tolerance: float = 1.0


@functools.cache
def _llm2vec_rows() -> dict[str, dict[str, str]]:
    root = reference_root()
    if root is None:
        return {}
    with open(root / "llm2vec_unsup_mteb_eng_v2_per_task.csv", encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return {row["task"]: row for row in csv.DictReader(lines)}


def llm2vec_reported(tasks: Iterable[str], backbone: str) -> ReferenceCell | None:
    """Mean reported LLM2Vec score over `tasks` for a paper backbone, or None (no slot/incomplete)."""
    columns = LLM2VEC_COLUMNS.get(backbone)
    rows = _llm2vec_rows()
    if columns is None or not rows:
        return None
    values = [
        next((rows.get(task, {}).get(c) for c in columns if rows.get(task, {}).get(c)), "") for task in tasks
    ]
    if not values or any(value == "" for value in values):
        return None
    return ReferenceCell(sum(map(float, values)) / len(values), LLM2VEC_SOURCE)


def text2token_slot(table_id: str, paper_number: str | None) -> ReferenceCell:
    where = paper_number or f"the {table_id} table"
    return ReferenceCell(None, TEXT2TOKEN_SOURCE.format(where=where))


def reported_cell(
    table_id: str, paper_number: str | None, method: str, backbone: str, tasks: Iterable[str]
) -> ReferenceCell | None:
    """The reference for a cell: LLM2Vec from the CSV, a Text2Token slot, at the paper's backbones only."""
    if method == "llm2vec":
        return llm2vec_reported(tasks, backbone)
    if method == "text2token" and backbone in LLM2VEC_COLUMNS:
        return text2token_slot(table_id, paper_number)
    return None
