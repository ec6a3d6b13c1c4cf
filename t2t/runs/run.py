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
import hashlib
import logging
import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, get_args

import mteb
from mteb.abstasks.task_metadata import TaskType

from t2t.core.atomic import atomic_write_text, read_json
from t2t.core.config import Config, ConfigError, field_omitted_at_default
from t2t.core.errors import UserError
from t2t.core.fingerprint import accepted, compare, decide_stale, move_aside
from t2t.core.locks import exclusive
from t2t.core.paths import cache_root, data_root
from t2t.core.provenance import code_diff, provenance
from t2t.core.runtime import PATH_FIELDS, PathUnavailable, Runtime, path_flags
from t2t.embedding.cache import EmbeddingCache, model_fingerprint
from t2t.embedding.encoder import Embedder, Throughput, text_encoder
from t2t.evaluation.items import rescorable, task_items
from t2t.evaluation.offline import task_data_fingerprint
from t2t.evaluation.task_types import tasks_of_types
from t2t.evaluation.tasks import TASK_SETS, get_tasks, task_category
from t2t.models.backbones import weights_fingerprint
from t2t.runs.results import RunRecord, RunStore, as_record, read_score
from t2t.training.corpus import corpus_fingerprint
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
        task_types: evaluate only the set's tasks of these MTEB task types (`tasks`;
            `t2t.evaluation.task_types`), e.g. `("Retrieval",)` for a lexical retrieval baseline
            (`t2t.evaluation.searchers`). Empty (the default, omitted from the hash): every task of the set.
            Kept sorted and without repeats, so two specs that mean the same hash the same.
    """

    task_set: str = "offline"
    max_length: int = 512
    normalize: bool = False
    task_types: tuple[str, ...] = field_omitted_at_default(default=())

    def __post_init__(self) -> None:
        unknown = sorted(set(self.task_types) - set(get_args(TaskType)))
        if unknown:
            raise ConfigError(
                f"EvalSpec.task_types: {unknown[0]!r} is not an MTEB task type; choose from: "
                + ", ".join(get_args(TaskType))
            )
        object.__setattr__(self, "task_types", tuple(sorted(set(self.task_types))))

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this evaluation runs, in the set's order: the set's tasks of `task_types` (all
        of them when none are named). What every caller that lists a run's tasks reads: `execute`,
        the runner's status and cost, `--verify`, the token count of `--dry-run`."""
        return tasks_of_types(TASK_SETS[self.task_set].tasks, self.task_types, task_category)


@dataclasses.dataclass(frozen=True)
class RunSpec(Config):
    """A method label, the model that implements it, and the evaluation.

    A searcher model (`ModelSpec.searcher`, `t2t.evaluation.searchers`) scores only the task types it declares,
    so its evaluation must name some of them (`EvalSpec.task_types`); anything else is refused here.
    """

    method: str
    model: ModelSpec
    evaluation: EvalSpec = EvalSpec()

    def __post_init__(self) -> None:
        if self.model.searcher is None:
            return
        declared = self.model.searcher.declared.task_types
        asked = self.evaluation.task_types
        if not asked or not set(asked) <= set(declared):
            raise ConfigError(
                f"RunSpec {self.method!r}: the searcher {self.model.searcher.name!r} scores "
                f"{', '.join(declared)} tasks only (it has no embeddings), so its evaluation must "
                f"set task_types within {list(declared)}; got {list(asked)}"
            )

    @property
    def run_id(self) -> str:
        """The hash of the config, with the task set's pool in place of its name
        (`t2t.evaluation.tasks.TaskSet.pool`): sets that score tasks alike share runs."""
        task_set = TASK_SETS.get(self.evaluation.task_set)
        if task_set is None or task_set.pool_name == self.evaluation.task_set:
            return self.config_hash()
        return self.replace(evaluation=self.evaluation.replace(task_set=task_set.pool_name)).config_hash()


class RunFailed(UserError, RuntimeError):
    """A run produced a number that must not be stored (non-finite score, degenerate embeddings)."""


