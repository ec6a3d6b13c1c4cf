"""The one training loop, shared by Text2Token and the baselines.

    for step in range(steps):
        items = plan[step] (this process's share)   # seeded, resumable data order
        loss = objective(model, items)              # under bf16 autocast where fast
        backward; clip to grad_clip; AdamW step      # DDP averages gradients across processes
        every checkpoint_every steps: checkpoint     # trainable weights, optimiser, RNG, log

Distribution is accelerate's job: under `accelerate launch` with several processes the
`ObjectiveModule` is wrapped in DDP, each process takes its slice of every global batch, and the
update equals the single-process update on the same global batch (up to float rounding).

Resuming: a checkpoint is written atomically (`t2t.core.atomic.atomic_directory`); a restarted run
loads the newest one and continues with the same data order, optimiser state and RNG state, so on
the CPU the final adapter equals an uninterrupted run's bit for bit.

A non-finite loss stops the run with `NonFiniteLoss` before the update, keeping the last good
checkpoint; the message names that checkpoint and its step as stored on disk, or says that none
exists yet (a rerun then starts the stage from step 0).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import gather_object
from tqdm.auto import tqdm

from t2t.core.atomic import atomic_directory, atomic_write_json
from t2t.core.errors import UserError
from t2t.training.objective import Objective, ObjectiveModule

logger = logging.getLogger(__name__)


class NonFiniteLoss(UserError, RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass(frozen=True)
class LoopSettings:
    """The optimisation part of a stage (see `StageSpec` for the meaning of each field)."""

    steps: int
    batch_size: int
    learning_rate: float
    weight_decay: float = 0.0
    warmup_steps: int = 0
    grad_clip: float = 1.0
    seed: int = 0
    checkpoint_every: int = 50
    autocast_dtype: torch.dtype = torch.float32
    progress: bool = True


STEP_RANGE = "t2t.train_step"  # profiler range around one optimisation step (reproduce.perf.benchmark)


def sample_plan(n_items: int, steps: int, batch_size: int, seed: int) -> np.ndarray:
    """Item indices of every step, `(steps, batch_size)`: seeded permutations, epoch after epoch."""
    if n_items == 0:
        raise ValueError("the training corpus is empty")
    rng = np.random.default_rng(seed)
    needed = steps * batch_size
    order = np.concatenate([rng.permutation(n_items) for _ in range(math.ceil(needed / n_items) or 1)])
    return order[:needed].reshape(steps, batch_size)


def local_share(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """This process's contiguous slice of a global batch (the batch must divide evenly)."""
    if len(indices) % world_size:
        raise ValueError(f"global batch {len(indices)} does not split over {world_size} processes")
    size = len(indices) // world_size
    return indices[rank * size : (rank + 1) * size]


def learning_rate_at(step: int, settings: LoopSettings) -> float:
    """Constant learning rate after an optional linear warmup (paper: no warmup)."""
    if settings.warmup_steps > 0:
        return settings.learning_rate * min(1.0, (step + 1) / settings.warmup_steps)
    return settings.learning_rate


