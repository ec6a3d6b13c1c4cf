"""Crash-safe file writes, and the one tolerant JSON reader (`read_json`: missing or unreadable -> None, reported once).

A results file, a target cache or a checkpoint is either complete or absent: we write to a
temporary name in the same folder, flush and fsync, then `os.replace` it into place (atomic on
POSIX). A kill at any moment leaves at most a stray `*.tmp-*` file, never a half-written result.
Files and folders end up with the mode the umask gives a plain write (0644 / 0755 usually), not the
private 0600 / 0700 of `tempfile`.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _normal_mode(path: str | Path, directory: bool = False) -> None:
    """Give a temporary file (0600 from `mkstemp`) or folder (0700) the mode a plain `open` or
    `mkdir` would have under the umask (0644 / 0755 usually), before it replaces the real one."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        _normal_mode(tmp)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


@contextmanager
def atomic_directory(path: Path) -> Iterator[Path]:
    """Build a folder under a temporary name; it appears at `path` only if the block succeeds.

    An existing folder at `path` is replaced (used for checkpoints: the newest complete one wins).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        _normal_mode(tmp, directory=True)
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary file path next to `path`; move it into place only if the block succeeds.

    For writers that insist on a path of their own (e.g. `TaskResult.to_disk`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    os.close(fd)
    try:
        _normal_mode(tmp)
        yield Path(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


PROBLEMS: dict[Path, str] = {}
"""Unreadable files met by this process, with what happens to them (each logged once)."""


def report_problem(path: Path, message: str) -> None:
    """Log that `path` cannot be used and why (once per path and message) and remember it in
    `PROBLEMS`, which `t2t.runs.results` reports per run."""
    if PROBLEMS.get(path) != message:
        logger.warning("%s: %s", path, message)
    PROBLEMS[path] = message


def read_json(path: Path, consequence: str) -> Any | None:
    """The JSON content of `path` (gzipped when it ends in `.gz`), or None when it is missing or
    unreadable. An unreadable file is reported once with its path and `consequence` (what happens
    instead), never raised."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)
    except (OSError, ValueError, EOFError) as error:
        report_problem(path, f"not readable ({error}); {consequence}")
        return None
