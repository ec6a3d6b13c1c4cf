"""Fault probes on results: stale inputs, non-finite scores, bad options, corrupt files, concurrent
and killed processes, bookkeeping across processes, and stored-vs-fresh results.

Each test is one probe: it names the fault it injects and the behaviour the suite must show. To add
one: build a tiny run with `zero_shot()` (or a fake stored run with `tests.fakes.store_run`), break
something, and assert the message or the state that results. `isolated` points the results, cache
and data roots at scratch folders, so no probe touches committed results or the shared data.
(Probes on inputs and messages are beside the code they probe: empty texts in
`tests/t2t/embedding/test_empty_texts.py`, backbone errors in `tests/t2t/models/test_backbone_errors.py`,
a non-finite loss in `tests/t2t/training/test_non_finite_loss.py`.)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reproduce.__main__ import main as reproduce_main
from reproduce.cells.tables import FAILED, score_table
from reproduce.paper.presets import get_preset
from reproduce.paper.registry import get_spec
from reproduce.plan.costs import measured_costs
from reproduce.plan.grid import unique_runs
from reproduce.plan.status import status_of
from reproduce.report.markdown import to_markdown
from t2t.core.fingerprint import DataIntegrityError, StaleResult
from t2t.core.locks import exclusive
from t2t.core.paths import data_root
from t2t.core.runtime import Runtime
from t2t.embedding.encoder import DegenerateEmbeddings, check_embeddings
from t2t.evaluation.offline import offline_task
from t2t.runs.results import RunStore, iter_runs, read_score
from t2t.runs.run import (
    EvalSpec,
    RunFailed,
    RunSpec,
    _execute,
    execute,
    reevaluation_moves,
    warn_if_reevaluation_moved,
)
from t2t.training.spec import ModelSpec
from tests.fakes import plan, store_run, task_result

RUNTIME = Runtime(device="cpu", precision="fp32", progress=False)
LITE_FILES = (  # what the offline-lite tasks and the tiny corpora read
    "sts/stsbenchmark/stsb-en-test.csv",
    "sts/sick/SICK_train.txt",
    "sts/sick/SICK_trial.txt",
    "sts/sick/SICK_test_annotated.txt",
    "sts/biosses/biosses.tsv",
    *(
        f"sts/sts13/STS.{kind}.{part}.txt"
        for part in ("FNWN", "headlines", "OnWN")
        for kind in ("input", "gs")
    ),
    "corpus/wikitext2_test_sentences.txt",
)


def zero_shot(backbone: str = "tiny-llama") -> RunSpec:
    return RunSpec(
        method="zero-shot", model=ModelSpec(backbone=backbone), evaluation=EvalSpec("offline-lite")
    )


@pytest.fixture
def isolated(tmp_path, monkeypatch, make_cache):
    """Scratch results and cache roots, and a private copy of the files offline-lite reads (with
    the data root's manifest unless a probe removes it)."""
    source = data_root()
    if source is None:
        pytest.skip("no offline data root")
    data = tmp_path / "data"
    for relative in (*LITE_FILES, "MANIFEST.json"):
        (data / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / relative, data / relative)
    monkeypatch.setenv("T2T_DATA_DIR", str(data))
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "results"))
    make_cache("cache")
    return SimpleNamespace(data=data, results=tmp_path / "results", cache=tmp_path / "cache")


def rescore_stsb(path: Path, rows: int, score: float) -> None:
    """Set the gold score of the first `rows` pairs of an STS-B CSV (same row count, other content)."""
    import csv
    import io

    with path.open(newline="", encoding="utf-8") as handle:
        lines = list(csv.reader(handle))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(
        [*[[a, b, str(score)] for a, b, _ in lines[:rows]], *lines[rows:]]
    )
    path.write_text(out.getvalue(), encoding="utf-8")


