"""A band over resampled sentences for the spectrum figure's per-component change shares."""

from __future__ import annotations

import numpy as np

from t2t.stats.intervals import Bootstrap

BAND = Bootstrap(resamples=1000, blocks=1)
"""A figure's band, not a decision: one block of 1,000 resamples."""


def share_band(
    squared: np.ndarray, total: np.ndarray, bootstrap: Bootstrap = BAND
) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile band of per-component change shares over resampled sentences.

    `squared` is `(n, k)`: each sentence's squared coefficient change on each component; `total`
    is `(n,)`: its whole squared change. A share is `sum_i squared_ij / sum_i total_i`; each
    resample draws the n sentences with replacement and recomputes every share. The principal
    directions stay those of the full sample (a bootstrap conditional on them: it shows how much
    the shares depend on which sentences were drawn, not the directions' own sampling error).
    Returns `(low, high)`, each `(k,)`.
    """
    squared = np.asarray(squared, dtype=np.float64)
    total = np.asarray(total, dtype=np.float64)
    if squared.ndim != 2 or total.shape != (squared.shape[0],):
        raise ValueError(f"need (n, k) and (n,) arrays, got {squared.shape} and {total.shape}")
    rng = np.random.default_rng(bootstrap.seed)
    n = squared.shape[0]
    shares = np.empty((bootstrap.resamples, squared.shape[1]))
    for r in range(bootstrap.resamples):
        draw = rng.integers(0, n, size=n)
        denominator = total[draw].sum()
        shares[r] = squared[draw].sum(0) / denominator if denominator > 0 else 0.0
    tail = 100 * (1 - bootstrap.confidence) / 2
    low, high = np.percentile(shares, [tail, 100 - tail], axis=0)
    return low, high
