"""Releases at stop: in parallel, each bounded by one deadline, the journal kept true."""

from __future__ import annotations

import time

from kojid_plugins.lease_journal import LeaseJournal
from kojid_plugins.start.releases import Lease, journal_leases, release_all
from tests.doubles.fixtures_orch import (CERT_UUID, FILE_UUID, KEY_UUID,  # noqa: F401
                                         MISSING_UUID, WORKER_UUID, make_client, orch_sim)

HELD = (FILE_UUID, KEY_UUID, CERT_UUID, WORKER_UUID)


def hold_all(make_client, tmp_path, uuids=HELD):
    client = make_client()
    for uuid in uuids:
        client.checkout(uuid, str(tmp_path / "files"))


def test_slow_answers_are_awaited_side_by_side_within_one_deadline(orch_sim, make_client,
                                                                   tmp_path):
    hold_all(make_client, tmp_path)
    orch_sim.set_fault("slow", seconds=1.5)
    # one after the other, four answers of 1.5 s would not fit in 4 s
    results = release_all([Lease(u, "lease") for u in HELD], orch_sim.url, "",
                          time.monotonic() + 4.0)
    assert results == {u: "released" for u in HELD}
    assert orch_sim.holders() == []


def test_an_unanswered_release_is_reported_and_stays_in_the_journal(orch_sim, make_client,
                                                                    tmp_path):
    hold_all(make_client, tmp_path, [FILE_UUID, KEY_UUID])
    journal = LeaseJournal(str(tmp_path / "leases"))
    journal.record(7, FILE_UUID, "token", "held")
    journal.record(8, KEY_UUID, "key", "held")
    orch_sim.set_fault("hang", seconds=5, count=1)
    leases = journal_leases(journal.directory)
    assert sorted(lease.uuid for lease in leases) == sorted([FILE_UUID, KEY_UUID])

    results = release_all(leases, orch_sim.url, "", time.monotonic() + 1.5, journal.directory)
    orch_sim.clear_faults()

    unanswered = [u for u, outcome in results.items() if outcome != "released"]
    assert len(unanswered) == 1 and sorted(results) == sorted([FILE_UUID, KEY_UUID])
    # the client's timeout (the time left) or the deadline itself ends the wait
    assert results[unanswered[0]].startswith(("failed: ", "no answer before the deadline"))
    assert [e["uuid"] for e in journal.entries()] == unanswered


def test_a_lease_orch_no_longer_gives_to_us_counts_as_given_back(orch_sim, tmp_path):
    journal = LeaseJournal(str(tmp_path / "leases"))
    journal.record(9, FILE_UUID, "token", "held")
    results = release_all(journal_leases(journal.directory), orch_sim.url, "",
                          time.monotonic() + 3, journal.directory)
    assert results == {FILE_UUID: "not held"}
    assert journal.entries() == []


def test_an_unknown_uuid_is_not_held(orch_sim):
    results = release_all([Lease(MISSING_UUID, "lease")], orch_sim.url, "",
                          time.monotonic() + 3)
    assert results == {MISSING_UUID: "not held"}
