"""Throughput benchmark: rates as fractions of this machine's own matrix rate, and against peers.

    python -m reproduce.perf.benchmark --backbone smollm2-135m          # or: nox -s benchmark

Machines are shared and noisy, so everything is measured in one run and reported as ratios:

1. **GEMM rate**: bf16 and fp32 matrix products at the model's own shapes (1024 tokens × each
   projection of one decoder layer), best of a few repeats. Every rate below is also a fraction of
   the bf16 rate: that is how close the code comes to what the machine can do.
2. **Encoding**: our `Embedder` (and the same with a 4,096-token budget per batch instead of
   `--batch-size` texts: `Embedder(batch_tokens=...)`) against sentence-transformers (bf16 weights, the same PromptEOL
   texts, `lasttoken`/`mean` pooling, a text-only modality config so that it does not wrap texts
   in the chat template), after checking the two agree (cosine). Useful FLOPs per token:
   2 × the non-embedding parameters (attention scores not counted).
3. **Training**: one stage of each kind at the preset's settings (batch, length, LoRA), a few steps
   of the real pipeline (`t2t.training.pipeline.train_stage`), each in its own process so that its
   peak memory (max RSS) is its own. Two paths: `plain` (fp32 weights under bf16 autocast, sdpa,
   `nn.Dropout`: the code before `t2t.training.fastpath`) and `fast` (the default `Runtime`).
   Useful FLOPs per real token: 4 × non-embedding parameters (forward, and the backward through
   the activations; the frozen weights get no gradient), 6 × for model-derived (its targets take
   one more forward pass with the adapter off). Padding is work the machine does but not useful
   work: "fill" is the real tokens' share of batch × max_length (rows are padded to the batch's
   longest, so the padded share is at most 1 - fill).
4. **llm2vec** (`--llm2vec-python`, which `nox -s benchmark` passes): our mean-pooled bidirectional
   encoder against `LLM2Vec.encode` in llm2vec's own environment.
5. **mteb's scoring**: the seconds `mteb.evaluate` spends on each mirrored classification task
   besides encoding (an encoder whose vectors cost nothing), for comparison with a run's encoding time.
6. **Profile** (`--profile`): one stage of each kind under the torch profiler, its step time split
   by op category (matmul, elementwise, copies, attention, loss, optimizer, framework, Python).
7. **Long texts**: the same `Embedder` (last pooling, max 512 tokens) on `--long-texts` STSBenchmark
   sentences and as many SciFact abstracts (~15x longer), interleaved, best of `--repeats`: tokens/s
   of each, from the data root. Two batchings: evaluation's default (`Runtime.eval_batching`:
   `--batch-size` texts, long texts' batches cut at 2,048 tokens) and `--batch-size` texts whatever
   their length (before the cut).
8. **Item scoring**: seconds of `t2t.evaluation.item_scores`' vectorised resamples per task type
   (`--resamples`, default 10,000) on synthetic records of the real sizes (what tables' intervals cost).

Writes `results/benchmarks/benchmark-<backbone>.json`.

The modules, by what they measure: `gemm` (1, and the useful FLOPs per token), `training` (3),
`encoding` (2 and 4), `scoring` (5 and 8), `profiling` (6), `long_texts` (7); `__main__` parses,
measures in this order and writes the report.
"""
