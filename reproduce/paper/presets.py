"""Scale presets: the same experiments at three sizes.

- `tiny`: random tiny Llama and Mistral decoders, a handful of steps, the `offline-lite` tasks.
  Every table and figure runs end to end on 2 CPU cores in about a minute (CI).
- `smol`: SmolLM2-135M-Instruct (real weights, offline) standing in for both 7-8B backbones as ONE
  column (one small model cannot stand in for the differences between Llama-3 and Mistral, and one
  column halves the CPU time); the local WikiText-2 sentences as every corpus; the `offline-balanced`
  tasks (8 tasks in six MTEB categories, within the token budget of the 9 STS and classification
  tasks of `offline`, which runs stored before it also hold: one run, both sets). Runs on a laptop CPU. `main` adds Gemma-3-270M as a
  second column (a second family: another vocabulary, attention layout and bidirectional switch),
  so main's claims are checked on two families; every other output stays single-column at smol,
  table3 included until its Gemma runs are stored (a fresh `nox -s table3` must not start hours of
  new training).
- `paper`: Llama-3-8B-Instruct and Mistral-7B-Instruct-v0.2, the paper's corpora and steps,
  MTEB(eng, v2). For GPUs.

Default: `paper` when a CUDA GPU is visible, otherwise `smol`.
"""

from __future__ import annotations

import dataclasses

from baselines.recipes import LLM2VecSettings
from t2t.core.config import Config, choose
from t2t.core.hardware import default_device
from t2t.models.backbone_catalog import BACKBONES, DEFAULT_BACKBONE
from t2t.models.backbones import resolve_backbone
from t2t.text2token.recipes import Text2TokenSettings
from t2t.text2token.targets.options import ModelDerivedConfig


@dataclasses.dataclass(frozen=True)
class AnalysisScale(Config):
    """Sizes of the sweeps and the embedding analyses (paper: ~10K sentences for the spectrum,
    1,000 for token alignment; N from ~1K to 100K; τ from 1e-6 to 1e-1). `budgets`: the training
    budgets of the budget curves, as factors of the preset's steps (ours: the paper trains one budget
    per method; 1 is the preset's run)."""

    budgets: tuple[float, ...] = (0.5, 1.0, 2.0)
    figure5_samples: tuple[int, ...] = (1_000, 5_000, 10_000, 50_000, 100_000)
    figure5_taus: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
    spectrum_sentences: int = 10_000
    alignment_sentences: int = 1_000
    corpus: str = "wiki1m"


@dataclasses.dataclass(frozen=True)
class ScalePreset(Config):
    """Everything that differs between scales. `backbones` maps a column role to a backbone.

    `output_backbones`: outputs whose columns differ from `backbones` (output id -> role ->
    backbone); `backbones_for` resolves them. `text2token` and `llm2vec` are the methods' own
    settings classes, whose defaults are the paper's (`t2t.text2token.recipes.Text2TokenSettings`,
    `baselines.recipes.LLM2VecSettings`): `paper` keeps them, the smaller presets override only what
    they shrink. `seeds`: training seeds 0..seeds-1 per cell
    (`--seeds` overrides; seed 0 is the run made without seeds).
    """

    name: str
    description: str
    backbones: dict[str, str]
    task_set: str
    eval_max_length: int
    text2token: Text2TokenSettings = Text2TokenSettings()
    llm2vec: LLM2VecSettings = LLM2VecSettings()
    seeds: int = 1
    analysis: AnalysisScale = AnalysisScale()
    output_backbones: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    def backbones_for(self, output: str) -> dict[str, str]:
        """The columns (role -> backbone) of one output at this preset."""
        return dict(self.output_backbones.get(output, self.backbones))

    def description_for(self, output: str) -> str:
        """The preset's description, naming any column an output adds to the preset's backbones."""
        extra = [b for r, b in self.backbones_for(output).items() if r not in self.backbones]
        if not extra:
            return self.description
        return f"{self.description}; {', '.join(backbone_label(b) for b in extra)} as a second family"


SCALE_PRESETS: dict[str, ScalePreset] = {
    "tiny": ScalePreset(
        name="tiny",
        description="random tiny Llama/Mistral (CI)",
        backbones={"llama": "tiny-llama", "mistral": "tiny-mistral"},
        task_set="offline-lite",
        eval_max_length=64,
        text2token=Text2TokenSettings(
            dd_steps=3,
            md_steps=2,
            batch_size=4,
            max_length=32,
            dd_corpus="wikitext2-sentences",
            md_corpus="wikitext2-sentences",
            model_derived=ModelDerivedConfig(common_samples=32),
        ),
        llm2vec=LLM2VecSettings(
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
            budgets=(1.0, 2.0),
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
        backbones={"smollm2": DEFAULT_BACKBONE},
        task_set="offline-balanced",
        eval_max_length=512,
        text2token=Text2TokenSettings(
            dd_steps=100,
            md_steps=50,
            batch_size=16,
            max_length=64,
            dd_corpus="wikitext2-sentences",
            md_corpus="wikitext2-sentences",
            model_derived=ModelDerivedConfig(common_samples=5_000),
        ),
        llm2vec=LLM2VecSettings(
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
        # A second real family where the smol claims are made: `main` (its Gemma cells are
        # `compare --backbone gemma3-270m`'s runs) and `table3` (its DD -> MD is main's Text2Token).
        # pooling-attention, targets, figure 5 and the analyses stay SmolLM2-only at smol: a Gemma
        # column there would be ~20 more runs (8, 6 and 7 per output, some shared) at 16-27 min each
        # on 1 thread (table3's Gemma runs took 975-1,610 s, about a SmolLM2 run's cost).
        output_backbones={
            output: {"smollm2": DEFAULT_BACKBONE, "gemma": "gemma3-270m"}
            for output in ("main", "table3", "budget")
        },
    ),
    # The methods' settings at their defaults, i.e. the paper's.
    "paper": ScalePreset(
        name="paper",
        description="Llama-3-8B-Instruct and Mistral-7B-Instruct-v0.2 on GPUs (PAPER.md settings)",
        backbones={"llama": "llama3-8b", "mistral": "mistral-7b"},
        task_set="mteb-eng-v2",
        eval_max_length=1024,
    ),
}


def backbone_label(backbone: str) -> str:
    """Column label of a backbone: its record's label (`t2t.models.backbone_catalog`), else the name as given."""
    record = BACKBONES.get(backbone)
    return record.label if record and record.label else backbone


def get_preset(name: str | None = None) -> ScalePreset:
    """A preset by name; None = `paper` on a CUDA machine, else `smol`."""
    if name is None:
        name = "paper" if default_device() == "cuda" else "smol"
    return choose(SCALE_PRESETS, name, "preset")


def with_backbone(preset: ScalePreset, backbone: str) -> ScalePreset:
    """The preset with one column, `backbone` (a preset name, HF id or local folder)."""
    resolve_backbone(backbone)  # a typo fails here, with the list of named backbones
    return preset.replace(
        backbones={"custom": backbone},
        output_backbones={},
        description=f"{backbone_label(backbone)} in place of the preset's backbones; {preset.name}'s steps and tasks",
    )
