"""Where the suite reads data and writes artifacts.

Three roots, each overridable by an environment variable:

- **data root** (`T2T_DATA_DIR`): offline copies of MTEB task data and unlabeled corpora. Defaults to
  `../shared/assets` next to the checkout when that folder exists (our machines), else `None`, in which
  case tasks and corpora are loaded from the Hugging Face Hub exactly as mteb/datasets would
  (`T2T_DATA_DIR=none` asks for that explicitly).
- **cache root** (`T2T_CACHE_DIR`, default `~/.cache/t2t`): converted weights, token-target caches,
  LoRA adapters and training checkpoints. Large, never committed.
- **results root** (`T2T_RESULTS_DIR`, default `<repo>/results`): run folders (TaskResult JSON +
  `run.json`), generated tables and figures. Small, committed.
"""

from __future__ import annotations

import os
from pathlib import Path

from t2t.core.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[2]


class DataRootMissing(UserError, FileNotFoundError):
    """`T2T_DATA_DIR` names no folder."""


def data_root() -> Path | None:
    """The offline data root, or None when tasks should come from the Hub (also when
    `T2T_DATA_DIR=none`: load from the Hub although a mirror is next to the checkout)."""
    explicit = os.environ.get("T2T_DATA_DIR")
    if explicit and explicit.lower() == "none":
        return None
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise DataRootMissing(
                f"T2T_DATA_DIR={explicit} is not a folder. Point it at a copy of the offline assets, "
                "or unset it to load tasks from the Hugging Face Hub."
            )
        return path
    default = REPO_ROOT.parent / "shared" / "assets"
    return default if default.is_dir() else None


def cache_root() -> Path:
    """Root for large derived artifacts (weights, adapters, checkpoints, target caches)."""
    path = Path(os.environ.get("T2T_CACHE_DIR", "~/.cache/t2t")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_location() -> Path:
    """Where the results store is (`T2T_RESULTS_DIR`, default `<repo>/results`), created or not."""
    return Path(os.environ.get("T2T_RESULTS_DIR", REPO_ROOT / "results")).expanduser()


def results_root() -> Path:
    """Root of the committed results store (created when missing)."""
    path = results_location()
    path.mkdir(parents=True, exist_ok=True)
    return path


def reference_root() -> Path | None:
    """`../shared/reference` (reported numbers), or None where the checkout has no shared folder."""
    path = Path(os.environ.get("T2T_REFERENCE_DIR", REPO_ROOT.parent / "shared" / "reference"))
    return path if path.is_dir() else None
