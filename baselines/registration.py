"""Everything `baselines` adds to t2t's registries, in one import.

Loaded by `t2t.core.plugins.load_plugins()` through the `t2t.core.plugins` entry point (`pyproject.toml`), so
every process of the suite knows the baselines' objectives (`mntp`, `simcse`), the pooling modes
of the training-free methods (every module of `baselines.training_free`) and the searchers (`bm25`),
whatever it imported first.
"""

from __future__ import annotations

import baselines.bm25  # noqa: F401  (registers the bm25 searcher)
import baselines.mntp  # noqa: F401  (registers the mntp objective; declared in baselines.masking)
import baselines.simcse  # noqa: F401  (declares and registers simcse)
import baselines.training_free  # noqa: F401  (each of its modules registers its pooling mode)
