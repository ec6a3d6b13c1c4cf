"""The paper's two embedding analyses (PAPER.md §4): spectral change and token alignment.

**Spectrum.** Take a sample of sentences and embed it twice, with the untrained backbone and with
the trained model (same backbone, attention and pooling). The SVD of the untrained embeddings gives
principal directions; projecting both sets of embeddings onto them shows, per component, how far
training moved the coefficients. Paper: Text2Token and LLM2Vec both mainly move the first component.

**Token alignment.** Push each embedding through the frozen LM head, keep its top-k tokens
(paper: k = 10, 1,000 sentences), and count how many of them occur among the input's own tokens.
Text2Token trains exactly this decoding, so it should align far better than the zero-shot model.

    run = AnalysisRun.from_dict({"analysis": "alignment", "model": spec.to_dict(),
                                 "corpus": "wikitext2-sentences", "sentences": 1000})
    result = analyse(run)      # results/analyses/alignment-<run_id>.json, computed once

The pure functions (`spectral_change`, `token_alignment`, `token_id_alignment`,
`sample_sentences`) hold the math and are tested without a model.
"""

from __future__ import annotations

import gc
import gzip
import json
import logging
import string
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reproduce.cells.manifest import analysis_path, items_path
from reproduce.plan.analysis_runs import AnalysisRun
from t2t.core.atomic import atomic_write_bytes, atomic_write_json, read_json
from t2t.core.provenance import provenance
from t2t.core.runtime import Runtime
from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import lm_head
from t2t.training.corpus import load_corpus
from t2t.training.pipeline import build_model
from t2t.training.spec import ModelSpec

logger = logging.getLogger(__name__)

STORED_COMPONENTS = 50  # per-component arrays kept in the JSON
BAND_COMPONENTS = 20  # per-sentence changes kept for the figure's band (it draws the first 20)
MIN_WORDS = 4  # sentences with fewer whitespace-separated words are skipped
EXAMPLES = 5  # alignment: sentences stored with their top tokens, for a human look


# ---------------------------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------------------------


def sample_sentences(
    texts: Sequence[str], count: int, seed: int = 0, min_words: int = MIN_WORDS
) -> list[str]:
    """The first `count` texts of `min_words`+ words, in the order of a seeded permutation.

    >>> sample_sentences(["a b c d", "x", "e f g h i"], 2, seed=0)   # "x" is too short
    ['e f g h i', 'a b c d']
    """
    order = np.random.default_rng(seed).permutation(len(texts))
    chosen = [texts[i] for i in order if len(texts[i].split()) >= min_words][:count]
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} texts of >= {min_words} words; asked for {count}")
    return chosen


def _change_on_components(
    base: np.ndarray,
    trained: np.ndarray,
    directions: np.ndarray,
    singular: np.ndarray,
    variance_ratio: np.ndarray,
) -> dict[str, Any]:
    """Per-component change of `trained - base` (n, d) on orthonormal `directions` (k, d)."""
    n = base.shape[0]
    delta = trained - base  # (n, d); centering cancels here: c1 - c0 = (t - b) V^T
    coefficient_change = delta @ directions.T  # (n, k)
    squared = (coefficient_change**2).sum(0)  # (k,)
    total = float((delta**2).sum())
    rms = np.sqrt(squared / n)
    coefficient_rms = singular / np.sqrt(n)  # RMS of the base's (centered) coefficients
    share = squared / total if total > 0 else np.zeros_like(squared)
    per_sentence = {"squared_change": coefficient_change**2, "total": (delta**2).sum(1)}
    return {
        "per_sentence": per_sentence,  # (n, k) and (n,); `_spectrum` moves it to the items file
        "components": {
            "singular_value": singular.tolist(),
            "explained_variance_ratio": variance_ratio.tolist(),  # of all the base's variance
            "rms_change": rms.tolist(),
            "relative_rms_change": (rms / coefficient_rms).tolist(),
            "change_share": share.tolist(),
        },
        "top_component": int(np.argmax(rms)) if total > 0 else None,
        "first_component_share": float(share[0]),
        "outside_share": float(1.0 - share.sum()) if total > 0 else 0.0,
        "mean_shift_share": float(n * (delta.mean(0) ** 2).sum() / total) if total > 0 else 0.0,
        "total_rms_change": float(np.sqrt(total / n)),
    }


