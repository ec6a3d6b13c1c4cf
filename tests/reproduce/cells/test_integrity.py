"""A wrong stored number stops the tables with one line per file, and nothing is written.

Cases (issue 36, item 3): a main score outside mteb's [-1, 1] (a x100 slip), a task file that
disagrees with its items, a deleted items file (not "a run stored before item outputs"), an items
file of the wrong shape (no KeyError). Each names its path and the way forward; `tables` exits 2.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from reproduce.__main__ import main
from reproduce.cells.integrity import StoredResultsInvalid, stored_problems
from reproduce.paper.presets import get_preset
from reproduce.paper.registry import get_spec
from reproduce.plan.grid import expand
from reproduce.run import runner
from t2t.core.errors import report_user_errors
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs.results import RunStore
from tests.fakes import store_run

TINY = get_preset("tiny")
TASKS = TASK_SETS[TINY.task_set].tasks


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def slip(store: RunStore, task: str) -> str:
    payload = json.loads(store.task_path(task).read_text())
    payload["scores"]["test"][0]["main_score"] *= 100
    store.task_path(task).write_text(json.dumps(payload))
    return "is outside mteb's [-1, 1]"


def disagree(store: RunStore, task: str) -> str:
    payload = json.loads(store.task_path(task).read_text())
    payload["scores"]["test"][0]["main_score"] += 0.02
    store.task_path(task).write_text(json.dumps(payload))
    return "disagrees with its items"


def delete_items(store: RunStore, task: str) -> str:
    store.items_path(task).unlink()
    return "missing, although the run stored item outputs"


def wrong_shape(store: RunStore, task: str) -> str:
    store.items_path(task).write_bytes(gzip.compress(json.dumps({"type": "STS", "records": []}).encode()))
    return "not an items file"


@pytest.mark.slow
@pytest.mark.parametrize("damage", [slip, disagree, delete_items, wrong_shape])
def test_a_wrong_stored_number_stops_the_tables_and_nothing_is_written(tmp_path, monkeypatch, capsys, damage):
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    planned = expand(get_spec("table3"), TINY)
    for number, item in enumerate(planned):
        store_run(tmp_path, item.run, {task: 0.5 + 0.01 * number for task in TASKS}, items=number + 2)
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("nothing should run"))
    runner.run_output("table3", "tiny", root=tmp_path)
    assert stored_problems(tmp_path) == []
    store = RunStore(planned[0].run_id, tmp_path)
    words = damage(store, TASKS[0])
    before = files_under(tmp_path)

    if damage is slip:  # a task file that reads as not done is evaluated again by the next run
        report = runner.run_output("table3", "tiny", root=tmp_path, dry_run=True)
        assert f"{store.run_id}  text2token  stages 0/" in report and "tasks 3/4" in report
    else:
        with pytest.raises(StoredResultsInvalid) as refused:
            runner.run_output("table3", "tiny", root=tmp_path)
        message = str(refused.value)
        assert words in message and str(store.dir) in message and "nothing was written" in message
    assert files_under(tmp_path) == before

    capsys.readouterr()
    assert report_user_errors(main, ["tables"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 stored result file(s)") and words in err and "Traceback" not in err
    assert files_under(tmp_path) == before
