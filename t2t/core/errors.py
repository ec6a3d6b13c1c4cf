"""Errors a user can fix, and the one way the command lines report them.

Every exception that means "your input, files or environment need a change" (an unknown backbone,
a missing or corrupt data file, a bad option, a stale stored result) derives from `UserError` as
well as from the builtin type it always had (`ValueError`, `FileNotFoundError`, ...), so existing
`except ValueError` code keeps working. Command lines wrap their `main` in `report_user_errors`:
a `UserError` prints one line, `error: <message>`, and exits with status 2; any other exception is
a bug and keeps its traceback. `--debug` or `T2T_DEBUG=1` shows the traceback of user errors too.

    >>> raise ConfigError("unknown backbone 'x'; use ...")      # doctest: +SKIP
    error: unknown backbone 'x'; use ...
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


class UserError(Exception):
    """Base of errors whose message tells the user what to change. Never a bug in the suite."""


def debug_requested(argv: list[str] | None = None) -> bool:
    """True when `--debug` is on the command line or `T2T_DEBUG` is set to a non-empty, non-0 value."""
    argv = sys.argv[1:] if argv is None else argv
    return "--debug" in argv or os.environ.get("T2T_DEBUG", "") not in ("", "0")


def report_user_errors(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run `main(argv)`; turn a `UserError` into one line on stderr and exit status 2."""
    try:
        return int(main(argv) or 0)
    except UserError as error:
        if debug_requested(argv):
            raise
        print(f"error: {error}", file=sys.stderr)
        print("(run with --debug or T2T_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
