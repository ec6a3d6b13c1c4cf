"""BM25, the lexical retrieval row: a searcher run restricted to retrieval, and tables that show it.

A run restricted to some task types (`EvalSpec.task_types`) evaluates only those tasks of its set,
keeps every other run's id, and a searcher (`t2t.evaluation.searchers`, BM25 from `baselines.bm25`) is refused
anything else; the grid plans BM25 where the task set has retrieval and nowhere else; its table row
has a number (with an interval, in bold when best) in Retrieval only and `--` elsewhere with a
footnote; it enters no average, seed pool, degenerate check or claim.
"""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
from mteb.models.model_implementations.bm25 import BM25Search

from baselines.bm25 import BM25Settings, bm25_model
from reproduce.cells.manifest import read_manifests
from reproduce.cells.samples import resample_work
from reproduce.cells.tables import MISSING, score_table
from reproduce.judge.degenerate import degenerate_cells
from reproduce.judge.verdicts import table_sides
from reproduce.paper.presets import SCALE_PRESETS, with_backbone
from reproduce.paper.registry import get_spec
from reproduce.plan.costs import MeasuredCosts, evaluator, tokens_text
from reproduce.plan.gpu_hours import run_gpu_hours
from reproduce.plan.grid import expand, plan_manifest
from reproduce.plan.status import status_of
from reproduce.report.builders import table_section
from reproduce.report.claims import claims_markdown
from reproduce.run.compare import compare_spec
from t2t.core.config import ConfigError
from t2t.core.runtime import Runtime
from t2t.evaluation.searchers import SearcherSpec
from t2t.evaluation.tasks import TASK_SETS, get_tasks, task_category
from t2t.runs.run import EvalSpec, RunSpec, execute
from t2t.stats import rescore
from t2t.training.spec import ModelSpec, StageSpec
from tests.fakes import plan, store_run

SMOL, TINY = SCALE_PRESETS["smol"], SCALE_PRESETS["tiny"]
BALANCED = TASK_SETS["offline-balanced"].tasks


def bm25_run(task_set: str = "offline-balanced", **settings) -> RunSpec:
    return RunSpec(
        method="bm25",
        model=bm25_model("smollm2-135m", BM25Settings(**settings)),
        evaluation=EvalSpec(task_set=task_set, task_types=("Retrieval",)),
    )


def test_bm25_settings_are_mtebs_defaults():
    """`BM25Settings` is mteb's `BM25Search` keyword arguments with mteb's defaults, field by field."""
    defaults = inspect.signature(BM25Search.__init__).parameters
    for field, value in BM25Settings().to_dict().items():
        assert defaults[field].default == value, field
    spec = SearcherSpec("bm25")  # completed with the defaults: the run id covers every setting
    assert spec.settings == BM25Settings().to_dict()
    assert bm25_run(k1=1.2).run_id != bm25_run().run_id


def test_task_types_change_a_run_id_only_when_set():
    base = RunSpec(method="zero-shot", model=ModelSpec(backbone="tiny-llama"), evaluation=EvalSpec())
    assert "task_types" not in base.canonical_json()  # every stored run keeps its id
    sts = base.replace(evaluation=EvalSpec(task_types=("STS",)))
    assert sts.run_id != base.run_id and '"task_types":["STS"]' in sts.canonical_json()
    both = EvalSpec(task_types=("STS", "Retrieval", "STS"))  # the same meaning, the same hash
    assert both.task_types == ("Retrieval", "STS") and both == EvalSpec(task_types=("Retrieval", "STS"))
    with pytest.raises(ConfigError, match="'Retreival' is not an MTEB task type"):
        EvalSpec(task_types=("Retreival",))


def test_a_restricted_evaluation_lists_its_set_tasks_of_its_types_only():
    assert EvalSpec(task_set="offline-balanced").tasks == BALANCED
    assert EvalSpec(task_set="offline-balanced", task_types=("Retrieval",)).tasks == ("SciFact-lite",)
    assert EvalSpec(task_set="offline-balanced", task_types=("STS", "Retrieval")).tasks == (
        "STSBenchmark",
        "BIOSSES",
        "SciFact-lite",
    )  # in the set's order
    assert EvalSpec(task_set="offline-lite", task_types=("Retrieval",)).tasks == ()


