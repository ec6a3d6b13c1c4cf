"""Table builders, outputs and claims on fixture results (golden files: regenerate on purpose with
`T2T_REGENERATE_GOLDEN=1 pytest tests/reproduce/report/test_tables.py`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from reproduce.cells.tables import score_table
from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import REGISTRY, get_spec
from reproduce.paper.reported import ReferenceCell
from reproduce.plan.grid import expand
from reproduce.report.claims import claims_markdown
from reproduce.report.latex import to_latex
from reproduce.report.markdown import to_markdown
from t2t.evaluation.tasks import TASK_SETS, task_category
from tests.fakes import claim_block, plan, store_run, unwrap, write_outputs

GOLDEN = Path(__file__).parents[2] / "golden"
TINY = SCALE_PRESETS["tiny"]
TINY_TASKS = list(TASK_SETS["offline-lite"].tasks)
DEMO_TASKS = ["STSBenchmark", "SICK-R", "BIOSSES", "Banking77Classification"]
CATEGORY = {task: task_category(task) for task in DEMO_TASKS}


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("T2T_REGENERATE_GOLDEN"):
        path.write_text(text)
    assert path.is_file(), f"missing golden file {path}; regenerate with T2T_REGENERATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file"


def _frame(rows: dict[tuple[str, str], dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(row, role, task, score) for (row, role), tasks in rows.items() for task, score in tasks.items()],
        columns=["row", "role", "task", "score"],
    )


def _table(frame, references=None):
    return score_table(
        table_id="demo",
        title="Demo",
        caption="A demo table.",
        scores=frame,
        row_labels=["A", "B", "C"],
        roles={"x": "Model X", "y": "Model Y"},
        tasks=DEMO_TASKS,
        category_of=CATEGORY,
        by_category=True,
        references=references,
    )


FULL = dict(zip(DEMO_TASKS, [70.0, 60.0, 50.0, 40.0]))  # three STS tasks, then a classification


def test_score_table_golden_markdown_and_latex():
    frame = _frame(
        {
            ("A", "x"): FULL,
            ("B", "x"): {**FULL, DEMO_TASKS[0]: 80.0},
            ("A", "y"): {"STSBenchmark": 10.0},  # partial
            ("C", "y"): {**FULL, DEMO_TASKS[2]: 0.0},  # a real zero stays 0.00
        }
    )
    references = {("A", "x"): ReferenceCell(50.0, "fixture"), ("B", "x"): ReferenceCell(None, "slot")}
    table = _table(frame, references)
    check_golden("demo.md", to_markdown(table))
    check_golden("demo.tex", to_latex(table))


def test_cells_average_complete_rows_only_and_never_print_zero_for_missing():
    table = _table(_frame({("A", "x"): FULL, ("A", "y"): {"STSBenchmark": 10.0}}))
    cells = dict(table.rows)
    x_sts, x_cls, x_avg = cells["A"][0], cells["A"][1], cells["A"][2]
    assert (x_sts.value, x_cls.value, x_avg.value) == (40.0, 60.0, 55.0)  # Classification, STS, Avg
    y_avg = cells["A"][5]
    assert y_avg.value == 10.0 and y_avg.partial and y_avg.render() == "10.00†"
    assert cells["B"][2].render() == "--" and cells["B"][2].value is None
    assert x_avg.bold and not cells["A"][0].partial


def test_reported_and_delta_columns():
    table = _table(
        _frame({("A", "x"): FULL}),
        {("A", "x"): ReferenceCell(50.0, "fixture"), ("B", "x"): ReferenceCell(None, "slot")},
    )
    assert table.groups[0][1] == ["Classification", "STS", "Avg", "Mean(TaskType)", "Reported", "Δ"]
    assert table.groups[1][1] == [
        "Classification",
        "STS",
        "Avg",
        "Mean(TaskType)",
    ]  # no reference for Model Y
    row_a, row_b = dict(table.rows)["A"], dict(table.rows)["B"]
    assert row_a[4].value == 50.0 and row_a[5].render() == "+5.00"  # Δ compares Avg, not Mean(TaskType)
    assert row_b[4].render() == "no reference" and row_b[5].render() == "--"


def test_footnote_names_the_seed_count_of_each_column_group_when_they_differ():
    """A two-family table whose second column has fewer seeds says so per column, not "3/1 seeds"."""
    from t2t.stats import Interval

    frame = _frame({("A", "x"): FULL, ("A", "y"): FULL})

    def with_seeds(x: int, y: int) -> str:
        intervals = {
            ("A", role, "Avg"): Interval(55.0, 54.0, 56.0, resamples=100, seeds=seeds)
            for role, seeds in (("x", x), ("y", y))
        }
        table = score_table(
            table_id="demo",
            title="Demo",
            caption="A demo table.",
            scores=frame,
            row_labels=["A"],
            roles={"x": "Model X", "y": "Model Y"},
            tasks=DEMO_TASKS,
            category_of=CATEGORY,
            by_category=False,
            intervals=intervals,
        )
        return table.footnotes[-1]

    assert "means over training seeds: 3 (Model X), 1 (Model Y);" in with_seeds(3, 1)
    assert "means over 3 training seed(s);" in with_seeds(3, 3)


def _fixture_results(root: Path, drop: set[str] = frozenset(), items: bool = False) -> None:
    """Table 3 at the tiny preset: DD->MD best on both backbones; rows in `drop` not stored;
    `items`: with per-item outputs (2,000 items a task), so cells and claims get intervals."""
    base = {"DD only": 0.30, "MD only": 0.32, "DD -> MD": 0.40, "MD -> DD": 0.35}
    for item in expand(get_spec("table3"), TINY):
        if item.row in drop:
            continue
        shift = 0.01 * (item.role == "mistral")
        store_run(
            root,
            item.run,
            {task: base[item.row] + shift + 0.001 * i for i, task in enumerate(TINY_TASKS)},
            items=items,
        )


def test_table3_outputs_from_stored_results_golden(tmp_path):
    _fixture_results(tmp_path, drop={"MD -> DD"})
    paths = write_outputs(get_spec("table3"), [TINY], tmp_path)
    assert [p.name for p in paths] == ["table3.md", "table3.tex"]
    markdown = paths[0].read_text()
    check_golden("table3_tiny.md", markdown)
    assert re.findall(r"^\| MD -> DD \| -- \| -- \|$", markdown, re.M) == ["| MD -> DD | -- | -- |"] * 2
    assert "**40.15**" in markdown  # best average of the column is bold


def _planned_all(root: Path) -> Path:
    """Every registry output planned at the tiny preset (manifests), as `reproduce all` leaves them."""
    for spec in REGISTRY.values():
        plan(root, spec, TINY)
    return root


@pytest.mark.slow
def test_claims_hold_fail_inconclusive_and_not_measured(tmp_path):
    """Verdicts come from paired intervals: a 5-point gap on 2,000 items a task holds, a reversed one
    fails, a 0.1-point gap is inconclusive, and cells without item outputs decide nothing."""
    _fixture_results(tmp_path, items=True)
    text = claims_markdown(_planned_all(tmp_path))
    line = claim_block(text, "Data-driven then model-derived")
    holm = r"DD -> MD > MD -> DD: difference \+5\.00, Holm (9\d\.\d)% interval \[\+\d"
    assert "| holds |" in line and re.search(holm, line)
    assert "1 vs 1 seeds; seed variance: not measured; 5 x 1,000 resamples" in line
    assert "Holm's step-down at 5%" in text
    # one family of six comparisons (3 per backbone): each at its Holm step's level, 1 - 0.05 / (6 - k)
    levels = sorted(float(x) for x in re.findall(r"Holm (\d+\.\d)% interval", line))
    assert levels == [95.0, 97.5, 98.3, 98.8, 99.0, 99.2]
    assert "| not measured |" in claim_block(text, "Last pooling")

    worse = tmp_path / "worse"
    _fixture_results(worse, items=True)
    item = next(i for i in expand(get_spec("table3"), TINY) if i.row == "MD -> DD" and i.role == "llama")
    store_run(worse, item.run, {task: 0.9 for task in TINY_TASKS}, items=True)
    line = claim_block(claims_markdown(_planned_all(worse)), "Data-driven then")
    assert "| fails |" in line and "✗ [llama] DD -> MD > MD -> DD" in line
    assert "| llama: fails, mistral: holds |" in line  # one family's failure is not hidden or spread

    close = tmp_path / "close"
    _fixture_results(close, items=True)
    near = {task: 0.4 + 0.001 * i - 0.001 for i, task in enumerate(TINY_TASKS)}
    store_run(close, item.run, near, items=7)  # errors on other items than DD -> MD's
    line = claim_block(claims_markdown(_planned_all(close)), "Data-driven then")
    assert "| inconclusive |" in line and "? [llama] DD -> MD > MD -> DD: difference +0.10" in line

    legacy = tmp_path / "legacy"
    _fixture_results(legacy)  # stored before item outputs
    line = claim_block(claims_markdown(_planned_all(legacy)), "Data-driven then")
    assert "| inconclusive |" in line and "no interval" in line


@pytest.mark.slow
def test_cells_with_items_print_intervals_and_bold_what_is_not_worse(tmp_path):
    """± is half the 95% interval; the best cell and any cell not significantly worse are bold."""
    _fixture_results(tmp_path, items=True)
    close = next(i for i in expand(get_spec("table3"), TINY) if i.row == "MD -> DD" and i.role == "llama")
    store_run(
        tmp_path, close.run, {task: 0.4 + 0.001 * i - 0.001 for i, task in enumerate(TINY_TASKS)}, items=7
    )
    markdown = write_outputs(get_spec("table3"), [TINY], tmp_path)[0].read_text()
    llama_table = markdown.split("**tiny-llama**")[1].split("**tiny-mistral**")[0]  # one table per backbone
    llama = {
        line.split(" | ")[0].strip("| "): line for line in llama_table.splitlines() if line.startswith("| ")
    }
    assert re.search(r"\*\*40\.15 ± \d\.\d\d\*\*", llama["DD -> MD"])  # best
    assert re.search(r"\*\*40\.05 ± \d\.\d\d\*\*", llama["MD -> DD"])  # 0.1 below: not significantly worse
    assert re.search(r"\| 30\.15 ± \d\.\d\d \|", llama["DD only"])  # 10 below: not bold
    assert "not significantly worse" in markdown
    latex = (tmp_path / "tables" / "table3.tex").read_text()
    below = r"\\textbf\{40\.15\}.*\n.*\{\\scriptsize\$\\pm\$\d\.\d\d\}"  # ± on the line below the number
    assert re.search(below, latex)


def test_claims_list_each_methods_best_complete_cell(tmp_path):
    """The best-cell context picks the highest complete average per method and backbone, across
    tables, and ignores a higher partial cell."""
    _fixture_results(tmp_path)
    cells = {i.row: i for i in expand(get_spec("pooling-attention"), TINY) if i.role == "llama"}
    main_llm2vec = next(i for i in expand(get_spec("main"), TINY) if i.row == "LLM2Vec" and i.role == "llama")
    store_run(tmp_path, main_llm2vec.run, {task: 0.45 for task in TINY_TASKS})
    store_run(tmp_path, cells["LLM2Vec, last + causal"].run, {task: 0.60 for task in TINY_TASKS})
    partial = {task: 0.99 for task in TINY_TASKS[:1]}
    store_run(tmp_path, cells["LLM2Vec, last + bidirectional"].run, partial, complete=False)
    text = claims_markdown(_planned_all(tmp_path))
    assert "| llm2vec | tiny-llama | pooling-attention: LLM2Vec, last + causal | 60.00 | 1 |" in text
    assert "99.00" not in text
    rows = [x for x in text.splitlines() if x.startswith("| text2token | ")]
    assert [x.split(" | ")[1] for x in rows] == ["tiny-llama", "tiny-mistral"]
    assert all("DD -> MD" in x or "Text2Token" in x for x in rows)  # table3's best row (shared with main)


@pytest.mark.slow
def test_figure5_outputs_draw_points_and_table(tmp_path):
    spec = get_spec("figure5")
    for item in expand(spec, TINY):
        store_run(tmp_path, item.run, {task: 0.5 for task in TINY_TASKS}, items=True)
    paths = write_outputs(spec, [TINY], tmp_path)
    assert sorted(p.name for p in paths) == ["figure5.md", "figure5.pdf", "figure5.png", "figure5.tex"]
    assert (tmp_path / "figures" / "figure5.png").stat().st_size > 5000
    assert re.search(
        r"samples N for Q\(w\) = 16 \| 50\.00 ± \d\.\d\d", (tmp_path / "tables" / "figure5.md").read_text()
    )


def test_sweep_panels_do_not_zoom_a_flat_curve_into_a_trend():
    from reproduce.report.figures import MIN_SCORE_SPAN, sweep_panels

    spec = get_spec("figure5")
    points = pd.DataFrame(
        [
            (sweep.parameter, role, value, 65.70 + 0.01 * i, False)
            for sweep in spec.sweeps
            for role in TINY.backbones
            for i, value in enumerate(sorted(TINY.analysis.to_dict(shallow=True)[sweep.values_from]))
        ],
        columns=["sweep", "role", "value", "score", "partial"],
    )
    from reproduce.plan.grid import plan_manifest

    figure = sweep_panels([(plan_manifest(spec, TINY, expand(spec, TINY)), points)])
    for ax in figure.axes:
        low, high = ax.get_ylim()
        assert high - low >= MIN_SCORE_SPAN - 1e-9 and low < 65.70 and high > 65.75
    figure.clf()


def test_figure5_marks_an_unfinished_point_partial_with_a_footnote(tmp_path):
    spec = get_spec("figure5")
    items = expand(spec, TINY)
    for item in items[1:]:
        store_run(tmp_path, item.run, {task: 0.5 for task in TINY_TASKS})
    unfinished = {task: 0.9 for task in TINY_TASKS[:1]}  # one task of several: a partial average
    store_run(tmp_path, items[0].run, unfinished, complete=False)
    write_outputs(spec, [TINY], tmp_path)
    text = (tmp_path / "tables" / "figure5.md").read_text()
    assert "90.00†" in text and "† partial" in text


def test_empty_store_writes_a_pointer_not_zeros(tmp_path):
    paths = write_outputs(get_spec("main"), [TINY], tmp_path)
    text = paths[0].read_text()
    assert "No results stored yet" in text and "nox -s main" in text and "0.00" not in text


@pytest.mark.slow
def test_tables_rebuild_from_manifests_without_the_model_stack(tmp_path):
    """`python -m reproduce tables` reads manifests and run folders only: with torch, mteb, spaCy,
    transformers and peft made unimportable it still writes the same table3 as the builder here."""
    import subprocess
    import sys

    _fixture_results(tmp_path)
    expected = write_outputs(get_spec("table3"), [TINY], tmp_path)[0].read_text()
    (tmp_path / "tables" / "table3.md").unlink()
    blocked = ("torch", "mteb", "spacy", "transformers", "peft")
    code = (  # a finder that makes the blocked packages look uninstalled
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {blocked!r}: raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from reproduce.__main__ import main\n"
        "sys.exit(main(['tables']))\n"
    )
    env = {**os.environ, "T2T_RESULTS_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "tables" / "table3.md").read_text() == expected


@pytest.mark.slow
def test_tables_list_orphaned_runs_and_missing_cells_and_rebuild_compare_tables(tmp_path):
    """A run no manifest names (a default changed since) is listed, not shown; a planned cell without
    its run folder is listed; `compare-*` outputs are rebuilt and indexed like the registry's."""
    from reproduce.paper.presets import with_backbone
    from reproduce.report.rebuild import rebuild_all
    from reproduce.run.compare import compare_spec
    from t2t.runs.results import RunStore

    _fixture_results(tmp_path)
    _planned_all(tmp_path)
    scale = with_backbone(TINY, "tiny-llama")
    spec = compare_spec("tiny-llama")
    for item in plan(tmp_path, spec, scale):
        store_run(tmp_path, item.run, {task: 0.5 for task in TINY_TASKS})
    orphan = next(i for i in expand(get_spec("main"), TINY)).run.replace(method="renamed")
    store_run(tmp_path, orphan, {task: 0.5 for task in TINY_TASKS})

    message = rebuild_all(tmp_path)
    assert orphan.run_id in message and "orphaned" in message
    assert "planned cells have no run folder" in message  # e.g. main's LLM2Vec rows were never run
    assert re.search(r"\| Text2Token \| \**50\.00", (tmp_path / "tables" / f"{spec.id}.md").read_text())
    index = (tmp_path / "README.md").read_text()
    assert f"**{spec.id}**: All methods on tiny-llama." in index and orphan.run_id in index
    # links only to files that exist: no spectrum results yet, so no figure to link (alignment has none)
    assert "figures/alignment.png" not in index and "figures/spectrum.png" not in index
    assert all((tmp_path / link).is_file() for link in re.findall(r"\]\(([^)]+)\)", index))
    assert RunStore(orphan.run_id, tmp_path).task_scores()  # listed, never deleted


