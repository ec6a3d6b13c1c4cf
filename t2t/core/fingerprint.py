"""What a run actually used: checksums of its data files and weights, and the data root's manifest.

A run id hashes the *config* (the backbone's name, the task set's name), not the bytes behind
them, and committed run ids must stay valid. So the bytes are fingerprinted separately and stored
next to the config, in `run.json` (and in each cached stage's `stage.json`):

    {"weights": {...}, "data": {"STS12": {"sts/sts12/STS.input.MSRpar.txt": "9f0c…", ...}, ...}}

- **data**: the sha256 (first 16 hex digits, as in the data root's `MANIFEST.json`) of every
  file an offline task or local corpus reads; Hub-loaded tasks are named by dataset and revision.
- **weights** (`t2t.models.backbones.weights_fingerprint`, built from `folder_fingerprint` and
  `package_file_fingerprint` here): for the packaged SmolLM2 (and the tiny presets, which use its
  tokenizer) the package version and the GGUF file's sha256; for a local folder (also a preset's
  `T2T_WEIGHTS_*` override or a Hub snapshot in the local cache) the names and sizes of its files
  and a content digest: sha256 over 1 MiB from the start, middle and end of each file. Sampling,
  not full hashing, keeps a 16 GB checkpoint's fingerprint to a fraction of a second; a replaced,
  re-converted or truncated weight file changes its header, size or sampled bytes.

`compare` lists what differs between a stored and a current fingerprint; `t2t.runs.run` refuses to
reuse a stored result whose fingerprint differs (see `Runtime.on_stale`).

The data root's `MANIFEST.json` (a list of `{"file", "bytes", "sha256"}`) is checked file by file as
files are read (`verify_data_file`): a truncated or edited task file is an error that names it,
never a silently different score.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import json
import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from t2t.core.errors import UserError

logger = logging.getLogger(__name__)

SHORT = 16
"""Hex digits of sha256 kept per file (the manifest's convention)."""
SAMPLE_BYTES = 1 << 20


class DataIntegrityError(UserError, ValueError):
    """A data file does not match the data root's MANIFEST.json; the message names it and the fix."""


class StaleResult(UserError, RuntimeError):
    """A stored result (a run, a cached stage) was computed from other inputs than today's."""


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=4096)
def _sha256(key: tuple[str, int, int]) -> str:
    digest = hashlib.sha256()
    with open(key[0], "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Full sha256 of a file, cached per process by (path, size, mtime)."""
    return _sha256(_stat_key(Path(path)))


@functools.lru_cache(maxsize=4096)
def _sampled(key: tuple[str, int, int]) -> str:
    path, size, _ = key
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, size // 2 - SAMPLE_BYTES // 2), max(0, size - SAMPLE_BYTES)}):
            handle.seek(offset)
            digest.update(handle.read(SAMPLE_BYTES))
    return digest.hexdigest()


def sampled_digest(path: Path) -> str:
    """sha256 of a file's size and of 1 MiB from its start, middle and end (whole file if small)."""
    return _sampled(_stat_key(Path(path)))


# ---------------------------------------------------------------- the data root's manifest


@functools.lru_cache(maxsize=8)
def _manifest(path: str, mtime_ns: int) -> dict[str, dict[str, Any]]:
    try:
        entries = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataIntegrityError(
            f"{path} is not a readable manifest ({error}); restore it, or remove it to skip the checks."
        ) from None
    return {entry["file"]: entry for entry in entries if isinstance(entry, dict) and "file" in entry}


def manifest(root: Path) -> dict[str, dict[str, Any]]:
    """`{relative file: {"bytes", "sha256", ...}}` from `root/MANIFEST.json`, or {} without one."""
    path = Path(root) / "MANIFEST.json"
    return _manifest(str(path), path.stat().st_mtime_ns) if path.is_file() else {}


def verify_data_file(root: Path, relative: str) -> str:
    """The short sha256 of `root/relative`, after checking it against the manifest when listed.

    Raises `DataIntegrityError` naming the file, the expected and actual size and checksum, and the
    upstream source, when the file differs from its manifest entry.
    """
    path = Path(root) / relative
    sha = file_sha256(path)[:SHORT]
    entry = manifest(root).get(relative)
    if entry is None:
        return sha
    size = path.stat().st_size
    expected_sha = str(entry.get("sha256", ""))
    if (entry.get("bytes") is not None and size != entry["bytes"]) or not sha.startswith(
        expected_sha[:SHORT]
    ):
        upstream = (
            f" from {entry['repo']}@{entry.get('commit')}:{entry.get('path')}" if entry.get("repo") else ""
        )
        raise DataIntegrityError(
            f"offline file {path} does not match {Path(root) / 'MANIFEST.json'}: {size} bytes, sha256 "
            f"{sha} (expected {entry.get('bytes')} bytes, sha256 {expected_sha}). The copy is truncated "
            f"or modified; restore it{upstream}, or point T2T_DATA_DIR at an intact copy of the assets."
        )
    return sha


def data_files_fingerprint(root: Path, files: Iterable[str]) -> dict[str, str]:
    """`{relative file: short sha256}` for files under `root`, each checked against the manifest."""
    return {relative: verify_data_file(root, relative) for relative in files}


# ---------------------------------------------------------------- weights


def folder_fingerprint(folder: Path) -> dict[str, Any]:
    """Names and sizes of a weights folder's files and a sampled content digest of all of them."""
    folder = Path(folder).expanduser().resolve()
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.parts)
    )
    digest = hashlib.sha256()
    sizes = {}
    for path in files:
        name = str(path.relative_to(folder))
        sizes[name] = path.stat().st_size
        digest.update(f"{name}\0{sizes[name]}\0{sampled_digest(path)}\n".encode())
    return {"source": "folder", "path": str(folder), "files": sizes, "digest": digest.hexdigest()[:SHORT]}


