"""From a `ModelSpec` to a ready model: load the backbone, then train or reuse each stage.

    model = backbone
    for each stage i:
        if artifact stage_key(i) exists: load its adapter, merge    # reuse across runs and tables
        else: attach a fresh LoRA, train (resumably), save adapter, merge

Artifacts live in `cache_root()/models/<stage_key>/`: `adapter/` (peft), `train_log.json`, and
`checkpoint/` while training. A stage is complete when `adapter/` exists (written atomically).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import torch

from t2t.atomic import atomic_directory, atomic_write_json
from t2t.backbones import attach_lora, load_backbone, set_attention_dropout
from t2t.corpus import load_corpus
from t2t.paths import cache_root
from t2t.runtime import Runtime
from t2t.training.loop import LoopSettings, train
from t2t.training.objective import StageContext, get_objective
from t2t.training.spec import ModelSpec

logger = logging.getLogger(__name__)


def stage_dir(key: str) -> Path:
    return cache_root() / "models" / key


def make_accelerator(runtime: Runtime):
    from accelerate import Accelerator

    return Accelerator(cpu=runtime.device == "cpu", mixed_precision="no")


def build_model(spec: ModelSpec, runtime: Runtime, accelerator=None):
    """`(model, tokenizer, logs)`: the backbone after all stages of `spec`, merged, in eval mode.

    `logs` holds one training log per stage (from the artifact when the stage was reused).
    """
    accelerator = accelerator or (make_accelerator(runtime) if spec.stages else None)
    device = str(accelerator.device) if accelerator else runtime.device
    model, tokenizer = load_backbone(
        spec.backbone, attention=spec.attention, dtype=runtime.weight_dtype(), device=device, seed=spec.seed
    )
    logs = []
    for index in range(len(spec.stages)):
        folder = stage_dir(spec.stage_key(index))
        if (folder / "adapter" / "adapter_config.json").is_file():
            model = _load_merged(model, folder / "adapter")
        else:
            model = train_stage(model, tokenizer, spec, index, runtime, accelerator, folder)
        logs.append(json.loads((folder / "train_log.json").read_text()))
    return model.eval(), tokenizer, logs


def _load_merged(model, adapter: Path):
    from peft import PeftModel

    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def train_stage(model, tokenizer, spec: ModelSpec, index: int, runtime: Runtime, accelerator, folder: Path):
    """Train stage `index` on top of `model` and return the merged result; saves the artifact."""
    stage = spec.stages[index]
    objective_class = get_objective(stage.objective)
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
    objective = objective_class(stage.options_config(), context)
    attention_dropout = getattr(model.config, "attention_dropout", 0.0)
    torch.manual_seed(spec.seed + index)  # LoRA init and dropout; identical on every process
    peft_model = attach_lora(model, stage.lora)
    objective.configure_model(peft_model)
    if runtime.gradient_checkpointing:
        peft_model.enable_input_require_grads()
        peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    items = objective.items(load_corpus(stage.corpus))
    logger.info(
        "stage %d/%d (%s, %d steps) -> %s", index + 1, len(spec.stages), stage.objective, stage.steps, folder
    )
    settings = LoopSettings(
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
    log = train(
        peft_model, objective, items, settings, checkpoint_dir=folder / "checkpoint", accelerator=accelerator
    )
    if accelerator.is_main_process:
        atomic_write_json(folder / "train_log.json", log)
        atomic_write_json(folder / "stage.json", {"model": spec.to_dict(), "stage_index": index})
        with atomic_directory(folder / "adapter") as tmp:
            peft_model.save_pretrained(tmp)
        shutil.rmtree(folder / "checkpoint", ignore_errors=True)
    accelerator.wait_for_everyone()
    if runtime.gradient_checkpointing:
        peft_model.gradient_checkpointing_disable()
    merged = peft_model.merge_and_unload()
    set_attention_dropout(merged, attention_dropout)
    return merged
