"""Atomic writes and the results store."""

from __future__ import annotations

import json

import pytest

from t2t.core.atomic import atomic_directory, atomic_path, atomic_write_json
from t2t.runs.results import RunStore, iter_runs
from tests.fakes import task_result


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"half": ')
        raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"b": 2})
    assert json.loads(target.read_text()) == {"b": 2}


def test_atomic_directory_appears_only_complete(tmp_path):
    folder = tmp_path / "ckpt"
    with atomic_directory(folder) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic_directory(folder) as tmp:
        (tmp / "a").write_text("2")
        raise KeyboardInterrupt
    assert (folder / "a").read_text() == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_run_store_round_trip(tmp_path):
    store = RunStore("abc123", tmp_path)
    assert store.missing_tasks(["STSBenchmark", "SICK-R"]) == ["STSBenchmark", "SICK-R"]
    store.save_task(task_result("STSBenchmark", 0.5))
    store.update(status="running", config={"x": 1})
    store.update(status="complete")
    assert store.missing_tasks(["STSBenchmark", "SICK-R"]) == ["SICK-R"]
    assert store.task_scores() == {"STSBenchmark": 0.5}
    assert store.read() == {"status": "complete", "config": {"x": 1}}
    assert [run.run_id for run in iter_runs(tmp_path)] == ["abc123"]
