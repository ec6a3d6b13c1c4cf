"""Where a number came from: git state, package versions, hardware, time.

Recorded in every `run.json`, so each table cell can be traced to the code and machine that made it.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.metadata
import platform
import subprocess
from typing import Any

from t2t.hardware import describe_hardware
from t2t.paths import REPO_ROOT

PACKAGES = ("torch", "transformers", "peft", "mteb", "accelerate", "datasets", "spacy", "numpy", "t2t-repro")


@functools.cache
def git_state() -> dict[str, Any]:
    """`{"sha": ..., "dirty": bool}` of the checkout when this process first asked (the code it
    imported), or nulls outside a git checkout."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return {"sha": None, "dirty": None}
    return {"sha": sha, "dirty": dirty}


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
