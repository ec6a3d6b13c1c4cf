"""`python -m t2t publish`: a run's results in MTEB's results-repository layout, loaded back by mteb."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mteb
import pytest

from t2t.__main__ import main
from t2t.publish import NotPublishable, publish
from t2t.results import RunStore

STORED = Path(__file__).resolve().parents[1] / "results" / "runs" / "955b182f8aab"  # a committed smol run


@pytest.fixture
def run_folder(tmp_path) -> Path:
    folder = tmp_path / "store" / "runs" / STORED.name
    shutil.copytree(STORED, folder, ignore=shutil.ignore_patterns(".lock*"))
    return folder


def test_published_results_load_back_with_mteb_and_equal_the_stored_scores(run_folder, tmp_path):
    folder = publish(str(run_folder), tmp_path / "out", name="org/my-model")
    assert folder == tmp_path / "out" / "results" / "org__my-model" / STORED.name
    assert (folder / "model_meta.json").is_file()
    loaded = mteb.ResultCache(tmp_path / "out").load_results(models=["org/my-model"], include_remote=False)
    (model,) = loaded.model_results
    assert (model.model_name, model.model_revision) == ("org/my-model", STORED.name)
    store = RunStore(STORED.name, run_folder.parent.parent)
    scores = {task.task_name: task.get_score() for task in model.task_results}
    assert scores == {name: store.load_task(name).get_score() for name in store.task_names()}
    assert len(scores) == 9


def test_cli_defaults_name_and_revision_from_the_run(run_folder, tmp_path, capsys):
    assert main(["publish", str(run_folder), str(tmp_path / "out")]) == 0
    name = f"t2t-repro/text2token-smollm2-135m-{STORED.name}"
    folder = tmp_path / "out" / "results" / name.replace("/", "__") / STORED.name
    assert str(folder) in capsys.readouterr().out
    meta = json.loads((folder / "model_meta.json").read_text())
    assert meta["name"] == name and meta["adapted_from"] == "smollm2-135m"


def test_unfinished_unknown_or_badly_named_runs_are_refused(run_folder, tmp_path):
    with pytest.raises(NotPublishable, match="org/model"):
        publish(str(run_folder), tmp_path / "out", name="no-org")
    with pytest.raises(NotPublishable, match="no run"):
        publish(str(tmp_path / "nothing"), tmp_path / "out")
    info = json.loads((run_folder / "run.json").read_text())
    (run_folder / "run.json").write_text(json.dumps({**info, "status": "failed"}))
    with pytest.raises(NotPublishable, match="not complete"):
        publish(str(run_folder), tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-written
