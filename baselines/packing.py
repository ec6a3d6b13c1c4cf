"""MNTP training data: the corpus tokenised and packed into fixed-length blocks (PAPER.md §2).

LLM2Vec trains MNTP on WikiText-103 "packed": llm2vec's `experiments/run_mntp.py` (a copy of HF
`run_mlm.py`, non-`line_by_line` branch) tokenises every text with the tokenizer's default special
tokens (`tokenizer(text)`: a BOS per text for Llama-3 and Mistral, no EOS), concatenates the token
lists and cuts them into blocks of `max_seq_length` (512) tokens (`group_texts`). `datasets.map`
calls `group_texts` on 1,000 texts at a time, so the remainder (< one block) of every group of
1,000 texts is dropped; `texts_per_group=1000` reproduces that, `None` packs the corpus as one
stream. Blocks need no padding and no attention mask.

    texts:   "A b."  "C d e."  "F."       ->  ids  [BOS a b .] [BOS c d e .] [BOS f .]
    blocks (length 4):  [BOS a b .] [BOS c d e] [. BOS f .]       (rest dropped)

Packing a large corpus takes minutes, so the blocks are cached as a `.npy` file under
`cache_root()/mntp-blocks/` and memory-mapped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from t2t.core.atomic import atomic_path
from t2t.core.config import stable_hash
from t2t.core.paths import cache_root

logger = logging.getLogger(__name__)

TEXTS_PER_GROUP = 1000  # `datasets.Dataset.map(batched=True)`'s default batch size in run_mlm.py
PROBE = "Packing probe: the tokenizer's identity, 123 ÄÖÜ."


def pack_blocks(
    token_lists: Iterable[Sequence[int]], block_length: int, texts_per_group: int | None = TEXTS_PER_GROUP
) -> np.ndarray:
    """Concatenate token lists in order and cut them into blocks: (n_blocks, block_length) int32.

    With `texts_per_group=k`, every k texts are packed on their own and their remainder is dropped
    (HF `group_texts` under `datasets.map`); with None the whole corpus is one stream and only the
    final remainder is dropped.
    """
    if block_length < 1:
        raise ValueError("block_length must be >= 1")
    flush_every = texts_per_group or TEXTS_PER_GROUP
    blocks: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    carry = np.zeros(0, dtype=np.int32)

    def flush() -> None:
        nonlocal carry
        stream = np.concatenate([carry, *pending]) if pending else carry
        usable = len(stream) // block_length * block_length
        blocks.append(stream[:usable].reshape(-1, block_length))
        carry = stream[usable:] if texts_per_group is None else np.zeros(0, dtype=np.int32)
        pending.clear()

    for count, ids in enumerate(token_lists, start=1):
        pending.append(np.asarray(ids, dtype=np.int32))
        if count % flush_every == 0:
            flush()
    flush()
    return np.concatenate(blocks) if blocks else np.zeros((0, block_length), dtype=np.int32)


def tokenized(texts: Sequence[str], tokenizer, chunk: int = TEXTS_PER_GROUP) -> Iterable[list[int]]:
    """Token ids of each text with the tokenizer's default special tokens, tokenised in chunks."""
    for start in range(0, len(texts), chunk):
        yield from tokenizer(list(texts[start : start + chunk]), add_special_tokens=True).input_ids


def packed_corpus(
    texts: Sequence[str],
    tokenizer,
    block_length: int,
    corpus_name: str,
    texts_per_group: int | None = TEXTS_PER_GROUP,
) -> np.ndarray:
    """The packed blocks of a corpus, (n_blocks, block_length) int32, cached on disk and memory-mapped.

    The cache key holds the corpus name and size, the tokenizer (name, size, and the ids of a probe
    sentence) and the packing settings.
    """
    key = stable_hash(
        {
            "corpus": corpus_name,
            "texts": len(texts),
            "tokenizer": [str(tokenizer.name_or_path), len(tokenizer), tokenizer(PROBE).input_ids],
            "block_length": block_length,
            "texts_per_group": texts_per_group,
        }
    )
    path = cache_root() / "mntp-blocks" / f"{key}.npy"
    if not path.is_file():
        logger.info(
            "packing %d texts of %s into blocks of %d tokens -> %s",
            len(texts),
            corpus_name,
            block_length,
            path,
        )
        blocks = pack_blocks(tokenized(texts, tokenizer), block_length, texts_per_group)
        _save(path, blocks)
    blocks = np.load(path, mmap_mode="r")
    if len(blocks) == 0:
        raise ValueError(
            f"corpus {corpus_name} ({len(texts)} texts) gives no full block of {block_length} "
            "tokens; use a larger corpus or a smaller max_length"
        )
    return blocks


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)
