"""Print each target type's top tokens for a few sentences: the paper's first sanity check.

    python -m t2t.text2token.inspect_targets --backbone smollm2-135m "The Eiffel Tower stands in Paris."
    python -m t2t.text2token.inspect_targets --sample 5            # five sentences from the corpus

For every sentence: the top-10 tokens (decoded, with weights) of the data-driven `tfidf-pos` and
`uniform-nonstop` targets and of the model-derived target `softmax(r / τ)`, next to the raw
next-token distribution `P(w|x)` of the frozen model. The common distribution `Q(w)`'s top tokens
are printed once. A healthy model-derived target holds topical words, not Q's generic ones.
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import torch

from t2t.core.cli import integer, number
from t2t.core.errors import report_user_errors
from t2t.core.runtime import Runtime
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbone_catalog import DEFAULT_BACKBONE
from t2t.models.backbones import load_backbone
from t2t.text2token.targets.data_driven import data_driven_targets
from t2t.text2token.targets.model_derived import common_distribution, model_derived_targets, pooled_logits
from t2t.text2token.targets.options import DataDrivenTargetConfig
from t2t.text2token.targets.sparse import SparseTargets
from t2t.training.corpus import load_corpus


def top_tokens(tokenizer, ids: torch.Tensor, weights: torch.Tensor, k: int = 10) -> list[str]:
    """`['paris 0.31', ...]`: the k heaviest (id, weight) pairs, decoded, zero weights dropped."""
    order = weights.argsort(descending=True)[:k]
    return [
        f"{tokenizer.decode([int(ids[i])]).strip() or repr(tokenizer.decode([int(ids[i])]))} {float(weights[i]):.2f}"
        for i in order
        if weights[i] > 0
    ]


def inspect(
    sentences: list[str],
    backbone: str = DEFAULT_BACKBONE,
    pooling: str = "last",
    corpus: str = "wikitext2-sentences",
    common_samples: int = 1000,
    tau: float = 1e-4,
) -> str:
    """The side-by-side report as text."""
    model, tokenizer = load_backbone(backbone)
    spec = PoolingSpec(mode=pooling)
    texts = load_corpus(corpus)
    rng = np.random.default_rng(0)
    samples = [texts[i] for i in sorted(rng.permutation(len(texts))[:common_samples])]
    autocast = Runtime(device="cpu").autocast_dtype()
    log_q = common_distribution(model, tokenizer, samples, spec, autocast_dtype=autocast, progress=False)
    logits = pooled_logits(model, tokenizer, sentences, spec, max_length=128)
    derived, kept = model_derived_targets(logits, log_q, tau=tau, top_k=64)
    probabilities = torch.softmax(logits, -1)
    columns = {
        "tfidf-pos": data_driven_targets(sentences, tokenizer, DataDrivenTargetConfig(), idf_corpus=texts),
        "uniform-nonstop": data_driven_targets(
            sentences, tokenizer, DataDrivenTargetConfig(kind="uniform-nonstop")
        ),
        f"model-derived (tau={tau:g})": derived,
        "P(w|x), unfiltered": SparseTargets.from_dense(probabilities, 10),
    }
    q_top = log_q.exp().topk(10)
    lines = [
        f"backbone={backbone} pooling={pooling} Q(w) from N={len(samples)} {corpus} sentences",
        "Q(w) top-10: " + ", ".join(top_tokens(tokenizer, q_top.indices, q_top.values)),
        "",
    ]
    for row, sentence in enumerate(sentences):
        lines.append(f"## {sentence}")
        for name, targets in columns.items():
            lines.append(
                f"  {name:<28} " + ", ".join(top_tokens(tokenizer, targets.ids[row], targets.weights[row]))
            )
        lines.append(f"  {'(top-64 kept mass)':<28} {float(kept[row]):.4f}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sentences", nargs="*")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--pooling", choices=["last", "mean"], default="last")
    parser.add_argument("--corpus", default="wikitext2-sentences")
    parser.add_argument("--common-samples", type=integer(minimum=1), default=1000)
    parser.add_argument("--tau", type=number(minimum=0, inclusive=False), default=1e-4)
    parser.add_argument(
        "--sample", type=integer(minimum=0), default=0, help="add this many sentences sampled from the corpus"
    )
    parser.add_argument("--debug", action="store_true", help="tracebacks for user errors too")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sentences = list(args.sentences)
    if args.sample:
        texts = [t for t in load_corpus(args.corpus) if 6 <= len(t.split()) <= 30]
        if args.sample > len(texts):
            parser.error(
                f"--sample {args.sample}: {args.corpus} has only {len(texts)} sentences of 6-30 words"
            )
        rng = np.random.default_rng(1)
        sentences += [texts[i] for i in rng.choice(len(texts), args.sample, replace=False)]
    if not sentences:
        parser.error("give sentences or --sample N")
    print(inspect(sentences, args.backbone, args.pooling, args.corpus, args.common_samples, args.tau))


if __name__ == "__main__":
    sys.exit(report_user_errors(main))
