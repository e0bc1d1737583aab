"""A worker's whole Kerberos and TLS life against a real KDC.

The worker keytab is checked out of an orch that demands SPNEGO (with a
bootstrap keytab, by the real ``orch-bridge`` command), orch's CA is
installed and verified, kojid (the runner around the stock TaskManager)
logs in to the https hub with the keytab, ``orch_resources`` leases over
SPNEGO with that same keytab, and the stock ``koji list-hosts`` shows the
host ready.  Then credential trouble makes it not ready with one line,
and a short-lived ticket does not stop a long run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import koji
import pytest

from tests.doubles.fixtures_hub import koji_cli_path
from tests.doubles.fixtures_orch import FILE_UUID, WORKER_UUID, define_resources
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.worker import Worker, wait_until

SERVICE = "HTTP/localhost@KOJI.TEST"
HOST = "worker/koji-worker-1"
PRINCIPAL = HOST + "@KOJI.TEST"
CONTAINER_IP = "127.0.0.2"


@pytest.fixture
def krb_orch(tmp_path, kdc, kerberos_hub):
    """orch in the realm: SPNEGO required, the hub's CA as its CA."""
    with open(kerberos_hub.serverca, "rb") as handle:
        pem = handle.read()
    sim = define_resources(OrchSimulator(str(tmp_path / "orch.sqlite"), ca_pem=pem))
    sim.use_kerberos(kdc, kerberos_hub).require_spnego(kdc).start()
    sim.add_container(CONTAINER_IP, "koji-worker-1", scale_index=1, service="koji-worker")
    yield sim
    sim.stop()


def orch_bridge(kdc, tmp_path, url, *args):
    env = kdc.subprocess_env(KRB5CCNAME="FILE:%s" % (tmp_path / "user-default-cc"))
    proc = subprocess.run(
        [sys.executable, "-m", "orch_bridge.cli", "--url", url, "--timeout", "60",
         "--source-address", CONTAINER_IP, *args], env=env, capture_output=True, text=True,
        timeout=180)
    return proc


