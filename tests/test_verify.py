"""``koji-worker verify`` as an operator runs it, against the hub simulator.

Each test runs the command in a subprocess (with HOME in tmp_path, so no
personal koji profile is read) and checks its exit status and what it
printed.  Hosts look ready and fresh by logging in as kojid does and
calling ``host.updateHost``; stale updates and disabled channels are
written straight into the simulator's database.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.doubles.fixtures_hub import host_login

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

OPERATOR = ("operator", "operator-pw")

NOT_READY = ("worker-1: not ready (the hub last saw ready=False; run"
             " 'koji-worker health --json' on the worker)")


def verify(home, *args) -> subprocess.CompletedProcess:
    """Run ``python -m kojid_plugins.cli verify ARGS`` with HOME=home."""
    cmd = [sys.executable, "-m", "kojid_plugins.cli", "verify"]
    cmd += [str(a) for a in args]
    env = dict(os.environ, HOME=str(home))
    return subprocess.run(cmd, cwd=str(REPO_ROOT), env=env, text=True,
                          capture_output=True, timeout=120)


def checked_in(hub, name, ready=True, **host_opts):
    """Add a host and check in as its kojid; returns the open session."""
    hub.add_host(name, **host_opts)
    session = host_login(hub.url, name)
    session.host.updateHost(0.0, ready)
    return session


def backdate_update(hub, name, seconds) -> None:
    """Make the host's last check-in ``seconds`` old (sessions table)."""
    conn = sqlite3.connect(hub.db_path)
    try:
        conn.execute("UPDATE sessions SET update_time = ? WHERE user_id ="
                     " (SELECT user_id FROM host WHERE name = ?)",
                     (time.time() - seconds, name))
        conn.commit()
    finally:
        conn.close()


def disable_channel(hub, channel) -> None:
    """Disable a channel on the hub (no admin helper exists for it)."""
    conn = sqlite3.connect(hub.db_path)
    try:
        conn.execute("UPDATE channels SET enabled = 0 WHERE name = ?",
                     (channel,))
        conn.commit()
    finally:
        conn.close()


def lines(proc) -> list:
    return proc.stdout.splitlines()


@pytest.fixture
def worker(hub):
    """worker-1: x86_64 and aarch64, channels default and createrepo."""
    session = checked_in(hub, "worker-1", arches="x86_64 aarch64",
                         channels=("default", "createrepo"))
    yield session
    session.logout()


def test_ready_host_is_ok(hub, worker, tmp_path):
    hub.clear_call_log()

    proc = verify(tmp_path, "--server", hub.url, "--noauth", "worker-1",
                  "--arch", "x86_64", "--arch", "aarch64",
                  "--channel", "createrepo", "--channel", "default")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = lines(proc)
    assert out[0].split() == ["Hostname", "Enb", "Rdy", "Load/Cap", "Arches",
                              "Last", "Update"]
    assert set(out[1]) == {"-"}
    assert re.match(r"worker-1 +Y +Y +0\.0/2\.0 +x86_64,aarch64 +\S", out[2])
    assert out[3] == "Channels: default createrepo"
    assert out[4:] == ["OK"]
    assert proc.stderr == ""

    calls = hub.call_log()
    assert {c["method"] for c in calls} == {
        "getHost", "listChannels", "getLastHostUpdate"}
    assert {c["user"] for c in calls} == {None}


def test_unknown_host(hub, worker, tmp_path):
    proc = verify(tmp_path, "--server", hub.url, "worker-9")

    assert proc.returncode == 1
    assert lines(proc)[0].startswith(
        "no host named 'worker-9' on the hub at %s" % hub.url)
    assert "OK" not in lines(proc)


def test_disabled_host(hub, worker, tmp_path):
    hub.set_host_enabled("worker-1", False)

    proc = verify(tmp_path, "--server", hub.url, "worker-1")

    assert proc.returncode == 1
    assert re.match(r"worker-1 +N +Y ", lines(proc)[2])
    problems = lines(proc)[4:]
    assert len(problems) == 1
    assert problems[0].startswith("worker-1: disabled, expected enabled")


def test_not_ready_host(hub, tmp_path):
    session = checked_in(hub, "worker-1", ready=False)

    proc = verify(tmp_path, "--server", hub.url, "worker-1")

    assert proc.returncode == 1
    assert lines(proc)[4:] == [NOT_READY]
    session.logout()


def test_stale_update(hub, worker, tmp_path):
    backdate_update(hub, "worker-1", 340)

    proc = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--max-age", "120")

    assert proc.returncode == 1
    problems = lines(proc)[4:]
    assert len(problems) == 1
    match = re.fullmatch(r"worker-1: last update (\d+) s ago,"
                         r" more than --max-age 120", problems[0])
    assert match and int(match.group(1)) >= 340

    fine = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--max-age", "3600")
    assert fine.returncode == 0
    assert lines(fine)[-1] == "OK"


def test_never_updated_host(hub, tmp_path):
    hub.add_host("worker-1")

    proc = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--max-age", "5")

    assert proc.returncode == 1
    assert re.match(r"worker-1 +Y +N +0\.0/2\.0 +x86_64 +-$", lines(proc)[2])
    problems = lines(proc)[4:]
    assert problems[0] == NOT_READY
    assert problems[1].startswith(
        "worker-1: never updated, expected an update within --max-age 5")
    assert len(problems) == 2


