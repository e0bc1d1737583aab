"""The worker's status file and pid file: what ``koji-worker health`` reads.

Both are rewritten atomically (a temporary file renamed over the old
one), so a reader never sees half a file.  The status file is readable
by kojid's own user only: it names tasks and leases.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from .atomic import write_atomic

__all__ = ("write_json", "read_status", "write_pid", "read_pid", "StatusError")


class StatusError(Exception):
    """The status or pid file is missing or unreadable; the text says which."""


def _write(path: str, data: bytes, mode: int) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    write_atomic(path, data, mode)


def write_json(path: str, status: Dict[str, Any]) -> None:
    """Replace the status file with ``status`` (mode 0600)."""
    _write(path, json.dumps(status, indent=1, sort_keys=True, default=str).encode(), 0o600)


def read_status(path: str) -> Dict[str, Any]:
    """The status kojid last wrote.

    :raises StatusError: missing, unreadable or not a JSON object
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise StatusError("status file %s is missing: kojid has not finished a loop "
                          "with worker_health loaded" % path) from None
    except OSError as error:
        raise StatusError("status file %s is unreadable: %s" % (path, error.strerror)) \
            from None
    try:
        status = json.loads(data.decode())
    except ValueError:
        raise StatusError("status file %s is corrupt (not JSON)" % path) from None
    if not isinstance(status, dict) or "time" not in status:
        raise StatusError("status file %s is corrupt (no loop time in it)" % path)
    return status


def write_pid(path: str, pid: int) -> None:
    _write(path, b"%d\n" % pid, 0o644)


def read_pid(path: str) -> int:
    """The pid in ``path``.

    :raises StatusError: missing or not a number
    """
    try:
        with open(path) as handle:
            text = handle.read().strip()
    except OSError as error:
        raise StatusError("pid file %s: %s" % (path, error.strerror)) from None
    if not text.isdigit():
        raise StatusError("pid file %s does not hold a pid" % path)
    return int(text)
