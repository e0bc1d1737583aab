"""orch's CA: fetched, checked as a CA, stored, and every https call verified.

The https variant of the orch simulator serves a certificate signed by a
CA made in the test and serves that CA at ``/api/v2/ca/certificate``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from orch_bridge import OrchAuthError, OrchClient
from orch_bridge.ca import check_ca_file, install_ca
from orch_bridge.credentials import CredentialProblem
from tests.doubles.fixtures_orch import FILE_UUID, define_resources
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.tls_ca import TestCA


@pytest.fixture
def test_ca(tmp_path):
    return TestCA(tmp_path / "ca").create()


@pytest.fixture
def tls_orch(tmp_path, test_ca):
    sim = define_resources(OrchSimulator(str(tmp_path / "tls.sqlite"), tls=test_ca)).start()
    yield sim
    sim.stop()


@pytest.fixture
def plain_orch(tmp_path, test_ca):
    """orch over http, serving the test CA (the first fetch, inside the network)."""
    with open(test_ca.cert, "rb") as handle:
        pem = handle.read()
    sim = define_resources(OrchSimulator(str(tmp_path / "plain.sqlite"), ca_pem=pem)).start()
    yield sim
    sim.stop()


def orch(url, **kwargs):
    return OrchClient(url, timeout=10, retries=0, backoff=0, **kwargs)


def test_the_ca_is_fetched_checked_and_stored_then_https_verifies_against_it(
        plain_orch, tls_orch, test_ca, tmp_path):
    target = tmp_path / "pki" / "orch-ca.crt"
    found = install_ca(orch(plain_orch.url), str(target))
    assert [c.subject for c in found] == ["CN = koji-worker test CA"]
    assert target.read_bytes() == open(test_ca.cert, "rb").read()
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o644
    assert os.listdir(str(target.parent)) == ["orch-ca.crt"]

    assert tls_orch.url.startswith("https://")
    with orch(tls_orch.url, verify=str(target)) as client:
        assert client.health()["status"] == "healthy"
        client.checkout(FILE_UUID, str(tmp_path / "files"))
        client.release(FILE_UUID)
    # a later fetch over https is verified against the stored CA
    install_ca(orch(tls_orch.url, verify=str(target)), str(target))


def test_a_server_certificate_that_does_not_verify(tls_orch, tmp_path):
    with pytest.raises(OrchAuthError) as caught:
        orch(tls_orch.url).health()
    assert caught.value.cause == "tls_untrusted"
    assert str(caught.value) == (
        "TLS: the certificate of %s does not verify against the system trust store "
        "(unable to get local issuer certificate); check the CA file holds orch's current "
        "CA (orch-bridge ca-cert FILE)" % tls_orch.url)
    other = TestCA(tmp_path / "other").create()
    with pytest.raises(OrchAuthError, match="does not verify against %s" % other.cert):
        orch(tls_orch.url, verify=other.cert).health()
    assert tls_orch.request_count() == 0


def test_a_missing_ca_file_is_named(tls_orch, tmp_path):
    missing = str(tmp_path / "not-yet.crt")
    with pytest.raises(OrchAuthError) as caught:
        orch(tls_orch.url, verify=missing).health()
    assert caught.value.cause == "ca_missing"
    assert str(caught.value) == ("TLS: CA file %s does not exist; install orch's CA there "
                                 "(orch-bridge ca-cert %s)" % (missing, missing))


def test_verification_cannot_be_turned_off(tls_orch):
    for value in (False, None, ""):
        with pytest.raises(ValueError, match="TLS verification cannot be turned off"):
            orch(tls_orch.url, verify=value)


def test_a_certificate_that_is_not_a_ca_is_refused_and_nothing_replaced(
        tmp_path, test_ca):
    leaf, _key = test_ca.server_cert("leaf")
    with open(leaf, "rb") as handle:
        sim = OrchSimulator(str(tmp_path / "leaf.sqlite"), ca_pem=handle.read()).start()
    target = tmp_path / "orch-ca.crt"
    target.write_bytes(b"the old CA\n")
    try:
        with pytest.raises(CredentialProblem) as caught:
            install_ca(orch(sim.url), str(target))
    finally:
        sim.stop()
    assert caught.value.cause == "not_a_ca"
    assert str(caught.value) == (
        "TLS: the CA certificate from orch at %s is not a usable CA certificate (CN = "
        "localhost has no basicConstraints CA:TRUE); check orch's CA (orch-bridge ca-info)"
        % sim.url)
    assert target.read_bytes() == b"the old CA\n"
    with pytest.raises(CredentialProblem, match="no PEM certificate"):
        check_ca_file(str(target))


def cli(*args):
    return subprocess.run([sys.executable, "-m", "orch_bridge.cli", *args],
                          capture_output=True, text=True, timeout=60)


def test_orch_bridge_ca_cert_installs_only_a_ca_and_verifies_https(
        plain_orch, tls_orch, tmp_path):
    target = tmp_path / "anchors" / "ca.crt"
    proc = cli("--url", plain_orch.url, "ca-cert", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(target)
    proc = cli("--url", tls_orch.url, "--ca-file", str(target), "health")
    assert proc.returncode == 0, proc.stderr
    proc = cli("--url", tls_orch.url, "health")
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "orch-bridge: health: TLS: the certificate of %s does not verify against the system "
        "trust store (unable to get local issuer certificate); check the CA file holds "
        "orch's current CA (orch-bridge ca-cert FILE)" % tls_orch.url]


def test_a_ca_file_that_is_a_directory_is_named_as_one(tmp_path):
    # the CA file is looked at before any connection: nothing listens on port 9
    with pytest.raises(OrchAuthError) as caught:
        orch("https://127.0.0.1:9", verify=str(tmp_path)).health()
    assert caught.value.cause == "ca_missing"
    assert str(caught.value) == (
        "TLS: CA file %s is a directory, not a file; give the certificate file in it "
        "(orch-bridge ca-cert %s writes %s/ca.crt)" % (tmp_path, tmp_path, tmp_path))


def test_a_ca_file_without_a_certificate_says_so(tmp_path):
    junk = tmp_path / "ca.crt"
    junk.write_text("not a certificate\n")
    proc = cli("--url", "https://127.0.0.1:9", "--ca-file", str(junk), "health")
    assert proc.stderr.splitlines() == [
        "orch-bridge: health: TLS: CA file %s holds no PEM certificate; install orch's CA "
        "there (orch-bridge ca-cert %s)" % (junk, junk)]
    assert proc.returncode == 1


def test_orch_bridge_ca_cert_into_a_directory_writes_ca_crt(plain_orch, tmp_path):
    for directory, name in ((tmp_path, str(tmp_path)),
                            (tmp_path / "new" / "anchors", "%s/new/anchors/" % tmp_path)):
        proc = cli("--url", plain_orch.url, "ca-cert", name)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str(directory / "ca.crt")
        assert stat.S_IMODE(os.stat(str(directory / "ca.crt")).st_mode) == 0o644
    # a directory it creates is 0755 (a CA certificate is public)
    assert stat.S_IMODE(os.stat(str(tmp_path / "new" / "anchors")).st_mode) == 0o755
