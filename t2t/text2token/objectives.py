"""Text2Token's two training objectives (PAPER.md §1).

Both predict a distribution over the vocabulary from the pooled embedding through the backbone's
own **frozen** LM head, `Q_θ(w|x) = softmax(W_lm e)`, and minimise `KL(T ‖ Q_θ)`
(`t2t.text2token.loss.sparse_kl_divergence`). They differ in the target `T`:

- `DataDrivenObjective`: key tokens of the text itself (TF-IDF over content POS, or uniform over
  non-stopwords), computed once for every text the run will see and cached on disk.
- `ModelDerivedObjective`: tokens the frozen current model finds far more likely for this text
  than in general, `softmax(r / τ)` with `r = P / (P + Q)`; `P` is computed per batch with the new
  adapter disabled, `Q` once per (model, pooling, corpus, N) and cached.

Both are declared (name, options) in `t2t.training.objective` and register their classes here with
`@register_objective`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from t2t.embedding.pooling import embed_batch, lm_head, tokenize
from t2t.text2token.loss import sparse_kl_divergence
from t2t.text2token.targets.data_driven import data_driven_targets
from t2t.text2token.targets.model_derived import (
    cached_common_distribution,
    common_distribution,
    model_derived_targets,
    pooled_logits,
)
from t2t.text2token.targets.options import ModelDerivedConfig
from t2t.text2token.targets.sparse import SparseTargets
from t2t.training.corpus import load_corpus
from t2t.training.objective import Objective, register_objective

logger = logging.getLogger(__name__)


class TokenPredictionObjective(Objective):
    """Shared part: pool, project through the frozen LM head, KL to a sparse target."""

    def logits(self, model: torch.nn.Module, texts: Sequence[str]) -> tuple[torch.Tensor, int]:
        context = self.context
        device = next(model.parameters()).device
        batch = {
            k: v.to(device)
            for k, v in tokenize(texts, context.tokenizer, context.pooling, context.max_length).items()
        }
        embeddings = embed_batch(model, batch, context.pooling, context.tokenizer.bos_token_id)
        head = lm_head(model)
        return head(embeddings.to(head.weight.dtype)), int(batch["attention_mask"].sum())

    def targets(self, model: torch.nn.Module, texts: Sequence[str], indices: Sequence[int]) -> SparseTargets:
        raise NotImplementedError

    def loss(self, model, items, indices):
        targets = self.targets(model, items, indices)
        logits, tokens = self.logits(model, items)
        device = logits.device
        return sparse_kl_divergence(
            logits, SparseTargets(targets.ids.to(device), targets.weights.to(device))
        ), tokens


@register_objective("data-driven")
class DataDrivenObjective(TokenPredictionObjective):
    """Stage-1 targets from the text itself (`t2t.text2token.targets.data_driven`); IDF from the training corpus.

    Options: `DataDrivenTargetConfig` (declared in `t2t.training.objective`).
    """

    def prepare(self, model, items, needed: np.ndarray) -> None:
        texts = [items[i] for i in needed]
        self._row = {int(i): row for row, i in enumerate(needed)}
        self._targets = data_driven_targets(
            texts, self.context.tokenizer, self.options, idf_corpus=list(items)
        )
        empty = int((self._targets.weights.sum(-1) == 0).sum())
        if empty:
            logger.info(
                "%d of %d training texts have no data-driven target token (skipped by the loss)",
                empty,
                len(texts),
            )

    def targets(self, model, texts, indices):
        return self._targets[[self._row[int(i)] for i in indices]]


@register_objective("model-derived")
class ModelDerivedObjective(TokenPredictionObjective):
    """Stage-2 targets from the frozen model (`t2t.text2token.targets.model_derived`).

    Options: `ModelDerivedConfig` (declared in `t2t.training.objective`).
    """

    def prepare(self, model, items, needed: np.ndarray) -> None:
        options: ModelDerivedConfig = self.options
        context = self.context
        corpus_name = options.common_corpus or context.corpus
        corpus = load_corpus(corpus_name)
        rng = np.random.default_rng(context.seed)
        take = rng.permutation(len(corpus))[: options.common_samples]
        samples = [corpus[i] for i in sorted(take)]
        if len(samples) < options.common_samples:
            logger.warning(
                "corpus %s has only %d texts for N=%d", corpus_name, len(samples), options.common_samples
            )
        key = {
            "model": context.model_key,
            "pooling": context.pooling.to_dict(),
            "corpus": corpus_name,
            "n": options.common_samples,
            "seed": context.seed,
            "aggregation": options.common_aggregation,
            "max_length": context.max_length,
        }

        def compute() -> torch.Tensor:
            with frozen(model):
                return common_distribution(
                    model,
                    context.tokenizer,
                    samples,
                    context.pooling,
                    aggregation=options.common_aggregation,
                    max_length=context.max_length,
                    batch_size=context.batch_size,
                    autocast_dtype=context.autocast_dtype,
                    progress=context.progress,
                )

        self.log_q = cached_common_distribution(key, compute)

    def targets(self, model, texts, indices):
        options: ModelDerivedConfig = self.options
        with frozen(model):
            logits = pooled_logits(
                model, self.context.tokenizer, texts, self.context.pooling, self.context.max_length
            )
        targets, _kept = model_derived_targets(
            logits, self.log_q.to(logits.device), options.tau, options.top_k
        )
        return targets


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The model as it was before this stage: adapter disabled, eval mode, no gradients."""
    was_training = model.training
    model.eval()
    try:
        with contextlib.ExitStack() as stack:
            if hasattr(model, "disable_adapter"):
                stack.enter_context(model.disable_adapter())
            stack.enter_context(torch.no_grad())
            yield model
    finally:
        model.train(was_training)
