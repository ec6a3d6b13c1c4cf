"""Time llm2vec's own `LLM2Vec.encode` (mean pooling, bidirectional) for `reproduce.perf.benchmark`.

    python baselines/parity/encode_speed.py --model DIR --texts TEXTS.json --out EMB.npy

Runs in llm2vec's environment (llm2vec 0.2.3, transformers 4.44; see `noxfile.py`), by path, so it
imports nothing from this repository. `DIR` is a model folder written for transformers 4.44
(`baselines.parity.legacy`); the texts carry no instruction, so `LLM2Vec.encode` means over each
text's own tokens, which is our `PoolingSpec(mode="mean")` (checked by `llm2vec-parity`). The
weights are loaded in bf16 (`--dtype`), as ours are in the benchmark. Prints one JSON line: the best wall time
of `--repeats` calls; writes the last call's embeddings to `--out` so the caller can check that the
two sides computed the same thing before comparing their speed.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from llm2vec import LLM2Vec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--texts", required=True, help="a JSON list of strings")
    parser.add_argument("--out", required=True, help="where to save the embeddings (.npy)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    args = parser.parse_args(argv)
    with open(args.texts) as file:
        texts = json.load(file)
    encoder = LLM2Vec.from_pretrained(
        args.model,
        enable_bidirectional=True,
        pooling_mode="mean",
        max_length=args.max_length,
        attn_implementation="sdpa",
        torch_dtype=getattr(torch, args.dtype),
    )
    if encoder.prepare_for_tokenization("x") != "x":
        raise RuntimeError(f"LLM2Vec wraps texts for {encoder.model.config._name_or_path!r}")
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        embeddings = encoder.encode(
            texts, batch_size=args.batch_size, show_progress_bar=False, convert_to_numpy=True, device="cpu"
        )
        seconds.append(time.perf_counter() - start)
    np.save(args.out, np.asarray(embeddings, dtype=np.float32))
    print(json.dumps({"seconds": min(seconds), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
