"""How to run (not what to run): device, precision, checkpointing, batch sizes for evaluation.

None of these fields enter a run's identity (its config hash): they change speed, not meaning.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import torch

from t2t.core.errors import UserError
from t2t.core.hardware import default_device, fast_bf16


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Execution settings.

    Attributes:
        device: `cpu` or `cuda` (default: cuda when visible).
        precision: `auto` = bf16 frozen weights and bf16 autocast wherever bf16 is fast (GPUs,
            CPUs with native bf16), with LoRA parameters and optimiser state in fp32; fp32
            elsewhere. `fp32` forces fp32 everywhere; `bf16` forces bf16 weights; `mixed` keeps
            fp32 weights under bf16 autocast (the CPU default before the training fast path: the
            same bf16 matmuls, an fp32 residual stream, slower steps; `t2t.training.fastpath`).
        checkpoint_every: training checkpoint interval, in steps.
        gradient_checkpointing: trade compute for memory in every stage (paper-scale training on
            one GPU): the layers' activations are recomputed in the backward instead of stored.
        checkpoint_above_gb: also checkpoint a stage whose estimated activation memory exceeds this
            many GB (`t2t.training.fastpath.activation_gb`); None: only `gradient_checkpointing`.
            Default 6: at smol, SimCSE (two views of 32 × 64 tokens, up to ~7.8 GB of activations,
            7.6 GB peak measured) is checkpointed (2.3 GB peak, ~25% slower steps); MNTP (4.8 GB
            peak) and Text2Token's stages are not. Recomputation replays the saved RNG state, so dropout masks and the
            update are the same.
        eval_batch_size: texts per forward pass in evaluation (when `eval_batch_tokens` is None).
        eval_batch_tokens: batch evaluation by a token budget instead: texts, longest first, share a
            forward pass while texts × the longest row stays within it (`Embedder(batch_tokens=...)`);
            short sentences then run in larger batches. None: `eval_batch_size` texts per batch.
            The embeddings are the same up to float rounding (a test).
        eval_long_batch_tokens: with `eval_batch_size` texts per batch, cut the batches of long texts
            (over 128 tokens, such as retrieval documents) at this many padded tokens
            (`t2t.embedding.encoder.length_batches`): on CPUs they encode ~35% faster than in batches of 32, as
            fast per token as STS sentences. Short texts' batches are unchanged. None: no cut.
        progress: progress bars.
        on_stale: what to do with a stored result (run or cached stage) whose recorded inputs
            (data files, weights: `t2t.core.fingerprint`) differ from today's: `error` (default) stops
            with a message listing the differences; `recompute` moves the stale result aside and
            computes it again; `accept` keeps it and records the acceptance in its metadata.
        embedding_cache: keep each run's embeddings by text in `cache_root()/embeddings/<run id>`
            (`t2t.embedding.cache`), so resuming, re-evaluating and rescoring never encode a text
            twice. ~100 MB per run at smol (float32); off for huge task sets if disk is short.
        eval_parallel: encode on every visible GPU when there are several (one model copy per GPU,
            batches dealt round-robin: `Embedder(devices=...)`); the embeddings are the same.
        train_attention: the attention kernel while training: `auto` = eager on CPUs (sdpa's CPU
            backward is slow for short padded batches), sdpa on GPUs; or `sdpa` / `eager`.
            Evaluation always uses the model's own (sdpa). Same maths either way.
        sparse_dropout: LoRA dropout drawing only the dropped positions (`SparseDropout`, the same
            Bernoulli(p) masks in distribution, other random draws than `nn.Dropout`): `auto` = on
            CPUs, where drawing a random number per element costs ~19% of a step; `on` / `off`.
        train_threads: CPU threads a stage trains with (None: the process's, `torch.get_num_threads()`).
            The thread count changes how matmuls split their sums, so a stage trained with 1 thread
            and the same stage trained with 2 differ in the last bits and, after 100 steps, by a few
            hundredths of a point. It is recorded with each stage (`training_path()["threads"]`);
            re-training a stored run (new tasks, `--verify`) sets it to the recorded count
            (`following`), whatever the launch path (inline: all cores; `--executor local`: a share).
        add_items: re-evaluate stored tasks that have no per-item outputs (runs stored before them),
            so their cells get intervals; the new score replaces the stored one and both are
            recorded in `run.json` (`reevaluated`). The model is rebuilt from cached stages, or
            retrained where the cache is gone.
    """

    device: str = dataclasses.field(default_factory=default_device)
    precision: Literal["auto", "fp32", "bf16", "mixed"] = "auto"
    checkpoint_every: int = 50
    gradient_checkpointing: bool = False
    checkpoint_above_gb: float | None = 6.0
    eval_batch_size: int = 32
    eval_batch_tokens: int | None = None
    eval_long_batch_tokens: int | None = 2048
    progress: bool = True
    on_stale: Literal["error", "recompute", "accept"] = "error"
    add_items: bool = False
    embedding_cache: bool = True
    eval_parallel: bool = True
    train_attention: Literal["auto", "sdpa", "eager"] = "auto"
    sparse_dropout: Literal["auto", "on", "off"] = "auto"
    train_threads: int | None = None

    def __post_init__(self) -> None:
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        if self.eval_batch_size < 1:
            raise ValueError(f"eval_batch_size must be >= 1, got {self.eval_batch_size}")
        if self.eval_batch_tokens is not None and self.eval_batch_tokens < 1:
            raise ValueError(f"eval_batch_tokens must be >= 1 or None, got {self.eval_batch_tokens}")
        if self.eval_long_batch_tokens is not None and self.eval_long_batch_tokens < 1:
            raise ValueError(
                f"eval_long_batch_tokens must be >= 1 or None, got {self.eval_long_batch_tokens}"
            )
        if self.on_stale not in ("error", "recompute", "accept"):
            raise ValueError(f"on_stale must be error, recompute or accept, got {self.on_stale!r}")
        if self.checkpoint_above_gb is not None and not self.checkpoint_above_gb > 0:
            raise ValueError(f"checkpoint_above_gb must be > 0 or None, got {self.checkpoint_above_gb}")
        if self.train_attention not in ("auto", "sdpa", "eager"):
            raise ValueError(f"train_attention must be auto, sdpa or eager, got {self.train_attention!r}")
        if self.sparse_dropout not in ("auto", "on", "off"):
            raise ValueError(f"sparse_dropout must be auto, on or off, got {self.sparse_dropout!r}")
        if self.train_threads is not None and self.train_threads < 1:
            raise ValueError(f"train_threads must be >= 1 or None, got {self.train_threads}")

    def weight_dtype(self) -> torch.dtype:
        """The dtype the (frozen) backbone is loaded in; trainable LoRA weights stay fp32."""
        if self.precision == "mixed":
            return torch.float32
        return self.autocast_dtype()

    def eval_batching(self) -> dict[str, int | None]:
        """`Embedder` batching arguments: a token budget (no separate cap on texts), else texts (long
        texts' batches cut at `eval_long_batch_tokens`)."""
        if self.eval_batch_tokens is None:
            return {
                "batch_size": self.eval_batch_size,
                "batch_tokens": None,
                "long_batch_tokens": self.eval_long_batch_tokens,
            }
        return {"batch_size": self.eval_batch_tokens, "batch_tokens": self.eval_batch_tokens}

    def encoding_devices(self) -> list[str] | None:
        """The devices evaluation encodes on: all GPUs when several are visible, else None (one)."""
        if not (self.eval_parallel and self.device.startswith("cuda")) or torch.cuda.device_count() < 2:
            return None
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]

    def checkpointing_for(self, activation_gb: float) -> bool:
        """Whether a stage with this estimated activation memory trains with checkpointing."""
        if self.gradient_checkpointing:
            return True
        return self.checkpoint_above_gb is not None and activation_gb > self.checkpoint_above_gb

    def training_attention(self) -> str:
        if self.train_attention != "auto":
            return self.train_attention
        return "sdpa" if self.device.startswith("cuda") else "eager"

    def training_path(self) -> dict[str, Any]:
        """How this runtime trains a stage, as recorded in the stage's `stage.json` (`trained_with`).

        A stage's cache key covers what is trained (objective, data, steps, seed), not how: the same
        stage trained on another path (fp32 weights under autocast vs bf16 weights, sdpa vs eager,
        dense vs sparse dropout) gives other numbers, sometimes far apart (at smol, last pooling over
        bidirectional attention moved 4-18 STS points). So the path is kept with the stage and
        with every run built from it, and reusing a stage trained another way is logged.
        """
        path = {
            "device": self.device.split(":")[0],
            "weights": str(self.weight_dtype()).removeprefix("torch."),
            "autocast": str(self.autocast_dtype()).removeprefix("torch."),
            "attention": self.training_attention(),
            "sparse_dropout": self.use_sparse_dropout(),
        }
        if path["device"] == "cpu":
            path["threads"] = self.training_threads()
        return path

    def training_threads(self) -> int:
        """The CPU threads a stage trains with: `train_threads`, else the process's."""
        return self.train_threads or torch.get_num_threads()

    def following(self, path: dict[str, Any], what: str = "this run") -> Runtime:
        """This runtime, changed to train as `path` (a recorded `training_path()`) says: precision,
        attention kernel, dropout kind and CPU threads. Evaluation then uses the recorded precision
        too. Refused (`PathUnavailable`, naming the flags) when the path cannot be followed here: no
        record (a stage cached before paths were recorded) or another device kind."""
        if not path or "unknown" in path:
            raise PathUnavailable(
                f"{what}: how its stages were trained was not recorded, so they cannot be retrained "
                "as they were. Recompute the run as a whole (--on-stale recompute moves it aside)."
            )
        device = self.device.split(":")[0]
        if path.get("device") != device:
            raise PathUnavailable(
                f"{what} was trained on {path.get('device')} and this machine trains on {device}: "
                "retraining it here makes another model. Evaluate its missing tasks on a machine of "
                f"that kind with {path_flags(path)}, or recompute the run as a whole (--on-stale "
                "recompute moves it aside)."
            )
        precision = PRECISION_OF.get((path.get("weights"), path.get("autocast")))
        if precision is None:
            raise PathUnavailable(f"{what}: unknown recorded precision {path!r}")
        return dataclasses.replace(
            self,
            precision=precision,
            train_attention=path.get("attention", "auto"),
            sparse_dropout="on" if path.get("sparse_dropout") else "off",
            train_threads=path.get("threads") if device == "cpu" else None,
        )

    def use_sparse_dropout(self) -> bool:
        if self.sparse_dropout != "auto":
            return self.sparse_dropout == "on"
        return not self.device.startswith("cuda")

    def autocast_dtype(self) -> torch.dtype:
        if self.precision == "fp32":
            return torch.float32
        if self.precision in ("bf16", "mixed") or fast_bf16(self.device):
            return torch.bfloat16
        return torch.float32

    def eval_dtype(self) -> torch.dtype:
        return self.autocast_dtype()


