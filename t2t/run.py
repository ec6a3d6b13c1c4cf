"""One run = one trained (or zero-shot) model evaluated on one task set, stored under its hash.

    spec = RunSpec(method="text2token", model=ModelSpec(...), evaluation=EvalSpec(task_set="offline"))
    store = execute(spec, Runtime())          # trains what is missing, evaluates what is missing
    store.task_scores()                       # {"STSBenchmark": 0.61, ...}

`execute` is idempotent and resumable: finished tasks are skipped, finished stages are reused
(`t2t.training.pipeline`), and every file is written atomically. `run.json` records the config,
provenance (git sha and dirty flag, versions, hardware), wall times and encoding tokens/s.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import mteb

from t2t.config import Config
from t2t.corpus import corpus_fingerprint
from t2t.embedding_cache import EmbeddingCache, model_fingerprint
from t2t.encoder import Embedder, text_encoder
from t2t.errors import UserError
from t2t.evaluation.items import rescorable, task_items
from t2t.evaluation.offline import task_data_fingerprint
from t2t.evaluation.tasks import TASK_SETS, get_tasks
from t2t.fingerprint import accepted, compare, decide_stale, move_aside, weights_fingerprint
from t2t.locks import exclusive
from t2t.paths import cache_root, data_root
from t2t.provenance import provenance
from t2t.results import RunStore, read_score
from t2t.runtime import Runtime
from t2t.training.pipeline import build_model, trained_with
from t2t.training.spec import ModelSpec

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EvalSpec(Config):
    """What to evaluate on.

    Attributes:
        task_set: `offline-lite`, `offline`, `offline-balanced` or `mteb-eng-v2` (`t2t.evaluation.tasks`).
        max_length: token budget per text at evaluation, prompt included. The paper says 512-1024
            and the authors' code defaults to 1024; 512 is our default (MTEB STS/classification texts
            are far shorter; raise it for retrieval at paper scale).
        normalize: unit-normalise embeddings before mteb scores them. The paper does not say;
            llm2vec's `encode` does not normalise, so the default is False. Cosine-based tasks
            (STS, retrieval) are unaffected; classification (logistic regression) is.
    """

    task_set: str = "offline"
    max_length: int = 512
    normalize: bool = False


@dataclasses.dataclass(frozen=True)
class RunSpec(Config):
    """A method label, the model that implements it, and the evaluation."""

    method: str
    model: ModelSpec
    evaluation: EvalSpec = EvalSpec()

    @property
    def run_id(self) -> str:
        return self.config_hash()


class RunFailed(UserError, RuntimeError):
    """A run produced a number that must not be stored (non-finite score, degenerate embeddings)."""


def run_fingerprint(spec: RunSpec) -> dict[str, Any]:
    """The inputs `spec` reads, fingerprinted (`t2t.fingerprint`): weights, corpora, task files."""
    root = data_root()
    return {
        "weights": weights_fingerprint(spec.model.backbone),
        "corpora": {stage.corpus: corpus_fingerprint(stage.corpus) for stage in spec.model.stages},
        "data": {
            name: task_data_fingerprint(name, root) for name in TASK_SETS[spec.evaluation.task_set].tasks
        },
    }


def staleness(store: RunStore, current: dict[str, Any]) -> list[str]:
    """Differences between the inputs a stored run recorded and `current` (empty: fresh, or a run
    stored before fingerprints were recorded, which cannot be checked)."""
    info = store.read()
    if not info or not store.task_names():
        return []
    return compare(info.get("fingerprints"), current)


def resolve_stale(store: RunStore, current: dict[str, Any], policy: str) -> None:
    """Apply `Runtime.on_stale` to a stored run whose inputs changed (no-op when they did not)."""
    differences = staleness(store, current)
    decision = decide_stale(f"run {store.run_id} in {store.dir}", differences, policy)
    if decision == "accept":
        store.update(fingerprints=current, stale_accepted=accepted(store.read(), differences))
    elif decision == "recompute":
        move_aside(store.dir, cache_root() / "stale-results")


def execute(spec: RunSpec, runtime: Runtime | None = None, *, root=None, accelerator=None) -> RunStore:
    """Train (if needed) and evaluate `spec`, writing into the results store. Returns the store.

    One process at a time per run (`t2t.locks`): a second process on the same run waits, then finds
    the work done. Distributed workers (several processes of one launch) share the run by design
    and take no lock.
    """
    runtime = runtime or Runtime()
    store = RunStore(spec.run_id, root)
    distributed = accelerator is not None and accelerator.num_processes > 1
    lock = nullcontext() if distributed else exclusive(store.lock_file, f"run {spec.run_id} ({spec.method})")
    with lock:
        return _execute(spec, runtime, store, accelerator)


def _execute(spec: RunSpec, runtime: Runtime, store: RunStore, accelerator) -> RunStore:
    fingerprints = run_fingerprint(spec)
    resolve_stale(store, fingerprints, runtime.on_stale)
    tasks = get_tasks(spec.evaluation.task_set)
    backfill_items(store, tasks)
    missing = [
        task
        for task in tasks
        if not store.has_task(task.metadata.name)
        or (runtime.add_items and lacks_items(store, task.metadata.name))
    ]
    if not missing and store.read().get("status") == "complete":
        logger.info("run %s (%s) is complete; nothing to do", spec.run_id, spec.method)
        return store

    started = time.perf_counter()
    origin = provenance()  # the code and machine this run starts with
    model, tokenizer, logs = build_model(spec.model, runtime, accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        return store
    built = time.perf_counter()
    previous = store.read()
    store.update(
        run_id=spec.run_id,
        method=spec.method,
        config=spec.to_dict(),
        status="running",
        error=None,
        fingerprints=fingerprints,
        backbone_shape=backbone_shape(model),
        stages_trained_with=trained_with(spec.model),
    )
    if logs:
        store.save_train_log(logs)

    embedder = Embedder(
        model,
        tokenizer,
        spec.model.pooling,
        max_length=spec.evaluation.max_length,
        **runtime.eval_batching(),
        dtype=runtime.eval_dtype(),
        normalize=spec.evaluation.normalize,
        progress=runtime.progress,
        devices=runtime.encoding_devices(),
    )
    if runtime.embedding_cache:
        embedder.cache = EmbeddingCache(
            cache_root() / "embeddings" / spec.run_id,
            {
                "run_id": spec.run_id,
                "model": model_fingerprint(embedder.model),
                "pooling": spec.model.pooling.to_dict(),
                "max_length": spec.evaluation.max_length,
                "dtype": str(embedder.dtype),
                "normalize": spec.evaluation.normalize,
            },
        )
    encoder = text_encoder(f"t2t-repro/{spec.method}-{spec.run_id}", embedder, revision=spec.run_id)

    def bookkeeping(now: float) -> dict[str, Any]:
        """Wall times and throughput of every process that worked on this run, this one included
        (a killed process's figures were saved after each of its finished tasks)."""
        timing, throughput = previous.get("timing", {}), previous.get("throughput", {})
        texts = throughput.get("encode_texts", 0) + embedder.throughput.texts
        tokens = throughput.get("encode_tokens", 0) + embedder.throughput.tokens
        seconds = throughput.get("encode_seconds", 0.0) + embedder.throughput.seconds
        cached = throughput.get("encode_cached_texts", 0) + embedder.throughput.cached
        return {
            "timing": {
                "build_model_s": round(built - started + timing.get("build_model_s", 0.0), 2),
                "evaluate_s": round(now - built + timing.get("evaluate_s", 0.0), 2),
                "train_steps_s": round(sum(step["seconds"] for log in logs for step in log), 2),
            },
            "throughput": {
                "encode_texts": texts,
                "encode_tokens": tokens,
                "encode_seconds": round(seconds, 3),
                "encode_cached_texts": cached,
                "encode_tokens_per_s": round(tokens / seconds, 1) if seconds else 0.0,
                "train_tokens_per_s": _train_tokens_per_second(logs),
            },
        }

    for task in missing:
        name = task.metadata.name
        try:
            with tempfile.TemporaryDirectory(prefix=".predictions-", dir=store.dir) as folder:
                result = mteb.evaluate(
                    encoder, [task], cache=None, show_progress_bar=False, prediction_folder=folder
                ).task_results[0]
                score = result.get_score()
                if math.isfinite(score):  # item outputs first: a stored task always has them
                    save_item_outputs(store, task, Path(folder))
            if not math.isfinite(score):
                raise RunFailed(
                    f"run {spec.run_id} ({spec.method}): {name} scored {score}, not a number; nothing was "
                    "stored for it. The embeddings or the evaluation broke (a diverged model, a failed "
                    "encode); see the log above."
                )
        except Exception as error:  # recorded, so the run never reads as "running" or "complete"
            store.update(status="failed", error=f"{name}: {error}", **bookkeeping(time.perf_counter()))
            if isinstance(error, UserError) and not isinstance(error, RunFailed):
                raise RunFailed(f"run {spec.run_id} ({spec.method}), {name}: {error}") from error
            raise
        before = read_score(store.task_path(name))
        store.save_task(result)
        store.update(**bookkeeping(time.perf_counter()))
        if before is not None:  # re-evaluated for its item outputs: keep both numbers on record
            again = store.read().get("reevaluated", {})
            now = read_score(store.task_path(name))  # as stored: mteb rounds scores on disk
            store.update(reevaluated={**again, name: {"stored": before, "now": now}})
        logger.info("%s %s: %.4f", spec.run_id, name, score)

    store.update(
        status="complete",
        provenance=origin,
        train_summary=[_summarise(log) for log in logs],
        **bookkeeping(time.perf_counter()),
    )
    warn_if_reevaluation_moved(store)
    return store


REEVALUATION_TOLERANCE = 0.002  # as `--verify`: equal on the same hardware and versions, else within this


def reevaluation_moves(store: RunStore) -> dict[str, float]:
    """Tasks whose re-evaluated score (`--add-items`) moved from the stored one by more than
    `REEVALUATION_TOLERANCE`, with the change (new - stored, main score in [0, 1])."""
    moved = {}
    for task, entry in store.read().get("reevaluated", {}).items():
        change = entry["now"] - entry["stored"]
        if abs(change) > REEVALUATION_TOLERANCE:
            moved[task] = change
    return moved


def warn_if_reevaluation_moved(store: RunStore) -> None:
    """Never let a re-evaluation change a stored number quietly: name the tasks that moved.

    A run whose stages are no longer cached is retrained with today's `Runtime`. When it was trained
    with another path (before the CPU fast path: `--precision mixed --train-attention sdpa
    --sparse-dropout off`) or other code, the new model can differ; the new scores are kept (they
    are what today's code measures) and the stored ones stay in `run.json`'s `reevaluated`.
    """
    moved = reevaluation_moves(store)
    if moved:
        worst = max(moved, key=lambda task: abs(moved[task]))
        logger.warning(
            "run %s: re-evaluation moved %d task score(s) by more than %.3f (largest: %s %+.4f); the "
            "rebuilt model differs from the one stored (retrained with another training path or code?). "
            "Both scores are in run.json 'reevaluated'; to retrain as a run stored before the training "
            "fast path was trained, add --precision mixed --train-attention sdpa --sparse-dropout off.",
            store.run_id,
            len(moved),
            REEVALUATION_TOLERANCE,
            worst,
            moved[worst],
        )


SHAPE_FIELDS = (
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
)


def backbone_shape(model) -> dict[str, int]:
    """The decoder config fields a FLOP count needs (`reproduce.gpu_hours.Shape.from_mapping`),
    kept in run.json so that a table can state a run's training FLOPs for any backbone."""
    config = getattr(model, "config", None)
    config = config.get_text_config() if hasattr(config, "get_text_config") else config
    fields = config.to_dict() if config is not None else {}
    return {name: fields[name] for name in SHAPE_FIELDS if isinstance(fields.get(name), int)}


def lacks_items(store: RunStore, task_name: str) -> bool:
    """A task of `store` without per-item outputs, of a type that has them (`t2t.evaluation.items`)."""
    return rescorable(task_name) and not store.items_path(task_name).is_file()


def backfill_items(store: RunStore, tasks) -> None:
    """Derive missing per-item records from stored mteb predictions (no re-encoding): runs whose
    predictions were kept before the items format existed."""
    for task in tasks:
        name = task.metadata.name
        if store.has_task(name) and lacks_items(store, name) and store.predictions_path(name).is_file():
            if not task.data_loaded:
                task.load_data()
            items = task_items(task, store.load_predictions(name))
            if items is not None:
                store.save_items(name, items)
                logger.info("%s %s: item outputs derived from its stored predictions", store.run_id, name)


def save_item_outputs(store: RunStore, task, folder: Path) -> None:
    """Keep mteb's prediction file of `task` and the per-item records derived from it."""
    name = task.metadata.name
    saved = store.save_predictions(name, folder)
    if saved is not None:
        items = task_items(task, store.load_predictions(name))
        if items is not None:
            store.save_items(name, items)


def _train_tokens_per_second(logs: list[list[dict]]) -> float | None:
    tokens = sum(step["tokens"] for log in logs for step in log)
    seconds = sum(step["seconds"] for log in logs for step in log)
    return round(tokens / seconds, 1) if seconds else None


def _summarise(log: list[dict]) -> dict:
    if not log:
        return {"steps": 0}
    head = log[: max(1, len(log) // 10)]
    tail = log[-max(1, len(log) // 10) :]
    return {
        "steps": len(log),
        "loss_first": round(sum(s["loss"] for s in head) / len(head), 5),
        "loss_last": round(sum(s["loss"] for s in tail) / len(tail), 5),
    }
