"""GPU-hours of a plan, from a stated cost model (what `--dry-run` prints at `paper` scale).

A run's cost is its FLOPs over what a GPU delivers:

    GPU-hours = FLOPs / (peak bf16 FLOP/s of the GPU kind × assumed utilisation) / 3600

**FLOPs per token** come from the backbone's shape (`SHAPES`, from each named backbone's record in
`t2t.models.backbone_catalog`: its `config.json` fields, so nothing is downloaded): `N` = the decoder's projection parameters, `H` = the LM
head (hidden × vocabulary).

- Encoding: 2N per token (one forward pass; pooling reads hidden states, never the LM head).
- Training with a frozen base and LoRA: ~4N per token (the forward pass, 2N, and the backward pass
  through the activations, ~2N; the frozen weights get no gradient; LoRA's rank-r products are
  negligible), plus 4H where the objective scores the vocabulary (Text2Token's targets, MNTP), plus
  2N + 2H more for model-derived targets, which take one extra forward pass with the adapter off.
  SimCSE runs two dropout views of each text (`passes_per_item`).
- A stage that two runs share (DD only's stage is DD -> MD's first) is counted in both: training
  is a small share of the total, so the figure is a slight overestimate.
- Attention's score products (~4 × layers × hidden × length per token) are not counted: at the
  lengths here (≤ 512 tokens for an 8B model) they add under 10%.

**Tokens.** Training: steps × batch × max_length × passes × `fill` (fill 1.0, every row as long as
`max_length`, is an upper bound; rows are padded to their batch's longest). Evaluation: for every
text column of every evaluated split (mteb's own descriptive statistics, the task's subsets only),
texts × min(mean characters / `chars_per_token` + prompt, max_length): ≈4 characters per token
for English BPE vocabularies, the prompt's tokens for last-token pooling, and the evaluation's
truncation (texts of average length stand in for the length distribution); for classification,
the training texts mteb encodes (at most n_experiments × samples_per_label × labels).

**Utilisation** (model FLOPs utilisation, MFU) is an assumption per GPU kind (`GPU_KINDS`),
overridable with `--mfu`: measured MFU of LoRA fine-tuning and batched inference of 7-8B models in
bf16 is typically 30-45% on A100/H100. Every number this module prints is an estimate from these
assumptions, not a measurement.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from typing import TYPE_CHECKING

from t2t.models.backbone_catalog import BACKBONES

if TYPE_CHECKING:  # imported lazily: `python -m reproduce --help` and `tables` stay light
    from t2t.embedding.pooling import PoolingSpec
    from t2t.runs.run import EvalSpec, RunSpec
    from t2t.training.spec import ModelSpec, StageSpec


@dataclasses.dataclass(frozen=True)
class Shape:
    """What the cost model needs of a decoder: its widths, depth and vocabulary."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    head_dim: int | None = None  # set only where it is not hidden // heads (Gemma-3: 256 at width 640)

    @classmethod
    def from_config(cls, config) -> Shape:
        """The shape of a transformers decoder config (Llama, Mistral, Qwen2 and alike)."""
        return cls.from_mapping(config.to_dict())

    @classmethod
    def from_mapping(cls, config: dict) -> Shape:
        """The shape of a decoder's `config.json` fields."""
        heads = config["num_attention_heads"]
        head_dim = config.get("head_dim")
        return cls(
            hidden=config["hidden_size"],
            intermediate=config["intermediate_size"],
            layers=config["num_hidden_layers"],
            heads=heads,
            kv_heads=config.get("num_key_value_heads") or heads,
            vocab=config["vocab_size"],
            head_dim=None if head_dim in (None, config["hidden_size"] // heads) else head_dim,
        )

    @property
    def projections(self) -> list[tuple[int, int]]:
        """`(in, out)` of one decoder layer's seven projections (q, k, v, o, gate, up, down)."""
        head_dim = self.head_dim or self.hidden // self.heads
        q, kv = self.heads * head_dim, self.kv_heads * head_dim
        hidden, inner = self.hidden, self.intermediate
        return [
            (hidden, q),
            (hidden, kv),
            (hidden, kv),
            (q, hidden),
            (hidden, inner),
            (hidden, inner),
            (inner, hidden),
        ]

    @property
    def decoder_parameters(self) -> int:
        """N: q, k, v, o, gate, up and down projections of every layer."""
        return sum(i * o for i, o in self.projections) * self.layers

    @property
    def head_parameters(self) -> int:
        """H: the LM head (hidden × vocabulary)."""
        return self.hidden * self.vocab


SHAPES: dict[str, Shape] = {name: Shape.from_mapping(b.config) for name, b in BACKBONES.items() if b.config}
"""Cost-model shapes of the named backbones, from their records' `config.json` fields."""


@dataclasses.dataclass(frozen=True)
class GpuKind:
    name: str
    peak_bf16: float  # dense bf16 tensor-core FLOP/s (no sparsity)
    mfu: float  # assumed utilisation for this workload
    source: str


GPU_KINDS: dict[str, GpuKind] = {
    "A100": GpuKind("A100 80GB SXM", 312e12, 0.40, "NVIDIA A100 datasheet: 312 TFLOPS BF16 dense"),
    "H100": GpuKind(
        "H100 SXM", 989e12, 0.35, "NVIDIA H100 datasheet: 1,979 TFLOPS BF16 with sparsity, 989 dense"
    ),
    "H200": GpuKind("H200 SXM", 989e12, 0.35, "NVIDIA H200 datasheet: same tensor cores as H100 SXM"),
}

USES_LM_HEAD = {"data-driven": True, "model-derived": True, "mntp": True, "simcse": False}
EXTRA_FORWARD = {"model-derived": 1}  # target passes with the adapter off, per training pass


@dataclasses.dataclass(frozen=True)
class CostModel:
    """The assumptions of one estimate (see the module docstring)."""

    gpu: str = "H100"
    mfu: float | None = None  # None: the GPU kind's assumed utilisation
    chars_per_token: float = 4.0
    fill: float = 1.0
    prompt_tokens: int = 12  # a prompt template around each text (PromptEOL's; echo's is about as long)

    def __post_init__(self) -> None:
        if self.gpu not in GPU_KINDS:
            raise ValueError(f"unknown GPU kind {self.gpu!r}; known: {', '.join(GPU_KINDS)}")
        if self.mfu is not None and not 0 < self.mfu <= 1:
            raise ValueError(f"mfu is a fraction of the GPU's peak in (0, 1], got {self.mfu}")

    @property
    def flop_per_s(self) -> float:
        kind = GPU_KINDS[self.gpu]
        return kind.peak_bf16 * (self.mfu if self.mfu is not None else kind.mfu)


def shape_of(backbone: str) -> Shape:
    if backbone not in SHAPES:
        raise KeyError(
            f"no shape for backbone {backbone!r} in reproduce.plan.gpu_hours.SHAPES; add a `config` to its record in t2t/models/backbone_catalog.py"
        )
    return SHAPES[backbone]


def stage_flops(stage: StageSpec, shape: Shape, model: CostModel) -> float:
    """Training FLOPs of one stage (see the module docstring for the per-token counts)."""
    from t2t.training.objective import get_objective

    passes = get_objective(stage.objective).passes_per_item
    tokens = stage.steps * stage.batch_size * stage.max_length * passes * model.fill
    return tokens * token_flops(stage.objective, shape)


def token_flops(objective: str, shape: Shape) -> float:
    """Training FLOPs per token of one objective (a token of each view for SimCSE)."""
    n, h = shape.decoder_parameters, shape.head_parameters
    head = h if USES_LM_HEAD.get(objective, True) else 0
    return 4 * (n + head) + EXTRA_FORWARD.get(objective, 0) * 2 * (n + head)


def training_flops(spec: ModelSpec, model: CostModel) -> float:
    shape = shape_of(spec.backbone)
    return sum(stage_flops(stage, shape, model) for stage in spec.stages)


def _blocks(stats: dict) -> list[tuple[float, float]]:
    """(texts, mean characters per text) of each text column in one split's (or subset's) mteb
    descriptive statistics (`text_statistics`, `queries_text_statistics`, `text1_statistics`, ...)."""
    blocks = []
    for key, value in stats.items():
        if key.endswith("_statistics") and isinstance(value, dict) and value.get("total_text_length"):
            mean = max(value.get("average_text_length") or 1.0, 1e-9)
            blocks.append((value["total_text_length"] / mean, mean))
    return blocks


def _subset_stats(split_stats: dict, subsets: Iterable[str]) -> list[dict]:
    by_subset = split_stats.get("hf_subset_descriptive_stats")
    subsets = list(subsets)
    if by_subset and subsets and all(s in by_subset for s in subsets):
        return [by_subset[s] for s in subsets]
    return [split_stats]


def task_texts(task) -> list[tuple[float, float]]:
    """(texts, mean characters per text) of each text column mteb encodes to evaluate `task` (an
    mteb task object), from its metadata: the evaluated splits of its subsets, and for
    classification the training texts it samples (n_experiments × samples_per_label × labels)."""
    stats = task.metadata.descriptive_stats or {}
    blocks = []
    for split in task.eval_splits:
        for part in _subset_stats(stats.get(split, {}), task.hf_subsets or []):
            blocks += _blocks(part)
    train = stats.get(getattr(task, "train_split", "train"), {})
    if task.metadata.type == "Classification" and train:
        for part in _subset_stats(train, task.hf_subsets or []):
            labels = len((part.get("label_statistics") or {}).get("labels") or {}) or 1
            cap = getattr(task, "n_experiments", 10) * getattr(task, "samples_per_label", 8) * labels
            blocks += [(min(texts, cap), mean) for texts, mean in _blocks(part)]
    return blocks


@functools.cache
def task_set_texts(tasks: tuple[str, ...]) -> tuple[tuple[float, float], ...]:
    """`task_texts` of every task an evaluation runs (`EvalSpec.tasks`; mteb metadata, nothing is
    downloaded)."""
    import mteb

    from t2t.evaluation.tasks import MTEB_ENG_V2

    names = set(tasks)
    tasks = [t for t in mteb.get_benchmark(MTEB_ENG_V2).tasks if t.metadata.name in names]
    tasks += [mteb.get_task(n) for n in sorted(names - {t.metadata.name for t in tasks})]
    return tuple(block for task in tasks for block in task_texts(task))


def evaluation_tokens(evaluation: EvalSpec, pooling: PoolingSpec, model: CostModel) -> float:
    """Tokens one evaluation encodes: each text's characters / chars_per_token, as many times as the
    pooling mode writes it (twice in an echo prompt), plus a prompt for every mode but mean pooling,
    cut at the evaluation's max_length."""
    from t2t.embedding.pooling import pooling_mode

    copies = pooling_mode(pooling.mode).text_copies
    prompt = 0 if pooling.mode == "mean" else model.prompt_tokens
    return sum(
        texts * min(copies * mean / model.chars_per_token + prompt, evaluation.max_length)
        for texts, mean in task_set_texts(evaluation.tasks)
    )


def evaluation_flops(spec: ModelSpec, evaluation: EvalSpec, model: CostModel) -> float:
    """FLOPs of one evaluation: its tokens through the decoder; 0 for a searcher (BM25,
    `t2t.evaluation.searchers`), which runs no decoder."""
    if spec.searcher is not None:
        return 0.0
    return evaluation_tokens(evaluation, spec.pooling, model) * 2 * shape_of(spec.backbone).decoder_parameters


@dataclasses.dataclass(frozen=True)
class GpuHours:
    train: float
    evaluate: float

    @property
    def total(self) -> float:
        return self.train + self.evaluate


def run_gpu_hours(run: RunSpec, model: CostModel = CostModel()) -> GpuHours:
    """Estimated GPU-hours of training and evaluating one run."""
    return GpuHours(
        train=training_flops(run.model, model) / model.flop_per_s / 3600,
        evaluate=evaluation_flops(run.model, run.evaluation, model) / model.flop_per_s / 3600,
    )


def cost_model_for(preset: str, gpu: CostModel | None) -> CostModel | None:
    """The cost model a plan is estimated with: the one asked for, else the default at `paper`
    scale (the only scale that runs on GPUs), else none."""
    return gpu or (CostModel() if preset == "paper" else None)


def summary(hours: Iterable[GpuHours], model: CostModel) -> str:
    """`X GPU-hours (training T, evaluation E) <assumptions>` for a set of runs."""
    hours = list(hours)
    train, evaluate = sum(h.train for h in hours), sum(h.evaluate for h in hours)
    return (
        f"{train + evaluate:.1f} GPU-hours (training {train:.1f}, evaluation {evaluate:.1f}) "
        f"{describe_cost_model(model)}"
    )


def describe_cost_model(model: CostModel) -> str:
    """The assumptions behind a GPU-hour figure, in words (printed next to it)."""
    kind = GPU_KINDS[model.gpu]
    mfu = model.mfu if model.mfu is not None else kind.mfu
    return (
        f"on {kind.name} ({kind.peak_bf16 / 1e12:.0f} TFLOP/s bf16 dense) at an assumed {mfu:.0%} utilisation, "
        f"{model.chars_per_token:g} characters per token, training rows of max_length "
        "(an upper bound); an estimate from reproduce/plan/gpu_hours.py, not a measurement"
    )