def cut_lines(path: Path, keep: int) -> None:
    path.write_text("\n".join(path.read_text(encoding="utf-8").split("\n")[:keep]) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- 1. a run's identity and its inputs


@pytest.mark.needs_data
def test_truncated_task_file_is_refused_by_the_manifest(isolated):
    """BIOSSES cut to 50 pairs used to score (0.117 instead of 0.231) and be kept; now the manifest
    check names the file before anything is encoded."""
    cut_lines(isolated.data / "sts/stsbenchmark/stsb-en-test.csv", 700)
    with pytest.raises(DataIntegrityError, match=r"stsb-en-test\.csv.*MANIFEST\.json.*expected 158891 bytes"):
        offline_task("STSBenchmark", isolated.data)
    # biosses.tsv is derived, so not in the manifest: mteb's own row counts catch it
    cut_lines(isolated.data / "sts/biosses/biosses.tsv", 51)
    with pytest.raises(DataIntegrityError, match=r"BIOSSES \(test\) has 50 rows.*has 100.*biosses\.tsv"):
        offline_task("BIOSSES", isolated.data)
    with pytest.raises(DataIntegrityError):
        execute(zero_shot(), RUNTIME)
    assert not RunStore(zero_shot().run_id).task_names()


@pytest.mark.slow
@pytest.mark.needs_data
def test_changed_data_makes_a_stored_run_stale_not_reused(isolated):
    """A copy without a manifest (a user's own data) changes after a run (gold scores edited, same
    row count): the stored run is refused
    with the file named, recomputed with on_stale=recompute, kept (and recorded) with accept."""
    (isolated.data / "MANIFEST.json").unlink()
    spec = zero_shot()
    store = execute(spec, RUNTIME)
    before = store.task_scores()["STSBenchmark"]
    assert store.read()["fingerprints"]["data"]["STSBenchmark"]
    rescore_stsb(isolated.data / "sts/stsbenchmark/stsb-en-test.csv", 400, 5.0)

    with pytest.raises(StaleResult, match=r"stsb-en-test\.csv.*--on-stale recompute"):
        execute(spec, RUNTIME)
    accepted = execute(spec, Runtime(device="cpu", precision="fp32", progress=False, on_stale="accept"))
    assert accepted.task_scores()["STSBenchmark"] == before
    assert "stsb-en-test.csv" in json.dumps(accepted.read()["stale_accepted"])

    rescore_stsb(isolated.data / "sts/stsbenchmark/stsb-en-test.csv", 700, 0.0)
    fresh = execute(spec, Runtime(device="cpu", precision="fp32", progress=False, on_stale="recompute"))
    assert fresh.task_scores()["STSBenchmark"] != before
    assert list((isolated.cache / "stale-results").iterdir())  # the old result was moved aside, not lost


@pytest.mark.slow
@pytest.mark.needs_data
def test_replaced_weights_behind_a_folder_make_the_run_stale(isolated, tmp_path):
    """`--backbone <folder>`: replacing the weights in the folder used to reuse the old scores."""
    from t2t.models.backbones import load_backbone

    folder = tmp_path / "weights"
    model, tokenizer = load_backbone("tiny-llama")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    spec = zero_shot(str(folder))
    execute(spec, RUNTIME)
    other, _ = load_backbone("tiny-llama", seed=7)
    other.save_pretrained(folder)
    with pytest.raises(StaleResult, match="weights"):
        execute(spec, RUNTIME)


def test_runs_stored_before_fingerprints_stay_valid(tmp_path):
    """Committed runs have no fingerprints: they are reused as before (their ids are unchanged)."""
    from t2t.runs.run import staleness

    spec = zero_shot()
    store = store_run(tmp_path, spec, {"STSBenchmark": 0.5})
    assert "fingerprints" not in store.read()
    assert staleness(store, {"weights": {"source": "folder", "digest": "x"}}) == []


# ---------------------------------------------------------------- 2. non-finite and degenerate results


def test_degenerate_embeddings_are_caught_at_encode_time():
    """NaN/inf or one vector for every text is an error with a message, not a score."""
    good = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    check_embeddings(good, ["a", "b", "c"])
    with pytest.raises(DegenerateEmbeddings, match="not finite"):
        check_embeddings(np.where(np.eye(3, 4) > 0, np.nan, good).astype(np.float32), ["a", "b", "c"])
    with pytest.raises(DegenerateEmbeddings, match="same embedding"):
        check_embeddings(np.ones((3, 4), np.float32) * 0.7, ["a", "b", "c"])
    check_embeddings(np.ones((1, 4), np.float32), ["only one text"])  # nothing to compare


@pytest.mark.needs_data
def test_collapsed_model_fails_the_run_and_the_table_says_so(isolated, monkeypatch):
    """A model whose embeddings are all equal (a diverged run) used to store NaN scores as
    'complete', shown as '--  not measured'. Now: no task stored, run.json 'failed' with the reason,
    the command exits 2, and the table prints failed‡ with the reason."""
    import t2t.runs.run

    real = t2t.runs.run.build_model

    def collapsed(*args, **kwargs):
        model, tokenizer, logs = real(*args, **kwargs)
        torch.nn.init.zeros_(model.model.norm.weight)  # every hidden state becomes 0
        return model, tokenizer, logs

    monkeypatch.setattr(t2t.runs.run, "build_model", collapsed)
    spec = zero_shot()
    with pytest.raises(RunFailed, match="same embedding"):
        execute(spec, RUNTIME)
    store = RunStore(spec.run_id)
    assert store.read()["status"] == "failed" and "same embedding" in store.read()["error"]
    assert store.task_names() == []

    table = score_table(
        table_id="t",
        title="t",
        caption="",
        scores=__import__("pandas").DataFrame(columns=["row", "role", "task", "score"]),
        row_labels=["zero-shot"],
        roles={"llama": "Llama"},
        tasks=["STSBenchmark"],
        category_of={"STSBenchmark": "STS"},
        by_category=False,
        failed={("zero-shot", "llama"): f"run {spec.run_id}: {store.read()['error']}"},
    )
    markdown = to_markdown(table)
    assert FAILED in markdown and "same embedding" in markdown and "not measured" not in markdown


def test_stored_nan_score_counts_as_not_done(tmp_path):
    """A NaN main score written by older code is not a result: the task is re-evaluated."""
    store = RunStore("nanrun", tmp_path)
    store.save_task(task_result("STS12", float("nan")))
    store.save_task(task_result("STS13", 0.4))
    assert store.missing_tasks(["STS12", "STS13"]) == ["STS12"]
    assert store.task_scores() == {"STS13": 0.4}
    assert "not a number" in " ".join(store.problems())


# ---------------------------------------------------------------- 3. option ranges


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["table3", "--limit", "-1"], "--limit: -1 is not an integer >= 0"),
        (["table3", "--eval-batch-size", "0"], "--eval-batch-size: 0 is not an integer >= 1"),
        (["table3", "--eval-batch-size", "-1"], "--eval-batch-size: -1 is not an integer >= 1"),
        (["table3", "--verify-tolerance", "nan"], "--verify-tolerance: nan is not a number >= 0"),
    ],
)
def test_numeric_options_are_checked_when_parsed(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        reproduce_main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_inspector_sample_must_not_be_negative(capsys):
    from t2t.text2token.inspect_targets import main

    with pytest.raises(SystemExit):
        main(["--sample", "-3"])
    assert "--sample: -3 is not an integer >= 0" in capsys.readouterr().err


def test_runtime_and_embedder_refuse_zero_batches():
    from t2t.embedding.encoder import Embedder
    from t2t.embedding.pooling import PoolingSpec
    from t2t.models.backbones import load_backbone

    with pytest.raises(ValueError, match="eval_batch_size must be >= 1"):
        Runtime(eval_batch_size=0)
    with pytest.raises(ValueError, match="eval_long_batch_tokens must be >= 1 or None"):
        Runtime(eval_long_batch_tokens=0)
    model, tokenizer = load_backbone("tiny-llama")
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        Embedder(model, tokenizer, PoolingSpec(), batch_size=0)


# ---------------------------------------------------------------- 7. user errors on the command line


def test_a_user_error_is_one_line_and_exit_2(capsys, monkeypatch):
    """`--backbone /nonexistent` used to print "unknown backbone" in a traceback. Now one line names
    the problem, the exit status is 2, and --debug brings the traceback back."""
    from t2t.core.errors import report_user_errors

    monkeypatch.delenv("T2T_DEBUG", raising=False)
    argv = ["table3", "--preset", "tiny", "--backbone", "/nonexistent", "--dry-run"]
    assert report_user_errors(reproduce_main, argv) == 2
    err = capsys.readouterr().err
    assert "error: no such folder: /nonexistent" in err and "Traceback" not in err
    with pytest.raises(Exception, match="no such folder"):
        report_user_errors(reproduce_main, [*argv, "--debug"])


# ---------------------------------------------------------------- 4. corrupt files


def fake_table3(results: Path) -> list[RunSpec]:
    """Store fake complete results for every run of table3 at the tiny preset."""
    runs = unique_runs(plan(results, get_spec("table3"), get_preset("tiny")))  # manifest, as the runner
    for number, run in enumerate(runs):
        store_run(
            results, run, {t: 0.3 + 0.01 * number for t in ("STSBenchmark", "SICK-R", "BIOSSES", "STS13")}
        )
    return runs


@pytest.mark.slow
@pytest.mark.needs_data
def test_corrupt_files_are_named_and_block_nothing_else(isolated, capsys):
    """A truncated run.json and task file used to make every command (even --dry-run) crash with a
    bare JSONDecodeError. Now: the paths are named, that run counts as incomplete, the rest works."""
    runs = fake_table3(isolated.results)
    broken_run, broken_task = RunStore(runs[0].run_id), RunStore(runs[1].run_id)
    broken_run.run_json.write_text('{"status": "compl')
    broken_task.task_path("SICK-R").write_text('{"task_name": "SICK-R", "sco')

    assert reproduce_main(["table3", "--preset", "tiny", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert f"{runs[0].run_id}  text2token  stages 0/1, tasks 4/4" in out
    assert str(broken_run.run_json) in err and str(broken_task.task_path("SICK-R")) in err
    assert "re-evaluated" in err
    assert broken_task.missing_tasks(["SICK-R", "STS13"]) == ["SICK-R"]

    assert reproduce_main(["tables"]) == 0
    table = (isolated.results / "tables" / "table3.md").read_text()
    assert "preset tiny" in table and "†" in table  # the broken task makes its cell partial


@pytest.mark.needs_data
def test_an_output_that_fails_to_build_keeps_its_old_files_and_spares_the_others(isolated, monkeypatch):
    """Rebuilds are all-or-nothing per output: a failure while drawing figure5 leaves figure5's
    table as it was, and the claims and index are still written."""
    import reproduce.report.figures
    from reproduce.report.rebuild import RebuildFailed, rebuild

    fake_table3(isolated.results)
    table = isolated.results / "tables" / "figure5.md"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("previous version\n")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full while drawing")

    monkeypatch.setattr(reproduce.report.figures, "draw", broken)
    runs = unique_runs(plan(isolated.results, get_spec("figure5"), get_preset("tiny")))
    store_run(isolated.results, runs[0], {"STSBenchmark": 0.4})
    with pytest.raises(RebuildFailed, match="figure5.*disk full"):
        rebuild(["figure5"])
    assert table.read_text() == "previous version\n"
    assert (isolated.results / "tables" / "claims.md").is_file()
    assert (isolated.results / "README.md").is_file()


# ---------------------------------------------------------------- 6. concurrent and killed processes

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from t2t.core.locks import exclusive
    with exclusive(Path(sys.argv[1]), "probe"):
        print("holding", flush=True)
        time.sleep(60)
    """
)


def test_a_dead_holders_lock_is_recovered_at_once(tmp_path):
    """kill -9 of the process that holds a run's lock must not block the run forever."""
    lock = tmp_path / "run" / ".lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "holding"
    from t2t.core.locks import LockBusy

    with pytest.raises(LockBusy, match=f"pid {holder.pid}"), exclusive(lock, "probe", wait=False):
        pass
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    started = time.perf_counter()
    with exclusive(lock, "probe", wait=False):
        pass
    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
@pytest.mark.needs_data
def test_a_second_process_waits_for_the_run_and_reuses_it(isolated):
    """Two processes on the same run used to both do all the work. Now the second one names the
    holder, waits, finds the run complete and evaluates nothing."""
    spec = zero_shot()
    store = RunStore(spec.run_id)
    script = textwrap.dedent(
        """
        import json, logging, sys
        logging.basicConfig(level=logging.INFO)
        from t2t.runs.run import RunSpec, execute
        from t2t.core.runtime import Runtime
        spec = RunSpec.from_dict(json.loads(sys.argv[1]))
        execute(spec, Runtime(device="cpu", precision="fp32", progress=False))
        """
    )
    with exclusive(store.lock_file, "the test"):
        second = subprocess.Popen(
            [sys.executable, "-c", script, json.dumps(spec.to_dict())],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        waiting = _read_until_waiting(second)
        _execute(spec, RUNTIME, store, None)  # the lock holder's work, while the other process waits
        done = {name: store.task_path(name).stat().st_mtime_ns for name in store.task_names()}
    _, rest = second.communicate(timeout=120)
    assert second.returncode == 0, rest[-2000:]
    assert f"pid {os.getpid()}" in waiting
    assert "is complete; nothing to do" in rest
    assert {name: store.task_path(name).stat().st_mtime_ns for name in store.task_names()} == done


def _read_until_waiting(process: subprocess.Popen, seconds: float = 120) -> str:
    """The process's stderr line saying it waits for the lock (fails if it never says so)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        line = process.stderr.readline()
        if line.startswith("waiting:"):
            return line
        assert line or process.poll() is None, "the second process ended without waiting"
    raise AssertionError("the second process never reported waiting")


def test_checkpoint_rng_files_are_private_to_each_process(tmp_path, monkeypatch):
    """Two processes checkpointing the same stage used to share `checkpoint.rng-0.pt`, and one crashed
    or saved the other's RNG state. Each process now writes a temporary file of its own."""
    import t2t.training.loop as loop

    folder = tmp_path / "checkpoint"
    intruder = tmp_path / "checkpoint.rng-0.pt"

    class Accelerator:
        process_index, num_processes, is_main_process = 0, 1, True

        def wait_for_everyone(self):  # another process writes the old shared name meanwhile
            torch.save({"torch": torch.zeros(3)}, intruder)

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    torch.manual_seed(123)
    ours = torch.get_rng_state()
    loop.save_checkpoint(folder, model, optimizer, 1, [], Accelerator())
    saved = torch.load(folder / "rng-0.pt", weights_only=False)
    assert torch.equal(saved["torch"], ours)
    assert intruder.is_file()  # the other process's file was left alone


# ---------------------------------------------------------------- 8. bookkeeping across processes


@pytest.mark.slow
@pytest.mark.needs_data
def test_throughput_adds_up_across_an_interrupted_evaluation(isolated, monkeypatch):
    """A kill during evaluation used to leave the finished tasks' encoding uncounted (run.json kept
    only the last process's figures). Now figures are saved after each task and accumulated."""
    import t2t.runs.run

    real, calls = t2t.runs.run.mteb.evaluate, []

    def killed_on_third_task(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    spec = zero_shot()
    monkeypatch.setattr(t2t.runs.run.mteb, "evaluate", killed_on_third_task)
    with pytest.raises(KeyboardInterrupt):
        execute(spec, RUNTIME)
    first = RunStore(spec.run_id).read()["throughput"]
    assert first["encode_texts"] > 0 and len(RunStore(spec.run_id).task_names()) == 2
    monkeypatch.setattr(t2t.runs.run.mteb, "evaluate", real)
    total = execute(spec, RUNTIME).read()

    # uninterrupted, for scale (without the embedding cache, which would answer it from the run above)
    alone = execute(
        spec, dataclasses.replace(RUNTIME, embedding_cache=False), root=isolated.results / "alone"
    )
    alone = alone.read()
    # every text counted once: encoded, or answered by the cache (texts an earlier task encoded)
    done = total["throughput"]
    assert done["encode_texts"] + done["encode_cached_texts"] == alone["throughput"]["encode_texts"]
    assert done["encode_tokens"] <= alone["throughput"]["encode_tokens"]
    assert total["timing"]["evaluate_s"] > 0 and math.isfinite(total["throughput"]["encode_tokens_per_s"])


@pytest.mark.needs_data
def test_cpu_seconds_leave_out_time_the_run_spent_stopped(isolated, monkeypatch):
    """Wall times count a run's pauses (a queue worker SIGSTOPped while tests run, a shared core);
    `cpu_s` counts what it used. Each task here waits 0.4 s without computing, as a stopped process
    would: the wall clock has the waits, the processor time does not."""
    import t2t.runs.run

    real, wait = t2t.runs.run.mteb.evaluate, 0.4

    def stopped_then_evaluated(*args, **kwargs):
        time.sleep(wait)
        return real(*args, **kwargs)

    monkeypatch.setattr(t2t.runs.run.mteb, "evaluate", stopped_then_evaluated)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store = execute(zero_shot(), RUNTIME)
    finally:
        torch.set_num_threads(threads)
    timing, waited = store.read()["timing"], wait * len(store.task_names())
    wall = timing["build_model_s"] + timing["evaluate_s"]
    assert 0 < timing["cpu_s"] <= wall - 0.8 * waited


def test_cpu_seconds_are_left_out_when_an_earlier_process_did_not_count_them():
    """A run resumed from a process that saved wall times but no `cpu_s` (code before it existed)
    would add only the last process's processor time: too few core-seconds, so none are written."""
    from t2t.runs.run import _timings

    def session(previous):
        return SimpleNamespace(
            previous=previous, later=False, embedder=None, logs=[], started=0.0, built=0.0, cpu_started=0.0
        )

    assert "cpu_s" in _timings(session({}))["timing"]
    assert "cpu_s" not in _timings(session({"timing": {"build_model_s": 5.0, "evaluate_s": 9.0}}))["timing"]
    resumed = _timings(session({"timing": {"evaluate_s": 9.0, "cpu_s": 7.0}}))["timing"]
    assert resumed["cpu_s"] >= 7.0


# ---------------------------------------------------------------- 9. stored versus fresh results


@pytest.mark.needs_data
def test_plan_says_which_cells_come_from_stored_runs(isolated, capsys):
    fake_table3(isolated.results)
    assert reproduce_main(["table3", "--preset", "tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "8 of 8 runs are STORED results" in out and "--verify" in out
    assert out.count("stored 2026-11-28") == 8


@pytest.mark.slow
@pytest.mark.needs_data
def test_verify_recomputes_stored_runs_and_prints_each_difference(isolated, tmp_path, capsys):
    """--verify re-runs table3's stored cells into a scratch store: equal to the last digit on the
    same machine; a tampered stored score is reported as a difference and the command exits 1."""
    argv = ["table3", "--preset", "tiny", "--backbone", "tiny-llama", "--quiet"]
    assert reproduce_main(argv) == 0
    capsys.readouterr()
    assert reproduce_main([*argv, "--verify", "--verify-dir", str(tmp_path / "v1")]) == 0
    out = capsys.readouterr().out
    assert "all stored scores reproduced" in out and out.count(" equal") == 16

    path = next(iter_runs()).task_path("BIOSSES")
    payload = json.loads(path.read_text())
    payload["scores"]["test"][0]["main_score"] += 0.01
    path.write_text(json.dumps(payload))
    assert read_score(path) is not None
    assert reproduce_main([*argv, "--verify", "--verify-dir", str(tmp_path / "v2")]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS -0.010000" in out and "SOME STORED SCORES WERE NOT REPRODUCED" in out


# ---------------------------------------------------------------- item outputs for stored runs


@pytest.mark.slow
@pytest.mark.needs_data
def test_runs_stored_without_item_outputs_get_them_back(isolated, capsys):
    """A run stored before item outputs prints without an interval; its stored mteb predictions give
    the items back without re-encoding, and `--add-items` re-evaluates a run that has neither,
    recording the stored and the new score."""
    spec = zero_shot()
    store = execute(spec, RUNTIME)
    scores = store.task_scores()
    shutil.rmtree(store.dir / "items")
    execute(spec, RUNTIME)  # complete run: only the items are derived, from predictions
    assert len(list((store.dir / "items").glob("*.json.gz"))) == 4
    assert "reevaluated" not in store.read()

    shutil.rmtree(store.dir / "items")
    shutil.rmtree(store.dir / "predictions")
    execute(spec, RUNTIME)
    assert not (store.dir / "items").exists()  # nothing to derive from, and not asked to re-evaluate
    status = status_of(spec, [], get_preset("tiny"), measured_costs())  # the plan says so
    assert status.complete and status.without_items and status.state.endswith(", no items")
    execute(spec, Runtime(device="cpu", precision="fp32", progress=False, add_items=True))
    assert len(list((store.dir / "items").glob("*.json.gz"))) == 4
    again = store.read()["reevaluated"]
    assert {task: entry["stored"] for task, entry in again.items()} == scores
    assert all(entry["now"] == entry["stored"] for entry in again.values())  # deterministic on CPU
    assert reevaluation_moves(store) == {}


def test_a_reevaluation_that_moves_a_stored_score_says_so(tmp_path, caplog):
    """`--add-items` keeps the new score, but a task that moved beyond `--verify`'s tolerance is named
    in a warning that says where both numbers are (never a quiet change)."""
    store = RunStore("abc123", tmp_path)
    store.update(
        reevaluated={"STS13": {"stored": 0.3734, "now": 0.1959}, "SICK-R": {"stored": 0.4275, "now": 0.4270}}
    )
    assert reevaluation_moves(store) == {"STS13": pytest.approx(-0.1775)}
    with caplog.at_level("WARNING"):
        warn_if_reevaluation_moved(store)
    assert "STS13 -0.1775" in caplog.text and "run.json 'reevaluated'" in caplog.text