def run_fingerprint(spec: RunSpec) -> dict[str, Any]:
    """The inputs `spec` reads, fingerprinted (`t2t.core.fingerprint`): weights, corpora, task files."""
    root = data_root()
    searcher = spec.model.searcher is not None  # reads no weights (`t2t.evaluation.searchers`)
    return {
        "weights": None if searcher else weights_fingerprint(spec.model.backbone),
        "corpora": {stage.corpus: corpus_fingerprint(stage.corpus) for stage in spec.model.stages},
        "data": {name: task_data_fingerprint(name, root) for name in spec.evaluation.tasks},
    }


def staleness(store: RunStore | RunRecord, current: dict[str, Any]) -> list[str]:
    """Differences between the inputs a stored run recorded and `current`, for what both cover: its
    weights, corpora and the data of the tasks it has stored that `current`'s task set has (a task
    not evaluated yet, or stored for another set of the pool, is not a difference). Empty when they
    agree, when an earlier
    `--on-stale accept` accepted exactly these inputs, or for a run stored before fingerprints.
    `store`: a run's store, or its record already read (`t2t.runs.results.RunRecord`)."""
    record = as_record(store)
    info, names = record.data, record.store.task_names()
    if not info or not names:
        return []
    stored_tasks = set(names) & set((current or {}).get("data") or {})

    def view(fingerprint: dict[str, Any] | None) -> dict[str, Any] | None:
        if not fingerprint:
            return fingerprint
        data = {
            task: files for task, files in (fingerprint.get("data") or {}).items() if task in stored_tasks
        }
        return {**fingerprint, "data": data}

    now = view(current)
    if any(view(entry.get("fingerprints")) == now for entry in info.get("stale_accepted", [])):
        return []
    return compare(view(info.get("fingerprints")), now)


def resolve_stale(record: RunRecord, current: dict[str, Any], policy: str) -> None:
    """Apply `Runtime.on_stale` to a stored run whose inputs changed (no-op when they did not).
    `accept` keeps the recorded fingerprints and appends the accepted inputs to `stale_accepted`
    (which tables name in their footnotes); `recompute` moves the run aside (the record empties)."""
    store = record.store
    differences = staleness(record, current)
    decision = decide_stale(f"run {store.run_id} in {store.dir}", differences, policy)
    if decision == "accept":
        entries = accepted(record.data, differences)
        entries[-1]["fingerprints"] = current
        record.update(stale_accepted=entries)
    elif decision == "recompute":
        move_aside(store.dir, cache_root() / "stale-results")
        record.forget()


def execute(
    spec: RunSpec, runtime: Runtime | None = None, *, root=None, accelerator=None, trained_as=None
) -> RunStore:
    """Train (if needed) and evaluate `spec`, writing into the results store. Returns the store.

    One process at a time per run (`t2t.core.locks`): a second process on the same run waits, then finds
    the work done. Distributed workers (several processes of one launch) share the run by design
    and take no lock.

    One run is one model. A run that already stores tasks is extended (new tasks, `--add-items`)
    only with the model it stored them from: its stages are rebuilt on the training path the run
    recorded (`recorded_paths`: precision, kernel, dropout kind, CPU threads), whatever `runtime`
    says, and one stored task is scored again first
    (`check_same_model`); if it moved, nothing is stored and the run is refused (`NotTheSameModel`).
    `trained_as` asks for given paths on a fresh run (`--verify` recomputes a stored run this way).
    """
    runtime = runtime or Runtime()
    store = RunStore(spec.run_id, root)
    distributed = accelerator is not None and accelerator.num_processes > 1
    lock = nullcontext() if distributed else exclusive(store.lock_file, f"run {spec.run_id} ({spec.method})")
    with lock:
        return _execute(spec, runtime, store, accelerator, trained_as)


