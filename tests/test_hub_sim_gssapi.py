"""The hub simulator accepts koji's own GSSAPI login against a real KDC.

Clients are koji.ClientSession.gssapi_login (in this process; the fixture
points its Kerberos library at the realm) and the stock ``koji`` CLI.
"""

from __future__ import annotations

import os
import subprocess

import koji
import pytest
import requests

from tests.doubles.fixtures_hub import koji_cli_path
from tests.doubles.hub_sim import HubSimulator

# how koji reports a login Apache's mod_auth_gssapi (here: the simulator) refused
UNAUTHORIZED = r"gssapi auth failed: .*401 Client Error: Unauthorized for url: .*/kojihub/ssllogin"
# gssapi_login tries max_retries times: 0 would never try at all
OPTS = {"max_retries": 1, "retry_interval": 0.1, "timeout": 30}


def session_for(hub, **opts):
    return koji.ClientSession(hub.url, dict(OPTS, serverca=hub.serverca, **opts))


def keytab_for(kdc, tmp_path, name):
    keytab = tmp_path / (name.replace("/", "_") + ".keytab")
    return kdc.add_principal(name, keytab_path=keytab), str(keytab)


def gssapi(hub, principal, keytab):
    session = session_for(hub)
    session.gssapi_login(principal=principal, keytab=keytab)
    return session


def test_a_host_logs_in_with_its_keytab_and_is_that_host(kdc, kerberos_hub, tmp_path):
    principal, keytab = keytab_for(kdc, tmp_path, "worker/builder-1")
    host_id = kerberos_hub.add_host("builder-1", krb_principal=principal)

    session = gssapi(kerberos_hub, principal, keytab)
    me = session.getLoggedInUser()
    assert (me["name"], me["authtype"]) == ("builder-1", koji.AUTHTYPES["GSSAPI"])
    assert me["krb_principal"] == principal
    session.exclusiveSession()
    assert session.host.getID() == host_id
    assert session.getUser(principal)["name"] == "builder-1"


def test_an_unmapped_principal_becomes_a_user_as_login_creates_user(
        kdc, kerberos_hub, tmp_path):
    principal, keytab = keytab_for(kdc, tmp_path, "newcomer")
    session = gssapi(kerberos_hub, principal, keytab)
    me = session.getLoggedInUser()
    assert (me["name"], me["usertype"]) == ("newcomer", koji.USERTYPES["NORMAL"])
    assert me["krb_principals"] == [principal]


def test_an_unmapped_principal_is_an_unknown_user_without_login_creates_user(
        kdc, tmp_path):
    hub = HubSimulator(tmp_path / "h.sqlite", tmp_path / "top", kerberos=kdc,
                       login_creates_user=False).start()
    try:
        principal, keytab = keytab_for(kdc, tmp_path, "stranger")
        with pytest.raises(koji.GSSAPIAuthError,
                           match="Unknown user: stranger@KOJI.TEST"):
            gssapi(hub, principal, keytab)
    finally:
        hub.stop()


def test_a_plain_user_principal_logs_in_but_is_not_a_host(kdc, kerberos_hub, tmp_path):
    principal, keytab = keytab_for(kdc, tmp_path, "worker/impostor")
    user_id = kerberos_hub.add_user("impostor", None, krb_principal=principal)
    session = gssapi(kerberos_hub, principal, keytab)
    session.exclusiveSession()
    with pytest.raises(koji.AuthError, match="User %d is not a host" % user_id):
        session.host.updateHost(0.0, True)


def test_a_keytab_of_another_principal_fails_in_the_client(kdc, kerberos_hub, tmp_path):
    principal, _keytab = keytab_for(kdc, tmp_path, "worker/right")
    _other, other_keytab = keytab_for(kdc, tmp_path, "worker/wrong")
    kerberos_hub.add_host("right", krb_principal=principal)
    with pytest.raises(koji.GSSAPIAuthError, match="gssapi auth failed"):
        gssapi(kerberos_hub, principal, other_keytab)
    assert not kerberos_hub.call_log(method="sslLogin")


