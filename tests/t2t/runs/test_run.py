"""One run is one model, and one launch path gives one score.

- A stored run that gains tasks (a wider task set of its pool, `--add-items`) rebuilds its stages on
  the training path it recorded (precision, kernel, dropout kind, CPU threads), whatever today's
  `Runtime` says; a retrained model is checked against a stored task before anything is added, and
  a model that scores it differently is refused with nothing written (`--on-stale recompute`
  recomputes the run as a whole instead), unless it logs every training step's loss as stored: then
  it is the same model scored by other evaluation code, accepted within the version tolerance.
- The CPU thread count is part of that path: `--verify` recomputes a run with the threads it was
  stored with, so a run stored by a 2-thread process verifies exactly from a 1-thread one.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

import t2t.runs.run as run_module
from reproduce.paper.methods import run_spec
from reproduce.paper.presets import get_preset
from t2t.core.runtime import PathUnavailable, Runtime, path_flags
from t2t.evaluation.tasks import TASK_SETS, TaskSet
from t2t.runs.results import RunStore
from t2t.training.pipeline import stage_dir, stage_folder, torch_threads

TINY = get_preset("tiny")
LITE = TASK_SETS["offline-lite"]
FP32 = Runtime(device="cpu", precision="fp32", progress=False)
TODAY = Runtime(device="cpu", precision="bf16", progress=False)  # another path than FP32's


@pytest.fixture
def wider(monkeypatch):
    """A task set in offline-lite's pool with two of its tasks and one more: the same run folder."""
    narrow = TaskSet("lite-two", "test", LITE.tasks[:2], mirrored=True, limit=LITE.limit, pool=LITE.name)
    wide = TaskSet(
        "lite-wider", "test", (*LITE.tasks[:2], "STS12"), mirrored=True, limit=LITE.limit, pool=LITE.name
    )
    monkeypatch.setitem(TASK_SETS, narrow.name, narrow)
    monkeypatch.setitem(TASK_SETS, wide.name, wide)
    return narrow.name, wide.name


def text2token(task_set: str):
    spec = run_spec("text2token", TINY, "tiny-llama", {"pooling": "last", "order": ("dd",)})
    return spec.replace(evaluation=spec.evaluation.replace(task_set=task_set))


def snapshot(store: RunStore) -> dict[str, bytes]:
    return {
        str(p.relative_to(store.dir)): p.read_bytes() for p in sorted(store.dir.rglob("*")) if p.is_file()
    }


def stored_with_check_moved(tmp_path, monkeypatch, make_cache, task_set: str, delta: float) -> RunStore:
    """A run stored (fp32) on `task_set`, its stored score of the task the same-model check re-scores
    (the set's first) then moved by `delta`, as if another model or other code had scored it."""
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    make_cache("first")
    store = run_module.execute(text2token(task_set), FP32)
    task_file = store.task_path(LITE.tasks[0])
    payload = json.loads(task_file.read_text())
    payload["scores"]["test"][0]["main_score"] += delta
    task_file.write_text(json.dumps(payload))
    return store


