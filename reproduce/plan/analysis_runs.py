"""What an analysis output runs: one `AnalysisRun` per (analysis, model, sentence sample).

The analyses' counterpart of a `RunSpec`: the planner (`reproduce.plan.grid.analysis_run`) builds
them, `reproduce.run.analysis.analyse` executes them, and the hash names the result file.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from t2t.core.config import Config
from t2t.training.spec import ModelSpec


@dataclasses.dataclass(frozen=True)
class AnalysisRun(Config):
    """One analysis of one model on one sentence sample; `run_id` names its result file.

    Attributes:
        analysis: `spectrum` (trained vs zero-shot embeddings) or `alignment` (top-k LM-head tokens).
        model: the analysed model; for `spectrum` it must have stages (the zero-shot model with the
            same backbone, attention and pooling is the reference).
        corpus: a name from `t2t.training.corpus.CORPORA`.
        sentences: sample size (paper: ~10K for the spectrum, 1,000 for alignment).
        seed: the sample is the first `sentences` lines (of >= 4 words) of a permutation with this seed.
        max_length: token budget per text when embedding.
        top_k: LM-head tokens per embedding (alignment; paper: 10).
    """

    analysis: Literal["spectrum", "alignment"]
    model: ModelSpec
    corpus: str
    sentences: int
    seed: int = 0
    max_length: int = 128
    top_k: int = 10

    def __post_init__(self) -> None:
        if self.sentences < 2 or self.top_k < 1 or self.max_length < 1:
            raise ValueError("sentences must be >= 2, top_k and max_length >= 1")
        if self.analysis == "spectrum" and not self.model.stages:
            raise ValueError("a spectrum compares a trained model with its zero-shot backbone: give stages")

    @property
    def run_id(self) -> str:
        return self.config_hash()
