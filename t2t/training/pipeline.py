"""From a `ModelSpec` to a ready model: load the backbone, then train or reuse each stage.

    model = backbone
    for each stage i:
        if artifact stage_key(i) exists: load its adapter, merge    # reuse across runs and tables
        else: attach a fresh LoRA, train (resumably), save adapter, merge

Artifacts live in `cache_root()/models/<stage_key>/`: `adapter/` (peft), `train_log.json`, and
`checkpoint/` while training. A stage is complete when `adapter/` exists (written atomically).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

from t2t.core.atomic import atomic_directory, atomic_write_json, read_json
from t2t.core.fingerprint import accepted, compare, decide_stale, move_aside
from t2t.core.locks import exclusive
from t2t.core.paths import cache_root
from t2t.core.provenance import package_versions
from t2t.core.runtime import PATH_FIELDS, Runtime, same_path
from t2t.models.backbones import attach_lora, load_backbone, set_attention_dropout, weights_fingerprint
from t2t.training.corpus import corpus_fingerprint, load_corpus
from t2t.training.fastpath import activation_gb, attention_implementation, prepare_lora
from t2t.training.loop import LoopSettings, train
from t2t.training.objective import StageContext, get_objective
from t2t.training.spec import ModelSpec

logger = logging.getLogger(__name__)


def stage_dir(key: str) -> Path:
    return cache_root() / "models" / key


def make_accelerator(runtime: Runtime):
    from accelerate import Accelerator

    return Accelerator(cpu=runtime.device == "cpu", mixed_precision="no")


def build_model(spec: ModelSpec, runtime: Runtime, accelerator=None, paths=None):
    """`(model, tokenizer, logs)`: the backbone after all stages of `spec`, merged, in eval mode.

    `logs` holds one training log per stage (from the artifact when the stage was reused).

    `paths` (one recorded `Runtime.training_path()` per stage, or None) asks for the stages as a
    stored run was trained: a cached stage is reused only when it was trained that way, and a stage
    trained now follows it (`Runtime.following`). A stage cached under the same key but trained
    another way stays where it is, and the one asked for lives beside it (`stage_folder`), so one
    key can hold, say, the fp32-weights stage an old run was built from and today's bf16 one.
    """
    accelerator = accelerator or (make_accelerator(runtime) if spec.stages else None)
    device = str(accelerator.device) if accelerator else runtime.device
    model, tokenizer = load_backbone(
        spec.backbone, attention=spec.attention, dtype=runtime.weight_dtype(), device=device, seed=spec.seed
    )
    logs = []
    distributed = accelerator is not None and accelerator.num_processes > 1
    for index in range(len(spec.stages)):
        key = spec.stage_key(index)
        wanted = paths[index] if paths else None
        lock = (
            nullcontext()
            if distributed
            else exclusive(stage_dir(key).parent / f".{key}.lock", f"stage {key}")
        )
        with lock:  # one process trains a stage (any of its paths); another waits, then loads it
            folder = stage_folder(key, wanted)
            fingerprint = stage_fingerprint(spec, index)
            if _stage_done(folder) and not _fresh_stage(folder, fingerprint, runtime.on_stale):
                move_aside(folder, folder.parent.parent / "stale-models")
            if _stage_done(folder):
                _log_other_path(folder, key, runtime)
                model = _load_merged(model, folder / "adapter")
            else:  # trained now: as `wanted` says (refused where it cannot be followed), else as `runtime`
                stage_runtime = runtime.following(wanted, f"stage {key}") if wanted else runtime
                with torch_threads(stage_runtime.training_threads() if device == "cpu" else None):
                    model = train_stage(
                        model, tokenizer, spec, index, stage_runtime, accelerator, folder, fingerprint
                    )
        logs.append(read_json(folder / "train_log.json", "its loss log is left out of run.json.") or [])
    return model.eval(), tokenizer, logs


def stage_folder(key: str, wanted: dict[str, Any] | None = None) -> Path:
    """Where stage `key` trained as `wanted` lives: its usual folder (`stage_dir`) when that holds
    this path or nothing yet, else a sibling named after the path (`<key>@<digest>`). Without
    `wanted`, the usual folder, whatever path it was trained on."""
    folder = stage_dir(key)
    if wanted is None or not _stage_done(folder) or same_path(_recorded_path(folder), wanted):
        return folder
    digest = hashlib.sha256(json.dumps({k: wanted.get(k) for k in PATH_FIELDS}, sort_keys=True).encode())
    return folder.with_name(f"{key}@{digest.hexdigest()[:8]}")


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` torch threads (None: unchanged), then restore the previous count."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


UNRECORDED = {"unknown": "the stage was cached before how a stage was trained was recorded (stage.json)"}
"""What `trained_with` says of a stage whose `stage.json` does not record its training path."""


def trained_with(spec: ModelSpec, paths=None) -> list[dict[str, Any]]:
    """How each cached stage of `spec` was trained (`Runtime.training_path`, plus checkpointing and
    the versions of torch, transformers and peft: `training_versions`; stages cached before
    2026-12-07 record torch's only), from its `stage.json`; `UNRECORDED` (never null) for a stage
    cached before this was recorded. `paths`: the paths `build_model` was asked for (their folders are read)."""
    return [
        _recorded_path(stage_folder(spec.stage_key(i), paths[i] if paths else None)) or dict(UNRECORDED)
        for i in range(len(spec.stages))
    ]


def _recorded_path(folder: Path) -> dict[str, Any] | None:
    """A cached stage's `trained_with`, or None when its `stage.json` has none (or is unreadable)."""
    return (read_json(folder / "stage.json", "how it was trained is unknown.") or {}).get("trained_with")


def _log_other_path(folder: Path, key: str, runtime: Runtime) -> None:
    """Say when a reused stage was trained on another path than this runtime's: it is still reused
    (the key covers what is trained), but its numbers may differ from a stage trained now."""
    recorded = _recorded_path(folder)
    now = runtime.training_path()
    if recorded is None:
        logger.info(
            "stage %s is reused; how it was trained was not recorded (cached before trained_with)", key
        )
        return
    versions = {
        k: (recorded[k], v) for k, v in training_versions().items() if k in recorded and recorded[k] != v
    }
    if versions:  # a version is not a path (PATH_FIELDS): said, not warned; runs compare versions
        shown = ", ".join(f"{k} {was} (now {want})" for k, (was, want) in versions.items())
        logger.info("stage %s is reused; it was trained with %s", key, shown)
    differences = {k: (recorded.get(k), v) for k, v in now.items() if recorded.get(k) != v}
    if differences:
        shown = ", ".join(f"{k} {was} (now {want})" for k, (was, want) in differences.items())
        logger.warning(
            "stage %s is reused although it was trained with %s; the stage key covers what is trained, "
            "not how. To train it as this runtime would, remove %s",
            key,
            shown,
            folder,
        )


def _stage_done(folder: Path) -> bool:
    return (folder / "adapter" / "adapter_config.json").is_file()


def stage_fingerprint(spec: ModelSpec, index: int) -> dict[str, Any]:
    """The inputs of stages `0..index` (`t2t.core.fingerprint`): the backbone's weights and the corpora."""
    return {
        "weights": weights_fingerprint(spec.backbone),
        "corpora": {stage.corpus: corpus_fingerprint(stage.corpus) for stage in spec.stages[: index + 1]},
    }


def _fresh_stage(folder: Path, current: dict[str, Any], policy: str) -> bool:
    """Whether a trained stage may be reused: its recorded inputs equal today's (or were not
    recorded: stages trained before fingerprints), else `policy` (`Runtime.on_stale`) decides."""
    info = read_json(folder / "stage.json", "the stage's inputs cannot be checked.") or {}
    differences = compare(info.get("fingerprints"), current)
    decision = decide_stale(f"cached stage {folder}", differences, policy)
    if decision == "accept":
        atomic_write_json(
            folder / "stage.json",
            {**info, "fingerprints": current, "stale_accepted": accepted(info, differences)},
        )
    return decision != "recompute"


def _load_merged(model, adapter: Path):
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def train_stage(
    model,
    tokenizer,
    spec: ModelSpec,
    index: int,
    runtime: Runtime,
    accelerator,
    folder: Path,
    fingerprint: dict[str, Any] | None = None,
):
    """Train stage `index` on top of `model` and return the merged result; saves the artifact
    (with `fingerprint`, the stage's inputs, in its `stage.json`).

    The steps: the stage's objective (`_stage_objective`); a fresh LoRA adapter, seeded by
    `spec.seed + index` so that every process draws the same; gradient checkpointing when the
    activations would not fit (`_checkpoint_if_needed`); the loop (`t2t.training.loop.train`) under
    the runtime's training attention; the artifact (`_save_stage`, main process only); the adapter
    merged into the weights."""
    stage = spec.stages[index]
    objective = _stage_objective(spec, index, tokenizer, runtime, accelerator)
    attention_dropout = getattr(model.config, "attention_dropout", 0.0)
    torch.manual_seed(spec.seed + index)  # LoRA init and dropout; identical on every process
    peft_model = attach_lora(model, stage.lora)
    prepare_lora(
        peft_model,
        autocast=runtime.weight_dtype() != torch.float32,
        sparse_dropout=runtime.use_sparse_dropout(),
    )
    objective.configure_model(peft_model)
    checkpointing = _checkpoint_if_needed(peft_model, model.config, stage, objective, runtime, accelerator)
    items = objective.items(load_corpus(stage.corpus))
    logger.info(
        "stage %d/%d (%s, %d steps) -> %s", index + 1, len(spec.stages), stage.objective, stage.steps, folder
    )
    with attention_implementation(peft_model, runtime.training_attention()):
        log = train(
            peft_model,
            objective,
            items,
            _loop_settings(spec, index, runtime),
            checkpoint_dir=folder / "checkpoint",
            accelerator=accelerator,
        )
    if accelerator.is_main_process:
        _save_stage(folder, peft_model, log, spec, index, fingerprint, runtime, checkpointing)
    accelerator.wait_for_everyone()
    if checkpointing:
        peft_model.gradient_checkpointing_disable()
    merged = peft_model.merge_and_unload()
    set_attention_dropout(merged, attention_dropout)
    return merged


def _stage_objective(spec: ModelSpec, index: int, tokenizer, runtime: Runtime, accelerator):
    """Stage `index`'s objective (`t2t.training.objective`), built from its options and what it
    needs to know of the run: tokenizer, pooling, lengths, corpus, the model it starts from, seed,
    autocast and this process's rank among the training processes."""
    stage = spec.stages[index]
    context = StageContext(
        tokenizer=tokenizer,
        pooling=spec.pooling,
        max_length=stage.max_length,
        batch_size=stage.batch_size,
        corpus=stage.corpus,
        model_key=spec.key_before(index),
        seed=spec.seed,
        autocast_dtype=runtime.autocast_dtype(),
        progress=runtime.progress,
        rank=accelerator.process_index,
        world_size=accelerator.num_processes,
    )
    return get_objective(stage.objective)(stage.options_config(), context)


def _checkpoint_if_needed(peft_model, config, stage, objective, runtime: Runtime, accelerator) -> bool:
    """Turn on gradient checkpointing when the runtime asks for it, or when a step's estimated
    activations on this process (`t2t.training.fastpath.activation_gb`: batch × length × the
    objective's passes, split over the processes) exceed `Runtime.checkpoint_above_gb`; whether it did."""
    tokens_per_step = stage.batch_size * stage.max_length * objective.passes_per_item
    estimate = activation_gb(config, tokens_per_step // accelerator.num_processes)
    checkpointing = runtime.checkpointing_for(estimate)
    if checkpointing:
        if not runtime.gradient_checkpointing:
            logger.info(
                "gradient checkpointing for this stage: ~%.1f GB of activations > %.1f GB "
                "(Runtime.checkpoint_above_gb)",
                estimate,
                runtime.checkpoint_above_gb,
            )
        peft_model.enable_input_require_grads()
        peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return checkpointing


def _loop_settings(spec: ModelSpec, index: int, runtime: Runtime) -> LoopSettings:
    """The training loop's settings for stage `index`: its optimiser schedule and steps, seeded by
    `spec.seed + index`, with the runtime's checkpoint interval, autocast and progress bar."""
    stage = spec.stages[index]
    return LoopSettings(
        steps=stage.steps,
        batch_size=stage.batch_size,
        learning_rate=stage.learning_rate,
        weight_decay=stage.weight_decay,
        warmup_steps=stage.warmup_steps,
        grad_clip=stage.grad_clip,
        seed=spec.seed + index,
        checkpoint_every=runtime.checkpoint_every,
        autocast_dtype=runtime.autocast_dtype(),
        progress=runtime.progress,
    )


def training_versions() -> dict[str, str | None]:
    """The versions of the packages whose code trains a stage (torch's kernels, transformers' model
    code, peft's LoRA), kept in its `stage.json`: a stage reused by a process with other versions
    then still says which ones made it. torch as `torch.__version__` (with its build tag, as stages
    recorded it before), the others as `t2t.core.provenance.package_versions` reads them."""
    versions = package_versions()
    return {"torch": torch.__version__, "transformers": versions["transformers"], "peft": versions["peft"]}


def _save_stage(
    folder: Path,
    peft_model,
    log: list[dict],
    spec: ModelSpec,
    index: int,
    fingerprint: dict[str, Any] | None,
    runtime: Runtime,
    checkpointing: bool,
) -> None:
    """The stage's artifact in `folder`: `train_log.json`, `stage.json` (the model spec, the stage's
    index, its input fingerprints and the training path it ran on) and the LoRA `adapter/`, each
    written whole; the loop's resume checkpoint is removed once the adapter is saved."""
    atomic_write_json(folder / "train_log.json", log)
    atomic_write_json(
        folder / "stage.json",
        {
            "model": spec.to_dict(),
            "stage_index": index,
            "fingerprints": fingerprint,
            "trained_with": {
                **runtime.training_path(),
                "gradient_checkpointing": checkpointing,
                **training_versions(),
            },
        },
    )
    with atomic_directory(folder / "adapter") as tmp:
        peft_model.save_pretrained(tmp)
    shutil.rmtree(folder / "checkpoint", ignore_errors=True)