def list_hosts(hub, serverca, tmp_path):
    """The stock koji CLI's host list, anonymous, verifying the hub with ``serverca``."""
    conf = tmp_path / "koji-cli.conf"
    conf.write_text("[koji]\nserver = %s\nserverca = %s\n" % (hub.url, serverca))
    proc = subprocess.run([koji_cli_path(), "-c", str(conf), "--noauth", "list-hosts"],
                          env=dict(os.environ, HOME=str(tmp_path)), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def host_flags(hub, serverca, tmp_path):
    """(enabled, ready) of HOST as ``koji list-hosts`` prints them."""
    for line in list_hosts(hub, serverca, tmp_path).splitlines():
        fields = line.split()
        if fields and fields[0] == HOST:
            return fields[1], fields[2]
    return None


def worker_confs(tmp_path, orch, keytab, principal=PRINCIPAL):
    return {
        "orch_resources": (
            "[orch]\nurl = %s\nsource_address = %s\nretries = 0\nauth = gssapi\n"
            "principal = %s\nkeytab = %s\nservice = %s\nresource_dir = %s\n"
            "journal_dir = %s\n[resource:token]\nuuid = %s\n"
            "[lease:all]\nmethods = *\nresources = token\n"
            % (orch.url, CONTAINER_IP, principal, keytab, SERVICE, tmp_path / "res",
               tmp_path / "journal", FILE_UUID)),
        "worker_health": (
            "[health]\nfatal = hub orch journal plugins\nstatus_file = %s\npid_file = %s\n"
            % (tmp_path / "status.json", tmp_path / "kojid.pid")),
    }


def bootstrap(kdc, tmp_path, orch):
    """What a worker container does first: its keytab and orch's CA, over SPNEGO."""
    boot_keytab = tmp_path / "bootstrap.keytab"
    kdc.add_principal("bootstrap/koji-worker", keytab_path=boot_keytab)
    auth = ("--gssapi", "--keytab", str(boot_keytab), "--service", SERVICE)
    got = orch_bridge(kdc, tmp_path, orch.url, *auth, "checkout", WORKER_UUID,
                      str(tmp_path / "keytab") + "/")
    assert got.returncode == 0, got.stderr
    ca = orch_bridge(kdc, tmp_path, orch.url, *auth, "ca-cert", str(tmp_path / "pki/ca.crt"))
    assert ca.returncode == 0, ca.stderr
    assert not (tmp_path / "user-default-cc").exists()
    return got.stdout.strip(), ca.stdout.strip()


def start_worker(tmp_path, kdc, hub, orch, keytab, serverca, principal=PRINCIPAL):
    worker = Worker(tmp_path / "worker", hub.url, HOST, keytab=keytab, principal=PRINCIPAL,
                    serverca=serverca, plugins=("orch_resources", "worker_health"),
                    confs=worker_confs(tmp_path, orch, keytab, principal), env=kdc.env)
    return worker.start()


def key_material(keytab):
    """12-byte windows of the keytab that are not plain text (its keys)."""
    data = open(keytab, "rb").read()
    return [data[i:i + 12] for i in range(len(data) - 12)
            if any(b < 0x20 or b > 0x7e for b in data[i:i + 12])
            and sum(0x20 <= b <= 0x7e for b in data[i:i + 12]) < 10]


def test_full_flow_keytab_from_orch_over_spnego_hub_login_tasks_and_ready(
        kdc, kerberos_hub, krb_orch, tmp_path):
    keytab, serverca = bootstrap(kdc, tmp_path, krb_orch)
    checkout = krb_orch.requests(method="POST")[-1]
    assert checkout["principal"] == "bootstrap/koji-worker@KOJI.TEST"
    assert open(serverca, "rb").read() == open(kerberos_hub.serverca, "rb").read()

    worker = start_worker(tmp_path, kdc, kerberos_hub, krb_orch, keytab, serverca)
    try:
        task_id = kerberos_hub.make_task("sleep", [0])
        wait_until(lambda: kerberos_hub.task(task_id)["state"] == koji.TASK_STATES["CLOSED"],
                   90, what="task %d closed" % task_id)
        path = "/api/v2/resource/" + FILE_UUID
        # the first DELETE may be SPNEGO's 401 challenge: wait for the answered one
        wait_until(lambda: [r for r in krb_orch.requests("DELETE", path) if r["status"] == 200],
                   30, what="the lease released")
        leased = [r for r in krb_orch.requests(path=path) if r["status"] == 200]
        assert [(r["method"], r["principal"]) for r in leased] == [
            ("POST", PRINCIPAL), ("DELETE", PRINCIPAL)]
        assert kerberos_hub.call_log(method="sslLogin")[-1]["fault_code"] is None
        wait_until(lambda: host_flags(kerberos_hub, serverca, tmp_path) == ("Y", "Y"), 60,
                   what="koji list-hosts showing %s enabled and ready" % HOST)
        log = worker.log()
        assert "orch calls use Kerberos as %s, keytab %s" % (PRINCIPAL, keytab) in log
        assert not any(piece.decode("latin-1") in log for piece in key_material(keytab))
    finally:
        worker.kill_all()


def test_a_keytab_gone_makes_the_worker_not_ready_with_one_line_then_ready_again(
        kdc, kerberos_hub, krb_orch, tmp_path):
    keytab, serverca = bootstrap(kdc, tmp_path, krb_orch)
    worker = start_worker(tmp_path, kdc, kerberos_hub, krb_orch, keytab, serverca)
    status_file = tmp_path / "status.json"
    try:
        wait_until(lambda: host_flags(kerberos_hub, serverca, tmp_path) == ("Y", "Y"), 90,
                   what="the worker ready")
        os.rename(keytab, keytab + ".away")
        reason = ("Kerberos: keytab %s does not exist; check the keytab setting and that "
                  "it was checked out of orch" % keytab)
        worker.wait_log(re.escape("health check orch failing (worker not ready): " + reason),
                        60)
        wait_until(lambda: host_flags(kerberos_hub, serverca, tmp_path) == ("Y", "N"), 60,
                   what="koji list-hosts showing %s not ready" % HOST)
        status = json.loads(status_file.read_text())
        assert status["reasons"] == ["orch: " + reason]
        task_id = kerberos_hub.make_task("sleep", [0])
        os.rename(keytab + ".away", keytab)
        worker.wait_log("health check orch passes again", 60)
        wait_until(lambda: kerberos_hub.task(task_id)["state"] == koji.TASK_STATES["CLOSED"],
                   90, what="task %d closed once the keytab is back" % task_id)
        # one warning names it; kojid's readiness vote repeats it once at info level
        log = worker.log()
        assert log.count("health check orch failing") == 1
        assert log.count("Kerberos: keytab") == 2
        assert worker.running()
    finally:
        worker.kill_all()


def as_requests(kdc, principal):
    """How many initial tickets the KDC issued to ``principal``."""
    return len(re.findall(r"AS_REQ .*: ISSUE: .* %s for krbtgt" % re.escape(principal),
                          (kdc.base_dir / "kdc.log").read_text()))


def test_a_short_ticket_lifetime_does_not_end_a_long_run(kdc, kerberos_hub, tmp_path):
    """Tickets matter at login only; koji's renewal takes a new one from the keytab.

    After the hub expires the session, koji 1.34-1.36 (``renew_expired_session``)
    logs in again with ``sslLogin(renew=True)`` on the same session id; GSSAPI
    gets a fresh ticket from the keytab for it.  The hub keeps the session's
    last call number while the client restarts at 0, so koji's next call
    meets ``SequenceError`` and kojid ends with "Authentication error" (exit
    1), as stock kojid does; the container restarts it and it logs in anew.
    """
    keytab = tmp_path / "renew.keytab"
    principal = kdc.add_principal("worker/renew", keytab_path=keytab)
    kerberos_hub.add_host("renew", krb_principal=principal)
    for name in (principal, "krbtgt/KOJI.TEST@KOJI.TEST"):
        kdc.kadmin_local("modprinc", "-maxlife", '"20 seconds"', name)
    worker = Worker(tmp_path / "w", kerberos_hub.url, "renew", keytab=str(keytab),
                    principal=principal, serverca=kerberos_hub.serverca, plugins=(),
                    env=kdc.env)
    ccache = str(tmp_path / "w" / "krb5cc")

    def run_task(what):
        task_id = kerberos_hub.make_task("sleep", [0])
        wait_until(lambda: kerberos_hub.task(task_id)["state"] == koji.TASK_STATES["CLOSED"],
                   90, what="task %d closed %s" % (task_id, what))

    def ticket_valid():
        return subprocess.run(["klist", "-s", "-c", ccache], env=kdc.subprocess_env()
                              ).returncode == 0

    worker.start()
    try:
        run_task("after login")
        wait_until(lambda: not ticket_valid(), 60, 0.5, what="the 20 s ticket to expire")
        run_task("with the ticket expired")
        run_task("again with the ticket expired")
        assert len(kerberos_hub.call_log(method="sslLogin")) == 1
        issued = as_requests(kdc, principal)

        assert kerberos_hub.expire_session("renew") >= 1
        assert worker.wait(90) == 1
        logins = kerberos_hub.call_log(method="sslLogin")
        assert len(logins) == 2 and logins[-1]["fault_code"] is None
        assert logins[-1]["kwargs"].get("renew") is True
        assert ticket_valid()
        assert as_requests(kdc, principal) > issued
        assert "Authentication error" in worker.log()
        faults = [c["fault_string"] for c in kerberos_hub.call_log(after_id=logins[-1]["id"])]
        assert any(f and " > 0 (session " in f for f in faults)
    finally:
        worker.kill_all()
