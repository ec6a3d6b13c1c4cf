"""The registry of searchers: methods whose model is not a decoder read as an encoder.

Every other run evaluates a decoder through `t2t.embedding.encoder` (texts in, embeddings out). A searcher
ranks documents itself: it is an mteb search model (`mteb.models.SearchProtocol`: `index` a corpus,
`search` queries) and has no embeddings, so it can score only the task types it declares
(BM25, a lexical retrieval baseline: "Retrieval"). A run of one:

- names it on its model, `ModelSpec.searcher = SearcherSpec(name, settings)`; the settings are
  validated and completed with their defaults by the searcher's own settings class (as a stage's
  objective options are), so the run id covers them and two specs that mean the same hash the same;
- restricts its evaluation to task types the searcher declares (`EvalSpec.task_types`, checked by
  `RunSpec`): it evaluates only those tasks of its set (`t2t.evaluation.task_types`);
- is built by `t2t.runs.run.prepare` with `SearcherSpec.build()` in place of loading and training a
  backbone (its `ModelSpec.backbone` is only the table column it stands in; nothing reads it).

Upper layers register theirs from their own modules (`baselines.bm25` registers `bm25`), which
`t2t.core.plugins.load_plugins()` imports: t2t never names them (`tests/test_architecture.py`).

    register_searcher(Searcher("bm25", build=..., settings_class=BM25Settings,
                               task_types=("Retrieval",), description="..."))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from t2t.core.config import Config, ConfigError


@dataclasses.dataclass(frozen=True)
class Searcher:
    """One registered searcher.

    Attributes:
        name: the `SearcherSpec.name` string.
        build: `(settings) -> model`, an mteb search model (`index`/`search`) built from a
            `settings_class` instance; cheap (a searcher trains nothing before its first task).
        settings_class: validates `SearcherSpec.settings` and fills in the defaults.
        task_types: the MTEB task types it can score (e.g. `("Retrieval",)`).
        description: what it is, in one phrase, for `run.json` and the tables' footnotes.
    """

    name: str
    build: Callable[[Any], Any]
    settings_class: type[Config]
    task_types: tuple[str, ...]
    description: str


SEARCHERS: dict[str, Searcher] = {}
"""Registered searchers by name (`register_searcher`)."""


def register_searcher(found: Searcher) -> Searcher:
    """Make `found.name` a valid `SearcherSpec.name`. Registering the same searcher again (a module
    imported twice) is a no-op; a different one under a taken name is an error."""
    if SEARCHERS.setdefault(found.name, found) != found:
        raise ValueError(f"searcher {found.name!r} is already registered as {SEARCHERS[found.name]}")
    return found


def searcher(name: str) -> Searcher:
    """The registered searcher `name`; a `ConfigError` listing the registered names if there is none.
    A name not registered yet loads the plugins first (`t2t.core.plugins`), as `pooling_mode` does."""
    if name not in SEARCHERS:
        from t2t.core.plugins import load_plugins, plugins_hint

        load_plugins()
        if name not in SEARCHERS:
            raise ConfigError(
                f"unknown searcher {name!r}; choose one of: {', '.join(sorted(SEARCHERS)) or 'none'} "
                f"({plugins_hint()})"
            )
    return SEARCHERS[name]


@dataclasses.dataclass(frozen=True)
class SearcherSpec(Config):
    """A searcher and its settings, completed with the searcher's defaults (see the module docstring).

    Attributes:
        name: a registered searcher (`SEARCHERS`): `bm25` once `baselines` is loaded.
        settings: its settings class's fields; omitted ones take the class's defaults.
    """

    name: str
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        found = searcher(self.name)
        completed = found.settings_class.from_dict(self.settings, where=f"{self.name} settings")
        object.__setattr__(self, "settings", completed.to_dict())

    @property
    def declared(self) -> Searcher:
        """The registered searcher this spec names."""
        return searcher(self.name)

    def build(self) -> Any:
        """The mteb search model, built with these settings."""
        found = self.declared
        return found.build(found.settings_class.from_dict(self.settings))