def test_a_failed_sweep_point_says_failed_not_not_run(tmp_path):
    """A figure point whose run failed is `failed‡` with the reason, never "-- point not run yet"."""
    from t2t.runs.results import RunStore

    spec = get_spec("figure5")
    items = expand(spec, TINY)
    for item in items[1:]:
        store_run(tmp_path, item.run, {task: 0.5 for task in TINY_TASKS})
    RunStore(items[0].run_id, tmp_path).update(status="failed", error="STS13: all embeddings equal")
    write_outputs(spec, [TINY], tmp_path)
    text = (tmp_path / "tables" / "figure5.md").read_text()
    assert "failed‡" in text and "all embeddings equal" in text


def test_compare_table_states_each_rows_training_budget(tmp_path):
    """`compare` rows carry steps, real training tokens, estimated FLOPs (from the backbone shape the
    run recorded) and step time from each run's training log; untrained rows (PromptEOL and the
    training-free methods) say 0, not `--`. It also
    has the two rows that split LLM2Vec's best smol cell: SimCSE and LLM2Vec with last + causal."""
    from reproduce.paper.presets import with_backbone
    from reproduce.plan.gpu_hours import Shape, token_flops
    from reproduce.run.compare import compare_spec

    shape = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=16,
        vocab_size=1000,
    )
    scale = with_backbone(TINY, "tiny-gemma")
    spec = compare_spec("tiny-gemma")
    expected = {}
    for item in plan(tmp_path, spec, scale):
        store = store_run(tmp_path, item.run, {task: 0.5 for task in TINY_TASKS})
        stages = item.run.model.stages
        if stages:
            store.save_train_log(
                [[{"step": i, "tokens": 100, "seconds": 10.0, "loss": 1.0} for i in range(3)] for _ in stages]
            )
        store.update(backbone_shape=shape)
        flops = sum(token_flops(stage.objective, Shape.from_mapping(shape)) * 300 for stage in stages)
        expected[item.row] = [
            f"{3 * len(stages):,}",
            f"{300 * len(stages):,}",
            f"{flops:.2g}",
            f"{len(stages) * 0.5:.1f} min",
        ]
        if item.row.endswith("last + causal"):
            assert (item.run.model.pooling.mode, item.run.model.attention) == ("last", "causal")
    write_outputs(spec, [scale], tmp_path)
    text = (tmp_path / "tables" / f"{spec.id}.md").read_text()
    assert {"SimCSE, last + causal", "LLM2Vec, last + causal"} <= set(expected)
    for row, budget in expected.items():
        line = next(line for line in text.splitlines() if line.startswith(f"| {row} |"))
        assert [cell.strip() for cell in line.strip("|").split("|")][-4:] == budget, row
    for untrained in (
        "PromptEOL (zero-shot, last)",
        "Echo (zero-shot, mean)",
        "Token Prepending (zero-shot, last)",
    ):
        assert expected[untrained] == ["0", "0", "0", "0.0 min"], untrained
    # one backbone and its budget share a table: named once above it, plain column names in its header
    assert "**tiny-gemma** (STS … Avg), **Budget** (steps … train time)" in text
    assert "|  | STS | Avg | steps | train tokens | train FLOPs | train time |" in text and " · " not in text
    assert "real (non-pad) training tokens" in unwrap(text)
