"""Data-driven token targets (Text2Token stage 1, PAPER.md §1).

A data-driven target is a distribution over the LLM vocabulary that lives on the tokens of a text's
key words. Two recipes, chosen by `DataDrivenTargetConfig.kind` (the options, in the light
`t2t.text2token.targets.options`):

- **`tfidf-pos`** (paper, default): spaCy tags the text; words tagged NOUN, PROPN or ADJ are kept;
  each kept word gets its TF-IDF weight, with IDF fitted on the training corpus; the weights are
  moved onto the word's LLM tokens and normalised to sum 1.
- **`uniform-nonstop`** (authors' code): every word that is not a stopword or punctuation is kept;
  the target is uniform over the unique token ids of those words.

**Words to tokens.** By default (`token_forms="in-context"`) the whole text is tokenized once
(`add_special_tokens=False`, with offsets) and a word maps to every token whose character span
overlaps the word's. The target thus holds exactly the token forms the model reads, e.g. " Paris"
with its leading-space marker, and never a lone space token (SentencePiece's "▁", which the
authors' code had to drop by id). Special tokens (`special_token_ids`) never enter a target, even
when a text spells one out literally ("<|im_end|>"): such strings are blanked out before words are
extracted, and special ids are dropped when words are mapped to tokens.

**Weights.** TF-IDF enters by summation: each kept occurrence of a word adds `idf(word)` to its
tokens, so a word seen `tf` times contributes `tf * idf`. A token shared by several words sums
their contributions. IDF is scikit-learn's smooth IDF, `log((1 + N) / (1 + df)) + 1`, with `df`
counted over *all* words of the IDF corpus (POS only selects which words of a text get a weight).

**Empty texts.** A text with no usable word (e.g. "the of and") gets an all-zero row, whose
weights sum to 0; the loss skips such rows (see `SparseTargets`).

Example:
    >>> config = DataDrivenTargetConfig(kind="uniform-nonstop", top_k=8)
    >>> targets = build_data_driven_targets(["The Eiffel Tower stands in Paris."], tokenizer, config)
    >>> sorted(tokenizer.decode([i]) for i in targets.row(0))
    [' E', ' Paris', ' Tower', ' stands', 'iffel']
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import spacy

from t2t.core.atomic import atomic_write_json, read_json
from t2t.core.config import stable_hash
from t2t.core.paths import cache_root
from t2t.text2token.targets.options import DataDrivenTargetConfig, stopword_list
from t2t.text2token.targets.sparse import SparseTargets
from t2t.text2token.targets.words import (
    Word,
    content_words,
    has_alphanumeric,
    load_spacy,
    nonstop_words,
    spacy_model_id,
    tokenized_words,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 4096  # texts tagged and tokenized together; bounds memory on large corpora
WeightedWords = list[tuple[Word, float]]


def special_token_ids(tokenizer) -> set[int]:
    """Ids that never belong in a target: `all_special_ids` plus added tokens marked special."""
    ids = set(tokenizer.all_special_ids)
    ids.update(i for i, token in tokenizer.added_tokens_decoder.items() if token.special)
    return {int(i) for i in ids if i is not None}


def _special_token_pattern(tokenizer) -> re.Pattern[str] | None:
    """A regex matching the literal strings of the special tokens (longest first)."""
    strings = {tokenizer.convert_ids_to_tokens(i) for i in special_token_ids(tokenizer)}
    strings = sorted((s for s in strings if s), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, strings))) if strings else None


def _blank_special_strings(texts: list[str], pattern: re.Pattern[str] | None) -> list[str]:
    """Texts with special-token strings replaced by as many spaces (so offsets stay valid)."""
    if pattern is None:
        return texts
    return [pattern.sub(lambda match: " " * len(match.group()), text) for text in texts]


def texts_digest(texts: Iterable[str]) -> str:
    """SHA-256 of a sequence of texts (length-prefixed, so boundaries matter), for cache keys."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _word_key(text: str, config: DataDrivenTargetConfig) -> str:
    return text.lower() if config.lowercase else text


