"""worker_health: readiness the hub shows, the health command, metrics.

Workers are the kojid runner with ``orch_resources`` and
``worker_health``; the hub is seen through the real ``koji`` CLI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import koji
import pytest

from orch_bridge import OrchClient
from tests.doubles.worker import wait_until

KEY = "4ea17000-0000-4000-8000-000000000001"
KOJI = str(Path(sys.executable).with_name("koji"))


def orch_conf(orch, base):
    return ("[orch]\nurl = %s\ntimeout = 2\nretries = 0\nhealth_timeout = 1\n"
            "release_retry = 1\njournal_dir = %s/leases\nresource_dir = %s/res\n"
            "[resource:key]\nuuid = %s\n[lease:all]\nmethods = leaseProbe\n"
            "resources = key\n" % (orch.url, base, base, KEY))


def health_conf(base, metrics_port=None, **health):
    lines = ["[health]", "status_file = %s/status.json" % base,
             "pid_file = %s/kojid.pid" % base, "min_free_mb = 1"]
    lines += ["%s = %s" % item for item in health.items()]
    if metrics_port:
        lines += ["[metrics]", "enabled = yes", "listen = 127.0.0.1:%d" % metrics_port,
                  "spool_dir = %s/spool" % base]
    return "\n".join(lines) + "\n"


@pytest.fixture
def key(orch):
    orch.add_resource(KEY, "key", content=b"k")
    return orch


def start(make_worker, orch, tmp_path, metrics_port=None, **health):
    confs = {"orch_resources": orch_conf(orch, tmp_path),
             "worker_health": health_conf(tmp_path, metrics_port, **health)}
    worker = make_worker(confs=confs, plugins=["orch_resources", "worker_health",
                                               "lease_probe"])
    worker.wait_log(r"kojid_plugins active")
    return worker


def koji_cli(hub, *args):
    conf = Path(hub.topdir).parent / "koji-cli.conf"
    conf.write_text("[test]\nserver = %s\nauthtype = noauth\n" % hub.url)
    done = subprocess.run([KOJI, "-c", str(conf), "-p", "test", "--noauth", *args],
                          capture_output=True, text=True, check=True)
    return done.stdout


def list_hosts_row(hub, name):
    for line in koji_cli(hub, "list-hosts").splitlines():
        if line.split() and line.split()[0] == name:
            return line.split()
    raise AssertionError("no row for %s" % name)


def rdy(hub, name):
    return list_hosts_row(hub, name)[2]


def health(conf_dir, *args):
    return subprocess.run(
        [sys.executable, "-m", "kojid_plugins.cli", "health", "--conf-dir",
         str(conf_dir), *args], capture_output=True, text=True)


# -- readiness seen by the hub -------------------------------------------------


def test_list_hosts_shows_not_ready_while_orch_is_down_and_ready_after(
        hub, key, make_worker, tmp_path):
    worker = start(make_worker, key, tmp_path)
    wait_until(lambda: rdy(hub, worker.name) == "Y", 20, what="ready in list-hosts")

    key.set_fault("down")
    wait_until(lambda: rdy(hub, worker.name) == "N", 20, what="not ready in list-hosts")
    assert "health check orch failing (worker not ready)" in worker.log()
    info = koji_cli(hub, "hostinfo", worker.name)
    assert "Ready: no" in info

    key.clear_faults()
    wait_until(lambda: rdy(hub, worker.name) == "Y", 20, what="ready again")
    assert "health check orch passes again" in worker.log()
    assert worker.log().count("health check orch failing") == 1


def test_hung_orch_does_not_stall_the_loop(hub, key, make_worker, tmp_path):
    worker = start(make_worker, key, tmp_path)
    key.set_fault("hang", seconds=30)
    before = len(hub.call_log(method="host.updateHost", user=worker.name))
    # every pass still reports to the hub, bounded by health_timeout
    wait_until(lambda: len(hub.call_log(method="host.updateHost", user=worker.name))
               >= before + 3, 20, what="three more updateHost calls")
    assert rdy(hub, worker.name) == "N"
    key.clear_faults()


def test_missing_topdir_makes_the_worker_not_ready_naming_it(hub, key, make_worker,
                                                             tmp_path):
    worker = start(make_worker, key, tmp_path)
    wait_until(lambda: rdy(hub, worker.name) == "Y", 20, what="ready")
    worker.topdir.rename(worker.base / "topdir.away")
    wait_until(lambda: rdy(hub, worker.name) == "N", 20, what="not ready")
    status = json.loads((tmp_path / "status.json").read_text())
    assert any("topdir %s is missing" % worker.topdir in r for r in status["reasons"])
    task_id = hub.make_task("leaseProbe", ["close", 0])
    (worker.base / "topdir.away").rename(worker.topdir)
    wait_until(lambda: hub.task(task_id)["state"] == koji.TASK_STATES["CLOSED"], 30)


def test_host_data_carries_the_checks(hub, key, make_worker, tmp_path):
    worker = start(make_worker, key, tmp_path)
    wait_until(lambda: rdy(hub, worker.name) == "Y", 20, what="ready")
    session = koji.ClientSession(hub.url)
    host_id = hub.get_host(worker.name)["id"]
    data = session.scheduler.getHostData(host_id)
    data = data[0]["data"] if isinstance(data, list) else data
    assert data["health"]["orch"] == "ok"
    assert data["orch_leases"] == 0


def test_expired_session_exits_nonzero_after_releasing_leases(hub, key, make_worker,
                                                              tmp_path):
    worker = start(make_worker, key, tmp_path)
    hub.make_task("leaseProbe", ["close", 300])
    wait_until(lambda: [h["uuid"] for h in key.holders()] == [KEY], 30, what="lease")
    hub.expire_session(worker.name)
    assert worker.wait(60) == 1
    assert key.holders() == []
    # koji's client tries to renew the session; the hub refuses the renewed
    # session's call numbers, so kojid ends on an authentication error
    assert "Session expired" in worker.log() or "Authentication error" in worker.log()


# -- koji-worker health ----------------------------------------------------------


def test_health_command_exit_codes(hub, key, make_worker, tmp_path):
    worker = start(make_worker, key, tmp_path, stale_factor=3)
    conf_dir = worker.conf_dir
    wait_until(lambda: (tmp_path / "status.json").exists(), 20, what="a status file")
    healthy = health(conf_dir)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.startswith("healthy: kojid pid %d" % worker.pid)
    assert oct((tmp_path / "status.json").stat().st_mode & 0o777) == "0o600"

    picture = json.loads(health(conf_dir, "--json").stdout)
    assert picture["healthy"] and picture["status"]["ready"] in (True, False)

    os.kill(worker.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: health(conf_dir).returncode == 1, 20, what="stale status")
        stale = health(conf_dir)
        assert "status file %s" % (tmp_path / "status.json") in stale.stderr
        assert "s old, more than 3 s (3 x sleeptime)" in stale.stderr
    finally:
        os.kill(worker.pid, signal.SIGCONT)

    worker.kill()
    dead = health(conf_dir)
    assert dead.returncode == 1
    assert dead.stderr == "unhealthy: kojid (pid %d from %s/kojid.pid) is not running\n" % (
        worker.pid, tmp_path)


def test_health_command_on_a_corrupt_status_file(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "worker_health.conf").write_text(health_conf(tmp_path))
    (tmp_path / "kojid.pid").write_text("%d\n" % os.getpid())
    missing = health(tmp_path / "plugins")
    assert missing.returncode == 1
    assert missing.stderr == ("unhealthy: status file %s/status.json is missing: kojid has "
                              "not finished a loop with worker_health loaded\n" % tmp_path)
    (tmp_path / "status.json").write_text('{"time": "yesterday", "sleeptime": 1}')
    odd = health(tmp_path / "plugins")
    assert odd.returncode == 1
    assert odd.stderr == ("unhealthy: status file %s/status.json is corrupt (time or "
                          "sleeptime is not a number)\n" % tmp_path)
    (tmp_path / "status.json").write_text('{"time": ')
    corrupt = health(tmp_path / "plugins")
    assert corrupt.returncode == 1
    assert corrupt.stderr == "unhealthy: status file %s/status.json is corrupt (not JSON)\n" % (
        tmp_path)
    assert "Traceback" not in corrupt.stderr


def test_deep_health_runs_the_live_checks(hub, key, make_worker, tmp_path):
    worker = start(make_worker, key, tmp_path)
    wait_until(lambda: (tmp_path / "status.json").exists(), 20, what="a status file")
    env = dict(os.environ, KOJID_PLUGINS_CONFDIR=str(worker.conf_dir))
    args = ["--deep", "--kojid-conf", str(worker.base / "kojid.conf")]
    deep = subprocess.run([sys.executable, "-m", "kojid_plugins.cli", "health", "--json",
                           *args],
                          capture_output=True, text=True, env=env)
    picture = json.loads(deep.stdout)
    assert picture["healthy"] is True
    assert {c["name"]: c["ok"] for c in picture["deep_checks"]} == {
        "hub": True, "disk": True, "topdir": True, "orch": True, "journal": True}

    key.set_fault("down")
    down = subprocess.run([sys.executable, "-m", "kojid_plugins.cli", "health", *args],
                          capture_output=True, text=True, env=env)
    key.clear_faults()
    assert down.returncode == 1
    assert down.stderr.startswith("unhealthy: orch: orch at %s" % key.url)


# -- metrics ---------------------------------------------------------------------


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as answer:
        return answer.read().decode()


def sample(text, name, **labels):
    want = ",".join('%s="%s"' % item for item in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_count_closed_failed_and_refused_tasks(hub, key, make_worker, tmp_path):
    port = free_port()
    start(make_worker, key, tmp_path, metrics_port=port)
    closed = [hub.make_task("leaseProbe", ["close", 0]) for _ in range(3)]
    failed = [hub.make_task("leaseProbe", ["raise", 0]) for _ in range(2)]
    for task_id in closed + failed:
        wait_until(lambda: hub.task(task_id)["state"] in (
            koji.TASK_STATES["CLOSED"], koji.TASK_STATES["FAILED"]), 60)
    other = OrchClient(key.url, source_address="127.0.0.9")  # another worker holds it
    other.checkout(KEY, str(tmp_path / "other"))
    refused = hub.make_task("leaseProbe", ["close", 0])
    wait_until(lambda: any(r["task_id"] == refused for r in hub.refusals()), 30)

    def counted():
        text = scrape(port)
        return sample(text, "koji_worker_tasks_total", method="leaseProbe",
                      outcome="refused") == 1 and text

    text = wait_until(counted, 20, what="the refused task to be counted")
    assert sample(text, "koji_worker_tasks_total", method="leaseProbe", outcome="closed") == 3
    assert sample(text, "koji_worker_tasks_total", method="leaseProbe", outcome="failed") == 2
    assert sample(text, "koji_worker_lease_failures_total") == 1
    assert sample(text, "koji_worker_lease_acquire_seconds_count") == 5
    assert sample(text, "koji_worker_task_duration_seconds_count", method="leaseProbe") == 6
    assert sample(text, "koji_worker_leases_held") == 0
    assert sample(text, "koji_worker_seconds_since_hub_update") < 30
    other.release(KEY)


def test_hundreds_of_forks_while_the_metrics_thread_is_busy(hub, key, make_worker, tmp_path):
    port = free_port()
    start(make_worker, key, tmp_path, metrics_port=port)
    stop = threading.Event()
    scrapes = []

    def hammer():
        while not stop.is_set():
            try:
                scrapes.append(len(scrape(port)))
            except OSError:
                pass

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        ids = [hub.make_task("sleep", [0]) for _ in range(300)]
        closed = koji.TASK_STATES["CLOSED"]
        wait_until(lambda: all(hub.task(i)["state"] == closed for i in ids), 600,
                   interval=1, what="300 forked tasks to close")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert len(scrapes) > 10
    text = scrape(port)
    wait_until(lambda: sample(scrape(port), "koji_worker_tasks_total", method="sleep",
                              outcome="closed") == 300, 20, what="all 300 counted")
    assert text


def test_a_mistyped_conf_dir_is_unhealthy_naming_it(tmp_path):
    done = health(tmp_path / "no-such-dir")
    assert done.returncode == 1
    assert done.stderr == "unhealthy: --conf-dir %s is not a directory\n" % (
        tmp_path / "no-such-dir")


def test_a_negative_min_free_mb_is_a_config_error_naming_it(tmp_path):
    (tmp_path / "worker_health.conf").write_text("[health]\nmin_free_mb = -1\n")
    done = health(tmp_path)
    assert done.returncode == 1
    assert done.stderr == "unhealthy: bad config: %s [health] min_free_mb: '-1' is negative\n" % (
        tmp_path / "worker_health.conf")


def test_a_kojid_that_died_before_its_first_loop_is_named_not_the_status_file(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "kojid.pid").write_text("%d\n" % dead.pid)
    (tmp_path / "worker_health.conf").write_text(
        "[health]\npid_file = %s\nstatus_file = %s\n" % (tmp_path / "kojid.pid",
                                                         tmp_path / "status.json"))
    done = health(tmp_path)
    assert done.returncode == 1
    assert done.stderr == "unhealthy: kojid (pid %d from %s) is not running\n" % (
        dead.pid, tmp_path / "kojid.pid")


@pytest.mark.parametrize("args, reason", [
    (["--kojid-conf", "/etc/kojid/kojid.conf"],
     "--kojid-conf is read only by the live checks: add --deep"),
    (["--deep", "--kojid-conf", "/nonexistent/kojid.conf"],
     "--kojid-conf /nonexistent/kojid.conf is not a file"),
])
def test_kojid_conf_mistakes_are_named(tmp_path, args, reason):
    done = health(tmp_path, *args)
    assert (done.returncode, done.stderr) == (1, "unhealthy: %s\n" % reason)
    as_json = health(tmp_path, "--json", *args)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"healthy": False, "reason": reason}
