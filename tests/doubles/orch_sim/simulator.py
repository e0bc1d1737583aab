"""The orch simulator itself: :class:`OrchSimulator`.

It ties together the SQLite state, the V2 API, the HTTP listener, fault
injection (:mod:`.faults`) and the ``/_sim/`` admin paths (:mod:`.admin`),
and offers the Python API tests use to set up and inspect the world.
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import threading
from typing import Any, Dict, Iterable, List, Optional

from .admin import AdminSurface
from .api import OrchApi, is_loopback
from .faults import FaultInjection
from .server import Handler, Server, Server6
from .store import Store
from .worker_keytabs import WorkerKeytabs

logger = logging.getLogger("orch_sim")

RESOURCE_TYPES = ("file", "cert", "key", "principal", "worker")
DUMMY_CA_PEM = (
    b"-----BEGIN CERTIFICATE-----\n"
    + base64.encodebytes(b"orch simulator: a placeholder, not a real certificate\n")
    + b"-----END CERTIFICATE-----\n")

#: history actions that end a hold
_ENDS_HOLD = frozenset(("release", "release-forced", "sweep", "reclaim"))


class OrchSimulator(FaultInjection, AdminSurface):
    """orch's V2 API on loopback, with fault injection.

    :param db_path: the SQLite file holding the state (reused if present)
    :param host: a loopback address to listen on
    :param port: the port (0: any free one)
    :param ca_pem: the CA certificate to serve (default: a placeholder PEM)
    :param auto_register: register unknown loopback callers as running
        containers named ``ctr-<ip>``
    :param request_ids: put a request id in error bodies (orch sends null)
    :param keep_alive: keep connections open between requests (orch,
        under gunicorn's sync workers, closes each one)
    :param tls: a :class:`tests.doubles.tls_ca.TestCA`: serve https with a
        certificate it signs (for ``localhost`` and ``host``), and serve its
        CA certificate at ``/api/v2/ca/certificate`` unless ``ca_pem`` is given
    :raises ValueError: when ``host`` is not a loopback address
    """

    def __init__(self, db_path: str, host: str = "127.0.0.1", port: int = 0, *,
                 ca_pem: Optional[bytes] = None, auto_register: bool = True,
                 request_ids: bool = False, keep_alive: bool = False,
                 tls: Optional[Any] = None) -> None:
        if not is_loopback(host):
            raise ValueError("the simulator listens on loopback only, not %r" % host)
        self.db_path = str(db_path)
        self.host = host
        self.port = port
        self.keep_alive = keep_alive
        self._store = Store(self.db_path)
        self._ssl_context: Optional[ssl.SSLContext] = None
        if tls is not None:
            cert, key = tls.server_cert("orch-%d" % os.getpid(), hosts=("localhost", host))
            self._ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl_context.load_cert_chain(cert, key)
            if ca_pem is None:
                with open(tls.cert, "rb") as handle:
                    ca_pem = handle.read()
        #: the SPNEGO acceptor when :meth:`require_spnego` is on, else None
        self.spnego: Optional[Any] = None
        self.spnego_mutual = True
        self._api = OrchApi(self._store, ca_pem or DUMMY_CA_PEM, auto_register, request_ids)
        self._server: Optional[Server] = None
        self._listener_lock = threading.Lock()
        self._fault_lock = threading.Lock()
        self._faults: Dict[str, Dict[str, Any]] = {}
        self._down = False
        self._timer: Optional[threading.Timer] = None
        self._wake = threading.Event()
        self._requests: List[Dict[str, Any]] = []

    # -- running -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        host = "[%s]" % self.host if ":" in self.host else self.host
        scheme = "https" if self._ssl_context is not None else "http"
        return "%s://%s:%d" % (scheme, host, self.port)

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode for the state file (``wal``)."""
        return self._store.journal_mode

    def _open_listener(self) -> None:
        with self._listener_lock:
            if self._server is not None:
                return
            kind = Server6 if ":" in self.host else Server
            server = kind((self.host, self.port), Handler)
            server.sim = self
            server.ssl_context = self._ssl_context
            self.port = server.server_address[1]
            self._server = server
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                             name="orch-sim-%d" % self.port, daemon=True).start()

    def _close_listener(self) -> None:
        with self._listener_lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    def start(self) -> OrchSimulator:
        """Start serving in a background thread.

        :returns: the simulator
        """
        self._open_listener()
        logger.info("orch-sim: serving %s (state in %s)", self.url, self.db_path)
        return self

    def stop(self) -> None:
        """Stop serving, wake any hung requests and close the state file."""
        with self._fault_lock:
            self._faults.clear()
            self._wake.set()
            if self._timer is not None:
                self._timer.cancel()
        self._close_listener()
        self._store.close()

    def __enter__(self) -> OrchSimulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # -- the world ---------------------------------------------------------------

    def add_resource(self, uuid: str, name: str, content: Optional[bytes] = None,
                     type: str = "file", description: Optional[str] = None) -> None:
        """Define (or redefine) a resource.

        :param uuid: its UUID
        :param name: orch's ``actual_resource_name``; the file is named
            after it (``.crt``, ``.key``, ``.keytab`` by type)
        :param content: the file's bytes (default: a line naming it)
        :param type: ``file``, ``cert``, ``key``, ``principal`` or ``worker``
        :param description: orch's description
        :raises ValueError: on an unknown type
        """
        if type not in RESOURCE_TYPES:
            raise ValueError("resource type must be one of %s" % ", ".join(RESOURCE_TYPES))
        if content is None:
            content = ("simulated %s %s\n" % (type, name)).encode()
        elif isinstance(content, str):
            content = content.encode()
        self._store.put_resource(uuid, type, name, description, bytes(content))

    def add_container(self, ip: str, name: Optional[str] = None,
                      running: bool = True, scale_index: Optional[int] = None,
                      service: Optional[str] = None) -> Dict[str, Any]:
        """Register a container at ``ip``.

        :param ip: its address
        :param name: its name (default ``ctr-<ip>``)
        :param running: whether it runs
        :param scale_index: its compose scale index (worker keytabs; default 0)
        :param service: its compose service label (worker keytabs; default:
            the worker resource's name)
        :returns: the container's record
        """
        self._store.put_container(ip, name, running)
        if scale_index is not None or service is not None:
            self._store.put_scale(ip, service, scale_index)
        return self._store.container(ip) or {}

    def use_kerberos(self, realm: Any, hub: Any, arches: str = "x86_64") -> "OrchSimulator":
        """Serve ``worker`` resources as Boxed Koji's orch does, in ``realm``.

        Each container checking a worker UUID out gets its own principal
        ``worker/<service>-<scale index>@REALM`` (made with kadmin.local),
        its keytab as the attachment, and a koji host of that name on
        ``hub`` (``koji add-host --krb-principal``, run as
        ``orch/orch@REALM``).  Several containers hold one worker UUID at
        once, each its own instance.  See :mod:`.worker_keytabs`.

        :param realm: a started :class:`tests.doubles.kdc.Realm`
        :param hub: a HubSimulator started with ``kerberos=realm``
        :param arches: the arches of the hosts it adds
        :returns: the simulator
        """
        workdir = os.path.splitext(self.db_path)[0] + "-data"
        self._api.worker_keytabs = WorkerKeytabs(realm, hub, workdir, arches)
        return self

    def require_spnego(self, realm: Any, mutual_token: bool = True) -> "OrchSimulator":
        """Answer API calls only with a valid Kerberos token, as mod_auth_gssapi.

        Without ``Authorization: Negotiate <token>`` (or with a bad one)
        the answer is 401 with ``WWW-Authenticate: Negotiate``; with a
        good one the call goes on (callers are still known by source
        address), every answer carries the mutual-authentication token,
        and :meth:`requests` records the principal.  The acceptor key is
        ``HTTP/localhost`` from ``realm.service_keytab``.

        :param realm: a started :class:`tests.doubles.kdc.Realm`
        :param mutual_token: send the mutual-authentication token (False: a
            server that cannot prove its identity)
        :returns: the simulator
        """
        from ..hub_sim.spnego import Acceptor
        self.spnego = Acceptor(realm.service_keytab)
        self.spnego_mutual = mutual_token
        return self

    def set_container_running(self, ip: str, running: bool) -> None:
        """Start or stop the container at ``ip`` (registering it if new).

        A stopped container's holds are swept by ``health`` and
        :meth:`sweep`, and it can no longer check out or release.

        :param ip: its address
        :param running: whether it runs
        """
        self._store.put_container(ip, None, running)

    def sweep(self) -> int:
        """Release the holds of stopped containers, as orch's cleanup does.

        :returns: how many were released
        """
        return self._api.sweep()

    def holders(self) -> List[Dict[str, Any]]:
        """Who holds what now, oldest checkout first.

        :returns: ``{"uuid", "container", "container_id", "ip",
            "checked_out_at", "since", "running"}`` records
        """
        return [{"uuid": row["uuid"], "container": row["container"] or row["container_id"],
                 "container_id": row["container_id"], "ip": row["container_ip"],
                 "checked_out_at": row["checked_out_at"], "since": row["since"],
                 "running": bool(row["running"])}
                for row in self._store.holdings()]

    def holder(self, uuid: str) -> Optional[Dict[str, Any]]:
        """The record of whoever holds ``uuid`` (see :meth:`holders`), or None.

        :param uuid: the resource
        :returns: the holder's record or ``None``
        """
        for record in self.holders():
            if record["uuid"] == uuid:
                return record
        return None

    def force_release(self, uuid: str) -> bool:
        """Release ``uuid`` behind its holder's back (as an operator might).

        :param uuid: the resource
        :returns: whether it was held
        """
        held = self._store.holder(uuid)
        if held is None:
            return False
        return self._store.drop(uuid, held["container_id"], "release-forced")

    def history(self) -> List[Dict[str, Any]]:
        """Every checkout and release, oldest first.

        :returns: ``{"seq", "time", "action", "uuid", "container", "ip"}``
            records; ``action`` is ``checkout``, ``release``,
            ``release-refused`` (a release orch refused: nothing changed),
            ``release-forced`` (:meth:`force_release`), ``sweep`` (a stopped
            holder's lease removed) or ``reclaim`` (a stopped holder's
            lease removed for another container's checkout).  Refused
            checkouts are not recorded.
        """
        return self._store.query("SELECT * FROM history ORDER BY seq")

    def max_concurrent(self, uuids: Iterable[str]) -> int:
        """The most of ``uuids`` ever held at the same time.

        :param uuids: the resources of a pool
        :returns: the highest number of simultaneous holders
        """
        wanted = set(uuids)
        held: set = set()
        most = 0
        for event in self.history():
            if event["uuid"] not in wanted:
                continue
            if event["action"] == "checkout":
                held.add(event["uuid"])
            elif event["action"] in _ENDS_HOLD:
                held.discard(event["uuid"])
            most = max(most, len(held))
        return most

    def requests(self, method: Optional[str] = None,
                 path: Optional[str] = None) -> List[Dict[str, Any]]:
        """API requests seen (not ``/_sim/`` ones), oldest first.

        :param method: only this method
        :param path: only this path
        :returns: ``{"time", "method", "path", "ip", "port", "status",
            "fault"}`` records (``status`` is None when nothing was answered)
        """
        with self._fault_lock:
            seen = list(self._requests)
        return [dict(r) for r in seen
                if (method is None or r["method"] == method)
                and (path is None or r["path"] == path)]

    def request_count(self, method: Optional[str] = None, path: Optional[str] = None) -> int:
        """How many API requests reached the simulator.

        :param method: only this method
        :param path: only this path
        :returns: the count
        """
        return len(self.requests(method, path))
