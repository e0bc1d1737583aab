"""Checking orch resources out for a task and giving them back.

:class:`LeaseBroker` is the policy: which UUID of a pool to try, how to
tell a 409 caused by this worker (a checkout whose reply was lost, a
crashed kojid's leftover) from another holder's, and when a failed
release is worth retrying.  Every lease passes through the
:class:`~kojid_plugins.lease_journal.LeaseJournal` before and after orch
hears of it, so each is released exactly once, by whichever process
outlives it.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any, Callable, Dict, Iterable, List, Optional

from orch_bridge import errors as orch_errors

from .hookspec import TaskRefused
from .lease_journal import JournalError, LeaseJournal, process_alive
from .orch_settings import ResourceSpec

__all__ = ("LeaseBroker",)

logger = logging.getLogger("koji.plugin.orch_resources")

#: orch answers meaning "it is not held by you (any more)": nothing to retry
_GONE = (orch_errors.OrchNotFound,)
#: orch refused the checkout outright: it granted nothing
_REFUSED = (orch_errors.OrchNotFound, orch_errors.OrchValidationError,
            orch_errors.OrchConflict)


def _not_checked_out(error: Exception) -> bool:
    return isinstance(error, orch_errors.OrchValidationError) and error.not_checked_out


class LeaseBroker:
    """Acquire and release one task's leases.

    :param journal: the lease journal
    :param resource_dir: parent of the per-task file directories
    :param client_factory: returns the process's ``OrchClient``
    :param retry_interval: seconds between attempts at a failed release
    :param quick_client_factory: a client with one short attempt per call,
        for releases made from kojid's own loop and shutdown
    """

    def __init__(self, journal: LeaseJournal, resource_dir: str,
                 client_factory: Callable[[], Any], retry_interval: float = 30.0,
                 quick_client_factory: Optional[Callable[[], Any]] = None) -> None:
        self.journal = journal
        self.resource_dir = resource_dir
        self.client_factory = client_factory
        self.quick_client_factory = quick_client_factory or client_factory
        self.retry_interval = retry_interval

    # -- acquiring -------------------------------------------------------------

    def acquire(self, task_id: int, method: str, needs: List[ResourceSpec]) -> Dict[str, str]:
        """Check out every resource in ``needs`` for one task.

        :return: resource name -> path of the checked-out file
        :raises TaskRefused: when one cannot be had; nothing is kept
        """
        paths: Dict[str, str] = {}
        for spec in needs:
            try:
                paths[spec.name] = self._acquire_one(task_id, method, spec)
            except TaskRefused:
                self.release(task_id, "refused")
                raise
            except JournalError as error:
                # a full or read-only disk: no lease without its record
                self.release(task_id, "refused")
                raise TaskRefused(str(error)) from None
        return paths

    def _task_dir(self, task_id: int) -> str:
        path = os.path.join(self.resource_dir, str(task_id))
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def _acquire_one(self, task_id: int, method: str, spec: ResourceSpec) -> str:
        why: List[str] = []
        for uuid in spec.candidates(task_id):
            sibling = self.journal.live_holders(uuid, besides=task_id)
            if sibling:
                why.append("%s is held by task %s on this worker" % (uuid, sibling[0]["task_id"]))
                continue
            path = self._try_checkout(task_id, method, spec, uuid, why)
            if path:
                return path
        kind = "pool" if spec.pool else "resource"
        raise TaskRefused("orch %s %s unavailable: %s" % (kind, spec.name, "; ".join(why)))

    def _try_checkout(self, task_id: int, method: str, spec: ResourceSpec, uuid: str,
                      why: List[str]) -> Optional[str]:
        """One checkout attempt; ``None`` (with a reason) if taken elsewhere."""
        client = self.client_factory()
        self.journal.record(task_id, uuid, spec.name, "acquiring", method=method)
        try:
            result = client.checkout(uuid, self._task_dir(task_id))
        except orch_errors.OrchConflict:
            return self._after_conflict(task_id, method, spec, uuid, why)
        except orch_errors.OrchError as error:
            self._abandon_attempt(task_id, method, uuid, spec.name, error)
            raise TaskRefused("orch %s %s: %s" % (
                "pool" if spec.pool else "resource", spec.name, error)) from None
        return self._held(task_id, method, spec, uuid, result.path)

    def _held(self, task_id: int, method: str, spec: ResourceSpec, uuid: str,
              path: str) -> str:
        self.journal.record(task_id, uuid, spec.name, "held", path=path, method=method)
        logger.info("task %s (%s): acquired %s %s -> %s", task_id, method, spec.name,
                    uuid, path)
        return path

    def _after_conflict(self, task_id: int, method: str, spec: ResourceSpec, uuid: str,
                        why: List[str]) -> Optional[str]:
        """orch said 409: find out whose the lease is."""
        sibling = self.journal.live_holders(uuid, besides=task_id)
        if sibling:
            self.journal.forget(task_id, uuid)
            why.append("%s is held by task %s on this worker" % (uuid, sibling[0]["task_id"]))
            return None
        client = self.client_factory()
        try:
            mine = client.validate(uuid).get("can_access") is True
        except orch_errors.OrchError as error:
            self._abandon_attempt(task_id, method, uuid, spec.name, error)
            raise TaskRefused("orch resource %s: %s" % (spec.name, error)) from None
        if not mine:
            self.journal.forget(task_id, uuid)
            why.append("%s is checked out by another holder" % uuid)
            return None
        return self._reclaim(task_id, method, spec, uuid, why)

    def _reclaim(self, task_id: int, method: str, spec: ResourceSpec, uuid: str,
                 why: List[str]) -> Optional[str]:
        """orch says this worker holds ``uuid`` but no live task of ours does.

        A checkout whose reply was lost, or a crashed kojid's leftover: give
        it back and check it out again, so we end with exactly one lease
        and its file.
        """
        logger.warning("task %s (%s): %s %s is held by this worker but by no live task; "
                       "releasing and checking it out again", task_id, method, spec.name, uuid)
        client = self.client_factory()
        try:
            client.release(uuid)
        except orch_errors.OrchError as error:
            if not (isinstance(error, _GONE) or _not_checked_out(error)):
                self._abandon_attempt(task_id, method, uuid, spec.name, error)
                raise TaskRefused("orch resource %s: %s" % (spec.name, error)) from None
        try:
            result = client.checkout(uuid, self._task_dir(task_id))
        except orch_errors.OrchConflict:
            self.journal.forget(task_id, uuid)
            why.append("%s was taken by another holder" % uuid)
            return None
        except orch_errors.OrchError as error:
            self._abandon_attempt(task_id, method, uuid, spec.name, error)
            raise TaskRefused("orch resource %s: %s" % (spec.name, error)) from None
        return self._held(task_id, method, spec, uuid, result.path)

    def _abandon_attempt(self, task_id: int, method: str, uuid: str, name: str,
                         error: Exception) -> None:
        """A checkout failed: orch may still have granted it, so release."""
        logger.warning("task %s (%s): checkout of %s %s failed: %s", task_id, method, name,
                       uuid, error)
        if isinstance(error, _REFUSED):
            self.journal.forget(task_id, uuid)
        else:
            # no answer, a 5xx, a cut reply, a hostile file name: orch may
            # have granted it all the same, so the entry stays for release()
            self.journal.record(task_id, uuid, name, "releasing", method=method)

    # -- releasing -------------------------------------------------------------

    def release(self, task_id: int, why: str, quick: bool = False) -> int:
        """Release every lease ``task_id`` still has in the journal.

        :param quick: one short attempt each (kojid's loop must not stall)
        :return: how many are left unreleased (kept for a retry)
        """
        left = self._release_entries(self.journal.for_task(task_id), why, quick)
        if not left:
            try:
                os.rmdir(os.path.join(self.resource_dir, str(task_id)))
            except OSError:
                pass
        return left

    def _release_entry(self, entry: Dict[str, Any], why: str, quick: bool = False) -> str:
        """Release one journal entry: ``"done"``, ``"retry"``, or ``"down"``.

        ``"down"`` means orch did not answer at all: asking it about the
        next lease now would only cost another timeout.
        """
        task_id, uuid = entry["task_id"], entry["uuid"]
        name = entry.get("resource", "?")
        who = "task %s (%s)" % (task_id, entry.get("method") or "?")
        successor = self.journal.live_holders(uuid, besides=task_id)
        if successor:
            # orch knows one holder per worker: the lease is now the live
            # task's (it reclaimed it); releasing would take it from under it
            logger.warning("%s: %s %s is now held by task %s on this worker; entry "
                           "forgotten, not released", who, name, uuid,
                           successor[0]["task_id"])
            self._remove_file(entry.get("path"))
            self._forget(entry, who)
            return "done"
        client = (self.quick_client_factory if quick else self.client_factory)()
        try:
            client.release(uuid)
        except orch_errors.OrchError as error:
            if isinstance(error, _GONE) or _not_checked_out(error):
                logger.warning("%s: orch no longer holds %s %s for us (%s); forgotten",
                               who, name, uuid, error)
            else:
                logger.warning("%s: release of %s %s failed, will retry: %s",
                               who, name, uuid, error)
                self._mark_releasing(entry, who)
                return "down" if isinstance(error, orch_errors.OrchUnavailable) else "retry"
        except ValueError as error:
            # an entry no orch call can ever release (say, a mangled UUID)
            logger.error("%s: lease journal entry for %r is unusable (%s); forgotten",
                         who, uuid, error)
        else:
            logger.info("%s: released %s %s (%s)", who, name, uuid, why)
        self._remove_file(entry.get("path"))
        self._forget(entry, who)
        return "done"

    def _mark_releasing(self, entry: Dict[str, Any], who: str) -> None:
        """Note a release to retry; the entry as it was does as well if the
        journal cannot be written (it is released either way)."""
        try:
            self.journal.record(entry["task_id"], entry["uuid"], entry.get("resource", "?"),
                                "releasing", path=entry.get("path"), pid=entry.get("pid"),
                                method=entry.get("method"))
        except JournalError as error:
            logger.warning("%s: %s", who, error)

    def _forget(self, entry: Dict[str, Any], who: str) -> None:
        """Drop a released lease's entry.  On a journal that cannot be
        written the entry stays, and a later sweep finds orch no longer
        holds it and drops it then."""
        try:
            self.journal.forget(entry["task_id"], entry["uuid"])
        except JournalError as error:
            logger.warning("%s: %s; dropped at a later pass", who, error)

    def _remove_file(self, path: Optional[str]) -> None:
        if path and os.path.dirname(path).startswith(self.resource_dir + os.sep):
            for remove, target in ((os.unlink, path), (os.rmdir, os.path.dirname(path))):
                try:
                    remove(target)
                except OSError:
                    pass

    # -- kojid's side ----------------------------------------------------------

    def sweep(self, why: str, tracked: Iterable[int] = ()) -> int:
        """Release leases whose task process is gone (kojid's loop).

        Tasks kojid still ``tracked`` (children it has not reaped yet) are
        left for the reaping, which knows how they ended.

        A lease whose release already failed is retried once
        ``retry_interval`` seconds have passed; the sweep stops at the
        first release orch does not answer, so a dead orch costs the loop
        one timeout, not one per lease.

        :return: how many are still held by dead processes afterwards
        """
        me = os.getpid()
        skip = set(tracked)
        due = []
        for entry in self.journal.entries():
            if entry["task_id"] in skip:
                continue
            if entry["pid"] != me and process_alive(entry["pid"], entry.get("pid_start")):
                continue
            waited = time.time() - entry.get("updated", 0)
            if entry.get("state") == "releasing" and waited < self.retry_interval:
                continue
            due.append(entry)
        return self._release_entries(due, why, quick=True)

    def recover(self) -> int:
        """At kojid start: stop orphaned task children, release everything.

        A kojid that died (SIGKILL, OOM) leaves its task children running
        in their own process groups; the hub frees their tasks, so they
        are stopped here before their leases are given back.
        """
        me = os.getpid()
        for entry in self.journal.entries():
            pid = entry["pid"]
            if pid != me and process_alive(pid, entry.get("pid_start")):
                _stop_orphan(pid, entry["task_id"])
        return self.release_all("kojid restarted")

    def release_all(self, why: str) -> int:
        """Release every lease in the journal (quickly); how many are left."""
        return self._release_entries(self.journal.entries(), why, quick=True)

    def _release_entries(self, entries: List[Dict[str, Any]], why: str,
                         quick: bool = False) -> int:
        """Release each; stop when orch does not answer.  How many are left."""
        left = 0
        for number, entry in enumerate(entries):
            result = self._release_entry(entry, why, quick)
            if result == "down":
                return left + len(entries) - number
            if result == "retry":
                left += 1
        return left


def _stop_orphan(pid: int, task_id: int) -> None:
    logger.warning("task %s: stopping orphaned task process %d left by a previous kojid",
                   task_id, pid)
    try:
        target = os.getpgid(pid)
        if target == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
