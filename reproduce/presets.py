"""Scale presets: the same experiments at three sizes.

- `tiny`: random tiny Llama and Mistral decoders, a handful of steps, the `offline-lite` tasks.
  Every table and figure runs end to end on 2 CPU cores in about a minute (CI).
- `smol`: SmolLM2-135M-Instruct (real weights, offline) standing in for both 7-8B backbones as ONE
  column (one small model cannot stand in for the differences between Llama-3 and Mistral, and one
  column halves the CPU time); the local WikiText-2 sentences as every corpus; the `offline` tasks
  (9 real MTEB tasks, scored exactly as MTEB). Runs on a laptop CPU.
- `paper`: Llama-3-8B-Instruct and Mistral-7B-Instruct-v0.2, the paper's corpora and steps,
  MTEB(eng, v2). For GPUs.

Default: `paper` when a CUDA GPU is visible, otherwise `smol`.
"""

from __future__ import annotations

import dataclasses

from t2t.config import Config, choose
from t2t.hardware import default_device


@dataclasses.dataclass(frozen=True)
class Text2TokenScale(Config):
    """Text2Token stage sizes (paper: 500 DD + 200 MD steps, batch 32, length 128, N = 10K)."""

    dd_steps: int = 500
    md_steps: int = 200
    batch_size: int = 32
    max_length: int = 128
    dd_corpus: str = "pretrain-wiki"
    md_corpus: str = "wiki1m"
    common_samples: int = 10_000


@dataclasses.dataclass(frozen=True)
class LLM2VecScale(Config):
    """LLM2Vec/SimCSE stage sizes (paper: MNTP 1000 x 32 x 512; SimCSE 1000 x 128 x 128)."""

    mntp_steps: int = 1000
    mntp_batch_size: int = 32
    mntp_max_length: int = 512
    mntp_corpus: str = "wikitext-103"
    simcse_steps: int = 1000
    simcse_batch_size: int = 128
    simcse_max_length: int = 128
    simcse_corpus: str = "wiki1m"


@dataclasses.dataclass(frozen=True)
class AnalysisScale(Config):
    """Sizes of the figure-5 sweep and the embedding analyses (paper: ~10K sentences for the
    spectrum, 1,000 for token alignment; N from ~1K to 100K; τ from 1e-6 to 1e-1)."""

    figure5_samples: tuple[int, ...] = (1_000, 5_000, 10_000, 50_000, 100_000)
    figure5_taus: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    spectrum_sentences: int = 10_000
    alignment_sentences: int = 1_000
    corpus: str = "wiki1m"


@dataclasses.dataclass(frozen=True)
class ScalePreset(Config):
    """Everything that differs between scales. `backbones` maps a column role to a backbone."""

    name: str
    description: str
    backbones: dict[str, str]
    task_set: str
    eval_max_length: int
    text2token: Text2TokenScale = Text2TokenScale()
    llm2vec: LLM2VecScale = LLM2VecScale()
    analysis: AnalysisScale = AnalysisScale()


PRESETS: dict[str, ScalePreset] = {
    "tiny": ScalePreset(
        name="tiny",
        description="random tiny Llama/Mistral (CI)",
        backbones={"llama": "tiny-llama", "mistral": "tiny-mistral"},
        task_set="offline-lite",
        eval_max_length=64,
        text2token=Text2TokenScale(
            dd_steps=3,
            md_steps=2,
            batch_size=4,
            max_length=32,
            dd_corpus="wikitext2-sentences",
            md_corpus="wikitext2-sentences",
            common_samples=32,
        ),
        llm2vec=LLM2VecScale(
            mntp_steps=2,
            mntp_batch_size=2,
            mntp_max_length=32,
            mntp_corpus="wikitext2-sentences",
            simcse_steps=2,
            simcse_batch_size=4,
            simcse_max_length=32,
            simcse_corpus="wikitext2-sentences",
        ),
        analysis=AnalysisScale(
            figure5_samples=(16, 32),
            figure5_taus=(1e-4, 1e-2),
            spectrum_sentences=64,
            alignment_sentences=32,
            corpus="wikitext2-sentences",
        ),
    ),
    "smol": ScalePreset(
        name="smol",
        description="SmolLM2-135M-Instruct, real weights, on a CPU",
        backbones={"smollm2": "smollm2-135m"},
        task_set="offline",
        eval_max_length=512,
        text2token=Text2TokenScale(
            dd_steps=100,
            md_steps=50,
            batch_size=16,
            max_length=64,
            dd_corpus="wikitext2-sentences",
            md_corpus="wikitext2-sentences",
            common_samples=5_000,
        ),
        llm2vec=LLM2VecScale(
            mntp_steps=100,
            mntp_batch_size=16,
            mntp_max_length=128,
            mntp_corpus="wikitext2-sentences",
            simcse_steps=100,
            simcse_batch_size=32,
            simcse_max_length=64,
            simcse_corpus="wikitext2-sentences",
        ),
        analysis=AnalysisScale(
            figure5_samples=(250, 1_000, 5_000, 9_000),
            figure5_taus=(1e-6, 1e-4, 1e-2, 1e-1),
            spectrum_sentences=2_000,
            alignment_sentences=1_000,
            corpus="wikitext2-sentences",
        ),
    ),
    "paper": ScalePreset(
        name="paper",
        description="Llama-3-8B-Instruct and Mistral-7B-Instruct-v0.2 on GPUs (PAPER.md settings)",
        backbones={"llama": "llama3-8b", "mistral": "mistral-7b"},
        task_set="mteb-eng-v2",
        eval_max_length=1024,
    ),
}

BACKBONE_LABELS = {
    "llama3-8b": "Llama-3-8B",
    "mistral-7b": "Mistral-7B",
    "smollm2-135m": "SmolLM2-135M",
}


def backbone_label(backbone: str) -> str:
    """Column label of a backbone: its paper name for presets, else the name as given."""
    return BACKBONE_LABELS.get(backbone, backbone)


def get_preset(name: str | None = None) -> ScalePreset:
    """A preset by name; None = `paper` on a CUDA machine, else `smol`."""
    if name is None:
        name = "paper" if default_device() == "cuda" else "smol"
    return choose(PRESETS, name, "preset")


def with_backbone(preset: ScalePreset, backbone: str) -> ScalePreset:
    """The preset with one column, `backbone` (a preset name, HF id or local folder)."""
    from t2t.backbones import resolve_preset

    resolve_preset(backbone)  # a typo fails here, with the list of presets
    return preset.replace(backbones={"custom": backbone})