@pytest.mark.slow
def test_a_restricted_run_loads_only_its_tasks():
    """`get_tasks(only=...)`, as `t2t.runs.run.execute` calls it with `EvalSpec.tasks`: other tasks' data
    is never read (here from the Hub, lazily: nothing is fetched)."""
    tasks = get_tasks("mteb-eng-v2", data_root=None, only=("SCIDOCS", "ArguAna"))
    assert [task.metadata.name for task in tasks] == ["ArguAna", "SCIDOCS"]  # the benchmark's order
    assert [t.metadata.name for t in get_tasks("offline", data_root=None, only=())] == []


def test_a_searcher_run_is_restricted_to_what_it_scores():
    model = bm25_model("smollm2-135m")
    for types in [(), ("STS",), ("Retrieval", "STS")]:
        with pytest.raises(ConfigError, match="scores Retrieval tasks only"):
            RunSpec(method="bm25", model=model, evaluation=EvalSpec(task_types=types))
    run = bm25_run()
    assert RunSpec.from_dict(run.to_dict()).run_id == run.run_id  # run.json reads back as the same run
    with pytest.raises(ConfigError, match="trains nothing"):
        model.replace(stages=(StageSpec(objective="data-driven", steps=1),))
    with pytest.raises(ConfigError, match="unknown searcher 'bm26'; choose one of: bm25"):
        SearcherSpec("bm26")


def test_the_grid_plans_bm25_where_the_task_set_has_retrieval_and_nowhere_else():
    main = get_spec("main")
    cells = [cell for cell in expand(main, SMOL) if cell.method == "bm25"]
    assert [(cell.row, cell.role) for cell in cells] == [
        ("BM25 (lexical)", "smollm2"),
        ("BM25 (lexical)", "gemma"),
    ]
    assert all(cell.run.evaluation.tasks == ("SciFact-lite",) for cell in cells)
    assert plan_manifest(main, SMOL, expand(main, SMOL)).rows[-1] == ("BM25 (lexical)", "bm25")
    tiny = expand(main, TINY)  # offline-lite: STS only
    assert not [cell for cell in tiny if cell.method == "bm25"]
    assert "BM25 (lexical)" not in [label for label, _ in plan_manifest(main, TINY, tiny).rows]
    alone = with_backbone(SMOL, "gemma3-270m")  # compare's BM25 is main's: one run
    compare = {cell.row: cell.run_id for cell in expand(compare_spec("gemma3-270m"), alone)}
    assert compare["BM25 (lexical)"] == cells[1].run_id


def test_plans_price_bm25_from_its_own_runs_and_count_no_tokens(tmp_path):
    run = bm25_run()
    assert evaluator(run.model.to_dict()) == ("searcher bm25", "")
    assert evaluator({"backbone": "x", "pooling": {"mode": "last"}}) == ("x", "last")
    costs = MeasuredCosts()
    costs.add_eval("smollm2-135m", "SciFact-lite", "last", 900.0)  # PromptEOL's time: not BM25's
    status = status_of(run, [], SMOL, costs, tmp_path)
    assert (status.tasks_total, status.estimate_s) == (1, None)
    costs.add_eval("searcher bm25", "SciFact-lite", "", 2.0)
    assert status_of(run, [], SMOL, costs, tmp_path).estimate_s == 2.0
    assert tokens_text([run]) == []
    hours = run_gpu_hours(run)
    assert (hours.train, hours.evaluate) == (0.0, 0.0)


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_bm25_run_evaluates_retrieval_only_and_stores_its_score_and_items(tmp_path, cache):
    run = bm25_run()
    store = execute(run, Runtime(progress=False), root=tmp_path)
    info = store.read()
    assert store.task_names() == ["SciFact-lite"] and info["status"] == "complete"
    score = store.task_scores()["SciFact-lite"]
    assert 0.75 < score < 0.9  # mteb's BM25 on SciFact-lite: nDCG@10 0.82179 (mteb 2.26.24, bm25s 0.3.16)
    items = store.load_items("SciFact-lite")
    assert items["type"] == "Retrieval" and len(items["subsets"]["default"]["test"]["ndcg_at_10"]) == 300
    assert rescore(items) == pytest.approx(score, abs=1e-5)  # mteb stores the score rounded
    assert "lexical retrieval baseline" in info["searcher"]
    assert info["fingerprints"]["weights"] is None and list(info["fingerprints"]["data"]) == ["SciFact-lite"]
    assert info["throughput"]["encode_tokens"] == 0 and info["stages_trained_with"] == []
    again = execute(run, Runtime(progress=False), root=tmp_path).read()
    assert again["timing"] == info["timing"] and "reevaluations" not in again  # complete: nothing redone