def spectral_change(base: np.ndarray, trained: np.ndarray, n_components: int | None = None) -> dict[str, Any]:
    """How training moves embeddings along the untrained model's principal directions (PAPER.md §4).

    `base` and `trained` are `(n, d)` embeddings of the same n sentences, untrained and trained.

        mean0 = base.mean(0)                               # (d,)
        U S Vt = svd(base - mean0)                         # principal directions: rows of Vt
        c0 = (base - mean0) Vt.T, c1 = (trained - mean0) Vt.T      # (n, k) coefficients
        rms_change[j]   = sqrt(mean_i (c1_ij - c0_ij)^2)
        change_share[j] = sum_i (c1_ij - c0_ij)^2 / ||trained - base||_F^2

    The paper fixes the SVD of the untrained embeddings and "the change of coefficients" only; the
    rest is ours:
    - **Centering on the base mean** (PCA): otherwise the first singular direction is mostly the
      mean embedding (decoder embeddings are very anisotropic). Both sets use the same centering, so
      it cancels in `c1 - c0` and only decides the directions.
    - **RMS** over sentences (a signed mean would cancel opposite moves). `relative_rms_change`
      divides by the RMS of the base coefficient (`S_j / sqrt(n)`), i.e. change in units of that
      component's spread.
    - **Shares** are of the *total* squared change in all d dimensions, so they sum to 1 together
      with `outside_share`, the change outside the k components (nonzero when n <= d, where the
      base spans only n - 1 directions). `mean_shift_share` is the part that is one common
      translation of every embedding (n ||mean(trained - base)||^2 over the total).
    - k: the base's numerical rank (singular values > 1e-6 of the largest), capped by `n_components`.

    Two variants, same directions: `raw`, and `normalized`, where each matrix is first divided by
    its own mean row norm. Training often changes the norm of the hidden states, and a pure rescale
    `trained = a * base` moves coefficient j by `(a - 1) (c0_ij + mean0 · v_j)`: its squared change
    is `(a - 1)^2 (S_j^2 + n (mean0 · v_j)^2)`, largest on the top components and on those the mean
    embedding leans on, so in `raw` a rescale looks like structured "change". Cosine similarity
    (how the embeddings are used) ignores scale, so **`normalized` is the primary variant**; `raw`
    is kept for reference.

    Example: `trained = base + delta_i * v0` (v0 the first principal direction) gives
    `raw.first_component_share == 1`, `raw.top_component == 0`.
    """
    base = np.asarray(base, dtype=np.float64)
    trained = np.asarray(trained, dtype=np.float64)
    if base.shape != trained.shape or base.ndim != 2 or base.shape[0] < 2:
        raise ValueError(f"need two (n >= 2, d) arrays of one shape, got {base.shape} and {trained.shape}")
    _, singular, vt = np.linalg.svd(base - base.mean(0), full_matrices=False)
    if singular[0] <= 0:
        raise ValueError("the base embeddings have no variance")
    variance_ratio = singular**2 / (singular**2).sum()
    rank = int((singular > singular[0] * 1e-6).sum())
    k = min(rank, n_components) if n_components else rank
    directions, singular, variance_ratio = vt[:k], singular[:k], variance_ratio[:k]  # (k, d), (k,), (k,)
    base_scale = np.linalg.norm(base, axis=1).mean()
    trained_scale = np.linalg.norm(trained, axis=1).mean()
    return {
        "n_sentences": base.shape[0],
        "dim": base.shape[1],
        "n_components": k,
        "mean_norm": {"base": float(base_scale), "trained": float(trained_scale)},
        "primary": "normalized",
        "normalized": _change_on_components(
            base / base_scale, trained / trained_scale, directions, singular / base_scale, variance_ratio
        ),
        "raw": _change_on_components(base, trained, directions, singular, variance_ratio),
    }


_MARKERS = "▁Ġ"  # SentencePiece and byte-level BPE word-start markers


def normalize_token(token: str) -> str:
    """A token's comparable form: markers and whitespace stripped, lowercased; '' if not a word.

    Tokens with no letter or digit (punctuation, symbols, whitespace, empty) map to '' and never
    count as a match. `normalize_token("▁Paris") == normalize_token("Ġparis") == "paris"`.
    """
    text = token.replace("Ċ", "\n")  # byte-level BPE newline
    text = text.strip(string.whitespace + _MARKERS).lower()
    return text if any(ch.isalnum() for ch in text) else ""