def _execute(spec: RunSpec, runtime: Runtime, store: RunStore, accelerator, trained_as=None) -> RunStore:
    """Check the stored run, build the model, evaluate each missing task, record: the whole run,
    top-down (each step below is one short function)."""
    names = spec.evaluation.tasks
    if not names:
        raise UserError(
            f"run {spec.run_id} ({spec.method}) evaluates no task: its task set "
            f"{spec.evaluation.task_set} has none of its task types ({', '.join(spec.evaluation.task_types)})"
        )
    fingerprints = run_fingerprint(spec)
    run_record = RunRecord(store)  # run.json is read here once, then written through it
    resolve_stale(run_record, fingerprints, runtime.on_stale)
    if not work_left(run_record, names, runtime):
        logger.info("run %s (%s) is complete; nothing to do", spec.run_id, spec.method)
        return store
    tasks = get_tasks(spec.evaluation.task_set, only=names)  # loads task data only when there is work
    backfill_items(store, tasks)
    missing = tasks_to_evaluate(store, tasks, runtime)
    if not missing and run_record.get("status") == "complete":
        return store
    try:
        paths = trained_as or recorded_paths(spec, run_record)
        follows = runtime.following(paths[0], f"run {spec.run_id} ({spec.method})") if paths else runtime
        session = prepare(spec, follows, run_record, fingerprints, accelerator, paths, tasks)
    except (PathUnavailable, NotTheSameModel) as error:  # its own model cannot be rebuilt here
        if runtime.on_stale != "recompute" or trained_as:
            raise
        logger.warning("%s --on-stale recompute: the stored run is moved aside and recomputed.", error)
        move_aside(store.dir, cache_root() / "stale-results")
        return _execute(spec, runtime, store, accelerator)
    if session is None:  # a distributed worker other than the main process: it only trained
        return store
    for task in missing:
        evaluate_task(session, task)
    record(session)
    return store


def recorded_paths(spec: RunSpec, store: RunStore | RunRecord) -> list[dict[str, Any]] | None:
    """How the stages of the model behind a stored run's scores were trained: `run.json`'s
    `stages_trained_with`, or a later evaluation's when it replaced every task stored before it
    (`--add-items` on a run whose cache was gone, before this check existed, retrained the model on
    another path and re-scored everything: the run's model is then that one). A stage's record that
    predates threads being recorded gets the thread count of the process that trained it. None for
    a run with no stages or no stored task (a fresh run trains as `Runtime` says).

    Raises `PathUnavailable`, naming the way forward, when a stage's path is not recorded or when
    the stored tasks already come from two models (a later evaluation on another path replaced
    only some of them). `store`: a run's store, or its record already read."""
    record = as_record(store)
    info, store = record.data, record.store
    if not spec.model.stages or not store.task_names():
        return None
    paths, threads = info.get("stages_trained_with") or [], recorded_threads(info)
    added = {task for entry in info.get("reevaluations", []) for task in entry.get("tasks", [])} - {
        task for entry in info.get("reevaluations", []) for task in entry.get("replaced", [])
    }
    known = set(store.task_names()) - added
    for entry in info.get("reevaluations", []):
        later = entry.get("stages_trained_with") or paths
        if _signature(later) != _signature(paths):
            if not known <= set(entry.get("replaced", [])):
                raise PathUnavailable(
                    f"run {spec.run_id} ({spec.method}) already holds tasks from two models: an evaluation "
                    f"at {(entry.get('provenance') or {}).get('written_at', '?')} retrained it on another "
                    f"path and replaced {len(entry.get('replaced', []))} of its {len(known)} tasks. Recompute "
                    "it as a whole (--on-stale recompute moves the stored run aside)."
                )
            paths, threads = later, recorded_threads(entry)
        known |= set(entry.get("tasks", []))
    if len(paths) != len(spec.model.stages) or any("unknown" in path for path in paths):
        raise PathUnavailable(
            f"run {spec.run_id} ({spec.method}) stores tasks, but how its stages were trained is not "
            f"recorded ({store.dir / 'run.json'}), so adding tasks would mix models. Recompute it as "
            "a whole (--on-stale recompute moves the stored run aside) or leave its output on its "
            "recorded task set."
        )
    return [
        {**path, "threads": threads}
        if path.get("device") == "cpu" and "threads" not in path and threads
        else path
        for path in paths
    ]


