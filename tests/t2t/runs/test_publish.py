"""`python -m t2t publish`: a run's results in MTEB's results-repository layout, loaded back by mteb."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mteb
import pytest

from t2t.__main__ import main
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs.publish import NotPublishable, publish
from t2t.runs.results import RunStore

STORED = Path(__file__).resolve().parents[3] / "results" / "runs" / "955b182f8aab"  # a committed smol run


OFFLINE = TASK_SETS["offline"].tasks


@pytest.fixture
def run_folder(tmp_path) -> Path:
    """A copy of the committed run with its `offline` tasks only (it gains others as it is re-scored)."""
    folder = tmp_path / "store" / "runs" / STORED.name
    shutil.copytree(STORED, folder, ignore=shutil.ignore_patterns(".lock*"))
    for kind in ("tasks", "items", "predictions"):
        for path in (folder / kind).glob("*"):
            if path.name.split(".")[0] not in OFFLINE:
                path.unlink()
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


def test_a_revision_folder_of_another_run_is_refused_and_the_same_run_may_publish_again(run_folder, tmp_path):
    """Two runs under one name and revision would mix their task files: the second is refused,
    naming the folder and the run that wrote it; the same run publishing again is fine."""
    publish(str(run_folder), tmp_path / "out", name="org/m", revision="v1")
    publish(str(run_folder), tmp_path / "out", name="org/m", revision="v1")
    other = run_folder.parent / "abcdef123456"
    shutil.copytree(run_folder, other)
    info = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**info, "run_id": other.name}))
    with pytest.raises(NotPublishable, match=f"written by run {STORED.name}.*another --revision"):
        publish(str(other), tmp_path / "out", name="org/m", revision="v1")
    publish(str(other), tmp_path / "out", name="org/m", revision="v2")


def test_capped_runs_variants_and_bad_numbers_are_refused(run_folder, tmp_path):
    info = json.loads((run_folder / "run.json").read_text())
    capped = {
        **info,
        "config": {
            **info["config"],
            "evaluation": {**info["config"]["evaluation"], "task_set": "offline-lite"},
        },
    }
    (run_folder / "run.json").write_text(json.dumps(capped))
    with pytest.raises(NotPublishable, match="capped at 128 rows"):
        publish(str(run_folder), tmp_path / "out")
    (run_folder / "run.json").write_text(json.dumps(info))

    store = RunStore(STORED.name, run_folder.parent.parent)
    shutil.copy(store.task_path("STS12"), store.dir / "tasks" / "SciFact-lite.json")  # a variant task
    shutil.copy(store.items_path("STS12"), store.items_path("SciFact-lite"))
    with pytest.raises(NotPublishable, match="variants of MTEB tasks \\(SciFact-lite\\).*--skip-variants"):
        publish(str(run_folder), tmp_path / "out")
    folder = publish(str(run_folder), tmp_path / "out", skip_variants=True)
    assert not (folder / "SciFact-lite.json").exists() and (folder / "STS12.json").is_file()

    payload = json.loads(store.task_path("STS13").read_text())
    payload["scores"]["test"][0]["main_score"] *= 100
    store.task_path("STS13").write_text(json.dumps(payload))
    with pytest.raises(NotPublishable, match="STS13.json: main score .* outside mteb's"):
        publish(str(run_folder), tmp_path / "out2", skip_variants=True)
    assert not (tmp_path / "out2").exists()
