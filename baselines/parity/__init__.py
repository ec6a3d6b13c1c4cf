"""Parity with the reference LLM2Vec implementation (`llm2vec==0.2.3`, PAPER.md §2).

Our LLM2Vec baseline reimplements llm2vec's pieces on transformers 5 (`t2t.models.backbones.set_attention`,
`baselines.mntp.mntp_loss`, `t2t.embedding.encoder.Embedder` with mean pooling). llm2vec pins
`transformers<=4.44.2`, so the two cannot share a process. The check runs in two steps that
exchange one folder:

1. `python -m baselines.parity.ours --out DIR` (the suite's environment, transformers 5): builds the
   tiny random Llama and Mistral presets, saves their weights and tokenizers in a form transformers
   4.44 reads (`baselines.parity.legacy`), and saves our outputs: hidden states, MNTP losses,
   mean-pooled embeddings, SimCSE losses and gradients (`baselines.parity.quantities`), plus
   `manifest.json` describing the cases.
2. `python baselines/parity/with_llm2vec.py --dir DIR` (a venv with llm2vec 0.2.3 and transformers
   4.44.2): loads the same folders into `LlamaBiModel`/`MistralBiModel`, `*BiForMNTP` and `LLM2Vec`,
   recomputes everything, prints a table of max abs differences and exits non-zero on a mismatch.
   It imports nothing from this repository.

`nox -s llm2vec-parity` runs both. This package's `__init__` stays import-free so the reference step
never pulls in transformers 5.
"""
