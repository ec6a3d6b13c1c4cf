"""The baselines of the suite (PAPER.md §2), built on the shared training loop of `t2t.training`.

- `baselines.masking`  — MNTP masking (BERT-style 80/10/10 or all-mask) and per-backbone defaults
- `baselines.packing`  — the MNTP corpus tokenised and packed into fixed-length blocks
- `baselines.mntp`     — LLM2Vec's masked next-token prediction objective (`mntp`)
- `baselines.simcse`   — unsupervised SimCSE, dropout views + InfoNCE (`simcse`)
- `baselines.recipes`  — zero-shot, LLM2Vec and SimCSE as `ModelSpec`s / stage lists

The objectives register into `t2t.training.objective` when their module is imported (`mntp` is
declared with its options in `baselines.masking`); `t2t` itself never imports `baselines`.
"""
