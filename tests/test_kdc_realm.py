"""The throwaway MIT realm (tests/doubles/kdc.py) against the real KDC tools."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from tests.doubles.kdc import Realm, RealmError


def kinit(realm, principal, keytab, ccache):
    env = realm.subprocess_env(KRB5CCNAME="FILE:%s" % ccache)
    return subprocess.run(["kinit", "-k", "-t", str(keytab), principal], env=env,
                          capture_output=True, text=True, timeout=60)


def klist(realm, ccache):
    env = realm.subprocess_env(KRB5CCNAME="FILE:%s" % ccache)
    return subprocess.run(["klist"], env=env, capture_output=True, text=True, timeout=60)


def test_a_keytab_from_the_realm_gets_a_ticket(kdc, tmp_path):
    keytab = tmp_path / "alice.keytab"
    principal = kdc.add_principal("alice", keytab_path=keytab)
    assert principal == "alice@KOJI.TEST"
    assert stat.S_IMODE(os.stat(str(keytab)).st_mode) == 0o600

    proc = kinit(kdc, principal, keytab, tmp_path / "cc")
    assert proc.returncode == 0, proc.stderr
    listing = klist(kdc, tmp_path / "cc").stdout
    assert "Default principal: alice@KOJI.TEST" in listing
    assert "krbtgt/KOJI.TEST@KOJI.TEST" in listing


def test_exporting_again_keeps_older_keytabs_valid(kdc, tmp_path):
    first, second = tmp_path / "one.keytab", tmp_path / "two.keytab"
    principal = kdc.add_principal("bob", keytab_path=first)
    kdc.export_keytab(principal, second)
    assert kinit(kdc, principal, first, tmp_path / "cc").returncode == 0


def test_the_kdc_listens_on_loopback_only(kdc):
    port = "%04X" % kdc.kdc_port
    bound = []
    for table in ("/proc/net/udp", "/proc/net/tcp", "/proc/net/udp6", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local = line.split()[1]
                if local.endswith(":" + port):
                    bound.append(local.rsplit(":", 1)[0])
    assert bound and set(bound) == {"0100007F"}, bound


def test_a_stopped_kdc_refuses_then_a_restarted_one_serves(kdc, tmp_path):
    keytab = tmp_path / "carol.keytab"
    principal = kdc.add_principal("carol", keytab_path=keytab)
    kdc.stop_kdc()
    assert not kdc.kdc_running
    proc = kinit(kdc, principal, keytab, tmp_path / "cc")
    assert proc.returncode != 0
    assert "Cannot contact any KDC for realm 'KOJI.TEST'" in proc.stderr

    kdc.start_kdc()
    assert kinit(kdc, principal, keytab, tmp_path / "cc").returncode == 0


def test_an_unknown_principal_gets_no_ticket(kdc, tmp_path):
    keytab = tmp_path / "dave.keytab"
    kdc.add_principal("dave", keytab_path=keytab)
    kdc.kadmin_local("delprinc", "-force", "dave@KOJI.TEST")
    assert not kdc.has_principal("dave")
    proc = kinit(kdc, "dave@KOJI.TEST", keytab, tmp_path / "cc")
    assert proc.returncode != 0
    assert "not found in Kerberos database" in proc.stderr


def test_the_fixture_points_this_process_at_the_realm_and_restores(kdc, tmp_path):
    assert os.environ["KRB5_CONFIG"] == kdc.env["KRB5_CONFIG"]
    other = Realm(tmp_path / "other", name="OTHER.TEST").start()
    try:
        with other.environ():
            assert os.environ["KRB5_CONFIG"] == other.env["KRB5_CONFIG"]
        assert os.environ["KRB5_CONFIG"] == kdc.env["KRB5_CONFIG"]
    finally:
        other.stop()
    assert other.kdc_pid is None


def test_bad_input_is_named(kdc):
    with pytest.raises(RealmError, match="not a principal name: ''"):
        kdc.add_principal("")
    with pytest.raises(RealmError, match="kadmin.local getprinc nobody@KOJI.TEST failed"):
        kdc.kadmin_local("getprinc", "nobody@KOJI.TEST")
    with pytest.raises(RealmError, match="is not started"):
        Realm("/nonexistent").env
