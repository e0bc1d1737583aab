"""The orch client over SPNEGO against a real KDC, and each credential failure.

The orch simulator guards its API as mod_auth_gssapi would
(``require_spnego``); clients get tickets from a keytab through a GSSAPI
credential store.  Every failure must come back as one
:class:`OrchAuthError` line naming the cause and what to check.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time

import pytest

from orch_bridge import Kerberos, OrchAuthError, OrchClient
from orch_bridge.credentials import CredentialProblem, check_keytab
from orch_bridge.keytab import keytab_principals
from tests.doubles.fixtures_orch import FILE_UUID, define_resources
from tests.doubles.orch_sim import OrchSimulator

SERVICE = "HTTP/localhost@KOJI.TEST"


@pytest.fixture
def spnego_orch(tmp_path, kdc):
    sim = define_resources(OrchSimulator(str(tmp_path / "orch.sqlite")))
    sim.require_spnego(kdc).start()
    yield sim
    sim.stop()


@pytest.fixture
def worker_keytab(tmp_path, kdc):
    keytab = tmp_path / "worker.keytab"
    principal = kdc.add_principal("worker/w1", keytab_path=keytab)
    return principal, str(keytab)


def client(sim, kerberos, url=None, **kwargs):
    return OrchClient(url or sim.url, timeout=20, retries=0, backoff=0,
                      kerberos=kerberos, **kwargs)


def auth_error(sim, kerberos, url=None):
    with pytest.raises(OrchAuthError) as caught:
        client(sim, kerberos, url).health()
    return caught.value


def test_a_keytab_client_is_known_to_orch_by_principal_and_leaves_the_default_ccache(
        spnego_orch, worker_keytab, kdc, tmp_path, monkeypatch):
    principal, keytab = worker_keytab
    default_cc = tmp_path / "user-default-ccache"
    monkeypatch.setenv("KRB5CCNAME", "FILE:%s" % default_cc)
    localhost_url = spnego_orch.url.replace("127.0.0.1", "localhost")
    with client(spnego_orch, Kerberos(principal, keytab), url=localhost_url) as orch:
        assert orch.health()["status"] == "healthy"
        path = orch.checkout(FILE_UUID, str(tmp_path / "files")).path
        orch.release(FILE_UUID)
    assert open(path, "rb").read() == b"file-bytes\n"
    answered = [r for r in spnego_orch.requests() if r["status"] != 401]
    assert [r["principal"] for r in answered] == [principal] * 3
    # each call was challenged first, as mod_auth_gssapi does
    assert len(spnego_orch.requests()) == 6
    assert not default_cc.exists()


def test_the_service_override_reaches_orch_behind_another_name(
        spnego_orch, worker_keytab):
    _principal, keytab = worker_keytab
    # the URL names 127.0.0.1; orch's key is HTTP/localhost; the principal
    # comes from the keytab, which holds exactly one
    kerberos = Kerberos(keytab=keytab, service=SERVICE)
    assert client(spnego_orch, kerberos).health()["status"] == "healthy"
    assert kerberos.principal == "worker/w1@KOJI.TEST"


def test_a_ccache_file_setting_keeps_the_tickets_there(spnego_orch, worker_keytab, tmp_path):
    principal, keytab = worker_keytab
    ccache = tmp_path / "orch-cc"
    kerberos = Kerberos(principal, keytab, ccache="FILE:%s" % ccache, service=SERVICE)
    client(spnego_orch, kerberos).health()
    listing = subprocess.run(["klist", "-c", str(ccache)], capture_output=True, text=True)
    assert "HTTP/localhost@KOJI.TEST" in listing.stdout


def test_mutual_authentication_is_required_by_default(kdc, tmp_path, worker_keytab):
    sim = define_resources(OrchSimulator(str(tmp_path / "quiet.sqlite")))
    sim.require_spnego(kdc, mutual_token=False).start()
    try:
        principal, keytab = worker_keytab
        error = auth_error(sim, Kerberos(principal, keytab, service=SERVICE))
        assert error.cause == "mutual_failed"
        assert "did not prove its identity" in str(error)
        relaxed = Kerberos(principal, keytab, service=SERVICE, mutual=False)
        assert client(sim, relaxed).health()["status"] == "healthy"
    finally:
        sim.stop()


def test_without_auth_settings_orch_says_it_wants_kerberos(spnego_orch):
    error = auth_error(spnego_orch, None)
    assert error.cause == "negotiate_needed"
    assert "set [orch] auth = gssapi" in str(error)


# -- each failure: one line, its cause, what to check ---------------------------------

def test_a_missing_keytab(spnego_orch, tmp_path):
    error = auth_error(spnego_orch, Kerberos("worker/w1@KOJI.TEST", str(tmp_path / "nope"),
                                             service=SERVICE))
    assert error.cause == "keytab_missing"
    assert str(error) == ("Kerberos: keytab %s does not exist; check the keytab setting "
                          "and that it was checked out of orch" % (tmp_path / "nope"))
    assert spnego_orch.requests()[0]["status"] == 401


def test_an_unreadable_keytab(worker_keytab):
    principal, keytab = worker_keytab
    os.chmod(keytab, 0)
    # root reads any file: look as nobody, as kojid's own user would
    as_root = os.geteuid() == 0
    if as_root:
        os.seteuid(65534)
    try:
        with pytest.raises(CredentialProblem) as caught:
            check_keytab(keytab, principal)
    finally:
        if as_root:
            os.seteuid(0)
    assert caught.value.cause == "keytab_unreadable"
    assert str(caught.value) == (
        "Kerberos: keytab %s cannot be read (Permission denied); check its owner and "
        "mode (0600, owned by the user kojid runs as)" % keytab)


def test_a_keytab_of_another_principal(spnego_orch, worker_keytab, tmp_path, kdc):
    _principal, keytab = worker_keytab
    error = auth_error(spnego_orch, Kerberos("worker/w2@KOJI.TEST", keytab, service=SERVICE))
    assert error.cause == "wrong_principal"
    assert str(error) == ("Kerberos: keytab %s has no key for worker/w2@KOJI.TEST (it "
                          "holds worker/w1@KOJI.TEST); check the principal setting" % keytab)


def test_a_principal_the_kdc_no_longer_knows(spnego_orch, worker_keytab, kdc):
    principal, keytab = worker_keytab
    kdc.kadmin_local("delprinc", "-force", principal)
    error = auth_error(spnego_orch, Kerberos(principal, keytab, service=SERVICE))
    assert error.cause == "unknown_principal"
    assert str(error).startswith("Kerberos: the KDC does not know worker/w1@KOJI.TEST;")


def test_a_kdc_that_is_down(spnego_orch, worker_keytab, kdc):
    principal, keytab = worker_keytab
    kdc.stop_kdc()
    error = auth_error(spnego_orch, Kerberos(principal, keytab, service=SERVICE))
    assert error.cause == "kdc_down"
    assert str(error) == ("Kerberos: Cannot contact any KDC for realm 'KOJI.TEST'; check "
                          "the KDC runs and is reachable, and krb5.conf [realms] kdc")


def kinit(kdc, principal, keytab, ccache, *args):
    proc = subprocess.run(["kinit", *args, "-k", "-t", keytab, "-c", ccache, principal],
                          env=kdc.subprocess_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_an_expired_ticket_without_a_keytab(spnego_orch, worker_keytab, kdc, tmp_path):
    principal, keytab = worker_keytab
    ccache = str(tmp_path / "short-cc")
    kinit(kdc, principal, keytab, ccache, "-l", "2s")
    deadline = time.monotonic() + 30
    while subprocess.run(["klist", "-s", "-c", ccache]).returncode == 0:
        assert time.monotonic() < deadline, "the 2 s ticket never expired"
        time.sleep(0.5)
    # klist and GSSAPI round the end time differently; let a second pass
    time.sleep(1.5)
    error = auth_error(spnego_orch, Kerberos(principal, None, ccache="FILE:" + ccache,
                                             service=SERVICE, environ={}))
    assert error.cause == "ticket_expired"
    assert str(error) == ("Kerberos: the ticket of worker/w1@KOJI.TEST has expired (ccache "
                          "FILE:%s); renew it (kinit) or configure a keytab" % ccache)


def skew_ccache(path, seconds):
    """Set the KDC time offset a v4 FILE ccache header carries (kdc_timesync).

    MIT's library adopts that offset for every authenticator it makes from
    this cache: the same as a host clock ``seconds`` off, without faketime.
    """
    data = open(path, "rb").read()
    assert data[:2] == b"\x05\x04", "not a version 4 ccache"
    header_len = struct.unpack(">H", data[2:4])[0]
    header = struct.pack(">HHii", 1, 8, seconds, 0)
    with open(path, "wb") as handle:
        handle.write(data[:2] + struct.pack(">H", len(header)) + header
                     + data[4 + header_len:])


def test_clock_skew(spnego_orch, worker_keytab, kdc, tmp_path):
    principal, keytab = worker_keytab
    ccache = str(tmp_path / "skewed-cc")
    kinit(kdc, principal, keytab, ccache)
    skew_ccache(ccache, 3600)
    error = auth_error(spnego_orch, Kerberos(principal, keytab, ccache="FILE:" + ccache,
                                             service=SERVICE))
    assert error.cause == "clock_skew"
    assert str(error) == ("Kerberos: clock skew too great between this host and the KDC; "
                          "check the clock (timedatectl, chronyc tracking)")
    assert "Clock skew too great" in (kdc.base_dir / "kdc.log").read_text()


def test_orch_refusing_the_token_of_a_stale_service_key(spnego_orch, worker_keytab, kdc):
    principal, keytab = worker_keytab
    kdc.kadmin_local("cpw", "-randkey", kdc.service_principal)
    error = auth_error(spnego_orch, Kerberos(principal, keytab, service=SERVICE))
    assert error.cause == "token_refused"
    assert "refused the Kerberos token of worker/w1@KOJI.TEST (401)" in str(error)


def test_an_unknown_service_principal(spnego_orch, worker_keytab):
    principal, keytab = worker_keytab
    error = auth_error(spnego_orch, Kerberos(principal, keytab,
                                             service="HTTP/orch.alias@KOJI.TEST"))
    assert error.cause == "unknown_service"
    assert "no service principal HTTP/orch.alias@KOJI.TEST" in str(error)


def test_keytab_principals_are_read_by_name(kdc, tmp_path):
    keytab = tmp_path / "two.keytab"
    kdc.add_principal("worker/b", keytab_path=keytab)
    kdc.add_principal("worker/a", keytab_path=keytab)
    assert keytab_principals(str(keytab)) == ["worker/b@KOJI.TEST", "worker/a@KOJI.TEST"]
    assert check_keytab(str(keytab), "worker/a@KOJI.TEST") == "worker/a@KOJI.TEST"
    with pytest.raises(Exception, match="holds worker/b@KOJI.TEST, worker/a@KOJI.TEST; set "
                                        "the principal to use"):
        check_keytab(str(keytab))
    (tmp_path / "junk").write_bytes(b"not a keytab")
    with pytest.raises(Exception, match="is not a keytab"):
        check_keytab(str(tmp_path / "junk"))