def package_file_fingerprint(package: str, path: Path) -> dict[str, Any]:
    """A file shipped by a PyPI package: the package's version and the file's full sha256."""
    try:
        version = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        version = None
    return {"source": "package", "package": package, "version": version, "file": Path(path).name,
            "sha256": file_sha256(path)}  # fmt: skip


def compare(stored: dict[str, Any] | None, current: dict[str, Any] | None, where: str = "") -> list[str]:
    """Human-readable differences between two fingerprints (empty = the same inputs).

    A side that could not be resolved here (`{"source": "unresolved"}`, e.g. Hub weights not yet
    downloaded) compares equal to anything: we cannot tell, and refusing would block every user
    who has not downloaded the weights yet.
    """
    if stored is None or current is None or stored == current:
        return []
    if any(isinstance(side, dict) and side.get("source") == "unresolved" for side in (stored, current)):
        return []
    if isinstance(stored, dict) and isinstance(current, dict):
        differences = []
        for key in sorted(set(stored) | set(current)):
            name = f"{where}.{key}" if where else str(key)
            if key not in current:
                differences.append(f"{name}: recorded {_short(stored[key])}, not used now")
            elif key not in stored:
                differences.append(f"{name}: not recorded, now {_short(current[key])}")
            else:
                differences += compare(stored[key], current[key], name)
        return differences
    return [f"{where}: recorded {_short(stored)}, now {_short(current)}"]


def is_mirror_vs_hub(stored: dict[str, Any] | None, current: dict[str, Any] | None) -> bool:
    """Whether two run fingerprints differ only in where their data came from: every task or corpus
    entry that differs was read from the offline mirror's files on one side and from the Hub on the
    other (`{"hub": ...}`). Such a run cannot be checked either way, which is not the same as a
    file that changed."""
    if not stored or not current:
        return False
    differing = 0
    for group in ("data", "corpora"):
        old, new = stored.get(group) or {}, current.get(group) or {}
        for name in set(old) | set(new):
            if old.get(name) == new.get(name):
                continue
            differing += 1
            sides = [old.get(name) or {}, new.get(name) or {}]
            if sorted("hub" in side for side in sides) != [False, True]:
                return False
    return differing > 0 and compare(stored.get("weights"), current.get("weights")) == []


def decide_stale(what: str, differences: list[str], policy: str) -> str | None:
    """What to do with a stored result (a run, a cached stage) whose recorded inputs differ from
    today's (`compare`): None when they do not; `"accept"` or `"recompute"` as `Runtime.on_stale`
    says (logged); for `"error"`, a `StaleResult` that lists the differences and the two fixes.
    The caller carries out the decision (`accepted`, `move_aside`)."""
    if not differences:
        return None
    listed = "; ".join(differences[:6]) + (
        f"; and {len(differences) - 6} more" if len(differences) > 6 else ""
    )
    if policy in ("accept", "recompute"):
        logger.warning("%s: inputs changed (%s); --on-stale %s", what, listed, policy)
        return policy
    raise StaleResult(
        f"{what} was computed from other inputs than today's: {listed}. Its numbers would be wrong for "
        "today's files, so it is not reused. Rerun with `--on-stale recompute` to move it aside and "
        "compute it again, or `--on-stale accept` to keep it (recorded in its metadata)."
    )


def accepted(metadata: dict[str, Any], differences: list[str]) -> list[dict[str, Any]]:
    """The `stale_accepted` record of a result kept with `--on-stale accept`, one entry appended."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return [*metadata.get("stale_accepted", []), {"at": now, "differences": differences}]


def move_aside(folder: Path, archive: Path) -> Path:
    """Move a stale result's folder into `archive` under a timestamped name (never deleted)."""
    aside = archive / f"{folder.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    archive.mkdir(parents=True, exist_ok=True)
    shutil.move(str(folder), aside)
    logger.warning("moved stale %s to %s", folder, aside)
    return aside


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."
