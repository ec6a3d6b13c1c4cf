"""What a plan costs on this machine, from what runs stored here measured: estimates or nothing.

`--dry-run` prices each run that still has work to do. The price is built only from measurements:

- **training**: seconds per optimiser step of the same backbone and objective, taken from the
  training logs (`train_log.json`) of stored runs; a stage of another batch shape is priced by the
  measured seconds per training token times its tokens per step. A stage also costs its setup (a
  model-derived stage's common distribution is N forward passes), measured on one-stage runs.
- **evaluation**: seconds per task for the same backbone, task and pooling, from the task files'
  `evaluation_time` (mteb's own timer), so a new task set is priced task by task. A searcher's
  tasks (`t2t.evaluation.searchers`, BM25) are priced from that searcher's runs, never from a backbone's
  (`evaluator`), and it encodes no tokens.

`estimate_text` words a plan's estimate; `scratch_cost` prices a plan from nothing (`--from-scratch`).
The GPU-hour model of `paper` scale is `reproduce.plan.gpu_hours`.

Only runs made on **this kind of machine** count: the same processor model, core count and GPUs
(`run.json` `provenance.hardware`). Runs on this machine's class at another thread count (our smol
runs used 1 thread each, two at a time) are taken as they are. Where a part of a run has no
measurement (a backbone never run here, a task never evaluated with it), the run has **no
estimate**, and the plan says so instead of inventing one: at `paper` scale on a CPU nothing is
measured, and the GPU-hour model (`reproduce.plan.gpu_hours`) is the estimate.
"""

from __future__ import annotations

import dataclasses
import json
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from t2t.core.atomic import read_json
from t2t.runs.results import RunStore, iter_runs

MACHINE_KEYS = ("processor", "cpu_count", "cuda", "gpus")


def machine_kind(hardware: dict[str, Any]) -> tuple:
    """What makes two machines the same kind for timing: processor model, cores, GPUs."""
    return tuple(json.dumps(hardware.get(key), sort_keys=True) for key in MACHINE_KEYS)


def evaluator(model: dict[str, Any]) -> tuple[str, str]:
    """Who scores a run's tasks, as evaluation times are keyed (`model`: a `ModelSpec` as a dict):
    its backbone and pooling mode, or a searcher's name (it reads no backbone, so its times say
    nothing about one, nor one's about it)."""
    searcher = model.get("searcher")
    return (f"searcher {searcher['name']}", "") if searcher else (model["backbone"], model["pooling"]["mode"])


def _options_key(options: dict) -> str:
    return json.dumps(options, sort_keys=True, default=str)


def _median(values: list[float] | None) -> float | None:
    return statistics.median(values) if values else None


@dataclasses.dataclass
class MeasuredCosts:
    """Medians of what stored runs measured on this kind of machine (see the module docstring)."""

    steps: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)
    token_seconds: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)
    setups: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)
    evals: dict[tuple, list[float]] = dataclasses.field(default_factory=dict)

    def add_step(self, backbone: str, objective: str, batch: int, length: int, seconds: float, tokens: float):
        """One stage's median step time, and its seconds per (padded) training token."""
        self.steps.setdefault((backbone, objective, batch, length), []).append(seconds)
        self.token_seconds.setdefault((backbone, objective), []).append(seconds / max(tokens, 1.0))

    def add_setup(self, backbone: str, objective: str, options: dict, seconds: float) -> None:
        for key in ((backbone, objective, _options_key(options)), (backbone, objective)):
            self.setups.setdefault(key, []).append(seconds)

    def add_eval(self, backbone: str, task: str, pooling: str, seconds: float) -> None:
        for key in ((backbone, task, pooling), (backbone, task)):
            self.evals.setdefault(key, []).append(seconds)

    def step(self, backbone: str, stage) -> float | None:
        """Seconds per step of `stage` on `backbone`: measured at its shape, else scaled from this
        backbone's measured seconds per token of the same objective, else None."""
        exact = _median(self.steps.get((backbone, stage.objective, stage.batch_size, stage.max_length)))
        if exact is not None:
            return exact
        per_token = _median(self.token_seconds.get((backbone, stage.objective)))
        return None if per_token is None else per_token * stage.batch_size * stage.max_length

    def setup(self, backbone: str, stage) -> float:
        """A stage's seconds besides its steps (0 when no one-stage run measured it: most stages
        have no setup beyond loading)."""
        keys = ((backbone, stage.objective, _options_key(stage.options)), (backbone, stage.objective))
        return next((_median(self.setups[k]) for k in keys if self.setups.get(k)), 0.0)

    def evaluation(self, backbone: str, task: str, pooling: str) -> float | None:
        """Seconds to evaluate `task` with this backbone (same pooling if measured), else None."""
        keys = ((backbone, task, pooling), (backbone, task))
        return next((_median(self.evals[k]) for k in keys if self.evals.get(k)), None)