def recorded_threads(record: dict[str, Any]) -> int | None:
    """The torch thread count of the process that wrote `record` (run.json or a later evaluation)."""
    return ((record.get("provenance") or {}).get("hardware") or {}).get("torch_threads")


def _signature(paths) -> list[tuple]:
    """What distinguishes two recorded training paths (`t2t.core.runtime.PATH_FIELDS` but threads, which
    older records lack)."""
    return [tuple(path.get(key) for key in PATH_FIELDS if key != "threads") for path in paths or []]


class NotTheSameModel(UserError, RuntimeError):
    """A stored run's model, rebuilt to evaluate new tasks, scores a stored task differently."""


def check_same_model(session: Session, tasks) -> None:
    """Before a stored run gains tasks from a rebuilt model, score one task it already stores (the
    smallest of the set's, by stored evaluation order: BIOSSES where present) and compare with the
    stored score, as `--verify` would (0 on the same hardware and versions, else
    `REEVALUATION_TOLERANCE`). A model whose training log equals the stored one step for step
    (`same_training`) is the stored model whatever evaluation code scored the run: its check may
    move by up to `REEVALUATION_TOLERANCE`, and `run.json` records it (`same_model`). Done even when
    every stage came from the cache: a cached stage on the recorded path is not necessarily the
    artifact the run was built from. With the embedding cache, the same model scores it without
    encoding anything."""
    store, spec = session.store, session.spec
    if not session.paths:
        return
    stored = [task for task in tasks if store.has_task(task.metadata.name)]
    if not stored:
        return
    task = min(stored, key=lambda t: (t.metadata.name != "BIOSSES", tasks.index(t)))
    name = task.metadata.name
    with tempfile.TemporaryDirectory(prefix=".check-", dir=store.dir) as folder:
        result = mteb.evaluate(session.encoder, [task], cache=None, show_progress_bar=False).task_results[0]
        path = Path(folder) / "check.json"
        result.to_disk(path)
        now = read_score(path)
    before = read_score(store.task_path(name))
    same_machine = same_machine_and_versions(session.previous.get("provenance") or {}, session.origin)
    tolerance = 0.0 if same_machine else REEVALUATION_TOLERANCE
    moved = None if now is None or before is None else now - before
    if moved is not None and tolerance < abs(moved) <= REEVALUATION_TOLERANCE and same_training(session):
        session.identity = {"task": name, "stored": before, "now": now, "training_log": "equal"}
        logger.warning(
            "run %s: the rebuilt model trains as the stored one did (every step's loss equal) but scores "
            "%s %.6f against the stored %.6f: the stored tasks were scored by other evaluation code; "
            "within %g (the tolerance across package versions), so the same model; recorded",
            spec.run_id, name, now, before, REEVALUATION_TOLERANCE,
        )  # fmt: skip
        return
    if moved is None or abs(moved) > tolerance:
        raise NotTheSameModel(
            f"run {spec.run_id} ({spec.method}) was rebuilt on its recorded training path "
            f"({path_flags(session.paths[0]) if session.paths else 'its own'}) to evaluate new tasks, "
            f"but it scores {name} {now} against the stored {before} (tolerance {tolerance:g}): this "
            "is not the model the run stored, so nothing was added to it. Recompute the run as a "
            "whole (--on-stale recompute moves the stored run aside), or leave its output on its "
            "recorded task set."
        )
    logger.info(
        "run %s: the rebuilt model scores %s as stored (%.6f): the same model", spec.run_id, name, now
    )


