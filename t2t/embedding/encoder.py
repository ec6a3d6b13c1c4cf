"""One encoder contract for every method: an mteb encoder around a pooled HF model.

`Embedder` turns texts into vectors: it formats them for the pooling (`t2t.embedding.pooling`), sorts them
by token length so each batch has little padding, runs the model under `torch.inference_mode()`
(bf16 where the hardware is good at it), pools, and returns the vectors in the input order.
Identical texts within one call are encoded once (MTEB's STS tasks repeat sentences).

`TextEncoder` adapts an `Embedder` to mteb's `EncoderProtocol`: mteb hands it a DataLoader of
batches, it returns a `(n, dim)` float32 array. Zero-shot backbones, Text2Token, LLM2Vec and SimCSE
all evaluate through this one class; they differ only in the weights and the pooling.

Instructions: none (PAPER.md §3). Documents arrive from mteb as `title + " " + text`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from mteb.models.abs_encoder import AbsEncoder
from mteb.models.model_meta import ModelMeta, ScoringFunction
from tqdm.auto import tqdm

from t2t.core.errors import UserError
from t2t.core.hardware import fast_bf16
from t2t.embedding.cache import EmbeddingCache
from t2t.embedding.pooling import PoolingSpec, embed_batch, pooling_mode, tokenize

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Throughput:
    """Running totals of encoding work, for `run.json`."""

    texts: int = 0
    tokens: int = 0
    seconds: float = 0.0
    cached: int = 0  # texts answered from the embedding cache (not encoded, not in the totals above)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


class Embedder:
    """Pooled embeddings from a transformer: `embed(texts) -> (n, dim)` float32 numpy array.

    Args:
        model: a causal LM (optionally peft-wrapped) or any encoder returning `last_hidden_state`.
        tokenizer: its tokenizer (needs a pad token).
        pooling: `PoolingSpec` (last + PromptEOL, mean, or a registered mode: `t2t.embedding.pooling`).
        max_length: token budget per text, prompt included (paper eval: 512-1024; code default 1024).
        batch_size: texts per forward pass.
        dtype: compute dtype; None picks bf16 where the device is fast at it, else fp32. The model is
            cast to it in place (encoding is the model's last use: ~1.3x faster than autocast on CPU).
        normalize: scale each embedding to unit L2 norm (sentence-transformers' Normalize module).
            Cosine-based tasks ignore it; classification (logistic regression) does not. Off for the
            LLM methods: llm2vec's `LLM2Vec.encode` returns unnormalised embeddings, and the paper
            does not say (see `EvalSpec.normalize`).
        progress: show a progress bar with tokens/s.
        cache: an `EmbeddingCache` for this model and these settings: texts found there are not
            encoded again, new vectors are added to it (`t2t.embedding.cache`).
        devices: data-parallel encoding: one model copy per device (the first is `model` itself,
            moved there), batches dealt round-robin to one worker thread per device, vectors put
            back in input order. The batches are the ones a single device would run (same texts,
            same padding), so the embeddings are the same. Threads, not processes: CUDA kernels
            release the GIL, and no model is pickled. None or one device: the model's own device.
        batch_tokens: batch by a token budget instead: texts (longest first) join a batch while its
            padded size, texts × its longest row, stays within `batch_tokens`, and at most
            `batch_size` texts (`token_budget_batches`). Short texts then share larger forward
            passes (fewer per-batch overheads, larger matrix products); a text longer than the
            budget gets a batch of its own. None: `batch_size` texts per batch.
        long_batch_tokens: with `batch_size` texts per batch (`batch_tokens` None), cut the batches
            of long texts (rows over `LONG_ROW_TOKENS`) at this many padded tokens
            (`length_batches`); None: `batch_size` texts whatever their length.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        pooling: PoolingSpec,
        *,
        max_length: int = 512,
        batch_size: int = 32,
        dtype: torch.dtype | None = None,
        normalize: bool = False,
        progress: bool = True,
        cache: EmbeddingCache | None = None,
        devices: Sequence[str] | None = None,
        batch_tokens: int | None = None,
        long_batch_tokens: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 text per forward pass, got {batch_size}")
        if devices:
            model = model.to(devices[0])
        self.device = next(model.parameters()).device
        self.dtype = dtype or (torch.bfloat16 if fast_bf16(str(self.device)) else torch.float32)
        self.model = model.to(self.dtype).eval()
        self.replicas = [self.model] + [copy.deepcopy(self.model).to(d) for d in (devices or [])[1:]]
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.long_batch_tokens = long_batch_tokens
        self.normalize = normalize
        self.progress = progress
        self.cache = cache
        self.throughput = Throughput()

    @property
    def dim(self) -> int:
        """The embedding size, as the pooling mode states it (`PoolingMode.embedding_size`)."""
        return pooling_mode(self.pooling.mode).embedding_size(self.model.config)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """`(len(texts), dim)` float32 embeddings in input order; `(0, dim)` for no texts.

        An empty text is embedded as one special token alone (`t2t.embedding.pooling`), whatever its batch.
        """
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        cached = self.cache.lookup(unique) if self.cache is not None else {}
        new = [text for i, text in enumerate(unique) if i not in cached]
        vectors = np.zeros((len(unique), self.dim), dtype=np.float32)
        for i, vector in cached.items():
            vectors[i] = vector
        if new:
            fresh = self._encode(new)
            check_embeddings(fresh, new)  # before caching: a broken vector is never stored
            if self.cache is not None:
                self.cache.add(new, fresh)
            vectors[[i for i in range(len(unique)) if i not in cached]] = fresh
        self.throughput.cached += len(cached)
        check_embeddings(vectors, unique)
        position = {text: i for i, text in enumerate(unique)}
        return vectors[[position[t] for t in texts]]

    def _encode(self, unique: list[str]) -> np.ndarray:
        """Encode distinct texts (longest first, in batches); vectors in input order."""
        lengths = [len(ids) for ids in self.tokenizer(unique, add_special_tokens=False).input_ids]
        order = np.argsort(lengths, kind="stable")[::-1]
        vectors = np.zeros((len(unique), self.dim), dtype=np.float32)
        if self.batch_tokens is None and self.long_batch_tokens is None:
            batches = [
                order[first : first + self.batch_size] for first in range(0, len(unique), self.batch_size)
            ]
        else:
            overhead = int(
                tokenize([""], self.tokenizer, self.pooling, self.max_length)["attention_mask"].sum()
            )
            copies = pooling_mode(self.pooling.mode).text_copies  # an echo prompt holds each text twice
            rows = [min(copies * lengths[i] + overhead, self.max_length) for i in order]
            if self.batch_tokens is not None:
                batches = token_budget_batches(order, rows, self.batch_tokens, self.batch_size)
            else:
                batches = length_batches(order, rows, self.batch_size, self.long_batch_tokens)
        start = time.perf_counter()
        tokens = 0
        bar = tqdm(total=len(unique), desc="encode", unit="text", disable=not self.progress, leave=False)
        lock = threading.Lock()

        def work(worker: int) -> None:
            nonlocal tokens
            model = self.replicas[worker]
            device = next(model.parameters()).device
            for index in batches[worker :: len(self.replicas)]:
                batch = tokenize([unique[i] for i in index], self.tokenizer, self.pooling, self.max_length)
                batch = {k: v.to(device) for k, v in batch.items()}
                with torch.inference_mode():
                    pooled = embed_batch(model, batch, self.pooling, self.tokenizer.bos_token_id)
                    if self.normalize:
                        pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
                    result = pooled.float().cpu().numpy()
                check_embedding_size(result, self.dim, self.pooling.mode)
                with lock:
                    vectors[index] = result
                    tokens += int(batch["attention_mask"].sum())
                    bar.update(len(index))
                    bar.set_postfix(tok_s=f"{tokens / (time.perf_counter() - start):.0f}")

        if len(self.replicas) == 1:
            work(0)
        else:
            with ThreadPoolExecutor(len(self.replicas)) as pool:
                for done in [pool.submit(work, w) for w in range(len(self.replicas))]:
                    done.result()
        bar.close()
        elapsed = time.perf_counter() - start
        self.throughput.texts += len(unique)
        self.throughput.tokens += tokens
        self.throughput.seconds += elapsed
        return vectors


def token_budget_batches(
    order: Sequence[int], rows: Sequence[int], budget: int, cap: int
) -> list[np.ndarray]:
    """Cut `order` (indices, longest first) into batches whose padded size, texts × the first
    (longest) text's row length `rows[k]`, stays within `budget`, with at most `cap` texts each.

    `rows[k]` is the row length of `order[k]`. Every batch has at least one text.
    """
    batches, first = [], 0
    while first < len(order):
        take = max(1, min(cap, budget // max(rows[first], 1)))
        batches.append(np.asarray(order[first : first + take]))
        first += take
    return batches


LONG_ROW_TOKENS = 128
"""Rows (prompt included) above this many tokens count as long texts for `length_batches`."""


def length_batches(
    order: Sequence[int], rows: Sequence[int], size: int, long_tokens: int
) -> list[np.ndarray]:
    """`size` texts per batch, longest first, except that a batch whose longest row is over
    `LONG_ROW_TOKENS` tokens holds at most `long_tokens` padded tokens (texts × that row).

    Why: on CPUs a forward pass slows down per token once a batch's activations outgrow the caches.
    SmolLM2-135M in bf16 on one thread encodes SciFact abstracts (327 tokens each on average) at
    ~430 tokens/s in batches of 32 (~10k tokens a batch) and ~590 tokens/s in batches of 1-2k
    tokens, STS sentences (22 tokens, ~800 a batch of 32) at ~590 (`reproduce.perf.benchmark`, long texts;
    our measurement). Short texts keep their 32 per batch: every batch of the `offline` set's tasks
    (longest rows 122 tokens with SmolLM2's tokenizer, 119 with Gemma-3's) is what it was, so stored
    runs re-evaluate bit for bit; a batch's composition changes its embeddings by float rounding.
    """
    batches, first = [], 0
    while first < len(order):
        take = size if rows[first] <= LONG_ROW_TOKENS else max(1, min(size, long_tokens // rows[first]))
        batches.append(np.asarray(order[first : first + take]))
        first += take
    return batches


class EmbeddingSizeMismatch(ValueError):
    """A pooling mode returned embeddings of another width than the size it states."""


def check_embedding_size(pooled: np.ndarray, dim: int, mode: str) -> None:
    """Raise `EmbeddingSizeMismatch` unless `pooled` is `(batch, dim)`: a mode's `embed` must return
    the width its `embedding_size` states (the encoder's arrays are sized from it)."""
    if pooled.ndim != 2 or pooled.shape[1] != dim:
        raise EmbeddingSizeMismatch(
            f"pooling mode {mode!r} returned embeddings of shape {tuple(pooled.shape)}, but it states an "
            f"embedding size of {dim} (PoolingMode.embedding_size): its embed must return (batch, {dim}), "
            "or its registration must state the size it returns (t2t.embedding.pooling.PoolingMode)."
        )


class DegenerateEmbeddings(UserError, RuntimeError):
    """Embeddings that no score should be computed from: non-finite, or one vector for every text."""


def check_embeddings(vectors: np.ndarray, texts: Sequence[str]) -> None:
    """Raise `DegenerateEmbeddings` if any value is NaN/inf, or if distinct texts all got the same
    vector (a diverged model: every score computed from it would be meaningless, not low).

    "The same vector" means the spread of every dimension over the texts is at most 1e-6 of the
    largest absolute value. `texts` are distinct, so two or more are needed to tell.
    """
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        bad = int((~finite).sum())
        first = texts[int(np.argmin(finite))]
        raise DegenerateEmbeddings(
            f"{bad} of {len(texts)} embeddings are not finite (NaN or inf), e.g. for {first[:60]!r}. "
            "The model diverged or overflowed in its compute dtype; check the training log, or "
            "evaluate with --precision fp32."
        )
    if len(texts) >= 2:
        spread = float((vectors.max(axis=0) - vectors.min(axis=0)).max())
        if spread <= 1e-6 * max(float(np.abs(vectors).max()), 1e-30):
            raise DegenerateEmbeddings(
                f"all {len(texts)} distinct texts got the same embedding (largest spread {spread:.3g}): "
                "the model has collapsed (e.g. training diverged). Scores from it would be meaningless; "
                "check the training log and learning rate."
            )


class TextEncoder(AbsEncoder):
    """mteb encoder wrapping an `Embedder`. Cosine similarity; no instructions."""

    def __init__(self, embedder: Embedder, meta: ModelMeta) -> None:
        self.embedder = embedder
        self.model = embedder.model
        self.mteb_model_meta = meta

    def encode(
        self, inputs, *, task_metadata, hf_split, hf_subset, prompt_type=None, **kwargs: Any
    ) -> np.ndarray:
        texts = [text for batch in inputs for text in batch["text"]]
        return self.embedder.embed(texts)


def base_meta(
    name: str,
    *,
    revision: str | None = None,
    n_parameters: int | None,
    max_tokens: int | None,
    embed_dim: int | None,
    **extra: Any,
) -> ModelMeta:
    """The `ModelMeta` fields every model of the suite shares (English, cosine similarity, no
    instructions, open weights, PyTorch/Transformers), with its size and dimension where known."""
    fields: dict[str, Any] = dict(
        loader=None,
        name=name,
        revision=revision or "local",
        release_date=None,
        languages=["eng-Latn"],
        n_parameters=n_parameters,
        memory_usage_mb=None,
        max_tokens=max_tokens,
        embed_dim=embed_dim,
        license=None,
        open_weights=True,
        public_training_code=None,
        public_training_data=None,
        framework=["PyTorch", "Transformers"],
        similarity_fn_name=ScoringFunction.COSINE,
        use_instructions=False,
        training_datasets=None,
    )
    fields.update(extra)
    return ModelMeta(**fields)


def model_meta(name: str, embedder: Embedder, *, revision: str | None = None, **extra: Any) -> ModelMeta:
    """A `ModelMeta` for one of our runs: name, size, dimension, cosine similarity, no instructions."""
    n_parameters = sum(p.numel() for p in {id(p): p for p in embedder.model.parameters()}.values())
    return base_meta(
        name,
        revision=revision,
        n_parameters=n_parameters,
        max_tokens=embedder.max_length,
        embed_dim=embedder.dim,
        **extra,
    )


def text_encoder(name: str, embedder: Embedder, revision: str | None = None) -> TextEncoder:
    return TextEncoder(embedder, model_meta(name, embedder, revision=revision))
