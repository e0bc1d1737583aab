"""The ``orch-bridge`` command, run as a separate process against the simulator."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from tests.doubles.fixtures_orch import (CONTENT, KEY_UUID, MISSING_UUID, PRINCIPAL_UUID,
                                         make_client, orch_sim)

__all__ = ("make_client", "orch_sim")  # fixtures, used by name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, url=None, cwd=None, env_url=True, command=None):
    """Run the CLI; ``url`` goes to ``$ORCH_SERVICE_URL`` unless ``env_url`` is off."""
    env = dict(os.environ)
    env.pop("ORCH_SERVICE_URL", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    if url and env_url:
        env["ORCH_SERVICE_URL"] = url
    argv = command or [sys.executable, "-m", "orch_bridge.cli"]
    return subprocess.run(argv + list(args), cwd=cwd, env=env, capture_output=True,
                          timeout=60)


def one_line_error(proc, code, start):
    """Check the process failed with ``code`` and one stderr line beginning ``start``."""
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith(start), err
    assert "Traceback" not in err
    return err


def test_checkout_into_the_current_directory(orch_sim, tmp_path):
    proc = run("checkout", KEY_UUID, url=orch_sim.url, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == str(tmp_path / "hub.key")
    assert (tmp_path / "hub.key").read_bytes() == CONTENT[KEY_UUID]
    assert stat.S_IMODE(os.stat(str(tmp_path / "hub.key")).st_mode) == 0o600
    assert proc.stderr == b""


def test_checkout_to_a_file_in_a_new_directory_with_json(orch_sim, tmp_path):
    target = tmp_path / "etc" / "koji" / "hub.keytab"
    proc = run("--json", "checkout", PRINCIPAL_UUID, str(target), url=orch_sim.url)
    assert proc.returncode == 0, proc.stderr
    answer = json.loads(proc.stdout.decode())
    assert answer == {"uuid": PRINCIPAL_UUID, "path": str(target), "name": "hub.keytab"}
    assert target.read_bytes() == CONTENT[PRINCIPAL_UUID]
    assert stat.S_IMODE(os.stat(str(target.parent)).st_mode) == 0o700


def test_checkout_into_an_existing_directory_uses_orchs_name(orch_sim, tmp_path):
    proc = run("--url", orch_sim.url, "checkout", KEY_UUID, str(tmp_path), env_url=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "hub.key").exists()


def test_checkout_never_replaces_a_device_or_link(orch_sim, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    for target in ("/dev/null", str(link)):
        proc = run("checkout", KEY_UUID, target, url=orch_sim.url)
        assert proc.returncode == 1
        assert b"not a regular file, refusing to replace it" in proc.stderr
        assert proc.stderr.count(b"\n") == 1
        orch_sim.force_release(KEY_UUID)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert link.is_symlink() and not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("command, key", [
    (["status", KEY_UUID], "checked_out"),
    (["validate", KEY_UUID], "can_access"),
    (["health"], "containers_cleaned"),
    (["mappings"], "mappings"),
    (["ca-info"], "cert_info"),
    (["ca-status"], "ca_exists"),
])
def test_json_subcommands_print_indented_json(orch_sim, command, key):
    proc = run(*command, url=orch_sim.url)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert key in json.loads(text)
    assert "\n  " in text


def test_release_after_checkout(orch_sim, tmp_path):
    assert run("checkout", KEY_UUID, url=orch_sim.url, cwd=str(tmp_path)).returncode == 0
    proc = run("release", KEY_UUID, url=orch_sim.url)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.decode())["uuid"] == KEY_UUID
    assert orch_sim.holders() == []


def test_ca_cert_to_stdout_and_to_a_file(orch_sim, tmp_path):
    proc = run("ca-cert", url=orch_sim.url)
    assert proc.returncode == 0
    assert proc.stdout.startswith(b"-----BEGIN CERTIFICATE-----")

    # the simulator's placeholder is no certificate: it is never stored
    # (tests/test_orch_tls.py stores a real CA)
    target = tmp_path / "anchors" / "orch-ca.crt"
    proc = run("ca-cert", str(target), url=orch_sim.url)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "orch-bridge: ca-cert: TLS: the CA certificate from orch at %s is not a usable CA "
        "certificate (openssl: Could not read certificate from <stdin>); check orch's CA "
        "(orch-bridge ca-info)" % orch_sim.url]
    assert not target.exists()


def test_conflict_fails_with_one_line(orch_sim, make_client, tmp_path):
    make_client(source_address="127.0.0.2").checkout(KEY_UUID, str(tmp_path / "other"))
    proc = run("checkout", KEY_UUID, url=orch_sim.url, cwd=str(tmp_path))
    err = one_line_error(proc, 1, "orch-bridge: checkout %s: orch refused: " % KEY_UUID)
    assert "409 RESOURCE_ALREADY_CHECKED_OUT" in err
    assert not (tmp_path / "hub.key").exists()


def test_not_found_and_not_checked_out_fail_with_one_line(orch_sim):
    err = one_line_error(run("status", MISSING_UUID, url=orch_sim.url), 1,
                         "orch-bridge: status %s: " % MISSING_UUID)
    assert "404 RESOURCE_NOT_FOUND" in err
    err = one_line_error(run("release", KEY_UUID, url=orch_sim.url), 1,
                         "orch-bridge: release %s: " % KEY_UUID)
    assert "not checked out to this container" in err


def test_unsafe_server_name_fails_with_one_line(orch_sim, tmp_path):
    err = one_line_error(run("checkout", PRINCIPAL_UUID, url=orch_sim.url, cwd=str(tmp_path)),
                         1, "orch-bridge: checkout %s: " % PRINCIPAL_UUID)
    assert "pass a file name" in err
    assert err.endswith("; released %s on orch again\n" % PRINCIPAL_UUID)
    assert [n for n in os.listdir(str(tmp_path)) if not n.startswith("orch-sim")] == []
    assert orch_sim.holders() == []


@pytest.mark.parametrize("below", ["x", "sub/x", "sub/"])
def test_checkout_under_a_regular_file_names_it_and_gives_the_resource_back(
        orch_sim, tmp_path, below):
    blocker = tmp_path / "f1"
    blocker.write_bytes(b"in the way\n")
    target = "%s/%s" % (blocker, below)
    proc = run("checkout", KEY_UUID, target, url=orch_sim.url)
    assert proc.stderr.decode().splitlines() == [
        "orch-bridge: checkout %s: cannot write %s: %s is not a directory; released %s "
        "on orch again" % (KEY_UUID, target, blocker, KEY_UUID)]
    assert proc.returncode == 1
    assert orch_sim.holders() == []
    assert orch_sim.request_count("DELETE") == 1
    assert blocker.read_bytes() == b"in the way\n"


def test_orch_down_fails_with_one_line(orch_sim):
    orch_sim.set_fault("down")
    err = one_line_error(run("--retries", "1", "health", url=orch_sim.url), 1,
                         "orch-bridge: health: orch at ")
    assert "refused the connection" in err


def test_timeout_fails_with_one_line(orch_sim):
    orch_sim.set_fault("hang", seconds=30)
    err = one_line_error(run("--timeout", "0.5", "--retries", "0", "mappings",
                             url=orch_sim.url), 1, "orch-bridge: mappings: ")
    assert "did not answer within 0.5s" in err


def test_server_error_after_retries_fails_with_one_line(orch_sim):
    orch_sim.set_fault("http5xx", status=500)
    one_line_error(run("--retries", "0", "validate", KEY_UUID, url=orch_sim.url), 1,
                   "orch-bridge: validate %s: orch failed: " % KEY_UUID)
    assert orch_sim.request_count() == 1


@pytest.mark.parametrize("args, start", [
    (["health"], "orch-bridge: health: no orch URL"),
    (["--url", "http://127.0.0.1:9", "checkout", "not-a-uuid"], "orch-bridge: argument UUID"),
    (["--url", "http://127.0.0.1:9", "frobnicate"], "orch-bridge: argument SUBCOMMAND"),
    (["--url", "http://127.0.0.1:9"], "orch-bridge: "),
    (["--url", "http://127.0.0.1:9", "--timeout", "-1", "health"], "orch-bridge: argument"),
    (["--url", "gopher://x", "health"],
     "orch-bridge: health: bad orch URL 'gopher://x': it must start with http:// or https://"),
])
def test_usage_errors_exit_2_with_one_line(args, start):
    one_line_error(run(*args), 2, start)


# IP literals only: should the check ever break, no name is looked up in DNS
@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:99999", "port 99999 is not a number from 1 to 65535"),
    ("http://127.0.0.1:0", "port 0 is not a number from 1 to 65535"),
    ("http://127.0.0.1:5000x", "port 5000x is not a number from 1 to 65535"),
    ("http://:5000", "it names no host"),
    ("http://[::1:5000", "Invalid IPv6 URL"),
    ("http://127.0.0.1:5000/?x=1", "a base URL has no ?query or #fragment"),
    ("orch:5000", "it must start with http:// or https://"),
])
def test_a_bad_url_is_named_in_one_line_before_any_call(url, problem):
    proc = run("--url", url, "health")
    assert proc.stderr.decode().splitlines() == [
        "orch-bridge: health: bad orch URL %r: %s" % (url, problem)]
    assert proc.returncode == 2


def test_a_bad_url_never_shows_its_password():
    proc = run("--url", "http://koji:s3cret@127.0.0.1:70000", "health")
    err = one_line_error(proc, 2,
                         "orch-bridge: health: bad orch URL 'http://***@127.0.0.1:70000'")
    assert "s3cret" not in err


def test_a_source_address_this_host_lacks_fails_at_once_in_one_line(orch_sim):
    # the bind fails locally: nothing is sent, and orch_sim is on loopback anyway
    proc = run("-v", "--retries", "3", "--source-address", "10.255.255.1", "health",
               url=orch_sim.url)
    assert proc.stderr.decode().splitlines() == [
        "orch-bridge: health: cannot send from 10.255.255.1: not an address of this host "
        "(Cannot assign requested address) (GET /api/v2/status/health)"]
    assert proc.returncode == 1
    assert orch_sim.request_count() == 0


def test_a_source_address_of_the_other_family_is_named(orch_sim):
    proc = run("--source-address", "::1", "health", url=orch_sim.url)
    assert proc.stderr.decode().splitlines() == [
        "orch-bridge: health: cannot send from ::1 to orch at %s: ::1 is an IPv6 address "
        "and orch's host 127.0.0.1 is IPv4" % orch_sim.url]
    assert proc.returncode == 2
    assert orch_sim.request_count() == 0


def test_help_exits_0():
    proc = run("--help")
    assert proc.returncode == 0
    assert b"checkout" in proc.stdout


def test_installed_console_script(orch_sim):
    script = os.path.join(os.path.dirname(sys.executable), "orch-bridge")
    assert os.access(script, os.X_OK), "pip install . puts orch-bridge beside python"
    proc = run("health", url=orch_sim.url, command=[script])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.decode())["status"] == "healthy"


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "0"])
def test_a_timeout_that_is_not_a_finite_positive_number_is_refused(orch_sim, value):
    err = one_line_error(run("--timeout", value, "health", url=orch_sim.url), 2,
                         "orch-bridge: argument --timeout: not a positive, finite number")
    assert repr(value) in err
    assert orch_sim.request_count() == 0
