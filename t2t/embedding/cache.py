"""Embeddings of one run's model, kept on disk by text: a text is never encoded twice.

Evaluation is most of a run's cost at every scale (at smol, 99% of `evaluate_s` is encoding), and
the same texts come back: a task resumed after a crash, a run re-evaluated for its item outputs
(`--add-items`), a task whose texts another task already encoded, mteb encoding a classification
train set once per experiment. `EmbeddingCache` stores each `Embedder.embed` call's new vectors as
one shard (`shard-<n>.npz`: SHA-256 keys of the texts and float32 vectors, written atomically),
and answers later calls from them, so cached and fresh embeddings are the same numbers.

A cache belongs to one run (`cache_root()/embeddings/<run id>/`) and one model: its `key.json`
records what the vectors depend on (the run id, a fingerprint of the model's weights, pooling,
max length, dtype, normalisation). A cache whose key differs (the run was recomputed with a
retrained model, or evaluated differently) is emptied before use, never read.

mteb 2.x has a `CachedEmbeddingWrapper`; it keys by task and stores per task folder, so it neither
shares texts between tasks nor knows when our model changed. This is the same idea at the level of
our one encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from t2t.core.atomic import atomic_path, atomic_write_json

logger = logging.getLogger(__name__)


def text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def model_fingerprint(model: torch.nn.Module, sample: int = 1024) -> str:
    """A cheap fingerprint of a model's weights: each parameter's name, shape and first and last
    `sample` values. A retrained adapter merged into the weights changes it; hashing every weight
    of an 8B model would take longer than it saves."""
    digest = hashlib.sha256()
    for name, parameter in model.named_parameters():
        flat = parameter.detach().reshape(-1)
        ends = torch.cat([flat[:sample], flat[-sample:]]).float().cpu().numpy()
        digest.update(f"{name}:{tuple(parameter.shape)}".encode())
        digest.update(ends.tobytes())
    return digest.hexdigest()[:16]


class EmbeddingCache:
    """Vectors by text for one (run, model, encoding settings); see the module docstring."""

    def __init__(self, folder: Path, key: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.key = key
        self._rows: dict[bytes, np.ndarray] = {}
        stored = self._stored_key()
        if stored is not None and stored != key:
            logger.info("embedding cache %s belongs to another model or setting; emptied", self.folder)
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if stored != key:
            atomic_write_json(self.folder / "key.json", key)
        self._shards = sorted(self.folder.glob("shard-*.npz"))
        for shard in self._shards:
            try:
                with np.load(shard) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except (
                OSError,
                ValueError,
                KeyError,
                EOFError,
                zipfile.BadZipFile,
            ) as error:  # unreadable: ignore it, recompute
                logger.warning("ignoring unreadable embedding shard %s: %s", shard, error)
                continue
            for row, raw in enumerate(keys):
                self._rows[raw.tobytes()] = vectors[row]

    def _stored_key(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder / "key.json").read_text())
        except (OSError, ValueError):
            return None

    def __len__(self) -> int:
        return len(self._rows)

    def lookup(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """`{index into texts: vector}` for the texts already cached."""
        found = {}
        for index, text in enumerate(texts):
            vector = self._rows.get(text_key(text))
            if vector is not None:
                found[index] = vector
        return found

    def add(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store new vectors as one more shard (atomic: a crash leaves no partial shard)."""
        if len(texts) == 0:
            return
        keys = np.frombuffer(b"".join(text_key(t) for t in texts), dtype=np.uint8).reshape(len(texts), 32)
        vectors = np.asarray(vectors, dtype=np.float32)
        path = self.folder / f"shard-{len(self._shards):06d}.npz"
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(handle, keys=keys, vectors=vectors)
        self._shards.append(path)
        for raw, vector in zip(keys, vectors):
            self._rows[raw.tobytes()] = vector