PRECISION_OF = {
    ("float32", "float32"): "fp32",
    ("bfloat16", "bfloat16"): "bf16",
    ("float32", "bfloat16"): "mixed",
}
"""`--precision` of a recorded (weights, autocast) pair (`Runtime.training_path`)."""

PATH_FIELDS = ("device", "weights", "autocast", "attention", "sparse_dropout", "threads")
"""The fields of a training path that change a stage's numbers (checkpointing replays the same RNG
and gives the same update; torch's version is a version, checked where runs are compared)."""


def same_path(recorded: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    """Whether a stage trained as `recorded` is the stage `wanted` asks for (every `PATH_FIELDS`
    entry equal; a record missing one of them matches nothing that names it)."""
    if not recorded or not wanted:
        return False
    return all(recorded.get(key) == wanted.get(key) for key in PATH_FIELDS if key in wanted)


def path_flags(path: dict[str, Any]) -> str:
    """The command-line flags that train as `path` does, e.g. `--precision mixed --train-attention
    sdpa --sparse-dropout off` (and the thread count on a CPU)."""
    precision = PRECISION_OF.get((path.get("weights"), path.get("autocast")), "?")
    flags = (
        f"--precision {precision} --train-attention {path.get('attention')} "
        f"--sparse-dropout {'on' if path.get('sparse_dropout') else 'off'}"
    )
    if path.get("threads"):
        flags += f" --train-threads {path['threads']}"
    return flags


class PathUnavailable(UserError, ValueError):
    """A stored run's recorded training path cannot be followed on this machine."""