def test_a_principal_deleted_from_the_kdc_cannot_log_in(kdc, kerberos_hub, tmp_path):
    principal, keytab = keytab_for(kdc, tmp_path, "worker/gone")
    kerberos_hub.add_host("gone", krb_principal=principal)
    kdc.kadmin_local("delprinc", "-force", principal)
    # requests-gssapi only logs the KDC's answer; koji reports the 401
    with pytest.raises(koji.GSSAPIAuthError, match=UNAUTHORIZED):
        gssapi(kerberos_hub, principal, keytab)
    assert not kerberos_hub.call_log(method="sslLogin")


def test_a_token_for_a_stale_service_key_is_refused_with_401(kdc, kerberos_hub, tmp_path):
    principal, keytab = keytab_for(kdc, tmp_path, "worker/late")
    # the hub's keytab now holds an old key of HTTP/localhost
    kdc.kadmin_local("cpw", "-randkey", kdc.service_principal)
    with pytest.raises(koji.GSSAPIAuthError, match=UNAUTHORIZED):
        gssapi(kerberos_hub, principal, keytab)
    assert not kerberos_hub.call_log(method="sslLogin")


def test_a_kdc_that_is_down_fails_the_login(kdc, kerberos_hub, tmp_path):
    principal, keytab = keytab_for(kdc, tmp_path, "worker/offline")
    kdc.stop_kdc()
    with pytest.raises(koji.GSSAPIAuthError, match=UNAUTHORIZED):
        gssapi(kerberos_hub, principal, keytab)
    assert not kerberos_hub.call_log(method="sslLogin")


def test_ssllogin_without_a_token_gets_the_negotiate_challenge(kerberos_hub):
    body = koji.xmlrpcplus.dumps((), "sslLogin").encode()
    reply = requests.post(kerberos_hub.url + "/ssllogin", data=body,
                          verify=kerberos_hub.serverca, timeout=30)
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == "Negotiate"


def test_sslLogin_on_the_unguarded_path_finds_no_principal(kerberos_hub):
    body = koji.xmlrpcplus.dumps((), "sslLogin").encode()
    reply = requests.post(kerberos_hub.url, data=body, verify=kerberos_hub.serverca,
                          timeout=30)
    with pytest.raises(koji.xmlrpcplus.Fault, match="could not verify client: None"):
        koji.xmlrpcplus.loads(reply.content)


def test_password_logins_keep_working_on_a_kerberos_hub(kerberos_hub):
    session = session_for(kerberos_hub, user="kojiadmin", password="kojiadmin-pw")
    session.login()
    assert session.getLoggedInUser()["authtype"] == koji.AUTHTYPES["NORMAL"]


def koji_kerberos(kdc, hub, tmp_path, *args):
    """The stock koji CLI configured for Kerberos with the admin's keytab."""
    conf = tmp_path / "koji.conf"
    conf.write_text("[koji]\nserver = %s\nserverca = %s\nauthtype = kerberos\n"
                    "principal = %s\nkeytab = %s\n" % (
                        hub.url, hub.serverca, hub.admin_principal, hub.admin_keytab))
    env = kdc.subprocess_env(HOME=str(tmp_path), KRB5CCNAME="FILE:%s" % (tmp_path / "cli-cc"))
    return subprocess.run([koji_cli_path(), "-c", str(conf), *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_koji_cli_logs_in_with_a_user_keytab(kdc, kerberos_hub, tmp_path):
    hello = koji_kerberos(kdc, kerberos_hub, tmp_path, "hello")
    assert hello.returncode == 0, hello.stderr
    assert "kojiadmin" in hello.stdout
    assert "Authenticated via GSSAPI" in hello.stdout

    added = koji_kerberos(kdc, kerberos_hub, tmp_path, "add-host",
                          "--krb-principal", "worker/cli-1@KOJI.TEST", "cli-1", "x86_64")
    assert added.returncode == 0, added.stderr
    hosts = koji_kerberos(kdc, kerberos_hub, tmp_path, "list-hosts")
    assert hosts.returncode == 0, hosts.stderr
    assert "cli-1" in hosts.stdout
    assert kerberos_hub.get_host("cli-1") is not None
    user = session_for(kerberos_hub).getUser("worker/cli-1@KOJI.TEST")
    assert user["name"] == "cli-1"
    assert os.environ["KRB5_CONFIG"] == kdc.env["KRB5_CONFIG"]
