"""results/README.md's "What the stored runs took": every session a run's record holds is counted."""

from __future__ import annotations

from reproduce.cells.results import Results
from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import get_spec
from reproduce.report.index import cost_section
from t2t.evaluation.tasks import TASK_SETS
from tests.fakes import plan, store_run

TINY = SCALE_PRESETS["tiny"]


def test_a_re_scored_run_counts_its_retraining_and_every_evaluation(tmp_path):
    """A run that was re-scored after its stages left the cache trained twice and evaluated twice:
    the table sums both sessions (training 1,000 + 600 s, evaluation 500 + 300 s, tokens 1,000 + 500)."""
    planned = plan(tmp_path, get_spec("table3"), TINY)
    cell = next(c for c in planned if c.row == "DD only")
    store = store_run(tmp_path, cell.run, {t: 0.5 for t in TASK_SETS[TINY.task_set].tasks})
    store.update(
        timing={"train_steps_s": 1000.0, "evaluate_s": 500.0},
        throughput={"encode_tokens": 1000},
        reevaluations=[
            {"timing": {"train_steps_s": 600.0, "evaluate_s": 300.0}, "throughput": {"encode_tokens": 500}}
        ],
    )
    [row] = [line for line in cost_section(Results.load(tmp_path)) if line.startswith("| table3 | tiny |")]
    runs, train, evaluate, tokens = [cell.strip() for cell in row.strip("|").split("|")][2:]
    assert runs.startswith("1 of ")
    assert (train, evaluate, tokens) == ("0.44 h", "0.22 h", "1,500")
