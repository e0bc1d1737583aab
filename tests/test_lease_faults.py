"""Regressions found by ``make chaos``: the lease broker under a failing
journal disk, and a stale entry for a UUID a live task has reclaimed.

Each test drives a real :class:`LeaseBroker` against the orch simulator
and checks orch's own record of who holds what.
"""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from kojid_plugins.hookspec import TaskRefused
from kojid_plugins.lease_journal import JournalError, LeaseJournal
from kojid_plugins.leases import LeaseBroker
from kojid_plugins.orch_settings import ResourceSpec
from orch_bridge import OrchClient
from tests.doubles.orch_sim import OrchSimulator

SLOT = "5107a000-0000-4000-8000-000000000001"


class BrokenDisk(LeaseJournal):
    """A journal whose file system refuses writes from ``broken = True`` on
    (a read-only remount; ENOSPC behaves the same way)."""

    broken = False

    def _refuse(self) -> None:
        if self.broken:
            raise JournalError(errno.EROFS, "cannot write lease journal %s: Read-only "
                               "file system" % self.directory)

    def record(self, *args, **kwargs):
        self._refuse()
        return super().record(*args, **kwargs)

    def forget(self, task_id, uuid):
        self._refuse()
        return super().forget(task_id, uuid)


@pytest.fixture
def orch(tmp_path):
    sim = OrchSimulator(str(tmp_path / "orch.sqlite")).start()
    sim.add_resource(SLOT, "slot", content=b"slot")
    yield sim
    sim.stop()


def broker(orch, tmp_path, journal):
    client = OrchClient(orch.url, timeout=2, retries=0)
    return LeaseBroker(journal, str(tmp_path / "resources"), lambda: client,
                       retry_interval=0)


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_release_on_a_read_only_journal_gives_the_lease_back_and_drops_the_entry_later(
        orch, tmp_path):
    journal = BrokenDisk(str(tmp_path / "leases"))
    leases = broker(orch, tmp_path, journal)
    leases.acquire(1, "build", [ResourceSpec("slot", [SLOT], False)])
    assert [h["uuid"] for h in orch.holders()] == [SLOT]

    journal.broken = True
    assert leases.release(1, "closed") == 0  # no exception out of the hook
    assert orch.holders() == [], "orch has the lease back"
    assert [e["task_id"] for e in journal.entries()] == [1], "entry kept, disk refused"

    journal.broken = False
    assert leases.sweep("later pass") == 0
    assert journal.entries() == []


def test_acquire_on_a_read_only_journal_refuses_without_asking_orch(orch, tmp_path):
    journal = BrokenDisk(str(tmp_path / "leases"))
    journal.broken = True
    leases = broker(orch, tmp_path, journal)
    with pytest.raises(TaskRefused, match="Read-only file system"):
        leases.acquire(2, "build", [ResourceSpec("slot", [SLOT], False)])
    assert orch.request_count() == 0
    assert orch.holders() == []


def test_stale_entry_is_not_released_under_a_live_task_that_reclaimed_its_uuid(
        orch, tmp_path):
    journal = LeaseJournal(str(tmp_path / "leases"))
    leases = broker(orch, tmp_path, journal)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # task 1's release failed (orch was down) and its child is gone;
        # task 2's child (alive) met 409, validated and reclaimed the UUID
        OrchClient(orch.url).checkout(SLOT, str(tmp_path / "task-2"))
        journal.record(1, SLOT, "slot", "releasing", pid=dead_pid())
        journal.record(2, SLOT, "slot", "held", pid=child.pid)

        leases.sweep("task process gone")
        assert [h["uuid"] for h in orch.holders()] == [SLOT], "task 2 keeps its lease"
        assert [e["task_id"] for e in journal.entries()] == [2]
    finally:
        child.kill()
        child.wait()
    leases.sweep("task process gone")
    assert orch.holders() == []
    assert journal.entries() == []
