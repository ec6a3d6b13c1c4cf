"""One bootstrap for every process: import the modules that register into t2t's registries.

`t2t` is the lower layer: it holds registries (training objectives, `t2t.training.objective`) that
upper layers fill from their own modules (`baselines` declares `mntp` and `simcse`). A process that
only imported `t2t` (`python -m t2t export`, an executor's worker, `accelerate launch -m
reproduce.run.train`) would not know them. Upper layers therefore announce their registering modules as
Python entry points of the group `t2t.core.plugins` in their package metadata (`pyproject.toml`):

    [project.entry-points."t2t.plugins"]
    baselines = "baselines.registration"

and `load_plugins()` imports them all. Every entry point of the suite calls it first; a registry
lookup that misses calls it once more before giving up, so library users need nothing special.
t2t never names the upper layer: the package metadata does (STYLE.md: "let the upper layer register
into the lower one").
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging

logger = logging.getLogger(__name__)

GROUP = "t2t.plugins"  # the entry-point group: a public name (plugins outside this repo use it)
_LOADED: list[str] = []


def load_plugins() -> list[str]:
    """Import every module registered under the `t2t.plugins` entry-point group (and Text2Token's
    own objectives); returns their names. Idempotent and cheap after the first call."""
    if _LOADED:
        return list(_LOADED)
    names = ["t2t.text2token.objectives"]
    names += [entry.value for entry in importlib.metadata.entry_points(group=GROUP)]
    for name in names:
        importlib.import_module(name)
    _LOADED.extend(names)
    logger.debug("plugins loaded: %s", ", ".join(names))
    return list(_LOADED)


def plugins_hint() -> str:
    """What to say when a registry does not know a name even after `load_plugins()`."""
    found = [entry.value for entry in importlib.metadata.entry_points(group=GROUP)]
    if not found:
        return (
            f"no plugin is registered under the entry-point group {GROUP!r}: the suite's package "
            "metadata is missing (install it: pip install -e .)"
        )
    return f"registered plugins: {', '.join(found)}"