def _count_summary(counts: Sequence[int], k: int) -> dict[str, Any]:
    values = np.asarray(counts, dtype=np.float64)
    return {
        "k": k,
        "n": len(counts),
        "mean": float(values.mean()) if len(counts) else 0.0,
        "std": float(values.std()) if len(counts) else 0.0,  # population std (ddof = 0)
        "fraction_with_any": float((values > 0).mean()) if len(counts) else 0.0,
        "histogram": np.bincount(np.asarray(counts, dtype=np.int64), minlength=k + 1).tolist(),
        "counts": [int(c) for c in counts],
    }


def token_alignment(top_tokens: list[list[str]], input_tokens: list[set[str]]) -> dict[str, Any]:
    """How many of each embedding's top-k LM-head tokens occur among its input's tokens (PAPER.md §4).

    `top_tokens[i]`: the decoded top-k tokens of sentence i's embedding, best first;
    `input_tokens[i]`: the decoded tokens of sentence i itself (no template, no special tokens).
    Both sides go through `normalize_token`, so "Paris", "▁paris" and "Ġparis" are one word. The
    count of sentence i is the number of top-k *positions* whose token matches (two top tokens that
    normalise alike both count), in 0..k; top tokens that normalise to '' (punctuation) count as
    misses and are reported as `ignored_mean`. `histogram[c]` = sentences with c matches.

    >>> token_alignment([["ĠParis", ",", "Ġdog"]], [{"The", "Ġparis"}])["counts"]
    [1]
    """
    counts, ignored = [], []
    for top, inputs in zip(top_tokens, input_tokens, strict=True):  # one of each per sentence
        words = {normalize_token(token) for token in inputs} - {""}
        normalized = [normalize_token(token) for token in top]
        counts.append(sum(token in words for token in normalized if token))
        ignored.append(sum(not token for token in normalized))
    summary = _count_summary(counts, max((len(top) for top in top_tokens), default=0))
    summary["ignored_mean"] = float(np.mean(ignored)) if ignored else 0.0
    return summary


def token_id_alignment(top_ids: list[list[int]], input_ids: list[set[int]]) -> dict[str, Any]:
    """The exact variant: top-k token ids that are among the input's token ids (no normalisation).

    Stricter than `token_alignment`: " Paris" (mid-sentence) and "Paris" (sentence-initial) are
    different ids.
    """
    counts = [sum(token in inputs for token in top) for top, inputs in zip(top_ids, input_ids, strict=True)]
    return _count_summary(counts, max((len(top) for top in top_ids), default=0))


# ---------------------------------------------------------------------------------------------
# Running an analysis
# ---------------------------------------------------------------------------------------------


def result_path(run: AnalysisRun, root: Path | None = None) -> Path:
    """Where `run`'s result is stored (the one definition: `reproduce.cells.manifest.analysis_path`)."""
    return analysis_path(run.analysis, run.run_id, root)


def _embed(
    spec: ModelSpec,
    texts: list[str],
    run: AnalysisRun,
    runtime: Runtime,
    timings: dict[str, float],
    label: str,
    use: Callable[[torch.nn.Module, Any, np.ndarray], Any] | None = None,
) -> Any:
    """Build `spec`, embed `texts` (n, dim); return `use(model, tokenizer, vectors)` or the vectors."""
    start = time.perf_counter()
    model, tokenizer, _ = build_model(spec, runtime)
    timings[f"{label}_build_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    embedder = Embedder(
        model,
        tokenizer,
        spec.pooling,
        max_length=run.max_length,
        **runtime.eval_batching(),
        dtype=runtime.eval_dtype(),
        progress=runtime.progress,
    )
    vectors = embedder.embed(texts)
    out = use(model, tokenizer, vectors) if use else vectors
    timings[f"{label}_embed_seconds"] = time.perf_counter() - start
    del model, embedder
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def _spectrum(
    run: AnalysisRun, texts: list[str], runtime: Runtime, timings: dict[str, float]
) -> dict[str, Any]:
    base = _embed(run.model.replace(stages=()), texts, run, runtime, timings, "zero_shot")
    trained = _embed(run.model, texts, run, runtime, timings, "trained")
    result = spectral_change(base, trained)
    primary = result[result["primary"]]["per_sentence"]
    result["items"] = {  # per-sentence change of the primary variant: the figure's bootstrap band
        "variant": result["primary"],
        "squared_change": np.round(primary["squared_change"][:, :BAND_COMPONENTS], 8).tolist(),
        "total": np.round(primary["total"], 8).tolist(),
    }
    for variant in ("normalized", "raw"):
        del result[variant]["per_sentence"]
        components = result[variant]["components"]
        result[variant]["components"] = {
            name: values[:STORED_COMPONENTS] for name, values in components.items()
        }
    return result


