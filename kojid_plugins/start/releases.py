"""Give leases and the worker keytab back to orch, all at once, by a deadline.

When the worker stops, every lease the lease journal still lists and the
worker keytab are released in parallel, one thread and one orch client
each, so that one slow answer does not hold up the others and everything
ends before the container runtime's stop timeout.  A lease orch says this
container no longer holds counts as given back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Dict, List, NamedTuple, Optional

from orch_bridge import OrchClient, OrchError, OrchNotFound, OrchValidationError

from ..lease_journal import LeaseJournal

__all__ = ("Lease", "journal_leases", "release_all", "remove_file")

logger = logging.getLogger("koji_worker.start")


class Lease(NamedTuple):
    """One thing to give back: its UUID and what it is (for the log)."""

    uuid: str
    what: str
    task_id: Optional[int] = None


def journal_leases(journal_dir: Optional[str]) -> List[Lease]:
    """Every lease the journal lists, each UUID once."""
    if not journal_dir:
        return []
    leases: Dict[str, Lease] = {}
    for entry in LeaseJournal(journal_dir).entries():
        leases.setdefault(entry["uuid"], Lease(
            entry["uuid"], "lease %s of task %s" % (entry.get("resource"), entry["task_id"]),
            entry["task_id"]))
    return list(leases.values())


def _release_one(lease: Lease, url: str, source: str, deadline: float,
                 results: Dict[str, str]) -> None:
    timeout = max(0.2, deadline - time.monotonic())
    client = OrchClient(url, timeout=timeout, retries=0, backoff=0.0,
                        source_address=source or None)
    try:
        client.release(lease.uuid)
        results[lease.uuid] = "released"
    except (OrchValidationError, OrchNotFound) as error:
        held = not (isinstance(error, OrchNotFound) or error.not_checked_out)
        results[lease.uuid] = "refused: %s" % error if held else "not held"
    except OrchError as error:
        results[lease.uuid] = "failed: %s" % error
    finally:
        client.close()


def _forget(journal_dir: Optional[str], leases: List[Lease], results: Dict[str, str]) -> None:
    if not journal_dir:
        return
    journal = LeaseJournal(journal_dir)
    for entry in journal.entries():
        if results.get(entry["uuid"]) in ("released", "not held"):
            journal.forget(entry["task_id"], entry["uuid"])


def release_all(leases: List[Lease], url: str, source: str, deadline: float,
                journal_dir: Optional[str] = None) -> Dict[str, str]:
    """Release every lease in parallel, each with the time left until ``deadline``.

    :param leases: what to give back
    :param url: orch's URL
    :param source: the local address to call orch from (empty: any)
    :param deadline: a :func:`time.monotonic` time by which to be done
    :param journal_dir: the lease journal whose entries to drop once
        their lease is given back
    :returns: UUID -> ``released``, ``not held``, ``refused: ...``,
        ``failed: ...`` or ``no answer before the deadline``
    """
    results: Dict[str, str] = {}
    threads = [threading.Thread(target=_release_one, name="release-%s" % lease.uuid[:8],
                                args=(lease, url, source, deadline, results), daemon=True)
               for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    for lease in leases:
        outcome = results.setdefault(lease.uuid, "no answer before the deadline")
        log = logger.info if outcome in ("released", "not held") else logger.error
        log("release of %s (%s): %s", lease.what, lease.uuid, outcome)
    _forget(journal_dir, leases, results)
    return dict(results)


def remove_file(path: str) -> None:
    """Remove a secret file that was given back; a missing file is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        logger.warning("could not remove %s: %s", path, error.strerror or error)
