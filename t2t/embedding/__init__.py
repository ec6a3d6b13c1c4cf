"""From texts to vectors: pooling modes (their registry and Text2Token's `last` and `mean`), the
`Embedder` (mteb's encoder protocol) and its per-run cache of embeddings by text.
"""
