"""Pytest fixtures around a real MIT KDC (:mod:`tests.doubles.kdc`).

Registered in tests/conftest.py, so every test module can ask for them:

- ``kdc``: a started :class:`~tests.doubles.kdc.Realm` (``KOJI.TEST``) in
  the test's ``tmp_path``, one per test: it starts in about half a second
  (database, acceptor keytab, krb5kdc), so tests never share principals,
  keytabs or a stopped KDC.  For the test's duration ``os.environ`` points
  at the realm (KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5RCACHEDIR, KRB5CCNAME),
  for the simulators' acceptors running in the pytest process; the old
  values are put back after it.  The KDC is stopped by its pid.
- ``kerberos_hub``: a HubSimulator accepting GSSAPI logins in that realm
  (https, ``hub.serverca``), with the admin user ``kojiadmin`` whose
  principal is ``kojiadmin@KOJI.TEST`` (keytab: ``kerberos_hub.admin_keytab``)
  and password ``kojiadmin-pw``.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from tests.doubles.hub_sim import HubSimulator
from tests.doubles.kdc import Realm

ADMIN = ("kojiadmin", "kojiadmin-pw")


@pytest.fixture
def kdc(tmp_path: Any) -> Iterator[Realm]:
    """A started throwaway realm; os.environ points at it during the test."""
    realm = Realm(tmp_path / "kdc").start()
    try:
        with realm.environ():
            yield realm
    finally:
        realm.stop()


@pytest.fixture
def kerberos_hub(tmp_path: Any, kdc: Realm) -> Iterator[HubSimulator]:
    """A started https hub simulator that accepts GSSAPI logins in ``kdc``."""
    hub = HubSimulator(tmp_path / "krb-hub.sqlite", tmp_path / "krb-hub-topdir",
                       kerberos=kdc)
    keytab = tmp_path / "kojiadmin.keytab"
    principal = kdc.add_principal(ADMIN[0], keytab_path=keytab)
    hub.add_user(ADMIN[0], ADMIN[1], perms=("admin",), krb_principal=principal)
    hub.admin_keytab = str(keytab)
    hub.admin_principal = principal
    hub.start()
    yield hub
    hub.stop()
