"""Table builders, outputs and claims on fixture results (golden files: regenerate on purpose with
`T2T_REGENERATE_GOLDEN=1 pytest tests/test_tables.py`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from reproduce.claims import claims_markdown
from reproduce.grid import expand
from reproduce.outputs import write_spec_outputs
from reproduce.presets import PRESETS
from reproduce.reference import ReferenceCell
from reproduce.registry import get_spec
from reproduce.tables import score_table, to_latex, to_markdown
from t2t.evaluation.tasks import TASK_SETS, task_category
from tests.fakes import store_run

GOLDEN = Path(__file__).parent / "golden"
TINY = PRESETS["tiny"]
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
    assert table.groups[0][1] == ["Classification", "STS", "Avg", "Reported", "Δ"]
    assert table.groups[1][1] == ["Classification", "STS", "Avg"]  # no reference for Model Y
    row_a, row_b = dict(table.rows)["A"], dict(table.rows)["B"]
    assert row_a[3].value == 50.0 and row_a[4].render() == "+5.00"
    assert row_b[3].render() == "no reference" and row_b[4].render() == "--"


def _fixture_results(root: Path, drop: set[str] = frozenset()) -> None:
    """Table 3 at the tiny preset: DD->MD best on both backbones; rows in `drop` not stored."""
    base = {"DD only": 0.30, "MD only": 0.32, "DD -> MD": 0.40, "MD -> DD": 0.35}
    for item in expand(get_spec("table3"), TINY):
        if item.row in drop:
            continue
        shift = 0.01 * (item.role == "mistral")
        store_run(
            root, item.run, {task: base[item.row] + shift + 0.001 * i for i, task in enumerate(TINY_TASKS)}
        )


def test_table3_outputs_from_stored_results_golden(tmp_path):
    _fixture_results(tmp_path, drop={"MD -> DD"})
    paths = write_spec_outputs(get_spec("table3"), [TINY], root=tmp_path)
    assert [p.name for p in paths] == ["table3.md", "table3.tex"]
    markdown = paths[0].read_text()
    check_golden("table3_tiny.md", markdown)
    assert re.search(r"\| MD -> DD \| -- \| -- \| -- \|", markdown)
    assert "**40.15**" in markdown  # best average of the column is bold


def test_claims_hold_fail_and_not_measured(tmp_path):
    _fixture_results(tmp_path)
    text = claims_markdown([TINY], root=tmp_path)
    line = next(x for x in text.splitlines() if x.startswith("| Data-driven then model-derived"))
    assert "| holds |" in line and "DD -> MD 40.15 > MD -> DD 35.15" in line
    assert "| not measured |" in next(x for x in text.splitlines() if x.startswith("| Last pooling"))

    worse = tmp_path / "worse"
    _fixture_results(worse)
    item = next(i for i in expand(get_spec("table3"), TINY) if i.row == "MD -> DD" and i.role == "llama")
    store_run(worse, item.run, {task: 0.9 for task in TINY_TASKS})
    line = next(
        x for x in claims_markdown([TINY], root=worse).splitlines() if x.startswith("| Data-driven then")
    )
    assert "| fails |" in line and "✗ [llama] DD -> MD" in line


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
    text = claims_markdown([TINY], root=tmp_path)
    assert "| llm2vec | llama | pooling-attention: LLM2Vec, last + causal | 60.00 |" in text
    assert "99.00" not in text
    rows = [x for x in text.splitlines() if x.startswith("| text2token | ")]
    assert [x.split(" | ")[1] for x in rows] == ["llama", "mistral"]
    assert all("DD -> MD" in x or "Text2Token" in x for x in rows)  # table3's best row (shared with main)


def test_figure5_outputs_draw_points_and_table(tmp_path):
    spec = get_spec("figure5")
    for item in expand(spec, TINY):
        store_run(tmp_path, item.run, {task: 0.5 for task in TINY_TASKS})
    paths = write_spec_outputs(spec, [TINY], root=tmp_path)
    assert sorted(p.name for p in paths) == ["figure5.md", "figure5.pdf", "figure5.png", "figure5.tex"]
    assert (tmp_path / "figures" / "figure5.png").stat().st_size > 5000
    assert "samples N for Q(w) = 16 | 50.00" in (tmp_path / "tables" / "figure5.md").read_text()


def test_sweep_panels_do_not_zoom_a_flat_curve_into_a_trend():
    from reproduce.figures import MIN_SCORE_SPAN, _sweep_panels

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
    figure = _sweep_panels(spec, [(TINY, points)])
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
    write_spec_outputs(spec, [TINY], root=tmp_path)
    text = (tmp_path / "tables" / "figure5.md").read_text()
    assert "90.00†" in text and "† partial" in text


def test_empty_store_writes_a_pointer_not_zeros(tmp_path):
    paths = write_spec_outputs(get_spec("main"), [TINY], root=tmp_path)
    text = paths[0].read_text()
    assert "No results stored yet" in text and "nox -s main" in text and "0.00" not in text