def fit_idf(corpus: Sequence[str], config: DataDrivenTargetConfig) -> dict[str, float]:
    """Smooth IDF of every word of `corpus`: `log((1 + N) / (1 + df)) + 1` (as scikit-learn).

    Words come from spaCy's tokenizer of `config.spacy_model` (no tagging, so it is fast), keyed
    like `build_data_driven_targets` keys them (lower-cased when `config.lowercase`); punctuation
    is skipped. Example: in a corpus of 2 texts, a word in both gets `log(3/3) + 1 = 1.0`.
    """
    nlp = load_spacy(config.spacy_model)
    document_frequency: Counter[str] = Counter()
    n_texts = 0
    for words in tokenized_words(corpus, nlp):
        n_texts += 1
        document_frequency.update({_word_key(w.text, config) for w in words if has_alphanumeric(w.text)})
    return {word: math.log((1 + n_texts) / (1 + df)) + 1 for word, df in document_frequency.items()}


def cached_idf(corpus: Sequence[str], config: DataDrivenTargetConfig) -> dict[str, float]:
    """`fit_idf`, cached as JSON under `cache_root()/"targets"` by content hash of corpus and setup."""
    key = stable_hash(
        {
            "corpus": texts_digest(corpus),
            "spacy_model": spacy_model_id(config.spacy_model),
            "spacy_version": spacy.__version__,
            "lowercase": config.lowercase,
            "formula": "smooth-idf",
        }
    )
    path = cache_root() / "targets" / f"idf-{key}.json"
    cached = read_json(path, "the IDF is fitted again and the cache file rewritten.")
    if cached is not None:
        return cached
    logger.info("fitting IDF on %d texts into %s", len(corpus), path)
    idf = fit_idf(corpus, config)
    atomic_write_json(path, idf)
    return idf


def _tfidf_words(
    texts: Sequence[str], config: DataDrivenTargetConfig, idf: dict[str, float] | None
) -> list[WeightedWords]:
    """Per text, the content-POS words with their IDF (unseen words: the largest fitted IDF)."""
    if idf is None:
        raise ValueError("tfidf-pos targets need an IDF table: pass idf=fit_idf(corpus, config)")
    unseen = max(idf.values(), default=1.0)
    stopwords = stopword_list(config.stopwords) if config.tfidf_drop_stopwords else frozenset()
    tagged = content_words(texts, load_spacy(config.spacy_model), config.content_pos)
    return [
        [(w, idf.get(_word_key(w.text, config), unseen)) for w in words if w.text.lower() not in stopwords]
        for words in tagged
    ]


def _nonstop_words(
    texts: Sequence[str], config: DataDrivenTargetConfig, idf: dict[str, float] | None
) -> list[WeightedWords]:
    """Per text, the words that are not stopwords or punctuation, each with weight 1."""
    return [[(w, 1.0) for w in words] for words in nonstop_words(texts, stopword_list(config.stopwords))]


def _tfidf_row(pieces: list[tuple[list[int], float]], config: DataDrivenTargetConfig) -> dict[int, float]:
    row: dict[int, float] = defaultdict(float)
    for tokens, weight in pieces:
        share = weight / len(tokens) if config.piece_weight == "split" else weight
        for token in tokens:
            row[token] += share
    return row


def _uniform_row(pieces: list[tuple[list[int], float]], config: DataDrivenTargetConfig) -> dict[int, float]:
    in_text_order = dict.fromkeys(token for tokens, _ in pieces for token in tokens)
    return {token: 1.0 for token in list(in_text_order)[: config.top_k]}


_WORD_WEIGHTS = {"tfidf-pos": _tfidf_words, "uniform-nonstop": _nonstop_words}
_ROWS = {"tfidf-pos": _tfidf_row, "uniform-nonstop": _uniform_row}


def _rejoin(weighted: WeightedWords) -> tuple[str, WeightedWords]:
    """The kept words joined by single spaces, with their spans in that new text."""
    moved, position = [], 0
    for word, weight in weighted:
        moved.append((dataclasses.replace(word, start=position, end=position + len(word.text)), weight))
        position += len(word.text) + 1
    return " ".join(word.text for word, _ in weighted), moved


