"""koji-worker start end to end: a real KDC, the https hub simulator with GSSAPI
logins, the orch simulator (serving the worker keytab and the CA certificate),
and the kojid runner (stock TaskManager) as the kojid it runs.

The worker keytab is made in the test realm with kadmin.local; orch's part
of registration (``koji add-host NAME ARCH --krb-principal P``) is done on
the hub simulator when the keytab resource is defined.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import koji
import pytest

from kojid_plugins.start.keytab import principals
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.started_worker import StartedWorker
from tests.doubles.worker import wait_until

KEYTAB_UUID = "7a1c0e52-3b7d-4f0e-9c2a-5d6e7f809a1b"
SLOT_UUID = "8b2d1f63-4c8e-4a1f-8d3b-6e7f8091a2bc"
WORKER = "worker/koji-worker-1"


@pytest.fixture
def orch_ca(tmp_path, kerberos_hub):
    """orch serving the CA that signed the hub's certificate (Boxed Koji's layout)."""
    pem = Path(kerberos_hub.serverca).read_bytes()
    sim = OrchSimulator(str(tmp_path / "orch.sqlite"), ca_pem=pem).start()
    sim.add_resource(SLOT_UUID, "build-slot", b"slot\n", type="file")
    yield sim
    sim.stop()


def define_worker_keytab(kdc, hub, orch, tmp_path, principal=WORKER, register=True):
    """A keytab for ``principal`` served as the worker resource; the host registered."""
    keytab = tmp_path / ("made-%s.keytab" % principal.replace("/", "_"))
    full = kdc.add_principal(principal, keytab_path=keytab)
    orch.add_resource(KEYTAB_UUID, "koji-worker", keytab.read_bytes(), type="worker")
    if register:
        hub.add_host(principal, arches="noarch x86_64", krb_principal=full)
    return full


def orch_conf(base, source):
    return ("[orch]\nsource_address = %s\ntimeout = 5\nresource_dir = %s\njournal_dir = %s\n"
            "[resource:slot]\nuuid = %s\n[lease:sleepers]\nmethods = sleep\n"
            "resources = slot\n" % (source, base / "resources", base / "leases", SLOT_UUID))


def health_conf(base):
    return ("[health]\nfatal = hub orch journal\nstatus_file = %s\npid_file = %s\n"
            % (base / "state" / "status.json", base / "state" / "kojid.pid"))


def make_worker(tmp_path, kdc, hub, orch, source="127.0.0.2", **extra):
    base = tmp_path / "w1"
    env = StartedWorker.environment(base, hub.url, orch.url, kdc.name, KEYTAB_UUID, source)
    env.update(kdc.env)
    env.update(extra)
    return StartedWorker(base, env, confs={"orch_resources": orch_conf(base, source),
                                           "worker_health": health_conf(base)})


@pytest.fixture
def started(request):
    workers = []
    yield workers
    for worker in workers:
        worker.kill_all()


def wait_task(hub, task_id, states, timeout=60.0):
    wanted = [koji.TASK_STATES[s] for s in states]
    return wait_until(lambda: hub.task(task_id)["state"] in wanted and hub.task(task_id),
                      timeout, what="task %d in %s" % (task_id, states))


def test_start_registers_runs_a_task_and_drains_releasing_everything(
        tmp_path, kdc, kerberos_hub, orch_ca, started):
    principal = define_worker_keytab(kdc, kerberos_hub, orch_ca, tmp_path)
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca,
                         KOJI_WORKER_DRAIN_GRACE="2")
    started.append(worker.start())
    worker.wait_log(r"started kojid \(pid \d+\)")

    # the identity: keytab 0600 with the expected principal, CA installed
    keytab = Path(worker.env["KOJID_KEYTAB"])
    assert stat.S_IMODE(keytab.stat().st_mode) == 0o600
    assert principals(str(keytab)) == [principal]
    assert Path(worker.env["KOJI_WORKER_CA_FILE"]).read_bytes() == \
        Path(kerberos_hub.serverca).read_bytes()

    # kojid logged in with the keytab and runs a task with its lease around it
    done = wait_task(kerberos_hub, kerberos_hub.make_task("sleep", [0]), ["CLOSED"])
    assert kerberos_hub.get_host(done["host_id"])["name"] == WORKER

    # a long task is running when the runtime stops the container
    long_task = kerberos_hub.make_task("sleep", [120])
    wait_until(lambda: orch_ca.holder(SLOT_UUID), 60, what="the slot leased")
    assert orch_ca.holder(KEYTAB_UUID)
    status = worker.stop_like_runtime(timeout=10)

    assert status == 0, worker.log()[-3000:]
    assert orch_ca.holders() == []
    actions = [(e["uuid"], e["action"]) for e in orch_ca.history()]
    assert (KEYTAB_UUID, "release") in actions and (SLOT_UUID, "release") in actions
    assert not keytab.exists()
    assert kerberos_hub.task(long_task)["state"] == koji.TASK_STATES["FREE"]
    assert "draining kojid (grace 2 s" in worker.log()


def test_drain_lets_a_short_task_finish_and_takes_no_new_one(
        tmp_path, kdc, kerberos_hub, orch_ca, started):
    define_worker_keytab(kdc, kerberos_hub, orch_ca, tmp_path)
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca,
                         KOJI_WORKER_DRAIN_GRACE="5")
    started.append(worker.start())
    worker.wait_log(r"started kojid")
    short = kerberos_hub.make_task("sleep", [2])
    wait_task(kerberos_hub, short, ["OPEN"])

    worker.proc.send_signal(15)
    worker.wait_log("draining kojid")
    time.sleep(0.5)  # let the drain flag land before the next task appears
    late = kerberos_hub.make_task("sleep", [0])
    assert worker.proc.wait(10) == 0, worker.log()[-3000:]

    assert kerberos_hub.task(short)["state"] == koji.TASK_STATES["CLOSED"]
    assert kerberos_hub.task(late)["state"] == koji.TASK_STATES["FREE"]
    assert kerberos_hub.task(late)["host_id"] is None
    assert orch_ca.holders() == []
    assert "worker_drain" in worker.log() and "taking no new task" in worker.log()


def test_a_keytab_for_another_principal_is_given_back_and_named(
        tmp_path, kdc, kerberos_hub, orch_ca, started):
    define_worker_keytab(kdc, kerberos_hub, orch_ca, tmp_path, principal="compile/b1",
                         register=False)
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca)
    started.append(worker.start())
    assert worker.proc.wait(60) == 1
    last = worker.log().strip().splitlines()[-1]
    assert last == ("koji-worker start: the worker keytab holds compile/b1@%s, not the "
                    "expected worker/*@%s; it was given back to orch" % (kdc.name, kdc.name))
    assert orch_ca.holders() == []
    assert (KEYTAB_UUID, "release") in [(e["uuid"], e["action"]) for e in orch_ca.history()]
    assert not os.path.exists(worker.env["KOJID_KEYTAB"])


def test_a_host_the_hub_never_learns_of_times_out_and_gives_the_keytab_back(
        tmp_path, kdc, kerberos_hub, orch_ca, started):
    define_worker_keytab(kdc, kerberos_hub, orch_ca, tmp_path, register=False)
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca,
                         KOJI_WORKER_REGISTER_TIMEOUT="2")
    started.append(worker.start())
    assert worker.proc.wait(60) == 1
    last = worker.log().strip().splitlines()[-1]
    assert "still does not know %s@%s as a host after 2 s" % (WORKER, kdc.name) in last
    assert last.endswith("the worker keytab was given back to orch")
    assert orch_ca.holders() == []
