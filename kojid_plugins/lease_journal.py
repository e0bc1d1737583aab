"""A durable, local record of every orch lease this worker may hold.

One small JSON file per lease, ``<task_id>.<uuid>.json``, written
atomically (a temporary file renamed over it) *before* the checkout is
sent (state ``acquiring``), updated once the file arrived (``held``) or while a
release waits to be retried (``releasing``), and removed once orch has
let go.  A kojid that crashed, or re-executed itself for a graceful
restart, finds in it what to release.  Task children write their own
entries, so no lock is shared between processes.

A rename is durable across the death of any process, which is what the
journal is for; ``fsync=True`` also makes it survive a power loss, for
about 0.6 ms more per write.  (After a power loss the container is gone
too, and orch frees what a dead container held.)
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, List, Optional

from .atomic import fsync_dir, write_atomic

__all__ = ("LeaseJournal", "JournalError", "process_start", "process_alive")

logger = logging.getLogger("koji.plugin.orch_resources")

STATES = ("acquiring", "held", "releasing")


class JournalError(OSError):
    """The journal directory cannot be written."""


def process_start(pid: int) -> Optional[str]:
    """The kernel's start time of ``pid`` (to tell a reused pid apart)."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[19].decode() if len(fields) > 19 else None


def process_alive(pid: int, start: Optional[str]) -> bool:
    """True if ``pid`` runs and is the same process that was recorded."""
    current = process_start(pid)
    if current is None:
        return False
    state = _process_state(pid)
    if state in ("Z", "X"):
        return False
    return start is None or current == start


def _process_state(pid: int) -> Optional[str]:
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return None


class LeaseJournal:
    """The lease records in one directory.

    :param directory: created 0700 if missing
    :param fsync: flush every write to disk before going on
    """

    def __init__(self, directory: str, fsync: bool = False) -> None:
        self.directory = directory
        self.fsync = fsync

    def _ensure(self) -> None:
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
        except OSError as error:
            raise JournalError(error.errno, "cannot create lease journal %s: %s"
                               % (self.directory, error.strerror)) from None

    def _path(self, task_id: int, uuid: str) -> str:
        return os.path.join(self.directory, "%d.%s.json" % (task_id, uuid))

    def record(self, task_id: int, uuid: str, resource: str, state: str,
               path: Optional[str] = None, pid: Optional[int] = None,
               method: Optional[str] = None) -> Dict[str, Any]:
        """Write (or rewrite) one lease's entry durably.

        :raises JournalError: if the entry could not be written
        """
        assert state in STATES, state
        pid = pid or os.getpid()
        entry = {
            "task_id": task_id, "method": method, "uuid": uuid, "resource": resource,
            "state": state, "path": path, "pid": pid, "pid_start": process_start(pid),
            "updated": time.time(),
        }
        self._ensure()
        data = json.dumps(entry, sort_keys=True).encode()
        try:
            write_atomic(self._path(task_id, uuid), data, sync=self.fsync)
        except OSError as error:
            raise JournalError(error.errno, "cannot write lease journal %s: %s"
                               % (self.directory, error.strerror)) from None
        return entry

    def forget(self, task_id: int, uuid: str) -> None:
        """Drop one lease's entry (orch no longer holds it for us).

        :raises JournalError: if the entry could not be removed
        """
        try:
            os.unlink(self._path(task_id, uuid))
        except FileNotFoundError:
            return
        except OSError as error:
            raise JournalError(error.errno, "cannot remove lease journal entry %s: %s"
                               % (self._path(task_id, uuid), error.strerror)) from None
        if self.fsync:
            fsync_dir(self.directory)

    def entries(self) -> List[Dict[str, Any]]:
        """Every entry, oldest first; unreadable files are logged and skipped."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            if not name.endswith(".json") or name.startswith("."):
                continue
            entry = self._load(os.path.join(self.directory, name))
            if entry is not None:
                found.append(entry)
        return sorted(found, key=lambda e: (e.get("updated", 0), e["task_id"]))

    def _load(self, path: str) -> Optional[Dict[str, Any]]:
        try:
            with open(path, "rb") as handle:
                entry = json.loads(handle.read().decode())
            int(entry["task_id"]), str(entry["uuid"])
            return entry
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("lease journal entry %s is unreadable; ignored", path)
            return None

    def for_task(self, task_id: int) -> List[Dict[str, Any]]:
        return [e for e in self.entries() if e["task_id"] == task_id]

    def live_holders(self, uuid: str, besides: Optional[int] = None) -> List[Dict[str, Any]]:
        """Entries for ``uuid`` whose process still runs (other than ``besides``)."""
        return [e for e in self.entries()
                if e["uuid"] == uuid and e["task_id"] != besides
                and process_alive(e["pid"], e.get("pid_start"))]

    def check_writable(self) -> None:
        """Write and remove a probe file.

        :raises JournalError: when the directory cannot take a write
        """
        self._ensure()
        try:
            probe = os.path.join(self.directory, ".probe.%d" % os.getpid())
            write_atomic(probe, b"ok")
            os.unlink(probe)
        except OSError as error:
            raise JournalError(error.errno, "lease journal %s is not writable: %s"
                               % (self.directory, error.strerror)) from None