@pytest.mark.slow
@pytest.mark.needs_data
def test_new_tasks_come_from_the_model_the_run_stored(tmp_path, monkeypatch, make_cache, wider):
    """Stored with --precision fp32, its stage cache gone, extended with today's default path: the
    stage is retrained in fp32 (not bf16), checked on a stored task, and the new task is added."""
    narrow, wide = wider
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    make_cache("first")
    store = run_module.execute(text2token(narrow), FP32)
    first = store.read()
    assert first["stages_trained_with"][0]["weights"] == "float32"

    make_cache("fresh")  # the stage cache is gone
    scored = []
    real = run_module.mteb.evaluate
    monkeypatch.setattr(
        run_module.mteb, "evaluate", lambda m, t, **k: scored.append(t[0].metadata.name) or real(m, t, **k)
    )
    run_module.execute(text2token(wide), TODAY)
    after = store.read()
    [entry] = after["reevaluations"]
    assert entry["tasks"] == ["STS12"] and entry["stages_trained_with"][0]["weights"] == "float32"
    assert scored == [LITE.tasks[0], "STS12"]  # the identity check, then the new task
    assert after["provenance"] == first["provenance"]


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_rebuilt_model_that_scores_a_stored_task_differently_adds_nothing(
    tmp_path, monkeypatch, make_cache, wider
):
    """The stored score of the checked task no longer matches what the retrained model gives (as if
    the run had been made by another model): refused, naming the run, the task and the way forward,
    and no byte of the run folder changes. With --on-stale recompute the run is recomputed whole."""
    narrow, wide = wider
    store = stored_with_check_moved(tmp_path, monkeypatch, make_cache, narrow, 0.01)
    before, before_info = snapshot(store), store.read()

    make_cache("fresh")
    with pytest.raises(run_module.NotTheSameModel) as refused:
        run_module.execute(text2token(wide), TODAY)
    message = str(refused.value)
    assert store.run_id in message and LITE.tasks[0] in message and "--on-stale recompute" in message
    assert path_flags(store.read()["stages_trained_with"][0]).split(" --train-threads")[0] in message
    assert snapshot(store) == before

    run_module.execute(text2token(wide), dataclasses.replace(TODAY, on_stale="recompute"))
    again = store.read()
    assert "reevaluations" not in again and set(store.task_names()) == {*LITE.tasks[:2], "STS12"}
    assert store.read()["provenance"] != before_info["provenance"]  # a new record, one model


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_model_that_trains_as_stored_may_score_within_the_version_tolerance(
    tmp_path, monkeypatch, make_cache, wider
):
    """The stored check task was scored by other evaluation code (here: its score nudged by 0.001):
    the retrained model logs every step's loss as stored, so it is the same model; the new task is
    added and run.json says how the model was recognised. With one logged loss changed, the same
    nudge is refused (the score alone, at tolerance 0, decides)."""
    narrow, wide = wider
    store = stored_with_check_moved(tmp_path, monkeypatch, make_cache, narrow, 0.001)
    log_file = store.dir / "train_log.json"
    logged = log_file.read_text()
    changed = json.loads(logged)
    changed[0][-1]["loss"] += 1e-6
    log_file.write_text(json.dumps(changed))
    make_cache("fresh")
    with pytest.raises(run_module.NotTheSameModel):
        run_module.execute(text2token(wide), TODAY)
    assert "STS12" not in store.task_names()

    log_file.write_text(logged)
    make_cache("again")
    run_module.execute(text2token(wide), TODAY)
    [entry] = store.read()["reevaluations"]
    assert entry["tasks"] == ["STS12"] and "STS12" in store.task_names()
    same = entry["same_model"]
    assert same["task"] == LITE.tasks[0] and same["training_log"] == "equal"
    assert same["now"] - same["stored"] == pytest.approx(-0.001, abs=1e-6)


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_run_whose_training_path_is_unknown_is_refused_not_retrained(
    tmp_path, monkeypatch, make_cache, wider
):
    narrow, wide = wider
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    make_cache("first")
    store = run_module.execute(text2token(narrow), FP32)
    store.update(stages_trained_with=[{"unknown": "cached before paths were recorded"}])
    make_cache("fresh")
    with pytest.raises(PathUnavailable, match="--on-stale recompute"):
        run_module.execute(text2token(wide), TODAY)
    assert "STS12" not in store.task_names()


def test_a_recorded_path_becomes_the_runtime_that_trains_it():
    path = {
        "device": "cpu",
        "weights": "float32",
        "autocast": "bfloat16",
        "attention": "sdpa",
        "sparse_dropout": False,
        "threads": 2,
    }
    follows = TODAY.following(path)
    assert {**follows.training_path()} == path
    assert (
        path_flags(path) == "--precision mixed --train-attention sdpa --sparse-dropout off --train-threads 2"
    )
    with pytest.raises(PathUnavailable, match="trained on cuda"):
        TODAY.following({**path, "device": "cuda"})


def test_a_stage_trained_another_way_is_kept_and_the_asked_one_lives_beside_it(cache):
    """One stage key, two paths: the usual folder keeps the first; the other gets a sibling."""
    key = "abc123"
    folder = stage_dir(key)
    (folder / "adapter").mkdir(parents=True)
    (folder / "adapter" / "adapter_config.json").write_text("{}")
    bf16 = TODAY.training_path()
    (folder / "stage.json").write_text(json.dumps({"trained_with": bf16}))
    assert stage_folder(key, bf16) == folder and stage_folder(key, None) == folder
    fp32 = FP32.training_path()
    assert (
        stage_folder(key, fp32).name.startswith(f"{key}@") and stage_folder(key, fp32).parent == folder.parent
    )


