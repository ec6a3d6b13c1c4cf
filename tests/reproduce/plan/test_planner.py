"""A plan is built once and executed once; a run's run.json is read once and written through one record.

`reproduce.plan.planner.build_plan` reads the output's committed manifest and each distinct run's
state once, and the runner, `compare` and `--verify` execute that value instead of planning again.
`t2t.runs.run._execute` reads run.json once (`t2t.runs.results.RunRecord`) and writes every change
through that record, never reading the file back.
"""

from __future__ import annotations

import json

import pytest

from reproduce.cells.manifest import committed_manifest
from reproduce.paper.presets import get_preset
from reproduce.paper.registry import get_spec
from reproduce.plan import planner
from reproduce.plan.grid import expand, unique_runs
from reproduce.run import compare as compare_module
from reproduce.run import runner
from t2t.core.runtime import Runtime
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs.results import RunStore
from t2t.runs.run import EvalSpec, ModelSpec, RunSpec, execute
from tests.fakes import store_run

TINY = get_preset("tiny")


def _counting(module, name: str, calls: list, monkeypatch) -> None:
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_an_output_is_planned_once_per_command(tmp_path, monkeypatch):
    """Running table3 (every run stored) reads its committed manifest once and prices each distinct
    run once, though the plan is described, checked for stale runs, recorded and executed."""
    planned = expand(get_spec("table3"), TINY)
    for number, cell in enumerate(planned):
        store_run(tmp_path, cell.run, {task: 0.5 + 0.01 * number for task in TASK_SETS[TINY.task_set].tasks})
    runner.run_output("table3", "tiny", root=tmp_path)  # records the manifest
    reads, priced = [], []
    _counting(planner, "committed_manifest", reads, monkeypatch)
    _counting(planner, "status_of", priced, monkeypatch)
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a stored run was recomputed"))
    runner.run_output("table3", "tiny", root=tmp_path)
    assert len(reads) == 1
    assert sorted(args[0].run_id for args in priced) == sorted(run.run_id for run in unique_runs(planned))
    assert committed_manifest("table3", "tiny", tmp_path) is not None

    reads.clear(), priced.clear()
    executed = []
    monkeypatch.setattr(compare_module, "run_plan", lambda plan, **k: executed.append(plan) or "ran")
    assert compare_module.compare("tiny-llama", "tiny", root=tmp_path) == ("ran", True)
    assert len(executed) == 1 and len(reads) == 1  # compare: one plan, its manifest read once
    assert [args[0].run_id for args in priced] == [run.run_id for run in executed[0].runs]


def test_verify_builds_a_plan_without_pricing_runs(tmp_path, monkeypatch):
    """`--verify` reads each run itself: its plan reads no run's state and measures no cost."""
    monkeypatch.setattr(planner, "status_of", lambda *a, **k: pytest.fail("verify priced a run"))
    monkeypatch.setattr(planner, "measured_costs", lambda *a, **k: pytest.fail("verify measured costs"))
    plan = planner.plan_output("table3", "tiny", root=tmp_path, statuses=False)
    assert plan.statuses == () and plan.costs is None and plan.cells and plan.manifest is not None


@pytest.mark.needs_data
def test_a_run_reads_its_run_json_once_and_writes_it_through_one_record(tmp_path, monkeypatch, make_cache):
    """A fresh tiny run reads run.json once (it is absent: nothing to open) and writes it once when
    the model is built, once per evaluated task and once when complete; running it again (complete)
    reads it once and writes nothing."""
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "results"))
    make_cache("cache")
    reads, writes = [], []
    _counting(RunStore, "read", reads, monkeypatch)
    _counting(RunStore, "write_merged", writes, monkeypatch)
    spec = RunSpec(
        method="zero-shot", model=ModelSpec(backbone="tiny-llama"), evaluation=EvalSpec("offline-lite")
    )
    runtime = Runtime(device="cpu", precision="fp32", progress=False)
    store = execute(spec, runtime)
    assert len(reads) == 1 and len(writes) == 1 + len(spec.evaluation.tasks) + 1
    assert store.read()["status"] == "complete"
    assert store.read() == json.loads(
        json.dumps({**writes[-1][1], **writes[-1][2]})
    )  # the file is the record
    reads.clear(), writes.clear()
    execute(spec, runtime)
    assert (len(reads), len(writes)) == (1, 0)
