"""The offline data root, file by file: a checked path, or an error that says how to fix it.

Every reader of an offline task (`t2t.evaluation.offline`, `t2t.evaluation.offline_categories`)
opens its files through `require_file`, which checks each one against the data root's
`MANIFEST.json` (`t2t.core.fingerprint.verify_data_file`), and describes the task with an
`OfflineSource`: which files it reads, how they become the task's dataset, and which task object
receives them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from datasets import DatasetDict
from mteb.abstasks import AbsTask

from t2t.core.errors import UserError
from t2t.core.fingerprint import verify_data_file


class OfflineDataError(UserError, FileNotFoundError):
    """The offline data root, or a file in it, is missing. The message names the file and T2T_DATA_DIR."""


def require_file(root: Path | None, relative: str) -> Path:
    """`root / relative`, or an `OfflineDataError` that says which file and how to fix it."""
    if root is None:
        raise OfflineDataError(
            f"no offline data root: cannot read '{relative}'. Set T2T_DATA_DIR to a copy of the offline "
            "assets (shared/assets, see its README.md)."
        )
    path = Path(root) / relative
    if not path.is_file():
        raise OfflineDataError(
            f"missing offline file {path} (data root {root}, from T2T_DATA_DIR or the default "
            "../shared/assets). Point T2T_DATA_DIR at a complete copy of the offline assets, or unset "
            "it to load the task from the Hugging Face Hub."
        )
    verify_data_file(Path(root), relative)  # against MANIFEST.json: a cut or edited file is an error
    return path


@dataclasses.dataclass(frozen=True)
class OfflineSource:
    """How one task is rebuilt from local files.

    Attributes:
        files: every file the loader reads, relative to the data root.
        load: `root -> dataset` in the layout of the task's Hub dataset (one subset): a `DatasetDict`,
            or for retrieval `{split: {"corpus", "queries", "relevant_docs", "top_ranked"}}`.
        hf_subset: for multilingual tasks, the one subset mirrored (the dataset is `{hf_subset: ...}`).
        task_filters: `mteb.get_task` keyword arguments restricting the task to what is mirrored, the
            same restriction MTEB(eng, v2) applies.
        task: builds the task object when it is not one of mteb's registered tasks (our subclasses
            with their own names, `t2t.evaluation.partial_tasks`); None: `mteb.get_task(name)`.
        rows: what each split holds when the copy is not MTEB's item list (so mteb's descriptive
            statistics do not apply), as the assets README states it: `{split: {"rows": n}}`, or for
            retrieval `{split: {"documents": ..., "queries": ..., "relevant_docs": ...}}`
            (`t2t.evaluation.offline.split_counts`). None: mteb's statistics are the check.
    """

    files: tuple[str, ...]
    load: Callable[[Path], DatasetDict | dict[str, Any]]
    hf_subset: str | None = None
    task_filters: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: Callable[[], AbsTask] | None = None
    rows: Mapping[str, Mapping[str, int]] | None = None