@pytest.mark.slow
@pytest.mark.needs_data
def test_verify_recomputes_a_run_with_the_threads_it_was_stored_with(
    tmp_path, monkeypatch, make_cache, wider
):
    """Stored by a 2-thread process, verified from a 1-thread one: every score equal (tolerance 0),
    because the stage retrains and the tasks evaluate with 2 threads, as recorded."""
    import reproduce.run.verify as verify_module
    from reproduce.plan.planner import Plan
    from reproduce.run.verify import verify

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    make_cache("first")
    runtime = Runtime(device="cpu", precision="bf16", progress=False)
    spec = text2token(wider[0])  # two tasks
    with torch_threads(2):
        store = run_module.execute(spec, runtime)
    assert store.read()["stages_trained_with"][0]["threads"] == 2
    one_run = Plan(_Spec(), TINY, (_Cell(spec),), tmp_path, None, None, "", "")  # no manifest
    monkeypatch.setattr(verify_module, "plan_output", lambda *a, **k: one_run)
    assert torch.get_num_threads() == 1
    report, agree = verify("table3", "tiny", runtime=runtime, root=tmp_path, scratch=tmp_path / "scratch")
    assert agree, report
    fresh = RunStore(spec.run_id, tmp_path / "scratch" / "results").read()
    assert fresh["stages_trained_with"][0]["threads"] == 2
    assert fresh["provenance"]["hardware"]["torch_threads"] == 2
    assert "recomputed with" not in report and torch.get_num_threads() == 1


class _Spec:
    id = "one-run"
    analysis = False


class _Cell:
    def __init__(self, run):
        self.run, self.run_id, self.row, self.role, self.seed = run, run.run_id, "Text2Token", "t2t", 0


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_cached_run_gains_tasks_without_training_a_step(tmp_path, monkeypatch, make_cache, wider):
    """Its stages still cached, a stored run re-scored on a wider task set trains zero steps."""
    import t2t.training.pipeline as pipeline

    narrow, wide = wider
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    make_cache("first")
    store = run_module.execute(text2token(narrow), FP32)
    monkeypatch.setattr(pipeline, "train_stage", lambda *a, **k: pytest.fail("a cached stage was retrained"))
    run_module.execute(text2token(wide), TODAY)
    assert "STS12" in store.task_names() and store.read()["reevaluations"][0]["tasks"] == ["STS12"]


def test_the_model_behind_the_scores_is_the_one_a_later_evaluation_retrained_when_it_replaced_all(tmp_path):
    """A run re-evaluated on another path (an old `--add-items` on a gone cache) that replaced every
    stored task is now that model; one that replaced only some holds two models and is refused."""
    from t2t.runs.run import recorded_paths

    spec = text2token("offline-lite")
    mixed = {
        "device": "cpu",
        "weights": "float32",
        "autocast": "bfloat16",
        "attention": "sdpa",
        "sparse_dropout": False,
    }
    fast = {**mixed, "weights": "bfloat16", "attention": "eager", "sparse_dropout": True}
    store = RunStore(spec.run_id, tmp_path)
    for task in ("A", "B"):
        (store.dir / "tasks").mkdir(parents=True, exist_ok=True)
        (store.dir / "tasks" / f"{task}.json").write_text("{}")
    hardware = {"hardware": {"torch_threads": 2}}
    later = {"stages_trained_with": [fast], "provenance": {"hardware": {"torch_threads": 1}}}
    store.update(
        stages_trained_with=[mixed],
        provenance=hardware,
        reevaluations=[{**later, "tasks": ["A", "B"], "replaced": ["A", "B"]}],
    )
    assert recorded_paths(spec, store) == [{**fast, "threads": 1}]
    store.update(reevaluations=[{**later, "tasks": ["A"], "replaced": ["A"]}])
    with pytest.raises(PathUnavailable, match="already holds tasks from two models"):
        recorded_paths(spec, store)
    store.update(reevaluations=[])
    assert recorded_paths(spec, store) == [{**mixed, "threads": 2}]
