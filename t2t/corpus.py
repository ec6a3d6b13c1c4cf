"""Unlabeled training corpora, by name.

Local corpora live under the data root (`t2t.paths.data_root()`), one sentence per line; they are
what the `tiny` and `smol` presets train on. Hub corpora are the paper's (PAPER.md §1-2) and load
with `datasets` where the Hub is reachable.

    >>> texts = load_corpus("wikitext2-sentences", limit=1000)   # first 1000 non-empty lines
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from t2t.config import choose
from t2t.paths import data_root

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Corpus:
    name: str
    description: str
    load: Callable[[], list[str]]


def _local_lines(relative: str) -> Callable[[], list[str]]:
    def load() -> list[str]:
        root = data_root()
        if root is None or not (root / relative).is_file():
            raise FileNotFoundError(
                f"local corpus file {relative!r} not found under the data root ({root}); set "
                "T2T_DATA_DIR to the offline assets folder, or use a Hub corpus (wiki1m, pretrain-wiki)."
            )
        lines = (root / relative).read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip()]

    return load


def _hub_text_file(repo: str, filename: str) -> Callable[[], list[str]]:
    def load() -> list[str]:
        from datasets import load_dataset

        url = f"hf://datasets/{repo}/{filename}"
        rows = load_dataset("text", data_files=url, split="train")["text"]
        return [line.strip() for line in rows if line.strip()]

    return load


def _hub_dataset(
    path: str, column: str, name: str | None = None, split: str = "train"
) -> Callable[[], list[str]]:
    def load() -> list[str]:
        from datasets import load_dataset

        rows = load_dataset(path, name, split=split)[column]
        return [text.strip() for text in rows if text and text.strip()]

    return load


CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in [
        Corpus(
            "wikitext2-sentences",
            "WikiText-2 test split, one sentence a line (local)",
            _local_lines("corpus/wikitext2_test_sentences.txt"),
        ),
        Corpus(
            "brown-sentences",
            "Brown corpus sentences (local; non-commercial licence)",
            _local_lines("corpus/brown_sentences.txt"),
        ),
        Corpus(
            "wiki1m",
            "SimCSE's 1M Wikipedia sentences (Hub: princeton-nlp/datasets-for-simcse)",
            _hub_text_file("princeton-nlp/datasets-for-simcse", "wiki1m_for_simcse.txt"),
        ),
        Corpus(
            "pretrain-wiki",
            "Wikipedia passages (Hub: cfli/pretrain_wiki), Text2Token stage 1",
            _hub_dataset("cfli/pretrain_wiki", "text"),
        ),
        Corpus(
            "wikitext-103",
            "WikiText-103 raw train (Hub: wikitext), LLM2Vec's MNTP corpus",
            _hub_dataset("wikitext", "text", "wikitext-103-raw-v1"),
        ),
    ]
}

_LOADED: dict[str, list[str]] = {}


def load_corpus(name: str, limit: int | None = None) -> list[str]:
    """The texts of a named corpus (non-empty, stripped, in file order), optionally the first `limit`."""
    corpus = choose(CORPORA, name, "corpus")
    if name not in _LOADED:
        _LOADED[name] = corpus.load()
        logger.info("corpus %s: %d texts", name, len(_LOADED[name]))
    texts = _LOADED[name]
    return texts[:limit] if limit is not None else texts
