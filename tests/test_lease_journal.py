"""The lease journal: durable entries, liveness of their processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from kojid_plugins.lease_journal import JournalError, LeaseJournal, process_alive


def test_entries_survive_a_new_journal_object(tmp_path):
    journal = LeaseJournal(str(tmp_path / "j"))
    journal.record(7, "u-1", "slots", "acquiring")
    journal.record(7, "u-1", "slots", "held", path="/x/7/file")
    journal.record(8, "u-2", "sign", "held")
    again = LeaseJournal(str(tmp_path / "j"))
    assert [(e["task_id"], e["uuid"], e["state"]) for e in again.for_task(7)] == [
        (7, "u-1", "held")]
    assert len(again.entries()) == 2
    assert stat.S_IMODE(os.stat(tmp_path / "j").st_mode) == 0o700
    again.forget(7, "u-1")
    assert [e["task_id"] for e in journal.entries()] == [8]
    assert not [n for n in os.listdir(tmp_path / "j") if n.startswith(".tmp")]


def test_live_holders_ignore_dead_processes(tmp_path):
    journal = LeaseJournal(str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    journal.record(1, "u", "r", "held", pid=dead.pid)
    journal.record(2, "u", "r", "held")
    holders = journal.live_holders("u", besides=3)
    assert [e["task_id"] for e in holders] == [2]
    assert journal.live_holders("u", besides=2) == []


def test_reused_pid_is_not_mistaken_for_the_holder():
    assert process_alive(os.getpid(), None)
    assert not process_alive(os.getpid(), "1")


def test_corrupt_entry_is_skipped_with_a_warning(tmp_path, caplog):
    journal = LeaseJournal(str(tmp_path))
    journal.record(1, "u", "r", "held")
    (tmp_path / "2.v.json").write_text("{not json")
    assert [e["task_id"] for e in journal.entries()] == [1]
    assert "2.v.json is unreadable" in caplog.text


def test_journal_path_that_is_a_file_raises_journal_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    journal = LeaseJournal(str(blocker / "j"))
    with pytest.raises(JournalError, match="cannot create lease journal"):
        journal.record(1, "u", "r", "held")
    with pytest.raises(JournalError):
        journal.check_writable()