def measured_costs(
    root: Path | None = None,
    hardware: dict[str, Any] | None = None,
    read: Callable[[RunStore], dict[str, Any]] = RunStore.read,
) -> MeasuredCosts:
    """`MeasuredCosts` from the complete runs stored under `root` that ran on this kind of machine
    (`hardware`, default this one's): each task's evaluation seconds, each stage's median step.
    Describing this machine needs torch (`t2t.core.hardware`); `python -m reproduce tables`, which must
    not, passes the hardware its runs recorded (`reproduce.judge.settle`), and `read`, which gives a
    run's run.json as its `reproduce.cells.results.Results` already holds it."""
    if hardware is None:
        from t2t.core.hardware import describe_hardware  # the model stack, for planning runs only

        hardware = describe_hardware()
    here = machine_kind(hardware)
    costs = MeasuredCosts()
    for store in iter_runs(root):
        info = read(store)
        origin = info.get("provenance", {}).get("hardware", {})
        if info.get("status") != "complete" or "config" not in info or machine_kind(origin) != here:
            continue
        model = info["config"]["model"]
        who, pooling = evaluator(model)
        for task in store.task_names():
            seconds = (read_json(store.task_path(task), "left out of the cost estimate.") or {}).get(
                "evaluation_time"
            )
            if isinstance(seconds, (int, float)) and seconds > 0:
                costs.add_eval(who, task, pooling, float(seconds))
        logs = read_json(store.dir / "train_log.json", "left out of the cost estimate.")
        timing = info.get("timing", {})
        if len(model["stages"]) == 1 and isinstance(logs, list) and "build_model_s" in timing:
            stage = model["stages"][0]
            setup = timing["build_model_s"] - timing.get("train_steps_s", 0.0)
            costs.add_setup(model["backbone"], stage["objective"], stage.get("options", {}), max(setup, 0.0))
        for stage, log in zip(model["stages"], logs if isinstance(logs, list) else []):
            if log:
                costs.add_step(
                    model["backbone"],
                    stage["objective"],
                    stage["batch_size"],
                    stage["max_length"],
                    statistics.median(step["seconds"] for step in log),
                    stage["batch_size"] * stage["max_length"],
                )
    return costs


def evaluation_tokens(task_set: str, backbone: str, pooling, max_length: int) -> dict[str, int] | None:
    """`{task: tokens}` one evaluation of `task_set` encodes with `backbone`'s tokenizer and `pooling`
    (`t2t.evaluation.token_count`), or None where the tasks are not mirrored here (Hub sets are not
    downloaded for a dry run). Counted once per task data, tokenizer and pooling, then cached under
    the cache root (counting a set takes ~35 s on one CPU thread)."""
    from t2t.core.atomic import atomic_write_json
    from t2t.core.config import stable_hash
    from t2t.core.paths import cache_root, data_root
    from t2t.evaluation.offline import task_data_fingerprint
    from t2t.evaluation.tasks import TASK_SETS, get_tasks

    spec = TASK_SETS[task_set]
    root = data_root()
    if not spec.mirrored or root is None:
        return None
    key = stable_hash(
        {
            "tasks": {name: task_data_fingerprint(name, root) for name in spec.tasks},
            "limit": spec.limit,
            "backbone": backbone,
            "pooling": pooling.to_dict(),
            "max_length": max_length,
        }
    )
    path = cache_root() / "token-counts" / f"{key}.json"
    cached = read_json(path, "the tokens are counted again.")
    if isinstance(cached, dict):
        return {name: int(cached[name]) for name in spec.tasks if name in cached} or None
    from t2t.evaluation.token_count import task_set_tokens
    from t2t.models.backbones import load_tokenizer

    counts = task_set_tokens(get_tasks(task_set), load_tokenizer(backbone), pooling, max_length)
    atomic_write_json(path, counts)
    return counts