def test_wrong_arches(hub, tmp_path):
    session = checked_in(hub, "worker-1", arches="x86_64")

    proc = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--arch", "aarch64")

    assert proc.returncode == 1
    assert lines(proc)[4:] == [
        "worker-1: arches are 'x86_64', expected aarch64"]

    some = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--arch", "x86_64,ppc64le")
    assert some.returncode == 1
    assert lines(some)[4:] == [
        "worker-1: arches are 'x86_64', expected ppc64le"]

    fine = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--arch", "x86_64")
    assert fine.returncode == 0
    session.logout()


def test_missing_channel(hub, tmp_path):
    session = checked_in(hub, "worker-1", channels=("default",))

    proc = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--channel", "default", "--channel", "createrepo")

    assert proc.returncode == 1
    problems = lines(proc)[4:]
    assert len(problems) == 1
    assert problems[0].startswith(
        "worker-1: not in channel 'createrepo' (its channels: default;")
    session.logout()


def test_disabled_channel(hub, worker, tmp_path):
    disable_channel(hub, "createrepo")

    proc = verify(tmp_path, "--server", hub.url, "worker-1",
                  "--channel", "createrepo")

    assert proc.returncode == 1
    assert lines(proc)[3] == "Channels: default *createrepo"
    assert lines(proc)[4].startswith(
        "worker-1: channel 'createrepo' is disabled, expected enabled")


def test_hub_unreachable(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = "http://127.0.0.1:%d/kojihub" % unused.getsockname()[1]

        proc = verify(tmp_path, "--server", url, "worker-1")

    assert proc.returncode == 3
    assert proc.stdout == ""
    err = proc.stderr.splitlines()
    assert len(err) == 1
    assert err[0].startswith("koji-worker verify: cannot reach the hub at %s"
                             % url)


def test_profile_file(hub, worker, tmp_path):
    conf = tmp_path / "hub.conf"
    conf.write_text("[worker-hub]\nserver = %s\n" % hub.url)

    proc = verify(tmp_path, "-c", conf, "--profile", "worker-hub",
                  "worker-1", "--channel", "createrepo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert lines(proc)[-1] == "OK"

    unknown = verify(tmp_path, "-c", conf, "--profile", "worker-hub",
                     "worker-9")
    assert unknown.returncode == 1
    assert "on the hub at %s " % hub.url in unknown.stdout

    missing = verify(tmp_path, "-c", conf, "--profile", "nope", "worker-1")
    assert missing.returncode == 2
    assert "nope" in missing.stderr


def test_unknown_profile_without_server(tmp_path):
    proc = verify(tmp_path, "--profile", "no-such-profile", "worker-1")

    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "koji-worker verify: koji configuration: no configuration for"
        " profile name: no-such-profile"]


def test_usage_errors(hub, tmp_path):
    bad_age = verify(tmp_path, "--server", hub.url, "worker-1",
                     "--max-age", "-5")
    assert bad_age.returncode == 2

    bad_url = verify(tmp_path, "--server", "hub.example", "worker-1")
    assert bad_url.returncode == 2
    assert "not a hub URL" in bad_url.stderr


def test_login_when_asked(hub, worker, tmp_path):
    hub.add_user(*OPERATOR)
    hub.clear_call_log()

    proc = verify(tmp_path, "--server", hub.url, "--user", OPERATOR[0],
                  "--password", OPERATOR[1], "worker-1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c["user"] for c in hub.call_log(method="getHost")] == [OPERATOR[0]]

    wrong = verify(tmp_path, "--server", hub.url, "--user", OPERATOR[0],
                   "--password", "wrong", "worker-1")
    assert wrong.returncode == 2
    assert "could not log in to the hub at %s" % hub.url in wrong.stderr


def test_json_findings(hub, worker, tmp_path):
    hub.set_host_enabled("worker-1", False)

    proc = verify(tmp_path, "--server", hub.url, "--json", "worker-1",
                  "--arch", "s390x", "--channel", "createrepo")

    assert proc.returncode == 1
    found = json.loads(proc.stdout)
    assert found["ok"] is False and found["found"] is True
    assert found["hub"] == hub.url
    assert found["enabled"] is False and found["ready"] is True
    assert found["arches"] == ["x86_64", "aarch64"]
    assert [c["name"] for c in found["channels"]] == ["default", "createrepo"]
    assert [p["check"] for p in found["problems"]] == ["enabled", "arches"]
    assert found["expected"] == {"arches": ["s390x"],
                                 "channels": ["createrepo"], "max_age": 120}

    gone = verify(tmp_path, "--server", hub.url, "--json", "worker-9")
    assert gone.returncode == 1
    assert json.loads(gone.stdout)["found"] is False


@pytest.mark.parametrize("args, message", [
    (["--server", "http://[::1/kojihub"], "not a hub URL: 'http://[::1/kojihub'"),
    (["--server", "http://127.0.0.1:99999/kojihub"], "not a hub URL"),
    (["--server", "http://127.0.0.1:9/kojihub", "--user", "u"], "--user needs --password"),
])
def test_malformed_connection_settings_are_usage_errors(args, message):
    done = subprocess.run([sys.executable, "-m", "kojid_plugins.cli", "verify", *args, "w1"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