def same_training(session: Session) -> bool:
    """Whether the rebuilt model's stages logged exactly the losses the stored run's did, step for
    step (its `train_log.json`): an identity test of the model that no evaluation code enters. A run
    scored by older evaluation code (before the CPU fast path and the embedding cache, 2026-12-02)
    re-scores its check task a little differently with the same model: 955b182f8aab's 150 step
    losses are equal and its BIOSSES moves by 0.0008 (per pair: mean 3.7e-4, max 4.5e-3)."""
    stored = read_json(session.store.dir / "train_log.json", "the model is checked by its score alone.")
    if not isinstance(stored, list):
        return False
    rebuilt = [[step.get("loss") for step in log] for log in session.logs]
    return (
        bool(rebuilt) and all(rebuilt) and rebuilt == [[step.get("loss") for step in log] for log in stored]
    )


SAME_MACHINE_KEYS = ("machine", "processor", "cuda", "gpus", "cpu_fast_bf16")
SAME_VERSION_KEYS = ("torch", "transformers", "peft", "mteb")


def same_machine_and_versions(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Same hardware kind and versions of the packages that compute a score, from two provenances:
    the rule under which a recomputed score must equal the stored one exactly (here and `--verify`)."""
    return all(
        (before.get("hardware") or {}).get(k) == (after.get("hardware") or {}).get(k)
        for k in SAME_MACHINE_KEYS
    ) and all(
        (before.get("versions") or {}).get(k) == (after.get("versions") or {}).get(k)
        for k in SAME_VERSION_KEYS
    )


def work_left(record: RunRecord, names, runtime: Runtime) -> bool:
    """Whether a run has anything to do for these tasks: one not stored, not complete, or stored
    without item outputs (derivable from its predictions, or re-evaluated with `--add-items`)."""
    if record.get("status") != "complete":
        return True
    store = record.store
    return any(
        not store.has_task(name)
        or (lacks_items(store, name) and (runtime.add_items or store.predictions_path(name).is_file()))
        for name in names
    )


def tasks_to_evaluate(store: RunStore, tasks, runtime: Runtime) -> list:
    """The tasks of the set with no stored result (or, with `--add-items`, none of its item outputs)."""
    return [
        task
        for task in tasks
        if not store.has_task(task.metadata.name)
        or (runtime.add_items and lacks_items(store, task.metadata.name))
    ]


@dataclasses.dataclass
class Session:
    """One process's work on a run: the model it built, what it evaluated, its clock and code.

    `later` is True when the run was complete before (new tasks of a larger task set, or
    `--add-items`): the run's original record (provenance, timings, training log) then stays as it
    is and this session is appended to `run.json`'s `reevaluations` instead (`record`).
    `embedder` is None for a searcher (`t2t.evaluation.searchers`): mteb calls the searcher itself, which
    encodes nothing.
    """

    spec: RunSpec
    record: RunRecord  # run.json, read once by `_execute` and written through it
    embedder: Embedder | None
    encoder: Any
    logs: list
    origin: dict[str, Any]
    previous: dict[str, Any]
    fingerprints: dict[str, Any]
    started: float
    built: float
    later: bool
    paths: list[dict[str, Any]] | None = None
    cpu_started: float = 0.0  # time.process_time() when the session began
    evaluated: list[str] = dataclasses.field(default_factory=list)
    identity: dict[str, Any] | None = None  # how `check_same_model` found the model the stored one

    @property
    def store(self) -> RunStore:
        return self.record.store


def prepare(
    spec: RunSpec, runtime: Runtime, record: RunRecord, fingerprints, accelerator, paths=None, tasks=()
) -> Session | None:
    """Build the run's model (training what is not cached; as `paths` say when given), check that a
    rebuilt model is the one the run stored (`check_same_model`, against `tasks`), record what it
    is, wrap it for mteb. A searcher (`ModelSpec.searcher`) is built instead of the backbone: mteb
    calls it as it is (no encoder wrapper, nothing trained)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    store = record.store
    origin = provenance_with_diff(store)  # the code and machine this session runs with
    searcher = spec.model.searcher
    if searcher is None:
        model, tokenizer, logs = build_model(spec.model, runtime, accelerator, paths)
    else:
        model, tokenizer, logs = searcher.build(), None, []
    if accelerator is not None and not accelerator.is_main_process:
        return None
    built = time.perf_counter()
    previous = record.data  # as read before this session wrote anything
    later = previous.get("status") == "complete" or "provenance" in previous
    if searcher is None:
        embedder = make_embedder(spec, runtime, model, tokenizer)
        encoder = text_encoder(f"t2t-repro/{spec.method}-{spec.run_id}", embedder, revision=spec.run_id)
    else:
        embedder, encoder = None, model
    session = Session(
        spec,
        record,
        embedder,
        encoder,
        logs,
        origin,
        previous,
        fingerprints,
        started,
        built,
        later,
        paths,
        cpu_started,
    )
    check_same_model(session, list(tasks))  # before anything is written
    if later:  # keep the original record; only the inputs of the new tasks are added
        recorded = previous.get("fingerprints") or {}
        merged = {**recorded, "data": {**(recorded.get("data") or {}), **fingerprints["data"]}}
        record.update(fingerprints=merged if recorded else fingerprints, error=None)
    else:
        record.update(
            run_id=spec.run_id,
            method=spec.method,
            config=spec.to_dict(),
            status="running",
            error=None,
            fingerprints=fingerprints,
            backbone_shape=backbone_shape(model),
            stages_trained_with=trained_with(spec.model, paths),
            **({"searcher": searcher.declared.description} if searcher else {}),
        )
        if logs:
            store.save_train_log(logs)
    return session


def make_embedder(spec: RunSpec, runtime: Runtime, model, tokenizer) -> Embedder:
    """The run's encoder: its pooling and evaluation settings, with the embedding cache."""
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
    return embedder


def evaluate_task(session: Session, task) -> None:
    """Score one task with mteb, keep its item outputs, store it; a non-finite score stores nothing
    and marks the run failed (never complete)."""
    spec, store, run_record, name = session.spec, session.store, session.record, task.metadata.name
    try:
        with tempfile.TemporaryDirectory(prefix=".predictions-", dir=store.dir) as folder:
            result = mteb.evaluate(
                session.encoder, [task], cache=None, show_progress_bar=False, prediction_folder=folder
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
        run_record.update(
            status="failed", error=f"{name}: {error}", **({} if session.later else _timings(session))
        )
        if isinstance(error, UserError) and not isinstance(error, RunFailed):
            raise RunFailed(f"run {spec.run_id} ({spec.method}), {name}: {error}") from error
        raise
    before = read_score(store.task_path(name))
    store.save_task(result)
    session.evaluated.append(name)
    if not session.later:
        run_record.update(**_timings(session))
    if before is not None:  # re-evaluated for its item outputs: keep both numbers on record
        again = run_record.get("reevaluated", {})
        now = read_score(store.task_path(name))  # as stored: mteb rounds scores on disk
        run_record.update(reevaluated={**again, name: {"stored": before, "now": now}})
    logger.info("%s %s: %.4f", spec.run_id, name, score)


def record(session: Session) -> None:
    """Mark the run complete. A first evaluation records its provenance, training summary and
    timings; a later one (new tasks, `--add-items`) appends them to `reevaluations` instead, so the
    run's original sha, date and timings stay."""
    run_record = session.record
    if session.later:
        entry = {
            "provenance": session.origin,
            "tasks": list(session.evaluated),
            "replaced": [t for t in session.evaluated if t in run_record.get("reevaluated", {})],
            "stages_trained_with": trained_with(session.spec.model, session.paths),
            **({"same_model": session.identity} if session.identity else {}),
            **_timings(session, cumulative=False),
        }
        run_record.update(status="complete", reevaluations=[*run_record.get("reevaluations", []), entry])
    else:
        run_record.update(
            status="complete",
            provenance=session.origin,
            train_summary=[_summarise(log) for log in session.logs],
            **_timings(session),
        )
    warn_if_reevaluation_moved(run_record)


def _timings(session: Session, cumulative: bool = True) -> dict[str, Any]:
    """Wall times and throughput of this session; `cumulative` adds those of every earlier process
    that worked on the same (first) evaluation, whose figures were saved after each finished task.

    `cpu_s` is the processor time the session's process used, every thread counted
    (`time.process_time`): the core-seconds it cost. Wall times also count time spent stopped
    (SIGSTOP), suspended or waiting for a core on a shared machine; `cpu_s` does not. It is left
    out where an earlier process of the same evaluation did not count it (runs begun before 2026-12-07)."""
    previous = session.previous if cumulative and not session.later else {}
    timing, throughput = previous.get("timing", {}), previous.get("throughput", {})
    done = session.embedder.throughput if session.embedder else Throughput()  # a searcher encodes nothing
    texts = throughput.get("encode_texts", 0) + done.texts
    tokens = throughput.get("encode_tokens", 0) + done.tokens
    seconds = throughput.get("encode_seconds", 0.0) + done.seconds
    cached = throughput.get("encode_cached_texts", 0) + done.cached
    logs = session.logs
    cpu_s = time.process_time() - session.cpu_started + timing.get("cpu_s", 0.0)
    known = not timing or "cpu_s" in timing  # an earlier process of this evaluation did not count it
    return {
        "timing": {
            "build_model_s": round(session.built - session.started + timing.get("build_model_s", 0.0), 2),
            "evaluate_s": round(time.perf_counter() - session.built + timing.get("evaluate_s", 0.0), 2),
            "train_steps_s": round(sum(step["seconds"] for log in logs for step in log), 2),
            **({"cpu_s": round(cpu_s, 2)} if known else {}),
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


def provenance_with_diff(store: RunStore) -> dict[str, Any]:
    """`t2t.core.provenance.provenance()`, and for a checkout with uncommitted code the patch against its
    sha, written into the run folder (`diffs/<digest>.diff`) and named in `git.diff`."""
    origin = provenance()
    patch = code_diff() if origin["git"].get("dirty") else ""
    if patch:
        name = f"diffs/{hashlib.sha256(patch.encode()).hexdigest()[:12]}.diff"
        if not (store.dir / name).is_file():
            atomic_write_text(store.dir / name, patch)
        origin["git"] = {**origin["git"], "diff": name}
    return origin


REEVALUATION_TOLERANCE = 0.002  # as `--verify`: equal on the same hardware and versions, else within this


def reevaluation_moves(store: RunStore | RunRecord) -> dict[str, float]:
    """Tasks whose re-evaluated score (`--add-items`) moved from the stored one by more than
    `REEVALUATION_TOLERANCE`, with the change (new - stored, main score in [0, 1])."""
    moved = {}
    for task, entry in as_record(store).get("reevaluated", {}).items():
        change = entry["now"] - entry["stored"]
        if abs(change) > REEVALUATION_TOLERANCE:
            moved[task] = change
    return moved


def warn_if_reevaluation_moved(store: RunStore | RunRecord) -> None:
    """Never let a re-evaluation change a stored number quietly: name the tasks that moved.

    A run whose stages are no longer cached is retrained on its recorded path and checked against
    one stored task (`check_same_model`), so a move here comes from other code or package versions
    in evaluation; the new scores are kept (they are what today's code measures) and the stored
    ones stay in `run.json`'s `reevaluated`.
    """
    record = as_record(store)
    moved = reevaluation_moves(record)
    if moved:
        worst = max(moved, key=lambda task: abs(moved[task]))
        logger.warning(
            "run %s: re-evaluation moved %d task score(s) by more than %.3f (largest: %s %+.4f); the "
            "evaluation differs from the one that stored them (other code or package versions). Both "
            "scores are in run.json 'reevaluated'.",
            record.store.run_id,
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
    """The decoder config fields a FLOP count needs (`reproduce.plan.gpu_hours.Shape.from_mapping`),
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