def _trainable(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, model, optimizer, step: int, log: list[dict], accelerator) -> None:
    """Write trainable weights, optimiser state, per-process RNG state and the loss log atomically."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    # each process's RNG state goes through a temporary file of its own (unique name per process),
    # whose path the main process collects; no two processes ever write the same file
    handle, name = tempfile.mkstemp(
        dir=folder.parent, prefix=f".{folder.name}.rng-{accelerator.process_index}-"
    )
    os.close(handle)
    torch.save(_rng_state(), name)
    names = [name] if accelerator.num_processes == 1 else gather_object([name])
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with atomic_directory(folder) as tmp:
            weights = {name: p.detach().cpu() for name, p in _trainable(model).items()}
            torch.save(weights, tmp / "trainable.pt")
            torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
            for rank, source in enumerate(names):
                os.replace(source, tmp / f"rng-{rank}.pt")
            atomic_write_json(tmp / "state.json", {"step": step, "log": log})
    accelerator.wait_for_everyone()


def load_checkpoint(folder: Path, model, optimizer, accelerator) -> tuple[int, list[dict]]:
    """Restore a checkpoint written by `save_checkpoint`; returns `(step, log)`."""
    state = json.loads((folder / "state.json").read_text())
    weights = torch.load(folder / "trainable.pt", map_location="cpu", weights_only=True)
    params = _trainable(model)
    if set(weights) != set(params):
        raise RuntimeError(f"checkpoint {folder} does not match this model's trainable parameters")
    with torch.no_grad():
        for name, value in weights.items():
            params[name].copy_(value)
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=False))
    _set_rng_state(torch.load(folder / f"rng-{accelerator.process_index}.pt", weights_only=False))
    return int(state["step"]), list(state["log"])


def checkpoint_note(folder: Path) -> str:
    """Where a rerun resumes: the checkpoint in `folder` and its step (from its `state.json`), or none.

    Read from disk, not from the loss log: a checkpoint is written every `checkpoint_every` steps,
    so the last logged step is usually not the step a rerun resumes from.
    """
    try:
        step = int(json.loads((folder / "state.json").read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"No checkpoint exists yet in {folder}, so a rerun restarts the stage from step 0."
    return f"The last good checkpoint (step {step}) is kept in {folder}; a rerun resumes from it."


def train(
    model: torch.nn.Module,
    objective: Objective,
    items: Sequence[Any],
    settings: LoopSettings,
    *,
    checkpoint_dir: Path,
    accelerator,
) -> list[dict]:
    """Train the trainable parameters of `model` (a peft model) on `objective`; returns the loss log.

    The log has one entry per step: `{"step", "loss", "tokens", "seconds"}`; `loss` is the mean
    over processes of the local batch-mean losses (= the global batch mean for equal shares).
    """
    plan = sample_plan(len(items), settings.steps, settings.batch_size, settings.seed)
    objective.prepare(model, items, np.unique(plan))
    optimizer = torch.optim.AdamW(
        list(_trainable(model).values()), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    module, optimizer = accelerator.prepare(ObjectiveModule(model, objective), optimizer)

    start, log = 0, []
    if (checkpoint_dir / "state.json").is_file():
        start, log = load_checkpoint(checkpoint_dir, model, optimizer, accelerator)
        logger.info("resumed from %s at step %d", checkpoint_dir, start)

    device = accelerator.device
    autocast = torch.autocast(
        device.type, dtype=settings.autocast_dtype, enabled=settings.autocast_dtype != torch.float32
    )
    bar = tqdm(
        total=settings.steps,
        initial=start,
        desc="train",
        unit="step",
        disable=not (settings.progress and accelerator.is_main_process),
    )
    tokens_seen, clock = 0, time.perf_counter()
    module.train()
    for step in range(start, settings.steps):
        with torch.profiler.record_function(STEP_RANGE):  # a no-op unless profiled
            step_start = time.perf_counter()
            indices = local_share(plan[step], accelerator.process_index, accelerator.num_processes)
            with autocast:
                loss, tokens = module([items[i] for i in indices], indices.tolist())
            mean_loss = float(accelerator.reduce(loss.detach().float(), reduction="mean"))
            if not math.isfinite(mean_loss):
                bar.close()
                raise NonFiniteLoss(
                    f"loss became {mean_loss} at step {step + 1}; stopped before the update. "
                    f"{checkpoint_note(checkpoint_dir)} "
                    "Try a lower learning rate or fp32 (precision) for this stage."
                )
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, settings)
            accelerator.backward(loss)
            if settings.grad_clip > 0:
                accelerator.clip_grad_norm_(module.parameters(), settings.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

            tokens_seen += int(tokens) * accelerator.num_processes
            elapsed = time.perf_counter() - clock
            log.append(
                {
                    "step": step + 1,
                    "loss": mean_loss,
                    "tokens": int(tokens) * accelerator.num_processes,
                    "seconds": round(time.perf_counter() - step_start, 4),
                }
            )
        bar.update(1)
        bar.set_postfix(loss=f"{mean_loss:.4f}", tok_s=f"{tokens_seen / max(elapsed, 1e-9):.0f}")
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.steps:
            save_checkpoint(checkpoint_dir, model, optimizer, step + 1, log, accelerator)
    bar.close()
    return log
