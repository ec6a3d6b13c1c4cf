"""Write a run's results in the layout of MTEB's public results repository.

    python -m t2t publish <run id | results/runs/<id>> OUT [--name org/model] [--revision REV]

gives

    OUT/results/<org>__<model>/<revision>/<Task>.json     one mteb TaskResult per task
    OUT/results/<org>__<model>/<revision>/model_meta.json  the model's ModelMeta

the folder layout of github.com/embeddings-benchmark/results, so the files can be submitted as they
are; `mteb.ResultCache(OUT).load_results(...)` loads them back (a test checks the scores). Nothing
is written by hand: each stored `TaskResult` goes through `ResultCache.save_to_cache` with a
`ModelMeta`, which also writes `model_meta.json`.

The model's name defaults to `t2t-repro/<method>-<backbone>-<run id>` and its revision to the run id
(the hash of the run's whole config, so two runs never share one). What is refused, with the reason:

- a run that is not complete (a missing or failed task would publish a partial row that looks
  whole), or whose stored numbers fail `t2t.runs.integrity.task_problems`;
- a run on a capped task set (`offline-lite`: rows capped, so its scores are not MTEB's, although
  its tasks carry MTEB's names);
- our variants of MTEB tasks (`SciFact-lite`, ...: `t2t.evaluation.partial_tasks`), which are not on
  the leaderboard: `skip_variants` publishes MTEB's own tasks only and names those left out;
- a revision folder written by another run (`RUN_MARKER` names the run that wrote one), which
  would mix two runs' task files under one model: choose another `--revision`, or remove it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from t2t.core.atomic import atomic_write_json, read_json
from t2t.core.errors import UserError
from t2t.runs.integrity import task_problems
from t2t.runs.results import RunStore

logger = logging.getLogger(__name__)


RUN_MARKER = ".t2t-run"
"""Written into each revision folder (hidden, not a .json: mteb reads every .json there as a task
result): the run whose results it holds."""


class NotPublishable(UserError, ValueError):
    """The run cannot be published (missing, unfinished, or without task results)."""


def run_store(run: str) -> RunStore:
    """The store of a run given by id (in the results root) or by its folder."""
    path = Path(run).expanduser()
    if path.is_dir() and (path / "run.json").is_file():
        return RunStore(path.name, path.parent.parent)
    store = RunStore(run)
    if not store.run_json.is_file():
        raise NotPublishable(
            f"no run {run!r}: neither a run folder (with run.json) nor a run id under {store.dir.parent}"
        )
    return store


def default_name(info: dict) -> str:
    backbone = info["config"]["model"]["backbone"].replace("/", "-")
    return f"t2t-repro/{info['method']}-{backbone}-{info['run_id']}"


def run_model_meta(info: dict, name: str, revision: str):
    """The `ModelMeta` of a stored run, from run.json alone (the model is not loaded, so its size
    and dimension are left unknown, as mteb allows). `adapted_from` names the backbone."""
    from t2t.embedding.encoder import base_meta

    config = info["config"]
    sha = info.get("provenance", {}).get("git", {}).get("sha")
    return base_meta(
        name,
        revision=revision,
        n_parameters=None,
        max_tokens=config["evaluation"]["max_length"],
        embed_dim=None,
        release_date=(info.get("provenance", {}).get("written_at") or "")[:10] or None,
        public_training_code=f"t2t-repro at git {sha}" if sha else None,
        adapted_from=config["model"]["backbone"],
    )


def publish(
    run: str, out: Path, *, name: str | None = None, revision: str | None = None, skip_variants: bool = False
) -> Path:
    """Write the run's task results and model meta under `out` (see the module docstring); returns
    the revision folder."""
    from mteb.cache import ResultCache

    store = run_store(run)
    info = store.read()
    if info.get("status") != "complete":
        raise NotPublishable(
            f"run {store.dir.name} is {info.get('status') or 'unfinished'}, not complete: finish it "
            "(rerun the command that made it) before publishing"
        )
    if name is not None and name.count("/") != 1:
        raise NotPublishable(f"--name must be org/model (one '/'), as on the MTEB leaderboard, got {name!r}")
    tasks = publishable_tasks(store, info, skip_variants)
    meta = run_model_meta(info, name or default_name(info), revision or info["run_id"])
    cache = ResultCache(Path(out))
    folder = cache.get_task_result_path(tasks[0], meta).parent
    check_folder(folder, store.dir.name)
    for task in tasks:
        cache.save_to_cache(store.load_task(task), meta)
    atomic_write_json(folder / RUN_MARKER, {"run_id": store.dir.name, "method": info.get("method")})
    logger.info("published %d task results of run %s to %s", len(tasks), store.dir.name, folder)
    return folder


def publishable_tasks(store: RunStore, info: dict, skip_variants: bool = False) -> list[str]:
    """The run's tasks that may go out under MTEB's names, or `NotPublishable` saying why not."""
    from t2t.evaluation.partial_tasks import LOCAL_TASKS
    from t2t.evaluation.tasks import TASK_SETS

    tasks = store.task_names()
    if not tasks:
        raise NotPublishable(f"run {store.dir.name} has no task results in {store.dir / 'tasks'}")
    task_set = TASK_SETS.get(((info.get("config") or {}).get("evaluation") or {}).get("task_set"))
    if task_set is not None and task_set.limit is not None:
        raise NotPublishable(
            f"run {store.dir.name} was evaluated on {task_set.name}, whose tasks are capped at "
            f"{task_set.limit} rows: its scores are not MTEB's, although its tasks carry MTEB's names. "
            "Publish a run on a full-size task set (offline, offline-balanced, mteb-eng-v2)."
        )
    problems = task_problems(store, tasks)
    if problems:
        raise NotPublishable(
            f"run {store.dir.name} stores numbers that fail their checks:\n  " + "\n  ".join(problems)
        )
    variants = [task for task in tasks if task in LOCAL_TASKS]
    if variants and not skip_variants:
        raise NotPublishable(
            f"run {store.dir.name} holds our variants of MTEB tasks ({', '.join(variants)}): they are not "
            "MTEB's tasks and would not be read as such. --skip-variants publishes MTEB's own tasks only."
        )
    if variants:
        logger.warning("left out (our variants, not MTEB's tasks): %s", ", ".join(variants))
    kept = [task for task in tasks if task not in variants]
    if not kept:
        raise NotPublishable(f"run {store.dir.name} has no MTEB task to publish (only {', '.join(variants)})")
    return kept


def check_folder(folder: Path, run_id: str) -> None:
    """Refuse a revision folder that holds another run's results (or files of unknown origin)."""
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    marker = read_json(folder / RUN_MARKER, "the folder's origin is unknown.") or {}
    if marker.get("run_id") == run_id:
        return
    files = sorted(p.name for p in folder.iterdir() if p.name != RUN_MARKER)
    origin = f"run {marker['run_id']}" if marker.get("run_id") else "no run of this suite"
    raise NotPublishable(
        f"{folder} already holds {len(files)} file(s) written by {origin} ({', '.join(files[:5])}"
        f"{', ...' if len(files) > 5 else ''}): publishing run {run_id} there would mix two runs under "
        "one model and revision. Choose another --revision (or --name), or remove the folder."
    )