def _covering_tokens(
    weighted: WeightedWords, ids: list[int], offsets: list[tuple[int, int]], special: set[int]
) -> list[tuple[list[int], float]]:
    """Per word (in text order), the unique non-special token ids whose spans overlap the word's."""
    out, first = [], 0
    for word, weight in weighted:
        while first < len(ids) and offsets[first][1] <= word.start:
            first += 1
        tokens, index = [], first
        while index < len(ids) and offsets[index][0] < word.end:
            start, end = offsets[index]
            if end > start and ids[index] not in special:
                tokens.append(ids[index])
            index += 1
        if tokens:
            out.append((list(dict.fromkeys(tokens)), weight))
    return out


def build_data_driven_targets(
    texts: Sequence[str], tokenizer, config: DataDrivenTargetConfig, idf: dict[str, float] | None = None
) -> SparseTargets:
    """Stage-1 targets for `texts`: `(len(texts), config.top_k)` ids and weights, rows sum to 1 or 0.

    `tokenizer` is a fast Hugging Face tokenizer (offsets are needed). `idf` (from `fit_idf`, same
    `lowercase` setting) is required for tfidf-pos and ignored by uniform-nonstop.
    """
    special, pattern = special_token_ids(tokenizer), _special_token_pattern(tokenizer)
    rows: list[dict[int, float]] = []
    for begin in range(0, len(texts), CHUNK_SIZE):
        chunk = list(texts[begin : begin + CHUNK_SIZE])
        weighted = _WORD_WEIGHTS[config.kind](_blank_special_strings(chunk, pattern), config, idf)
        if config.token_forms == "rejoined":
            rejoined = [_rejoin(words) for words in weighted]
            chunk, weighted = [text for text, _ in rejoined], [words for _, words in rejoined]
        encoded = tokenizer(chunk, add_special_tokens=False, return_offsets_mapping=True)
        for words, ids, offsets in zip(
            weighted, encoded["input_ids"], encoded["offset_mapping"], strict=True
        ):
            rows.append(_ROWS[config.kind](_covering_tokens(words, ids, offsets, special), config))
        logger.debug("data-driven targets: %d / %d texts", len(rows), len(texts))
    return SparseTargets.from_rows(rows, k=config.top_k)


def data_driven_targets(
    texts: Sequence[str],
    tokenizer,
    config: DataDrivenTargetConfig,
    idf_corpus: Sequence[str] | None = None,
) -> SparseTargets:
    """`build_data_driven_targets`, cached under `cache_root()/"targets"`.

    The cache key hashes the texts, the tokenizer (`name_or_path` and `len(tokenizer)`), the config,
    and for tfidf-pos the IDF corpus and the spaCy model version. For tfidf-pos, `idf_corpus` (the
    training corpus; often `texts` itself) is required; its IDF table is cached too (`cached_idf`).
    """
    needs_idf = config.kind == "tfidf-pos"
    if needs_idf and idf_corpus is None:
        raise ValueError("tfidf-pos targets need idf_corpus (the training corpus the IDF is fitted on)")
    key = stable_hash(
        {
            "texts": texts_digest(texts),
            "tokenizer": [str(tokenizer.name_or_path), len(tokenizer)],
            "config": config.to_dict(),
            "idf_corpus": texts_digest(idf_corpus) if needs_idf else None,
            "spacy": [spacy_model_id(config.spacy_model) if needs_idf else None, spacy.__version__],
        }
    )
    path = cache_root() / "targets" / f"data-driven-{config.kind}-{key}.pt"
    if path.is_file():
        logger.info("data-driven targets from cache %s", path)
        return SparseTargets.load(path)
    idf = cached_idf(idf_corpus, config) if needs_idf else None
    targets = build_data_driven_targets(texts, tokenizer, config, idf)
    targets.save(path)
    logger.info("saved data-driven targets for %d texts to %s", len(texts), path)
    return targets