@torch.no_grad()
def top_token_ids(model: torch.nn.Module, vectors: np.ndarray, k: int, batch_size: int = 256) -> np.ndarray:
    """Ids of the k largest entries of `W_lm · e` for each embedding e: (n, dim) -> (n, k), best first."""
    head = lm_head(model)
    weight = head.weight
    ids = []
    for first in range(0, len(vectors), batch_size):
        batch = torch.from_numpy(vectors[first : first + batch_size]).to(weight.device, weight.dtype)
        ids.append(head(batch).float().topk(k, dim=-1).indices.cpu())  # (batch, k) of (batch, vocab)
    return torch.cat(ids).numpy()


def _alignment(
    run: AnalysisRun, texts: list[str], runtime: Runtime, timings: dict[str, float]
) -> dict[str, Any]:
    def top_and_inputs(model, tokenizer, vectors):
        top = top_token_ids(model, vectors, run.top_k).tolist()
        inputs = tokenizer(texts, add_special_tokens=False).input_ids  # the text itself, no template
        return top, inputs, tokenizer

    top, inputs, tokenizer = _embed(run.model, texts, run, runtime, timings, "model", top_and_inputs)
    decode = {i: tokenizer.decode([i]) for i in {t for row in top + inputs for t in row}}
    top_tokens = [[decode[i] for i in row] for row in top]
    input_tokens = [{decode[i] for i in row} for row in inputs]
    result = {
        "normalized": token_alignment(top_tokens, input_tokens),
        "exact_ids": token_id_alignment(top, [set(row) for row in inputs]),
        "primary": "normalized",
    }
    result["examples"] = [
        {"text": text, "top_tokens": tokens, "count": count}
        for text, tokens, count in zip(
            texts[:EXAMPLES], top_tokens, result["normalized"]["counts"], strict=False
        )
    ]
    return result


ANALYSES: dict[str, Callable[[AnalysisRun, list[str], Runtime, dict[str, float]], dict[str, Any]]] = {
    "spectrum": _spectrum,
    "alignment": _alignment,
}


def analyse(run: AnalysisRun, runtime: Runtime | None = None, root: Path | None = None) -> dict[str, Any]:
    """Run one analysis, or read its stored result; writes `<root>/analyses/<analysis>-<run_id>.json`.

    The JSON holds `config`, `run_id`, `provenance`, `timings` (seconds), `sentences` (how the
    sample was drawn) and `result` (`spectral_change` with per-component arrays cut to the first
    50, or the `token_alignment` and `token_id_alignment` summaries plus a few examples).
    """
    path = result_path(run, root)
    stored = read_json(path, "the analysis is recomputed now and the file rewritten.")
    if stored is not None:
        logger.info("%s %s: stored result %s", run.analysis, run.run_id, path)
        if run.analysis == "spectrum" and not items_path(path).is_file():
            logger.info("%s %s: stored without per-sentence items (no band)", run.analysis, run.run_id)
        return stored
    runtime = runtime or Runtime()
    start = time.perf_counter()
    texts = sample_sentences(load_corpus(run.corpus), run.sentences, run.seed)
    timings: dict[str, float] = {}
    result = ANALYSES[run.analysis](run, texts, runtime, timings)
    timings["total_seconds"] = time.perf_counter() - start
    items = result.pop("items", None)
    if items is not None:  # first: a stored result always has its items
        atomic_write_bytes(items_path(path), gzip.compress(json.dumps(items).encode(), mtime=0))
    payload = {
        "config": run.to_dict(),
        "run_id": run.run_id,
        "analysis": run.analysis,
        "provenance": provenance(),
        "timings": timings,
        "sentences": {"n": len(texts), "corpus": run.corpus, "seed": run.seed, "min_words": MIN_WORDS},
        "result": result,
    }
    atomic_write_json(path, payload)
    logger.info("%s %s: wrote %s (%.1f s)", run.analysis, run.run_id, path, timings["total_seconds"])
    return json.loads(path.read_text())
