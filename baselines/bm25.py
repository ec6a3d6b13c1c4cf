"""BM25: the lexical retrieval baseline an unsupervised embedding must beat on retrieval.

BM25 scores a document `d` for a query `q` by the query terms it contains, weighted by how rare
each term is in the corpus and damped by term frequency and document length:

    score(q, d) = sum over terms t of q:  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))

with Lucene's `idf(t) = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5))` (`method="lucene"`; bm25s'
`scoring._score_idf_lucene` and `_score_tfc_robertson`, which leaves out the constant factor
k1 + 1 of the textbook formula: the ranking is the same). It needs no
training and no embeddings: it is mteb's own model `mteb/baseline-bm25s`
(`mteb/models/model_implementations/bm25.py`, mteb 2.26: `BM25Search`, built on the `bm25s`
package with PyStemmer's Snowball stemmers), called here through `mteb.get_model`, so the number in
our tables is the one mteb's leaderboard computes for BM25 on the same task.

`BM25Settings` holds its settings with **mteb's defaults** (`BM25Search.__init__`, lines 326-337 of
that file): k1 1.5, b 0.75, delta 0.5 (used by the BM25L/BM25+ variants only), Lucene's variant, and
stopwords and stemmer chosen from the task's language (`None`; English: bm25s' English stopwords and
the English Snowball stemmer, `_ISO3_TO_LANG["eng"]`), tokens in 90% of the documents dropped where
a language has no stopword list. Documents are `title + "\\n" + text`, queries as mteb gives them.

It is a searcher (`t2t.evaluation.searchers`): importing this module registers `bm25`, which scores Retrieval
tasks only; a run of it names `SearcherSpec("bm25")` on its model and restricts its evaluation to
retrieval (`EvalSpec.task_types`). `bm25_model` builds that `ModelSpec`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import mteb

from t2t.core.config import Config
from t2t.evaluation.searchers import Searcher, SearcherSpec, register_searcher
from t2t.training.spec import ModelSpec

MTEB_MODEL = "mteb/baseline-bm25s"
"""mteb's BM25 model (`mteb.get_model`); bm25s and PyStemmer must be installed (mteb's `bm25s` extra)."""


@dataclasses.dataclass(frozen=True)
class BM25Settings(Config):
    """The settings of mteb's `BM25Search`, named as its keyword arguments, with its defaults.

    Attributes:
        k1: term-frequency saturation.
        b: document-length normalisation (0: none, 1: full).
        delta: the lower bound added to a matching term's score by the `bm25l`/`bm25+` variants;
            unused by `lucene`, `robertson` and `atire` (kept because mteb passes it on).
        method: the BM25 variant of `bm25s.BM25` (they differ in the idf term).
        stopwords: a bm25s stopword list key ("en", ...); None: chosen from the task's language.
        stemmer_language: a PyStemmer language ("english", ...); None: chosen from the task's language.
        freq_threshold: for a language without a stopword list, drop tokens found in at least this
            share of the documents (0: keep all).
    """

    k1: float = 1.5
    b: float = 0.75
    delta: float = 0.5
    method: Literal["robertson", "lucene", "atire"] = "lucene"
    stopwords: str | None = None
    stemmer_language: str | None = None
    freq_threshold: float = 0.9


def build_bm25(settings: BM25Settings):
    """mteb's BM25 search model with `settings` (an mteb `SearchProtocol`: `index`, then `search`)."""
    return mteb.get_model(MTEB_MODEL, **settings.to_dict())


BM25 = register_searcher(
    Searcher(
        "bm25",
        build=build_bm25,
        settings_class=BM25Settings,
        task_types=("Retrieval",),
        description=(
            "a lexical retrieval baseline (BM25, mteb's `mteb/baseline-bm25s`) that ranks documents by "
            "the query terms they contain and has no embeddings"
        ),
    )
)


def bm25_model(backbone: str, settings: BM25Settings = BM25Settings()) -> ModelSpec:
    """A BM25 "model": no weights, no stages. `backbone` names only the table column it stands in
    (the grid plans every row per backbone; BM25's numbers are the same in every column)."""
    return ModelSpec(backbone=backbone, searcher=SearcherSpec("bm25", settings.to_dict()))
