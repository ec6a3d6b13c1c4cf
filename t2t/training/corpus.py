"""Unlabeled training corpora, by name.

Local corpora live under the data root (`t2t.core.paths.data_root()`), one sentence per line; they are
what the `tiny` and `smol` presets train on. Hub corpora are the paper's (PAPER.md §1-2) and load
with `datasets` where the Hub is reachable.

    >>> texts = load_corpus("wikitext2-sentences", limit=1000)   # first 1000 non-empty lines
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable

from t2t.core.config import choose
from t2t.core.fingerprint import verify_data_file
from t2t.core.paths import data_root

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Corpus:
    """A named corpus. `file`: the data-root file of a local corpus (None for Hub corpora)."""

    name: str
    description: str
    load: Callable[[], list[str]]
    file: str | None = None


def _local_lines(
    relative: str, hub_fallback: Callable[[], list[str]] | None = None
) -> Callable[[], list[str]]:
    def load() -> list[str]:
        root = data_root()
        if root is None or not (root / relative).is_file():
            if root is None and hub_fallback is not None:
                logger.info("no data root: building %s from the Hub", relative)
                return hub_fallback()
            raise FileNotFoundError(
                f"local corpus file {relative!r} not found under the data root ({root}); set "
                "T2T_DATA_DIR to the offline assets folder, or use a Hub corpus (wiki1m, pretrain-wiki)."
            )
        verify_data_file(root, relative)  # against MANIFEST.json
        lines = (root / relative).read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip()]

    return load


def _passages(name: str, min_chars: int) -> Callable[[], list[str]]:
    """Consecutive texts of corpus `name` joined (with spaces) into passages of >= `min_chars`."""

    def load() -> list[str]:
        passages, current = [], []
        for text in load_corpus(name):
            current.append(text)
            if sum(map(len, current)) + len(current) - 1 >= min_chars:
                passages.append(" ".join(current))
                current = []
        return passages

    return load


_DETOKENIZE = [
    (" @-@ ", "-"),
    (" @,@ ", ","),
    (" @.@ ", "."),
    (" , ", ", "),
    (" ; ", "; "),
    (" : ", ": "),
    (" 's", "'s"),
    (" n't", "n't"),
    ("( ", "("),
    (" )", ")"),
]


def wikitext_sentences(lines: list[str]) -> list[str]:
    """WikiText paragraphs -> one sentence per item, WikiText's tokenisation undone.

    Headings are dropped, ` @-@ ` -> `-`, ` , ` -> `, ` (and the like), and paragraphs are split
    after `.`, `!` or `?` followed by a capital or a quote. An approximation of the data root's
    derived file, used only to build the corpus from the Hub when there is no data root.

        >>> wikitext_sentences([" = Title = ", " He had a guest @-@ starring role . It ended ."])
        ['He had a guest-starring role.', 'It ended.']
    """
    sentences = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("="):
            continue
        for raw, clean in _DETOKENIZE:
            line = line.replace(raw, clean)
        line = re.sub(r" ([.!?])", r"\1", line)
        sentences += [part.strip() for part in re.split(r"(?<=[.!?]) (?=[A-Z\"])", line) if part.strip()]
    return sentences


def _hub_text_file(repo: str, filename: str) -> Callable[[], list[str]]:
    def load() -> list[str]:
        from datasets import load_dataset

        url = f"hf://datasets/{repo}/{filename}"
        rows = load_dataset("text", data_files=url, split="train")["text"]
        return [line.strip() for line in rows if line.strip()]

    return load


HUB_TEXTS_CAP = 1_000_000
"""Hub corpora are streamed and cut at this many texts (the paper's runs use far fewer: 500 x 32
stage-1 texts, 1000 x 128 SimCSE texts), so a 10M-row dataset is never downloaded whole."""


def _hub_dataset(
    path: str, column: str, name: str | None = None, split: str = "train"
) -> Callable[[], list[str]]:
    def load() -> list[str]:
        from datasets import load_dataset

        rows = load_dataset(path, name, split=split, streaming=True)
        texts = []
        for row in rows:
            text = row.get(column) or next((v for v in row.values() if isinstance(v, str)), "")
            if text and text.strip():
                texts.append(text.strip())
                if len(texts) == HUB_TEXTS_CAP:
                    break
        return texts

    return load


CORPORA: dict[str, Corpus] = {
    corpus.name: corpus
    for corpus in [
        Corpus(
            "wikitext2-sentences",
            "WikiText-2 test split, one sentence a line (local)",
            _local_lines("corpus/wikitext2_test_sentences.txt"),
            file="corpus/wikitext2_test_sentences.txt",
        ),
        Corpus(
            "wikitext2-passages",
            "WikiText-2 test sentences joined into passages of >= 6,000 characters (local; longer than "
            "1,024 tokens, so they fill every row of a paper-length batch: reproduce.perf.paper_shape)",
            _passages("wikitext2-sentences", 6000),
            file="corpus/wikitext2_test_sentences.txt",
        ),
        Corpus(
            "brown-sentences",
            "Brown corpus sentences (local; non-commercial licence)",
            _local_lines("corpus/brown_sentences.txt"),
            file="corpus/brown_sentences.txt",
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


def corpus_fingerprint(name: str) -> dict[str, str]:
    """`{file: short sha256}` of a local corpus under the data root, else `{"hub": <description>}`."""
    corpus = choose(CORPORA, name, "corpus")
    root = data_root()
    if corpus.file is not None and root is not None and (root / corpus.file).is_file():
        return {corpus.file: verify_data_file(root, corpus.file)}
    return {"hub": corpus.description}


def load_corpus(name: str, limit: int | None = None) -> list[str]:
    """The texts of a named corpus (non-empty, stripped, in file order), optionally the first `limit`."""
    corpus = choose(CORPORA, name, "corpus")
    if name not in _LOADED:
        _LOADED[name] = corpus.load()
        logger.info("corpus %s: %d texts", name, len(_LOADED[name]))
    texts = _LOADED[name]
    return texts[:limit] if limit is not None else texts
