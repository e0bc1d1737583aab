"""koji-worker start end to end: a real KDC, the https hub simulator with GSSAPI
logins, the orch simulator (serving the worker keytab and the CA certificate),
and the kojid runner (stock TaskManager) as the kojid it runs.

orch makes each container's worker principal with kadmin.local and
registers the host on the hub with the koji CLI at checkout
(``OrchSimulator.use_kerberos``), as Boxed Koji's orch does; the error
cases serve a fixed keytab made in the realm instead.
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


def orch_serving_ca(tmp_path, hub):
    """orch serving the CA that signed the hub's certificate (Boxed Koji's layout)."""
    pem = Path(hub.serverca).read_bytes()
    sim = OrchSimulator(str(tmp_path / "orch.sqlite"), ca_pem=pem)
    sim.add_resource(SLOT_UUID, "build-slot", b"slot\n", type="file")
    return sim


@pytest.fixture
def orch_ca(tmp_path, kerberos_hub):
    """orch with a fixed worker keytab (defined by each test)."""
    sim = orch_serving_ca(tmp_path, kerberos_hub).start()
    yield sim
    sim.stop()


@pytest.fixture
def krb_orch(tmp_path, kdc, kerberos_hub):
    """orch making a worker identity per container, registering its host."""
    sim = orch_serving_ca(tmp_path, kerberos_hub)
    sim.add_resource(KEYTAB_UUID, "koji-worker", type="worker")
    for index in (1, 2):
        sim.add_container("127.0.0.%d" % (index + 1), "koji-worker-%d" % index,
                          scale_index=index, service="koji-worker")
    sim.use_kerberos(kdc, kerberos_hub).start()
    yield sim
    sim.stop()


def define_fixed_keytab(kdc, orch, tmp_path, principal=WORKER):
    """A keytab for ``principal`` served as a plain file; no host registered."""
    keytab = tmp_path / ("made-%s.keytab" % principal.replace("/", "_"))
    full = kdc.add_principal(principal, keytab_path=keytab)
    orch.add_resource(KEYTAB_UUID, "koji-worker", keytab.read_bytes(), type="file")
    return full


def orch_conf(base, source, leases=True):
    text = ("[orch]\nsource_address = %s\ntimeout = 5\nresource_dir = %s\njournal_dir = %s\n"
            % (source, base / "resources", base / "leases"))
    if leases:
        text += ("[resource:slot]\nuuid = %s\n[lease:sleepers]\nmethods = sleep\n"
                 "resources = slot\n" % SLOT_UUID)
    return text


def health_conf(base):
    return ("[health]\nfatal = hub orch journal\nstatus_file = %s\npid_file = %s\n"
            % (base / "state" / "status.json", base / "state" / "kojid.pid"))


def make_worker(tmp_path, kdc, hub, orch, source="127.0.0.2", name="w1", leases=True,
                **extra):
    base = tmp_path / name
    env = StartedWorker.environment(base, hub.url, orch.url, kdc.name, KEYTAB_UUID, source)
    env.update(kdc.env)
    env.update(extra)
    return StartedWorker(base, env, confs={"orch_resources": orch_conf(base, source, leases),
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
        tmp_path, kdc, kerberos_hub, krb_orch, started):
    orch_ca = krb_orch
    principal = "%s@%s" % (WORKER, kdc.name)
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
        tmp_path, kdc, kerberos_hub, krb_orch, started):
    orch_ca = krb_orch
    # a grace far above the task's 2 s, so that a loaded machine still fits it
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca,
                         KOJI_WORKER_DRAIN_GRACE="20", KOJI_WORKER_STOP_TIMEOUT="40")
    started.append(worker.start())
    worker.wait_log(r"started kojid")
    short = kerberos_hub.make_task("sleep", [2])
    wait_task(kerberos_hub, short, ["OPEN"])

    worker.proc.send_signal(15)
    worker.wait_log("draining kojid")
    time.sleep(0.5)  # let the drain flag land before the next task appears
    late = kerberos_hub.make_task("sleep", [0])
    assert worker.proc.wait(45) == 0, worker.log()[-3000:]

    assert kerberos_hub.task(short)["state"] == koji.TASK_STATES["CLOSED"]
    assert kerberos_hub.task(late)["state"] == koji.TASK_STATES["FREE"]
    assert kerberos_hub.task(late)["host_id"] is None
    assert orch_ca.holders() == []
    assert "worker_drain" in worker.log() and "taking no new task" in worker.log()


def test_a_keytab_for_another_principal_is_given_back_and_named(
        tmp_path, kdc, kerberos_hub, krb_orch, started):
    orch_ca = krb_orch
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca,
                         KOJI_WORKER_PRINCIPAL="compile/*@" + kdc.name)
    started.append(worker.start())
    assert worker.proc.wait(60) == 1
    last = worker.log().strip().splitlines()[-1]
    assert last == ("koji-worker start: the worker keytab holds %s@%s, not the expected "
                    "compile/*@%s; it was given back to orch" % (WORKER, kdc.name, kdc.name))
    assert orch_ca.holders() == []
    assert (KEYTAB_UUID, "release") in [(e["uuid"], e["action"]) for e in orch_ca.history()]
    assert not os.path.exists(worker.env["KOJID_KEYTAB"])


def test_a_host_the_hub_never_learns_of_times_out_and_gives_the_keytab_back(
        tmp_path, kdc, kerberos_hub, orch_ca, started):
    define_fixed_keytab(kdc, orch_ca, tmp_path)
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca,
                         KOJI_WORKER_REGISTER_TIMEOUT="2")
    started.append(worker.start())
    assert worker.proc.wait(60) == 1
    last = worker.log().strip().splitlines()[-1]
    assert "still does not know %s@%s as a host after 2 s" % (WORKER, kdc.name) in last
    assert last.endswith("the worker keytab was given back to orch")
    assert orch_ca.holders() == []


def test_two_workers_started_at_once_get_two_identities(
        tmp_path, kdc, kerberos_hub, krb_orch, started):
    # no lease rule: the one build slot would let a single task run at a time
    workers = [make_worker(tmp_path, kdc, kerberos_hub, krb_orch, source="127.0.0.%d" % n,
                           name="w%d" % n, leases=False) for n in (2, 3)]
    for worker in workers:
        started.append(worker.start())
    for worker in workers:
        worker.wait_log(r"started kojid")

    found = [principals(w.env["KOJID_KEYTAB"]) for w in workers]
    assert found == [["worker/koji-worker-1@%s" % kdc.name],
                     ["worker/koji-worker-2@%s" % kdc.name]]
    # both logged in with their own keytab and report ready under their own host name
    for n in (1, 2):
        wait_until(lambda: (kerberos_hub.get_host("worker/koji-worker-%d" % n) or {}
                            ).get("ready"), 60, what="host %d ready" % n)
    tasks = [kerberos_hub.make_task("sleep", [0]) for _ in range(4)]
    for task in tasks:
        wait_task(kerberos_hub, task, ["CLOSED"])

    for worker in workers:
        worker.proc.send_signal(15)
    assert [w.proc.wait(15) for w in workers] == [0, 0]
    assert krb_orch.holders() == []


def test_kojid_exiting_by_itself_still_gives_the_keytab_back(
        tmp_path, kdc, kerberos_hub, krb_orch, started):
    worker = make_worker(tmp_path, kdc, kerberos_hub, krb_orch)
    started.append(worker.start())
    worker.wait_log(r"started kojid")
    wait_until(lambda: (kerberos_hub.get_host(WORKER) or {}).get("ready"), 60,
               what="the host ready")
    kerberos_hub.expire_session(WORKER)  # kojid quits on an expired session, status 1

    assert worker.proc.wait(60) == 1
    assert "kojid (pid" in worker.log() and "exited by itself with status 1" in worker.log()
    assert krb_orch.holders() == []
    assert not os.path.exists(worker.env["KOJID_KEYTAB"])


def test_sigterm_while_waiting_for_the_hub_gives_the_keytab_back(
        tmp_path, kdc, kerberos_hub, orch_ca, started):
    define_fixed_keytab(kdc, orch_ca, tmp_path)
    worker = make_worker(tmp_path, kdc, kerberos_hub, orch_ca)
    started.append(worker.start())
    worker.wait_log("waiting up to 30 s for the hub")
    worker.proc.send_signal(15)

    assert worker.proc.wait(15) == 0
    assert worker.log().strip().splitlines()[-1] == (
        "koji-worker start: stopped by SIGTERM before kojid started; "
        "the worker keytab was given back to orch")
    assert orch_ca.holders() == []
    assert not os.path.exists(worker.env["KOJID_KEYTAB"])


def test_a_leaf_certificate_served_as_orchs_ca_stops_start_before_any_checkout(
        tmp_path, kdc, kerberos_hub, started):
    from tests.doubles.tls_ca import TestCA

    leaf, _key = TestCA(tmp_path / "other-ca").create().server_cert("not-a-ca")
    orch = OrchSimulator(str(tmp_path / "orch.sqlite"), ca_pem=Path(leaf).read_bytes())
    orch.add_resource(KEYTAB_UUID, "koji-worker", b"\x05\x02", type="file")
    orch.start()
    try:
        worker = make_worker(tmp_path, kdc, kerberos_hub, orch)
        started.append(worker.start())
        assert worker.proc.wait(60) == 1
        last = worker.log().strip().splitlines()[-1]
        assert last.startswith("koji-worker start: cannot install orch's CA certificate: "
                               "TLS: the CA certificate from orch at ")
        assert "has no basicConstraints CA:TRUE" in last
        assert not os.path.exists(worker.env["KOJI_WORKER_CA_FILE"])
        assert orch.history() == []  # nothing was checked out
    finally:
        orch.stop()