def tokens_text(runs) -> list[str]:
    """One line per (backbone, pooling, tasks) of a plan's runs: the tokens each task it evaluates
    (`EvalSpec.tasks`) encodes. A searcher encodes nothing (`t2t.evaluation.searchers`): no line."""
    lines, seen = [], set()
    for run in runs:
        tasks = run.evaluation.tasks
        key = (run.evaluation.task_set, run.model.backbone, run.model.pooling.canonical_json(), tasks)
        if key in seen or run.model.searcher is not None:
            continue
        seen.add(key)
        counts = evaluation_tokens(
            run.evaluation.task_set, run.model.backbone, run.model.pooling, run.evaluation.max_length
        )
        counts = {task: tokens for task, tokens in (counts or {}).items() if task in tasks}
        if not counts:
            continue
        shown = " · ".join(f"{task} {tokens:,}" for task, tokens in counts.items())
        lines.append(
            f"tokens per evaluation ({run.model.backbone}, {run.model.pooling.mode} pooling, "
            f"{run.evaluation.task_set}): {shown} · total {sum(counts.values()):,}"
        )
    return lines


def estimate_text(statuses) -> str:
    """The plan's cost on this machine: measured-based hours, or which runs have no estimate."""
    unknown = [s for s in statuses if s.estimate_s is None]
    hours = sum(s.estimate_s or 0.0 for s in statuses) / 3600  # complete runs cost 0 unless redone
    if not unknown:
        return f"estimated {hours:.2f} h on this machine (from runs measured on this kind of machine)"
    backbones = sorted({evaluator(s.run.model.to_dict())[0] for s in unknown})  # or a searcher
    known = f"estimated {hours:.2f} h for the others; " if len(unknown) < len(statuses) else ""
    return (
        f"{known}no estimate for {len(unknown)} run(s): nothing measured for {', '.join(backbones)} and "
        "these tasks/stages on this kind of machine (reproduce/plan/costs.py)"
    )


def scratch_cost(runs, costs: MeasuredCosts) -> float | None:
    """Seconds to compute every run of a plan here from nothing (no run stored, no stage cached),
    each distinct stage once (runs share stages); None when any part has no measurement."""
    seen, parts = set(), []
    for run in runs:
        stages = [s for i, s in enumerate(run.model.stages) if run.model.stage_key(i) not in seen]
        seen.update(run.model.stage_key(i) for i in range(len(run.model.stages)))
        parts.append(remaining_cost(run, stages, list(run.evaluation.tasks), costs))
    return None if any(part is None for part in parts) else float(sum(parts))


def remaining_cost(run, stages, tasks: list[str], costs: MeasuredCosts) -> float | None:
    """Seconds to train `stages` and evaluate `tasks` of `run` here, or None when any part has no
    measurement on this kind of machine (`reproduce.plan.costs`)."""
    backbone = run.model.backbone
    parts = [
        None if costs.step(backbone, stage) is None else stage.steps * costs.step(backbone, stage)
        for stage in stages
    ]
    parts += [costs.setup(backbone, stage) for stage in stages]
    who, pooling = evaluator(run.model.to_dict())
    parts += [costs.evaluation(who, task, pooling) for task in tasks]
    return None if any(part is None for part in parts) else float(sum(parts))
