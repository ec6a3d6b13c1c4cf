"""The registry, grid expansion and runner: what runs, what is shared, what is skipped."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from reproduce.__main__ import main
from reproduce.cells.manifest import PRESET_ORDER, read_manifests, write_manifest
from reproduce.paper.methods import run_spec, scaled_steps
from reproduce.paper.presets import SCALE_PRESETS, get_preset, with_backbone
from reproduce.paper.registry import REGISTRY, expand_grid, get_spec
from reproduce.plan.costs import measured_costs, scratch_cost
from reproduce.plan.grid import expand, plan_manifest, unique_runs
from reproduce.run import runner
from reproduce.run.compare import compare_spec
from t2t.core.config import ConfigError
from t2t.core.runtime import Runtime
from t2t.evaluation.tasks import TASK_SETS
from tests.fakes import store_run

SMOL, TINY = SCALE_PRESETS["smol"], SCALE_PRESETS["tiny"]


def test_expand_grid_is_the_cartesian_product_in_axis_order():
    assert expand_grid({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]
    assert expand_grid({"a": []}) == []


def test_every_registry_id_has_a_nox_session():
    tree = ast.parse((Path(__file__).parents[3] / "noxfile.py").read_text())
    sessions = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "REPRODUCE_SESSIONS"
    )
    assert {key.value for key in sessions.keys} == set(REGISTRY)


def test_runs_are_shared_between_tables_and_figures():
    def ids(spec_id, row):
        return {
            item.run_id
            for item in expand(get_spec(spec_id), SMOL)
            if item.row == row and item.role == "smollm2"
        }

    assert ids("table3", "DD -> MD") == ids("targets", "Both (DD -> MD), last") == ids("main", "Text2Token")
    assert ids("table3", "DD -> MD") == ids("pooling-attention", "Text2Token, last + causal")
    figure = {(item.sweep, item.value): item.run_id for item in expand(get_spec("figure5"), SMOL)}
    assert figure[("tau", 1e-4)] == figure[("common_samples", SMOL.text2token.model_derived.common_samples)]
    assert figure[("tau", 1e-4)] in ids("table3", "DD -> MD")
    assert len(unique_runs(expand(get_spec("figure5"), SMOL))) == len(figure) - 1


def test_run_ids_are_unchanged():
    """The smol preset's run ids per output, as committed (`tests/golden/run_ids.json`).

    A run id is the hash of the run's config, and committed results live under these ids
    (`results/runs/<id>/`): a change here orphans them. A change meant to create new runs (a new row
    or method) regenerates the golden file on purpose with `reproduce.plan.golden.UPDATE_COMMAND`,
    which the failure names, above the whole diff.
    """
    from reproduce.plan.golden import GOLDEN, UPDATE_COMMAND, diff

    changes = diff()
    if changes:
        pytest.fail(
            f"the code plans other run ids than {GOLDEN.name} records. If the change is meant to make new "
            f"runs (a new row or method), regenerate it with `{UPDATE_COMMAND}` and commit it; an id "
            f"that changed or disappeared orphans a stored run.\n{changes}",
            pytrace=False,
        )


def test_smol_main_has_a_second_family_whose_cells_are_compares_runs(tmp_path):
    """At smol, `main` and `table3` gain a Gemma-3-270M column (`ScalePreset.output_backbones`);
    main's cells are the very runs `compare --backbone gemma3-270m` makes, and table3's DD -> MD is
    main's Text2Token, so nothing trains twice; the column order survives the manifest's sorted-key
    JSON."""
    main = expand(get_spec("main"), SMOL)
    assert {item.role: item.backbone for item in main} == {"smollm2": "smollm2-135m", "gemma": "gemma3-270m"}
    assert [item.role for item in main[:2]] == ["smollm2", "gemma"]
    table3 = expand(get_spec("table3"), SMOL)
    assert {item.backbone for item in table3} == {"smollm2-135m", "gemma3-270m"}
    gemma_t2t = [item.run_id for item in main if item.role == "gemma" and item.row == "Text2Token"]
    assert gemma_t2t == [item.run_id for item in table3 if item.role == "gemma" and item.row == "DD -> MD"]
    for spec_id in ("pooling-attention", "targets"):
        assert {item.backbone for item in expand(get_spec(spec_id), SMOL)} == {"smollm2-135m"}
    alone = with_backbone(SMOL, "gemma3-270m")
    assert alone.backbones_for("main") == {"custom": "gemma3-270m"}  # --backbone replaces every column
    compare = {item.row: item.run_id for item in expand(compare_spec("gemma3-270m"), alone)}
    gemma = {item.row: item.run_id for item in main if item.role == "gemma"}
    assert gemma == {row: compare[row] for row in gemma}
    assert (
        "second family" in SMOL.description_for("table3")
        and SMOL.description_for("pooling-attention") == SMOL.description
    )

    planned = plan_manifest(get_spec("main"), SMOL, main)
    write_manifest(planned, tmp_path)
    (back,) = read_manifests("main", tmp_path)
    assert list(back.backbones) == list(back.labels) == ["smollm2", "gemma"]
    assert back == planned


def test_every_scale_preset_has_a_place_in_the_preset_order():
    assert set(SCALE_PRESETS) == set(PRESET_ORDER)


def test_pooling_attention_grid_shares_mntp_but_not_simcse_stages():
    llm2vec = [
        item.run.model for item in expand(get_spec("pooling-attention"), SMOL) if item.run.method == "llm2vec"
    ]
    assert len(llm2vec) == 4
    assert len({model.stage_key(0) for model in llm2vec}) == 2  # MNTP depends on attention only
    assert len({model.stage_key(1) for model in llm2vec}) == 4


def test_presets_map_backbones_and_tasks():
    assert get_preset("tiny").backbones == {"llama": "tiny-llama", "mistral": "tiny-mistral"}
    assert (
        SCALE_PRESETS["paper"].task_set == "mteb-eng-v2"
        and SCALE_PRESETS["smol"].task_set == "offline-balanced"
    )
    with pytest.raises(ConfigError, match="choose one of: paper, smol, tiny"):
        get_preset("huge")
    for preset in SCALE_PRESETS.values():  # every preset's grid builds (validates every config)
        for spec in REGISTRY.values():
            assert expand(spec, preset)


@pytest.mark.slow
def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, capsys, monkeypatch, cache):
    # `cache`: a fresh adapter cache, so stages trained earlier on this machine do not count as done
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("dry run executed a run"))
    assert main(["table3", "--preset", "smol", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # nothing measured here (an empty results store): no estimate rather than an invented one
    assert "table3 @ smol: 8 distinct runs, 0 complete, 8 to run; no estimate for 8 run(s)" in out
    assert "DD -> MD [smollm2]" in out and "DD -> MD [gemma]" in out and "stages 0/2, tasks 0/8" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_dry_run_with_add_items_prices_the_reevaluations(tmp_path, cache):
    """A stored run without item outputs costs nothing to plan, but `--add-items` redoes it: the
    dry run then counts it, prices its uncached stages and all its tasks, and leaves others at 0."""
    tasks = TASK_SETS[TINY.task_set].tasks
    everything = expand(get_spec("table3"), TINY)
    items = {item.row: item for item in everything if item.role == "llama"}
    for item in everything:  # each task's evaluation measured (1 s): what an estimate is made of
        store = store_run(tmp_path, item.run, {task: 0.5 for task in tasks}, items=item != items["DD only"])
        steps = [
            [{"seconds": 0.5, "tokens": 64, "loss": 1.0}] * stage.steps for stage in item.run.model.stages
        ]
        store.save_train_log(steps)  # each stage's step time measured too
    plain = runner.run_output("table3", "tiny", root=tmp_path, dry_run=True)
    assert "8 complete, 0 to run; estimated 0.00 h" in plain and "to re-evaluate" not in plain
    report = runner.run_output("table3", "tiny", root=tmp_path, dry_run=True, runtime=Runtime(add_items=True))
    assert "8 complete, 0 to run, 1 to re-evaluate (--add-items)" in report
    minutes = {
        line.split()[0]: line
        for line in report.splitlines()
        if line[:12] in {i.run_id for i in items.values()}
    }
    assert float(minutes[items["DD only"].run_id].split("no items")[1].split("m")[0]) > 0
    assert all(" 0.0m " in minutes[item.run_id] for row, item in items.items() if row != "DD only")


def test_complete_runs_are_never_recomputed(tmp_path, monkeypatch):
    tasks = TASK_SETS[TINY.task_set].tasks
    for item in expand(get_spec("table3"), TINY):
        store_run(tmp_path, item.run, {task: 0.5 for task in tasks})
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("recomputed a finished run"))
    report = runner.run_output("table3", "tiny", root=tmp_path)
    assert "tables/table3.md" in report
    assert "| DD -> MD | **50.00** |" in (tmp_path / "tables" / "table3.md").read_text()


def test_a_committed_task_set_is_kept_until_an_explicit_move(tmp_path, monkeypatch, capsys):
    """An output recorded on one task set stays on it when its preset's set changes (its table and
    runs unchanged, the plan says how to move); `--task-set` moves it and evaluates what is missing."""
    import dataclasses

    lite = TASK_SETS["offline-lite"]
    wider = dataclasses.replace(lite, name="lite-wider", tasks=(*lite.tasks, "STS12"), pool=lite.name)
    monkeypatch.setitem(TASK_SETS, "lite-wider", wider)
    for item in expand(get_spec("table3"), TINY):
        store_run(tmp_path, item.run, {task: 0.5 for task in lite.tasks})
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("ran a run"))
    runner.run_output("table3", "tiny", root=tmp_path)
    before = {p: p.read_bytes() for p in sorted((tmp_path / "tables").glob("table3.*"))}
    manifest = (tmp_path / "manifests" / "table3" / "tiny.json").read_bytes()
    monkeypatch.setitem(SCALE_PRESETS, "tiny", TINY.replace(task_set="lite-wider"))  # the preset moves on

    capsys.readouterr()
    runner.run_output("table3", "tiny", root=tmp_path)
    report = capsys.readouterr().out  # the plan is printed before the runs start
    assert "recorded on the task set `offline-lite` and stays on it" in report
    assert "`--task-set lite-wider` moves it" in report
    assert {p: p.read_bytes() for p in before} == before
    assert (tmp_path / "manifests" / "table3" / "tiny.json").read_bytes() == manifest

    moved = runner.run_output("table3", "tiny", root=tmp_path, dry_run=True, task_set="lite-wider")
    assert "stays on it" not in moved and "0 complete, 8 to run" in moved and "tasks 4/5" in moved
    with pytest.raises(ConfigError, match="offline-lite"):
        runner.run_output("table3", "tiny", root=tmp_path, dry_run=True, task_set="no-such-set")


def test_running_one_output_rewrites_every_other_from_the_same_state(tmp_path, monkeypatch):
    """Tables quote each other (degenerate cells name main's rows, claims span tables), so a run of one
    output rebuilds every output that has a manifest: none is left describing an earlier state."""
    tasks = TASK_SETS[TINY.task_set].tasks
    for output in ("table3", "targets"):
        for item in expand(get_spec(output), TINY):
            store_run(tmp_path, item.run, {task: 0.5 for task in tasks})
    monkeypatch.setattr(runner, "execute", lambda *a, **k: pytest.fail("recomputed a finished run"))
    runner.run_output("targets", "tiny", root=tmp_path)
    targets = (tmp_path / "tables" / "targets.md").read_bytes()
    (tmp_path / "tables" / "targets.md").write_text("stale")
    report = runner.run_output("table3", "tiny", root=tmp_path)
    assert "tables/targets.md" in report
    assert (tmp_path / "tables" / "targets.md").read_bytes() == targets


def test_unfinished_runs_resume_and_limit_caps_the_starts(tmp_path, monkeypatch):
    tasks = TASK_SETS[TINY.task_set].tasks
    planned = expand(get_spec("table3"), TINY)
    store_run(tmp_path, planned[0].run, {tasks[0]: 0.5}, complete=False)  # partial
    started = []
    monkeypatch.setattr(runner, "execute", lambda run, *a, **k: started.append(run.run_id))
    runner.run_output("table3", "tiny", root=tmp_path, limit=2)
    assert started == [planned[0].run_id, planned[1].run_id]


def test_unknown_ids_and_options_fail_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["table4"])
    assert "invalid choice: 'table4'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown backbone 'llama-9000'"):
        runner.run_output("table3", "smol", backbone="llama-9000", dry_run=True)


def test_seeds_add_runs_and_keep_seed_zero():
    """`--seeds 3`: every cell gets seeds 0, 1, 2; seed 0 is the run without seeds (same id), the
    others differ only in `ModelSpec.seed`."""
    one = expand(get_spec("table3"), SMOL)
    three = expand(get_spec("table3"), SMOL, seeds=3)
    assert [p.run_id for p in three if p.seed == 0] == [p.run_id for p in one]
    for cell in {(p.row, p.role) for p in three}:
        runs = [p.run for p in three if (p.row, p.role) == cell]
        assert [r.model.seed for r in runs] == [0, 1, 2] and len({r.run_id for r in runs}) == 3
        assert all(r.model.replace(seed=0) == runs[0].model for r in runs)


def test_seeds_multiply_only_rows_that_train():
    """The seed reaches training only (data order, LoRA init, dropout): `--seeds 3` on main gives
    every trained row seeds 0, 1, 2 and each training-free row (zero-shot, echo, Token Prepending,
    BM25) its one seed-0 run, which is the run without seeds."""
    one = expand(get_spec("main"), SMOL)
    three = expand(get_spec("main"), SMOL, seeds=3)
    seeds = {}
    for cell in three:
        seeds.setdefault((cell.row, cell.role), []).append(cell.seed)
    trained = {(c.row, c.role) for c in one if c.run.model.stages}
    free = {(c.row, c.role) for c in one} - trained
    assert trained and {"echo", "token-prepending", "zero-shot", "bm25"} <= {c.method for c in one}
    assert all(seeds[cell] == [0, 1, 2] for cell in trained)
    assert all(seeds[cell] == [0] for cell in free)
    assert {c.run_id for c in three if c.seed == 0} == {c.run_id for c in one}


def test_measured_costs_price_each_backbone_and_shape_by_its_own_runs():
    """Estimates come from measurements of the same backbone (and objective, task, pooling); a
    stage of another shape is scaled by tokens; anything never measured has no estimate (None)."""
    from types import SimpleNamespace

    from reproduce.plan.costs import MeasuredCosts

    costs = MeasuredCosts()
    costs.add_step("smollm2-135m", "mntp", 16, 128, 2.0, tokens=16 * 128)
    costs.add_step("smollm2-135m", "mntp", 32, 512, 9.0, tokens=32 * 512)
    costs.add_eval("smollm2-135m", "STS12", "last", 100.0)
    stage = SimpleNamespace(objective="mntp", batch_size=32, max_length=512)
    assert costs.step("smollm2-135m", stage) == 9.0  # its own shape, not the median of both
    other_shape = SimpleNamespace(objective="mntp", batch_size=8, max_length=64)
    per_token = (2.0 / (16 * 128) + 9.0 / (32 * 512)) / 2
    assert costs.step("smollm2-135m", other_shape) == pytest.approx(per_token * 8 * 64)  # scaled by tokens
    assert costs.step("gemma3-270m", stage) is None  # never run here: no estimate, not another's
    assert (
        costs.step("smollm2-135m", SimpleNamespace(objective="simcse", batch_size=32, max_length=64)) is None
    )
    assert costs.evaluation("smollm2-135m", "STS12", "mean") == 100.0  # same task, other pooling
    assert costs.evaluation("smollm2-135m", "SciFact", "last") is None


def test_only_runs_of_this_kind_of_machine_price_a_plan(tmp_path):
    """A run measured on another processor (or with GPUs) says nothing about this machine."""
    from reproduce.plan.costs import measured_costs

    tasks = TASK_SETS[TINY.task_set].tasks
    item = expand(get_spec("table3"), TINY)[0]
    here = {"processor": "CPU A", "cpu_count": 2, "cuda": False}
    store = store_run(tmp_path, item.run, {task: 0.5 for task in tasks})
    store.update(provenance={"written_at": "2026-11-28", "hardware": {**here, "processor": "CPU B"}})
    assert measured_costs(tmp_path, here).evaluation("tiny-llama", tasks[0], "last") is None
    store.update(provenance={"written_at": "2026-11-28", "hardware": here})
    assert measured_costs(tmp_path, here).evaluation("tiny-llama", tasks[0], "last") == 1.0


def test_measured_setup_is_priced_per_objective_and_options():
    from types import SimpleNamespace

    from reproduce.plan.costs import MeasuredCosts

    costs = MeasuredCosts()
    costs.add_setup("smollm2-135m", "model-derived", {"common_samples": 5000}, 280.0)
    costs.add_setup("smollm2-135m", "model-derived", {"common_samples": 500}, 30.0)
    n5000 = SimpleNamespace(objective="model-derived", options={"common_samples": 5000})
    n50 = SimpleNamespace(objective="model-derived", options={"common_samples": 50})
    assert costs.setup("smollm2-135m", n5000) == 280.0
    assert costs.setup("smollm2-135m", n50) == 155.0  # unmeasured N: this objective's median
    assert costs.setup("smollm2-135m", SimpleNamespace(objective="mntp", options={})) == 0.0


def test_a_training_budget_scales_only_the_steps_and_budget_one_is_the_presets_run():
    """`budget` (budget curves): every stage's steps times the factor, nothing else; 1 is today's run."""
    for method, params in [("text2token", {"pooling": "last"}), ("simcse", {}), ("llm2vec", {})]:
        base = run_spec(method, SMOL, "smollm2-135m", params)
        assert run_spec(method, SMOL, "smollm2-135m", {**params, "budget": 1.0}).run_id == base.run_id
        double = run_spec(method, SMOL, "smollm2-135m", {**params, "budget": 2.0})
        assert [s.steps for s in double.model.stages] == [2 * s.steps for s in base.model.stages]
        assert [s.replace(steps=0) for s in double.model.stages] == [
            s.replace(steps=0) for s in base.model.stages
        ]
    with pytest.raises(ValueError, match="positive factor"):
        scaled_steps(100, 0)


def test_a_dry_run_from_scratch_prices_each_shared_stage_once(tmp_path):
    """`--dry-run --from-scratch`: the whole plan priced from this machine's measurements as if
    nothing were stored; DD only and DD -> MD share their DD stage, which is counted once."""
    tasks = TASK_SETS[TINY.task_set].tasks
    planned = expand(get_spec("table3"), TINY)
    for item in planned:
        store = store_run(tmp_path, item.run, {task: 0.5 for task in tasks})
        store.save_train_log(
            [[{"seconds": 1.0, "tokens": 64, "loss": 1.0}] * s.steps for s in item.run.model.stages]
        )
    runs = unique_runs(planned)
    seconds = scratch_cost(runs, measured_costs(tmp_path))
    stages = {run.model.stage_key(i): s.steps for run in runs for i, s in enumerate(run.model.stages)}
    assert seconds == pytest.approx(sum(stages.values()) * 1.0 + len(runs) * len(tasks) * 1.0)
    report = runner.run_output("table3", "tiny", root=tmp_path, dry_run=True, from_scratch=True)
    assert (
        f"from scratch (no run stored, no stage cached) this plan would take {seconds / 3600:.2f} h" in report
    )


def test_option_abbreviations_are_refused(capsys):
    """`--seed 3` is not `--seeds 3` (argparse would triple the plan by abbreviation)."""
    with pytest.raises(SystemExit) as exit_:
        main(["table3", "--preset", "tiny", "--seed", "3", "--dry-run"])
    assert exit_.value.code == 2 and "unrecognized arguments: --seed" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_honours_seeds_from_scratch_executor_and_verify(tmp_path, monkeypatch, capsys, cache):
    """compare takes what every output takes: `--seeds` plans them, `--from-scratch` prices the plan,
    `--executor` dispatches through it, `--verify` recomputes into a scratch store."""
    import reproduce.run.compare as compare_module

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))
    args = ["compare", "--preset", "tiny", "--backbone", "tiny-llama"]
    assert main([*args, "--seeds", "2", "--dry-run", "--from-scratch"]) == 0
    out = capsys.readouterr().out
    assert "seed 1" in out and "from scratch (no run stored, no stage cached)" in out

    dispatched = []
    monkeypatch.setattr(
        runner,
        "dispatch",
        lambda runs, runtime, spec, root: dispatched.append((spec.kind, spec.jobs)) or _none(),
    )
    assert main([*args, "--executor", "local", "--jobs", "2", "--limit", "1"]) == 0
    assert dispatched == [("local", 2)]

    verified = []
    monkeypatch.setattr(
        compare_module,
        "verify_plan",
        lambda plan, **k: verified.append(k) or ("checked", False),
    )
    assert main([*args, "--verify", "--verify-tolerance", "0.5"]) == 1  # a failed check exits 1
    assert verified[0]["tolerance"] == 0.5 and "checked" in capsys.readouterr().out


def _none():
    from reproduce.run.executors import Outcome

    return Outcome()
