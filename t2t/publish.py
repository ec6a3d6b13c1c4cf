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
(the hash of the run's whole config, so two runs never share one). Only complete runs are published:
a run with a missing or failed task would publish a partial row that looks whole.
"""

from __future__ import annotations

import logging
from pathlib import Path

from t2t.errors import UserError
from t2t.results import RunStore

logger = logging.getLogger(__name__)


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
    from t2t.encoder import base_meta

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


def publish(run: str, out: Path, *, name: str | None = None, revision: str | None = None) -> Path:
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
    tasks = store.task_names()
    if not tasks:
        raise NotPublishable(f"run {store.dir.name} has no task results in {store.dir / 'tasks'}")
    if name is not None and name.count("/") != 1:
        raise NotPublishable(f"--name must be org/model (one '/'), as on the MTEB leaderboard, got {name!r}")
    meta = run_model_meta(info, name or default_name(info), revision or info["run_id"])
    cache = ResultCache(Path(out))
    for task in tasks:
        cache.save_to_cache(store.load_task(task), meta)
    folder = cache.get_task_result_path(tasks[0], meta).parent
    logger.info("published %d task results of run %s to %s", len(tasks), store.dir.name, folder)
    return folder