def _frame(rows: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(row, role, task, score) for (row, role), tasks in rows.items() for task, score in tasks.items()],
        columns=["row", "role", "task", "score"],
    )


def test_a_retrieval_only_row_prints_its_retrieval_cell_and_dashes_elsewhere():
    tasks = ["STSBenchmark", "BIOSSES", "SciFact-lite"]
    full = {"STSBenchmark": 70.0, "BIOSSES": 60.0, "SciFact-lite": 30.0}
    table = score_table(
        table_id="demo",
        title="Demo",
        caption="BM25 next to an embedding.",
        scores=_frame({("Embedding", "x"): full, ("BM25 (lexical)", "x"): {"SciFact-lite": 82.0}}),
        row_labels=["Embedding", "BM25 (lexical)"],
        roles={"x": "Model X"},
        tasks=tasks,
        category_of={task: task_category(task) for task in tasks},
        by_category=True,
        scope={("BM25 (lexical)", "x"): ("SciFact-lite",)},
        scope_reasons={"BM25 (lexical)": "a lexical retrieval baseline with no embeddings"},
    )
    columns = [column for _, column in table.columns]
    assert columns == ["Retrieval", "STS", "Avg", "Mean(TaskType)"]
    embedding, bm25 = (dict(zip(columns, cells)) for _, cells in table.rows)
    assert bm25["Retrieval"].render() == "**82.00**"  # a cell like any other: bold when best
    assert embedding["Retrieval"].render() == "30.00"
    assert [bm25[c].render() for c in ("STS", "Avg", "Mean(TaskType)")] == [MISSING] * 3  # not "partial"
    assert embedding["Avg"].render() == "**53.33**"  # the only complete average
    notes = " ".join(table.footnotes)
    assert (
        "BM25 (lexical): a lexical retrieval baseline with no embeddings, so it is scored on Retrieval "
        "only: its other category columns, Avg and Mean(TaskType) print --" in notes
    )
    assert "not measured" not in notes and "partial" not in notes


@pytest.mark.slow
def test_main_with_bm25_gives_its_retrieval_cell_an_interval_and_it_enters_no_claim(tmp_path):
    """Fake stored runs of `main` on offline-balanced (tiny backbones): BM25 scores retrieval best."""
    preset = TINY.replace(task_set="offline-balanced")
    planned = plan(tmp_path, get_spec("main"), preset)
    bm25_ids = {cell.run_id for cell in planned if cell.method == "bm25"}
    for number, cell in enumerate(planned):
        if cell.run_id in bm25_ids:
            stored = store_run(tmp_path, cell.run, {"SciFact-lite": 0.8}, items=True)
            stored.update(
                searcher=cell.run.model.searcher.declared.description
            )  # as `t2t.runs.run` records it
        else:
            store_run(tmp_path, cell.run, dict.fromkeys(BALANCED, 0.3 + 0.02 * number), items=number + 2)
    (manifest,) = read_manifests("main", tmp_path)
    table, _ = table_section(manifest, tmp_path)
    first = next(iter(manifest.labels.values()))
    columns = [column for group, column in table.columns if group == first]
    row = dict(zip(columns, dict(table.rows)["BM25 (lexical)"]))
    retrieval = row.pop("Retrieval")
    assert retrieval.value == pytest.approx(80.0) and retrieval.half_width > 0 and retrieval.bold
    assert {column: cell.render() for column, cell in row.items()} == dict.fromkeys(row, MISSING)
    assert any(note.startswith("BM25 (lexical): a lexical retrieval baseline") for note in table.footnotes)
    # its items are resampled for Retrieval only; it is no side of a claim and never degenerate
    assert {task for run, task in resample_work(tmp_path) if run.key[0] in bm25_ids} == {"SciFact-lite"}
    assert not [key for key in table_sides(manifest, tmp_path) if key[0] == "BM25 (lexical)"]
    assert not [key for key in degenerate_cells(manifest, tmp_path) if key[0] == "BM25 (lexical)"]
    assert "BM25" not in claims_markdown(tmp_path) and "bm25" not in claims_markdown(tmp_path)
