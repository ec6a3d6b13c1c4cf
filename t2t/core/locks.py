"""One process at a time per run folder and per cached stage.

Two processes that start the same run (two terminals, two grid jobs sharing a stage) must not both
do the work, and must not write the same files. `exclusive(lock_file, what)` holds an OS-level lock
(`filelock`, `flock` on POSIX) while its block runs:

    with exclusive(run_folder / ".lock", f"run {run_id}"):
        ...  # check what is done, do the rest

- The first process takes the lock at once and writes who it is (pid, host, command, start time)
  into `<lock>.holder`.
- A second process finds the lock taken, logs who holds it, and **waits** for it; when it gets the
  lock it re-checks what is done, so it reuses the first process's results instead of redoing them.
- A holder that dies (`kill -9`, a crash, a lost node) releases its lock with its file handles: the
  kernel drops `flock` locks of dead processes, so the next process takes the lock at once. The
  stale `.holder` file is simply overwritten.

Lock files are hidden, inside or next to what they protect (`runs/<id>/.lock`,
`models/.<stage key>.lock`), and ignored by git.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from t2t.core.atomic import atomic_write_json

logger = logging.getLogger(__name__)


def holder_path(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".holder")


def describe_holder(lock_file: Path) -> str:
    """Who holds `lock_file`, as far as its `.holder` file says."""
    try:
        info = json.loads(holder_path(lock_file).read_text())
    except (OSError, ValueError):
        return "another process (no holder file)"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('since')} ({info.get('command')})"


@contextmanager
def exclusive(lock_file: Path, what: str, *, wait: bool = True) -> Iterator[None]:
    """Hold the lock `lock_file` for the block; wait (logging the holder) if another process has it.

    Args:
        lock_file: the lock's path (its folder is created).
        what: what the lock protects, for messages ("run 1a2b3c4d5e6f").
        wait: False raises `LockBusy` naming the holder instead of waiting.
    """
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_file))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = describe_holder(lock_file)
        if not wait:
            raise LockBusy(f"{what} is being computed by {holder}; lock {lock_file}") from None
        logger.warning(
            "%s is being computed by %s; waiting for it to finish (lock %s)", what, holder, lock_file
        )
        print(f"waiting: {what} is being computed by {holder}", file=sys.stderr, flush=True)
        lock.acquire()
        logger.info("%s: lock acquired after waiting; re-checking what is done", what)
    try:
        atomic_write_json(
            holder_path(lock_file),
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "command": " ".join(sys.argv)[:200],
            },
        )
        yield
    finally:
        holder_path(lock_file).unlink(missing_ok=True)
        lock.release()


class LockBusy(RuntimeError):
    """Another live process holds the lock (only with `exclusive(..., wait=False)`)."""
