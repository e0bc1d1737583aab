"""Scaled worker keytabs from the orch simulator in a real realm.

orch makes ``worker/<service>-<scale index>@REALM`` with kadmin, serves its
keytab as the checkout and registers the principal as a koji host; the
kojid runner then logs in to the hub with that keytab and runs a task.
"""

from __future__ import annotations

import os
import stat
import subprocess

import koji
import pytest

from orch_bridge import OrchClient, OrchConflict, OrchError
from tests.doubles.fixtures_orch import WORKER_UUID, define_resources
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.worker import Worker, wait_until


@pytest.fixture
def krb_orch(tmp_path, kdc, kerberos_hub):
    sim = define_resources(OrchSimulator(str(tmp_path / "orch.sqlite")))
    sim.use_kerberos(kdc, kerberos_hub).start()
    yield sim
    sim.stop()


def checkout(orch, ip, directory):
    client = OrchClient(orch.url, timeout=60, retries=0, backoff=0, source_address=ip)
    try:
        return client.checkout(WORKER_UUID, str(directory))
    finally:
        client.close()


def test_a_worker_checkout_makes_its_principal_keytab_and_host(
        krb_orch, kdc, kerberos_hub, tmp_path):
    krb_orch.add_container("127.0.0.2", "koji-worker-1", scale_index=1,
                           service="koji-worker")
    result = checkout(krb_orch, "127.0.0.2", tmp_path / "got")

    assert os.path.basename(result.path) == "koji-worker.keytab"
    assert stat.S_IMODE(os.stat(result.path).st_mode) == 0o600
    listing = subprocess.run(["klist", "-k", result.path], env=kdc.subprocess_env(),
                             capture_output=True, text=True, check=True).stdout
    assert "worker/koji-worker-1@KOJI.TEST" in listing
    host = kerberos_hub.get_host("worker/koji-worker-1")
    assert host is not None
    user = koji.ClientSession(kerberos_hub.url, {"serverca": kerberos_hub.serverca}
                              ).getUser("worker/koji-worker-1@KOJI.TEST")
    assert user["id"] == host["user_id"]
    assert user["usertype"] == koji.USERTYPES["HOST"]


def test_two_scaled_containers_hold_one_uuid_as_two_identities(
        krb_orch, kdc, kerberos_hub, tmp_path):
    krb_orch.add_container("127.0.0.2", "w1", scale_index=1, service="koji-worker")
    krb_orch.add_container("127.0.0.3", "w2", scale_index=2, service="koji-worker")
    checkout(krb_orch, "127.0.0.2", tmp_path / "one")
    checkout(krb_orch, "127.0.0.3", tmp_path / "two")

    assert kdc.has_principal("worker/koji-worker-1")
    assert kdc.has_principal("worker/koji-worker-2")
    assert kerberos_hub.get_host("worker/koji-worker-2") is not None
    assert sorted(h["container"] for h in krb_orch.holders()) == ["w1", "w2"]
    with pytest.raises(OrchConflict):
        checkout(krb_orch, "127.0.0.2", tmp_path / "again")


def test_a_host_registration_failure_fails_the_checkout_and_keeps_nothing(
        krb_orch, kdc, kerberos_hub, tmp_path):
    # a plain user already owns the name orch would give the host
    kerberos_hub.add_user("worker/koji-worker-3", "pw")
    krb_orch.add_container("127.0.0.4", "w3", scale_index=3, service="koji-worker")
    with pytest.raises(OrchError, match="Failed to create resource"):
        checkout(krb_orch, "127.0.0.4", tmp_path / "none")
    assert krb_orch.holders() == []


def test_kojid_logs_in_with_the_orch_keytab_and_takes_a_task(
        krb_orch, kdc, kerberos_hub, tmp_path):
    krb_orch.add_container("127.0.0.2", "koji-worker-1", scale_index=1,
                           service="koji-worker")
    keytab = checkout(krb_orch, "127.0.0.2", tmp_path / "keytab").path
    worker = Worker(tmp_path / "worker", kerberos_hub.url, "worker/koji-worker-1",
                    keytab=keytab, principal="worker/koji-worker-1@KOJI.TEST",
                    serverca=kerberos_hub.serverca, plugins=(), env=kdc.env)
    task_id = kerberos_hub.make_task("sleep", [0])
    worker.start()
    try:
        wait_until(lambda: kerberos_hub.task(task_id)["state"] == koji.TASK_STATES["CLOSED"],
                   60, what="task %d closed by the keytab worker" % task_id)
        host = kerberos_hub.get_host("worker/koji-worker-1")
        assert kerberos_hub.task(task_id)["host_id"] == host["id"]
        logins = kerberos_hub.call_log(method="sslLogin", user=None)
        assert logins and logins[-1]["fault_code"] is None
    finally:
        worker.kill_all()


def test_kojid_with_a_keytab_of_a_plain_user_logs_in_then_stops(
        kdc, kerberos_hub, tmp_path):
    keytab = tmp_path / "plain.keytab"
    principal = kdc.add_principal("worker/plain", keytab_path=keytab)
    user_id = kerberos_hub.add_user("plain", None, krb_principal=principal)
    worker = Worker(tmp_path / "worker", kerberos_hub.url, "plain", keytab=str(keytab),
                    principal=principal, serverca=kerberos_hub.serverca, plugins=(),
                    env=kdc.env)
    worker.start()
    try:
        # the login succeeds; TaskManager's host.getID() is refused
        assert worker.wait(60) == 1
        assert "koji.AuthError: User %d is not a host" % user_id in worker.log()
        assert kerberos_hub.call_log(method="sslLogin")[-1]["fault_code"] is None
    finally:
        worker.kill_all()
