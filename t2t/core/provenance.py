"""Where a number came from: git state, package versions, hardware, time.

Recorded in every `run.json`, so each table cell can be traced to the code and machine that made it.
A run made from a checkout with uncommitted code also stores that code as a patch against the
recorded sha (`code_diff`; `t2t.runs.run` writes it into the run folder), so "dirty" is never a dead end.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import platform
import subprocess
from typing import Any

from t2t.core.hardware import describe_hardware
from t2t.core.paths import REPO_ROOT

PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "mteb",
    "accelerate",
    "datasets",
    "spacy",
    "numpy",
    "bm25s",  # with PyStemmer: what mteb's BM25 baseline computes with (`baselines.bm25`)
    "PyStemmer",
    "t2t-repro",
)


CODE_PATHS = (".", ":(exclude)results")
"""What "the code" is for provenance (a git pathspec): the checkout except `results/`, so a rebuilt
table is not a code change."""


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=30
    ).stdout


@functools.cache
def git_state() -> dict[str, Any]:
    """`{"sha": ..., "dirty": bool}` of the checkout when this process first asked (the code it
    imported), or nulls outside a git checkout. Dirty means a tracked code file differs from HEAD
    or a new source file is not committed yet (`CODE_PATHS`; results files do not count)."""
    try:
        sha = _git("rev-parse", "HEAD").strip()
        dirty = bool(_git("status", "--porcelain", "--", *CODE_PATHS).strip())
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


@functools.cache
def code_diff() -> str:
    """The uncommitted code of the checkout as a patch against HEAD: tracked changes (`git diff
    HEAD`) plus every untracked source file as an addition, so `git apply` on the recorded sha
    gives back the code a dirty run ran. Empty for a clean tree (or outside git)."""
    try:
        patch = _git("diff", "HEAD", "--binary", "--", *CODE_PATHS)
        untracked = _git("ls-files", "--others", "--exclude-standard", "--", *CODE_PATHS).split()
        for name in untracked:
            done = subprocess.run(
                ["git", "diff", "--no-index", "--binary", "--", "/dev/null", name],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                timeout=30,
            )
            patch += done.stdout  # exit status 1 means "differs", which it always does here
    except (OSError, subprocess.SubprocessError):
        return ""
    return patch


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance() -> dict[str, Any]:
    return {
        "git": git_state(),
        "versions": package_versions(),
        "hardware": describe_hardware(),
        "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
