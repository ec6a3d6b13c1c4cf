"""What a command may do to committed results: add, never silently shrink, re-point or overwrite.

- a re-run of an output plans at least what its manifest names (seeds, columns) and, with
  everything stored, rewrites no byte under `results/`; dropping cells takes `--drop-unplanned`;
- a user whose inputs cannot be checked against a stored run's (no offline mirror: the Hub) gets
  one line per output and the two ways forward, and a table built from accepted runs says so;
- a run from a dirty checkout stores its code diff; a later evaluation of a complete run (new
  tasks, `--add-items`) appends to `run.json` and keeps the original sha, date and timings;
- files are written with the umask's mode, not tempfile's private 0600.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reproduce.cells.manifest import committed_manifest
from reproduce.paper.presets import get_preset
from reproduce.paper.registry import get_spec
from reproduce.plan import planner
from reproduce.plan.grid import expand
from reproduce.run import runner
from t2t.core.errors import UserError
from t2t.core.runtime import Runtime
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs.results import RunStore
from tests.fakes import store_run, unwrap

TINY = get_preset("tiny")
TASKS = TASK_SETS[TINY.task_set].tasks


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def store_all(root: Path, seeds: int) -> list:
    planned = expand(get_spec("table3"), TINY, seeds)
    for number, item in enumerate(planned):
        store_run(root, item.run, {task: 0.5 + 0.01 * number for task in TASKS}, items=number + 2)
    return planned


@pytest.mark.slow
def test_a_rerun_without_seeds_keeps_a_multi_seed_manifest_and_its_tables_byte_identical(
    tmp_path, monkeypatch
):
    """table3 at tiny recorded with 2 seeds, every run stored: re-running it as the quickstart does
    (no --seeds) runs nothing, keeps both seeds in the manifest and rewrites no byte."""
    store_all(tmp_path, seeds=2)
    runner.run_output("table3", "tiny", root=tmp_path, seeds=2)
    assert committed_manifest("table3", "tiny", tmp_path).seeds == 2
    before = files_under(tmp_path)
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("a stored run was recomputed"))
    runner.run_output("table3", "tiny", root=tmp_path)
    assert files_under(tmp_path) == before
    table = unwrap((tmp_path / "tables" / "table3.md").read_text())
    assert "2 training seed" in table  # the table still says so

    runner.run_output("table3", "tiny", root=tmp_path, drop=True)  # dropping takes a flag that says so
    assert committed_manifest("table3", "tiny", tmp_path).seeds == 1


@pytest.mark.slow
def test_cells_the_code_no_longer_plans_are_kept_and_repointed_cells_are_refused(tmp_path, monkeypatch):
    """A changed default that re-points a committed cell is refused unless --drop-unplanned; a
    column the plan lacks (here: a manifest with an extra backbone) is kept."""
    store_all(tmp_path, seeds=1)
    runner.run_output("table3", "tiny", root=tmp_path)
    changed = TINY.replace(text2token=TINY.text2token.replace(dd_steps=TINY.text2token.dd_steps + 1))
    monkeypatch.setattr(planner, "get_preset", lambda name=None: changed)
    with pytest.raises(UserError, match="--drop-unplanned"):
        runner.run_output("table3", "tiny", root=tmp_path)
    report = runner.run_output("table3", "tiny", root=tmp_path, dry_run=True)
    assert "a default changed" in report  # the dry run says it too, and writes nothing

    monkeypatch.setattr(
        planner, "get_preset", lambda name=None: TINY.replace(backbones={"llama": "tiny-llama"})
    )
    runner.run_output("table3", "tiny", root=tmp_path)  # one column planned: the other is kept
    assert set(committed_manifest("table3", "tiny", tmp_path).backbones) == {"llama", "mistral"}


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_hub_user_is_told_once_per_output_and_tables_from_accepted_runs_say_so(
    tmp_path, monkeypatch, capsys
):
    """Runs computed from the offline mirror, read by a user without it (`T2T_DATA_DIR=none`: tasks
    from the Hub): nothing is written, the message is one line per output with both ways forward;
    with `--on-stale accept` the table is built and its footnote names the unverified cells."""
    from t2t.runs.run import run_fingerprint

    planned = store_all(tmp_path, seeds=1)
    for item in planned:
        RunStore(item.run_id, tmp_path).update(fingerprints=run_fingerprint(item.run))
    monkeypatch.setenv("T2T_DATA_DIR", "none")
    with pytest.raises(runner.StaleRuns) as refused:
        runner.run_output("table3", "tiny", root=tmp_path)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and "table3 @ tiny: 8 stored run(s) are unverified" in message
    assert (
        "offline data mirror" in message
        and "--on-stale accept" in message
        and "--on-stale recompute" in message
    )
    assert not (tmp_path / "manifests").exists() and not (tmp_path / "tables").exists()

    runner.run_output("table3", "tiny", root=tmp_path, runtime=Runtime(on_stale="accept", progress=False))
    table = unwrap((tmp_path / "tables" / "table3.md").read_text())
    assert "Unverified: these cells come from stored runs" in table and planned[0].run_id in table
    entry = RunStore(planned[0].run_id, tmp_path).read()
    assert "sts/stsbenchmark/stsb-en-test.csv" in entry["fingerprints"]["data"]["STSBenchmark"]  # kept
    assert entry["stale_accepted"][-1]["fingerprints"]["data"]["STSBenchmark"].keys() == {"hub"}


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_dirty_run_stores_its_diff_and_a_later_evaluation_appends(tmp_path, monkeypatch, cache):
    """The code of a dirty checkout is kept as a patch in the run folder; `--add-items` on the
    complete run appends its own provenance and timings to `reevaluations`, keeping the original."""
    import t2t.runs.run as run_module
    from reproduce.paper.methods import run_spec

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    origin = {"git": {"sha": "abc", "dirty": True}, "versions": {}, "hardware": {}, "written_at": "first"}
    monkeypatch.setattr(run_module, "provenance", lambda: {**origin, "git": dict(origin["git"])})
    monkeypatch.setattr(run_module, "code_diff", lambda: "diff --git a/x b/x\n+change\n")
    spec = run_spec("zero-shot", TINY, "tiny-llama", {"pooling": "last"})
    runtime = Runtime(device="cpu", precision="fp32", progress=False)
    store = run_module.execute(spec, runtime)
    first = store.read()
    assert first["provenance"]["git"]["diff"].startswith("diffs/")
    assert (store.dir / first["provenance"]["git"]["diff"]).read_text().endswith("+change\n")

    (store.dir / "items" / "STSBenchmark.json.gz").unlink()
    (store.dir / "predictions" / "STSBenchmark.json.gz").unlink()
    origin["written_at"] = "later"
    run_module.execute(spec, Runtime(device="cpu", precision="fp32", progress=False, add_items=True))
    again = store.read()
    assert again["provenance"] == first["provenance"] and again["timing"] == first["timing"]
    [entry] = again["reevaluations"]
    assert entry["provenance"]["written_at"] == "later" and entry["tasks"] == ["STSBenchmark"]
    assert entry["replaced"] == ["STSBenchmark"] and entry["timing"]["evaluate_s"] > 0


def test_written_files_get_the_umasks_mode(tmp_path):
    from t2t.core.atomic import atomic_directory, atomic_write_text

    previous = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.md", "x")
        with atomic_directory(tmp_path / "folder") as folder:
            (folder / "f").write_text("y")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "a.md").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "folder").stat().st_mode) == 0o755


@pytest.mark.slow
@pytest.mark.needs_data
def test_task_sets_of_one_pool_share_runs_and_only_missing_tasks_are_evaluated(tmp_path, monkeypatch, cache):
    """A second task set in `offline-lite`'s pool (same capped tasks plus one): the same run id, the
    same run folder; evaluating the stored run on it encodes only the task it lacks, keeps the
    original record and appends the evaluation."""
    import dataclasses

    import t2t.runs.run as run_module
    from reproduce.paper.methods import run_spec
    from t2t.evaluation.tasks import TaskSet

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    lite = TASK_SETS["offline-lite"]
    wider = TaskSet(
        "lite-wider", "test", (*lite.tasks[:2], "STS12"), mirrored=True, limit=lite.limit, pool=lite.name
    )
    monkeypatch.setitem(TASK_SETS, wider.name, wider)
    spec = run_spec("zero-shot", TINY, "tiny-llama", {"pooling": "last"})
    other = spec.replace(evaluation=spec.evaluation.replace(task_set=wider.name))
    assert other.run_id == spec.run_id and other.config_hash() != spec.config_hash()
    runtime = Runtime(device="cpu", precision="fp32", progress=False)
    store = run_module.execute(spec, runtime)
    first = store.read()

    evaluated = []
    real = run_module.mteb.evaluate
    monkeypatch.setattr(
        run_module.mteb,
        "evaluate",
        lambda m, tasks, **k: evaluated.append(tasks[0].metadata.name) or real(m, tasks, **k),
    )
    run_module.execute(other, runtime)
    assert evaluated == ["STS12"]
    after = store.read()
    assert after["config"] == first["config"] and after["provenance"] == first["provenance"]
    assert after["reevaluations"][0]["tasks"] == ["STS12"] and "STS12" in after["fingerprints"]["data"]
    assert set(store.task_names()) == {*lite.tasks, "STS12"}
    assert dataclasses.replace(wider, pool=None).pool_name == "lite-wider"


@pytest.mark.slow
def test_a_replan_names_what_it_drops_and_a_move_to_another_pool_is_not_a_changed_default(tmp_path):
    """`--drop-unplanned` lists the committed cells it drops; moving tiny from `offline-lite` to
    `offline` (another pool: every run is another run) plans every cell anew instead of refusing with
    "a default changed", says so, and the way back it names works too."""
    store_all(tmp_path, seeds=2)
    runner.run_output("table3", "tiny", root=tmp_path, seeds=2)
    report = runner.run_output("table3", "tiny", root=tmp_path, drop=True, dry_run=True)
    assert "--drop-unplanned: 8 committed cell(s) dropped from the manifest (run folders are kept)" in report
    assert "DD only [llama] seed 1 (" in report

    moved = runner.run_output("table3", "tiny", root=tmp_path, task_set="offline", dry_run=True)
    assert "a default changed" not in moved
    assert (
        "moves from `offline-lite` to `offline`" in moved
        and "--task-set offline-lite` moves it back" in moved
    )
    assert "--task-set: 16 committed cell(s) now name other runs" in moved


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_dry_run_says_which_stored_runs_retrain_and_how(tmp_path, monkeypatch, make_cache):
    """A stored Text2Token run planned on a wider set of its pool, its stage cache gone: the plan
    says it retrains its stage on the recorded path (with the flags that reproduce it)."""
    import dataclasses

    import t2t.runs.run as run_module
    from reproduce.paper.methods import run_spec
    from t2t.evaluation.tasks import TaskSet

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    lite = TASK_SETS["offline-lite"]
    wide = TaskSet(
        "lite-wide", "test", (*lite.tasks, "STS12"), mirrored=True, limit=lite.limit, pool=lite.name
    )
    monkeypatch.setitem(TASK_SETS, wide.name, wide)
    make_cache("first")
    spec = run_spec("text2token", TINY, "tiny-llama", {"pooling": "last", "order": ("dd",)})
    run_module.execute(spec, Runtime(device="cpu", precision="fp32", progress=False))
    make_cache("fresh")
    status = planner.status_of(
        dataclasses.replace(spec, evaluation=spec.evaluation.replace(task_set=wide.name)),
        [],
        TINY,
        planner.measured_costs(tmp_path),
        tmp_path,
    )
    assert "retrains 1 stage(s) as recorded (--precision fp32 --train-attention eager" in status.state
