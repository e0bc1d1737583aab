"""HubSimulator: the object tests start, stop and configure.

    sim = HubSimulator(db_path, topdir).start()
    sim.add_user('admin', 'secret', perms=('admin',))
    host_id = sim.add_host('builder1', arches='x86_64')
    session = koji.ClientSession(sim.url)
    ...
    sim.stop()

Several simulators (in this or other processes) given the same
``db_path`` serve one hub.  Keyword options beyond the address are
:class:`~.context.HubOptions` fields (e.g. ``soft_refusal_timeout``).

Kerberos: ``HubSimulator(db, topdir, kerberos=realm)`` (a
:class:`tests.doubles.kdc.Realm`) accepts koji's ``gssapi_login`` at
``/kojihub/ssllogin`` with the realm's acceptor keytab
(``HTTP/localhost@REALM``).  koji switches to https for that login, so
such a hub serves https (a :class:`~tests.doubles.tls_ca.TestCA` made
beside the database unless ``tls=`` gives one) at
``https://localhost:PORT/kojihub``; clients pass :attr:`serverca` as
koji's ``serverca`` option.  Password logins keep working.  Map users and
hosts to principals with ``add_user(..., krb_principal=)`` and
``add_host(..., krb_principal=)`` or the ``addHost`` call.
"""

from __future__ import annotations

import os
import ssl

from ..tls_ca import TestCA
from . import db
from .admin import AdminHelpers
from .context import HubOptions
from .dispatch import Dispatcher
from .outages import OutagePlan
from .server import ServerThread, check_loopback
from .spnego import Acceptor


class HubSimulator(AdminHelpers):
    """A koji hub double serving XML-RPC on a loopback port."""

    def __init__(self, db_path, topdir, host='127.0.0.1', port=0,
                 kerberos=None, tls=None, **hub_options):
        check_loopback(host)
        db_path = os.fspath(db_path)
        topdir = os.fspath(topdir)
        os.makedirs(topdir, exist_ok=True)
        opts = HubOptions(topdir=topdir, **hub_options)
        super().__init__(db_path, opts)
        db.init_db(db_path)
        self.topdir = topdir
        self.kerberos = kerberos
        self.dispatcher = Dispatcher(db_path, opts)
        if kerberos is not None and tls is None:
            tls = TestCA(os.path.splitext(db_path)[0] + '-tls')
        context = self._ssl_context(tls, host) if tls is not None else None
        acceptor = Acceptor(kerberos.service_keytab) if kerberos else None
        self._server = ServerThread(self.dispatcher, host, port,
                                    ssl_context=context, acceptor=acceptor)
        self.outages = OutagePlan(self._server.stop, self._server.start)
        self._server.outages = self.outages

    def _ssl_context(self, ca: TestCA, host: str) -> ssl.SSLContext:
        cert, key = ca.server_cert('hub', hosts=('localhost', host))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.serverca = ca.cert
        return context

    #: the CA file clients verify an https hub with (None: plain http)
    serverca = None

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        """The hub URL clients use (``http://127.0.0.1:N/kojihub``).

        An https hub answers as ``https://localhost:N/kojihub``: the name
        its certificate and its Kerberos service principal carry.
        """
        if self.serverca:
            return 'https://localhost:%d/kojihub' % self.port
        return 'http://%s:%d/kojihub' % (self.host, self.port)

    @property
    def running(self) -> bool:
        return self._server.running

    def start(self) -> 'HubSimulator':
        """Listen and serve in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop listening (the database is kept); outages are disarmed."""
        self.outages.clear(come_back=False)
        self._server.stop()

    def set_down(self, down: bool) -> None:
        """Stop (True) or resume (False) listening on the same port."""
        if down:
            self.stop()
        else:
            self.start()

    def down_at(self, method: str, seconds: float) -> None:
        """Die when the next ``method`` call arrives (it gets no answer);
        listen again ``seconds`` later (see :mod:`.outages`)."""
        self.outages.arm(method, seconds)

    def down_for(self, seconds: float) -> None:
        """Stop listening now and come back after ``seconds``."""
        self.outages.down_for(seconds)

    def __enter__(self) -> 'HubSimulator':
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
