"""A test double of Boxed Koji's orch service (V2 API) on loopback.

It answers the same paths with the same shapes, status codes and error
JSON as orch (``services/orch/app/v2``), from the standard library only:

* ``POST/DELETE /api/v2/resource/<uuid>``: checkout (the file, as an
  attachment) and release; ``GET .../<uuid>/status`` and ``.../validate``
* ``GET /api/v2/status/health`` (also sweeps stopped containers' leases),
  ``/api/v2/status/mappings`` and ``/api/v2/status/<uuid>``
* ``GET /api/v2/ca/certificate``, ``/ca/info``, ``/ca/status``

The caller is the "container" whose IP the request comes from.  A
registry maps IPs to containers; any loopback caller is registered as a
running container ``ctr-<ip>`` on first sight (unless disabled).  Like
orch, which lists only running containers, a stopped container cannot
be identified: its checkout and release get ``500 CONTAINER_CLIENT_ERROR``.
State (resources, containers, holders, history) lives in SQLite (WAL),
so a restarted simulator on the same file keeps its holders.

Faults can be injected (:meth:`OrchSimulator.set_fault`): ``down``,
``hang``, ``slow``, ``http5xx``, ``malformed``, ``hostile_filename`` and
``drop_reply``.

Simulator-only admin paths, for a demo driving it from another process,
live under ``/_sim/`` and are never faulted: ``POST/DELETE/GET
/_sim/faults``, ``GET /_sim/holders``, ``/_sim/history``,
``/_sim/requests``, ``POST /_sim/resources``, ``/_sim/containers``,
``/_sim/sweep`` and ``/_sim/release`` (a forced release).  Real orch has none of these.

Where it differs from orch on purpose: orch maps a checkout from
127.0.0.1 to its own host address (so such a caller could not release);
here every IP stands for itself.  orch gives each container its own
instance of a ``worker`` resource; here every UUID has one holder.

Run it standalone with::

    python -m tests.doubles.orch_sim --db FILE --port N [--resources JSON_FILE]

which prints its URL on the first line of stdout and serves until SIGTERM.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import http.server
import ipaddress
import json
import logging
import re
import signal
import socket
import sqlite3
import string
import struct
import sys
import threading
import time
import unicodedata
import uuid as uuidlib
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple
from urllib.parse import quote, unquote, urlsplit

__all__ = ("OrchSimulator", "FAULT_KINDS", "RESOURCE_TYPES", "main")

logger = logging.getLogger("orch_sim")

API = "/api/v2"
SIM = "/_sim"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
                     re.IGNORECASE)
RESOURCE_TYPES = ("file", "cert", "key", "principal", "worker")
FILE_SUFFIX = {"cert": ".crt", "key": ".key", "principal": ".keytab", "worker": ".keytab"}
FAULT_KINDS = ("down", "hang", "slow", "http5xx", "malformed", "hostile_filename",
               "drop_reply")
CA_DIR = "/mnt/data/ca"
CERTS_DIR = "/mnt/data/certs"
DUMMY_CA_PEM = (
    b"-----BEGIN CERTIFICATE-----\n"
    + base64.encodebytes(b"orch simulator: a placeholder, not a real certificate\n")
    + b"-----END CERTIFICATE-----\n")

#: history actions that end a hold
_ENDS_HOLD = frozenset(("release", "release-forced", "sweep", "reclaim"))

_TOKEN = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


# -- storage ----------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    uuid TEXT PRIMARY KEY, type TEXT NOT NULL, name TEXT NOT NULL,
    description TEXT, content BLOB NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    ip TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
    running INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS checkouts (
    uuid TEXT PRIMARY KEY, container_id TEXT NOT NULL, container_ip TEXT NOT NULL,
    checked_out_at TEXT NOT NULL, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, action TEXT NOT NULL,
    uuid TEXT NOT NULL, container TEXT NOT NULL, ip TEXT NOT NULL);
"""


class _Store:
    """Resources, containers, holders and history in one SQLite file."""

    def __init__(self, path: str) -> None:
        self.lock = threading.RLock()
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA busy_timeout=5000")
        self.journal_mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and one write transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def query(self, sql: str, args: Iterable[Any] = ()) -> List[Dict[str, Any]]:
        with self.lock:
            return [dict(row) for row in self.db.execute(sql, tuple(args))]

    def one(self, sql: str, args: Iterable[Any] = ()) -> Optional[Dict[str, Any]]:
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def put_resource(self, uuid: str, rtype: str, name: str, description: Optional[str],
                     content: bytes) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO resources (uuid, type, name, description, content, created) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(uuid) DO UPDATE SET "
                "type=excluded.type, name=excluded.name, description=excluded.description, "
                "content=excluded.content",
                (uuid, rtype, name, description, content, time.time()))

    def resource(self, uuid: str) -> Optional[Dict[str, Any]]:
        return self.one("SELECT * FROM resources WHERE uuid = ?", (uuid,))

    def container(self, ip: str) -> Optional[Dict[str, Any]]:
        return self.one("SELECT * FROM containers WHERE ip = ?", (ip,))

    def put_container(self, ip: str, name: Optional[str], running: bool) -> Dict[str, Any]:
        cid = hashlib.sha256(("orch-sim container " + ip).encode()).hexdigest()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO containers (ip, id, name, running) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(ip) DO UPDATE SET running=excluded.running, "
                "name=COALESCE(?, containers.name)",
                (ip, cid, name or "ctr-%s" % ip, int(running), name))
        return self.container(ip) or {}

    def holder(self, uuid: str) -> Optional[Dict[str, Any]]:
        return self.one(
            "SELECT c.uuid, c.container_id, c.container_ip, c.checked_out_at, c.since, "
            "k.name AS container, COALESCE(k.running, 0) AS running FROM checkouts c "
            "LEFT JOIN containers k ON k.id = c.container_id WHERE c.uuid = ?", (uuid,))

    def holdings(self) -> List[Dict[str, Any]]:
        return self.query(
            "SELECT c.uuid, c.container_id, c.container_ip, c.checked_out_at, c.since, "
            "k.name AS container, COALESCE(k.running, 0) AS running FROM checkouts c "
            "LEFT JOIN containers k ON k.id = c.container_id ORDER BY c.since")

    def take(self, uuid: str, who: Dict[str, Any]) -> bool:
        """Record a checkout; ``False`` if someone holds ``uuid`` already."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
        with self.transaction() as db:
            if db.execute("SELECT 1 FROM checkouts WHERE uuid = ?", (uuid,)).fetchone():
                return False
            db.execute("INSERT INTO checkouts VALUES (?, ?, ?, ?, ?)",
                       (uuid, who["id"], who["ip"], stamp, now))
            db.execute("INSERT INTO history (time, action, uuid, container, ip) "
                       "VALUES (?, 'checkout', ?, ?, ?)", (now, uuid, who["name"], who["ip"]))
        return True

    def note(self, action: str, uuid: str, container: str, ip: str) -> None:
        """Record an attempt that changed nothing (a refused release)."""
        with self.transaction() as db:
            db.execute("INSERT INTO history (time, action, uuid, container, ip) "
                       "VALUES (?, ?, ?, ?, ?)", (time.time(), action, uuid, container, ip))

    def drop(self, uuid: str, container_id: str, action: str) -> bool:
        """Remove ``container_id``'s hold on ``uuid``, recording ``action``."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT c.container_ip, COALESCE(k.name, c.container_id) FROM checkouts c "
                "LEFT JOIN containers k ON k.id = c.container_id "
                "WHERE c.uuid = ? AND c.container_id = ?", (uuid, container_id)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM checkouts WHERE uuid = ? AND container_id = ?",
                       (uuid, container_id))
            db.execute("INSERT INTO history (time, action, uuid, container, ip) "
                       "VALUES (?, ?, ?, ?, ?)", (time.time(), action, uuid, row[1], row[0]))
        return True


# -- the V2 API, as orch answers it ----------------------------------------------

class _Reply:
    """One answer: status, body, type, extra headers, maybe an attachment name."""

    def __init__(self, status: int, body: bytes = b"",
                 content_type: str = "application/json",
                 headers: Optional[Dict[str, str]] = None,
                 attachment: Optional[str] = None) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = dict(headers or {})
        self.attachment = attachment


def _json_reply(status: int, data: Any) -> _Reply:
    return _Reply(status, (json.dumps(data) + "\n").encode())


def _html_reply(status: int, title: str, text: str,
                headers: Optional[Dict[str, str]] = None) -> _Reply:
    page = ("<!doctype html>\n<html lang=en>\n<title>%d %s</title>\n<h1>%s</h1>\n"
            "<p>%s</p>\n" % (status, title, title, text))
    return _Reply(status, page.encode(), "text/html; charset=utf-8", headers)


def _header_value(value: str) -> str:
    if value and all(ch in _TOKEN for ch in value):
        return value
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def content_disposition(name: str, star: bool = False, fallback: Optional[str] = None) -> str:
    """An attachment header as Werkzeug's ``send_file`` writes it.

    :param name: the file name
    :param star: add ``filename*=UTF-8''...`` even for an ASCII name
    :param fallback: the plain ``filename=`` when ``filename*`` is used
    :returns: the header value
    """
    try:
        name.encode("ascii")
        plain = True
    except UnicodeEncodeError:
        plain = False
    if plain and not star:
        return "attachment; filename=%s" % _header_value(name)
    if fallback is None:
        folded = unicodedata.normalize("NFKD", name)
        fallback = folded.encode("ascii", "ignore").decode("ascii")
    return "attachment; filename=%s; filename*=UTF-8''%s" % (
        _header_value(fallback), quote(name, safe="!#$&+^`|~"))


class _OrchApi:
    """The V2 routes with orch's validation order, messages and shapes."""

    def __init__(self, store: _Store, ca_pem: bytes, auto_register: bool,
                 request_ids: bool) -> None:
        self.store = store
        self.ca_pem = ca_pem
        self.auto_register = auto_register
        self.request_ids = request_ids
        self.routes: List[Tuple[str, "re.Pattern[str]", Any]] = [
            ("POST", re.compile(r"^%s/resource/([^/]+)$" % API), self.checkout),
            ("DELETE", re.compile(r"^%s/resource/([^/]+)$" % API), self.release),
            ("GET", re.compile(r"^%s/resource/([^/]+)/status$" % API), self.resource_status),
            ("GET", re.compile(r"^%s/resource/([^/]+)/validate$" % API), self.validate),
            ("GET", re.compile(r"^%s/status/health$" % API), self.health),
            ("GET", re.compile(r"^%s/status/mappings$" % API), self.mappings),
            ("GET", re.compile(r"^%s/status/([^/]+)$" % API), self.plain_status),
            ("GET", re.compile(r"^%s/ca/certificate$" % API), self.ca_certificate),
            ("GET", re.compile(r"^%s/ca/info$" % API), self.ca_info),
            ("GET", re.compile(r"^%s/ca/status$" % API), self.ca_status),
        ]

    def route(self, method: str, path: str, ip: str) -> _Reply:
        """Answer one request as orch would."""
        path = unquote(path)
        allowed = []
        for verb, pattern, action in self.routes:
            match = pattern.match(path)
            if not match:
                continue
            if verb != method:
                allowed.append(verb)
                continue
            try:
                return action(ip, *match.groups())
            except Exception as exc:  # orch wraps every route the same way
                logger.debug("orch-sim: %s %s failed: %s", method, path, exc)
                return self.error(500, "INTERNAL_ERROR", "Unexpected error")
        if allowed:
            return _html_reply(405, "Method Not Allowed",
                               "The method is not allowed for the requested URL.",
                               {"Allow": ", ".join(sorted(set(allowed + ["OPTIONS"])))})
        return _html_reply(404, "Not Found", "The requested URL was not found on the server.")

    # -- orch's error bodies -------------------------------------------------------

    def error(self, status: int, code: str, message: str,
              details: Optional[Dict[str, Any]] = None) -> _Reply:
        """``{"error": {code, message, details}, request_id, timestamp}``."""
        request_id = uuidlib.uuid4().hex if self.request_ids else None
        return _json_reply(status, {
            "error": {"code": code, "message": message, "details": details or {}},
            "request_id": request_id,
            "timestamp": None,
        })

    def bad_uuid(self, uuid: str) -> _Reply:
        return self.error(400, "VALIDATION_ERROR", "Invalid UUID format",
                          {"field": "uuid", "value": uuid})

    def not_found(self, uuid: str) -> _Reply:
        return self.error(404, "RESOURCE_NOT_FOUND", "resource not found",
                          {"resource_type": "resource", "identifier": uuid})

    def not_identified(self) -> _Reply:
        return self.error(500, "CONTAINER_CLIENT_ERROR",
                          "Container client operation failed: identification",
                          {"operation": "identification",
                           "details": "Unable to identify requesting container"})

    # -- containers --------------------------------------------------------------

    def caller(self, ip: str) -> Optional[Dict[str, Any]]:
        """The running container at ``ip``, registering loopback callers."""
        found = self.store.container(ip)
        if found is None and self.auto_register and _is_loopback(ip):
            found = self.store.put_container(ip, None, True)
        if found is None or not found["running"]:
            return None
        return found

    def container_info(self, container_id: str) -> Optional[Dict[str, Any]]:
        found = self.store.one("SELECT * FROM containers WHERE id = ?", (container_id,))
        if found is None:
            return None
        return {"id": found["id"], "name": found["name"],
                "status": "running" if found["running"] else "exited", "labels": {},
                "networks": {"orch-sim": {"IPAddress": found["ip"]}}}

    def sweep(self) -> int:
        """Release every hold of a container that is not running."""
        swept = 0
        with self.store.lock:
            for held in self.store.holdings():
                if not held["running"]:
                    swept += self.store.drop(held["uuid"], held["container_id"], "sweep")
        return swept

    # -- resources ---------------------------------------------------------------

    def checkout(self, ip: str, uuid: str) -> _Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        with self.store.lock:
            who = self.caller(ip)
            if who is None:
                return self.not_identified()
            resource = self.store.resource(uuid)
            if resource is None:
                return self.not_found(uuid)
            held = self.store.holder(uuid)
            if held is not None:
                if held["running"]:
                    return self.error(409, "RESOURCE_ALREADY_CHECKED_OUT",
                                      "Resource is already checked out to another container",
                                      {"uuid": uuid, "container_id": "unknown"})
                self.store.drop(uuid, held["container_id"], "reclaim")
            if not self.store.take(uuid, who):
                return self.error(500, "INTERNAL_ERROR",
                                  "Checkout failed: Failed to checkout resource in database")
        name = resource["name"] + FILE_SUFFIX.get(resource["type"], "")
        content_type = {"cert": "application/x-x509-ca-cert"}.get(
            resource["type"], "application/octet-stream")
        return _Reply(200, bytes(resource["content"]), content_type, attachment=name)

    def release(self, ip: str, uuid: str) -> _Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        with self.store.lock:
            who = self.caller(ip)
            if who is None:
                known = self.store.container(ip)
                self.store.note("release-refused", uuid, known["name"] if known else ip, ip)
                return self.not_identified()
            if not self.store.drop(uuid, who["id"], "release"):
                self.store.note("release-refused", uuid, who["name"], ip)
                return self.error(400, "VALIDATION_ERROR",
                                  "Resource not checked out to this container",
                                  {"field": "resource", "value": uuid})
        return _json_reply(200, {"message": "Resource released successfully", "uuid": uuid,
                                 "released_at": None})

    def status_object(self, uuid: str) -> Optional[Dict[str, Any]]:
        resource = self.store.resource(uuid)
        if resource is None:
            return None
        held = self.store.holder(uuid)
        status: Dict[str, Any] = {
            "uuid": uuid,
            "resource_type": resource["type"],
            "actual_resource_name": resource["name"],
            "description": resource["description"],
            "checked_out": held is not None,
            "container_id": held["container_id"] if held else None,
            "container_ip": held["container_ip"] if held else None,
            "checked_out_at": held["checked_out_at"] if held else None,
            "scale_index": None,
        }
        if held is not None:
            status["container_info"] = self.container_info(held["container_id"])
            status["container_running"] = bool(held["running"])
        return status

    def resource_status(self, ip: str, uuid: str) -> _Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        status = self.status_object(uuid)
        if status is None:
            return self.not_found(uuid)
        return _json_reply(200, {"status": status, "requested_at": None})

    def plain_status(self, ip: str, uuid: str) -> _Reply:
        status = self.status_object(uuid)
        if status is None:
            return _json_reply(404, {"error": "Resource not found"})
        return _json_reply(200, status)

    def validate(self, ip: str, uuid: str) -> _Reply:
        if not UUID_RE.match(uuid):
            return self.bad_uuid(uuid)
        can, why = self.access(ip, uuid)
        return _json_reply(200, {"can_access": can, "error": None if can else why,
                                 "validated_at": None})

    def access(self, ip: str, uuid: str) -> Tuple[bool, Optional[str]]:
        with self.store.lock:
            if self.store.resource(uuid) is None:
                return False, "Resource not found"
            held = self.store.holder(uuid)
            if held is None:
                return True, None
            who = self.caller(ip)
            if who is None:
                return False, "Unable to identify requesting container"
            if held["container_id"] == who["id"]:
                return True, None
            if held["running"]:
                return False, "Resource checked out to another container"
            return True, None

    # -- service and CA ----------------------------------------------------------

    def mapping_list(self) -> List[Dict[str, Any]]:
        return [{"uuid": row["uuid"], "resource_type": row["type"],
                 "actual_resource_name": row["name"], "description": row["description"]}
                for row in self.store.query(
                    "SELECT uuid, type, name, description FROM resources "
                    "ORDER BY created, rowid")]

    def health(self, ip: str) -> _Reply:
        cleaned = self.sweep()
        return _json_reply(200, {
            "status": "healthy", "service": "orch-service", "version": "2.0.0",
            "database": "connected", "container_client": "connected",
            "mappings_loaded": len(self.mapping_list()), "containers_cleaned": cleaned})

    def mappings(self, ip: str) -> _Reply:
        return _json_reply(200, {"mappings": self.mapping_list()})

    def ca_certificate(self, ip: str) -> _Reply:
        return _Reply(200, self.ca_pem, "application/x-x509-ca-cert", attachment="ca.crt")

    def ca_info(self, ip: str) -> _Reply:
        return _json_reply(200, {"ca_info": {
            "exists": True, "cert_path": CA_DIR + "/ca.crt", "key_path": CA_DIR + "/ca.key",
            "cert_info": "Certificate:\n    (orch simulator CA, %d bytes of PEM)\n"
                         % len(self.ca_pem)}, "requested_at": None})

    def ca_status(self, ip: str) -> _Reply:
        return _json_reply(200, {"ca_exists": True, "ca_directory": CA_DIR,
                                 "certificates_directory": CERTS_DIR, "status": "available",
                                 "checked_at": None})


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


# -- HTTP plumbing ------------------------------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: "OrchSimulator"

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("orch-sim: error serving %s", client_address, exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads a request and hands it to the simulator."""

    protocol_version = "HTTP/1.1"
    server_version = "gunicorn"
    sys_version = ""
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("orch-sim: %s " + format, self.client_address[0], *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = urlsplit(self.path).path
        sim = self.server.sim
        if path == SIM or path.startswith(SIM + "/"):
            self.send(sim._admin(self.command, path, body))
        else:
            sim._serve_api(self, path)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def send(self, reply: _Reply, cut: bool = False,
             disposition: Optional[str] = None) -> None:
        """Write ``reply``; ``cut`` sends half of the body (see ``malformed``)."""
        body = reply.body
        declared = len(body)
        if cut and reply.attachment is not None:
            body = body[:len(body) // 2]
        elif cut:
            body = body[:len(body) // 2] if len(body) > 1 else b"{"
            declared = len(body)
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.attachment is not None:
            self.send_header("Content-Disposition",
                             disposition or content_disposition(reply.attachment))
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(declared))
        if cut or not self.server.sim.keep_alive:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def reset(self) -> None:
        """Answer nothing and reset the connection (RST) when done."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self._reset = True

    def finish(self) -> None:
        super().finish()
        if getattr(self, "_reset", False):
            self.connection.close()


# -- the simulator ------------------------------------------------------------------

class OrchSimulator:
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
    :raises ValueError: when ``host`` is not a loopback address
    """

    def __init__(self, db_path: str, host: str = "127.0.0.1", port: int = 0, *,
                 ca_pem: Optional[bytes] = None, auto_register: bool = True,
                 request_ids: bool = False, keep_alive: bool = False) -> None:
        if not _is_loopback(host):
            raise ValueError("the simulator listens on loopback only, not %r" % host)
        self.db_path = str(db_path)
        self.host = host
        self.port = port
        self.keep_alive = keep_alive
        self._store = _Store(self.db_path)
        self._api = _OrchApi(self._store, ca_pem or DUMMY_CA_PEM, auto_register, request_ids)
        self._server: Optional[_Server] = None
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
        return "http://%s:%d" % (host, self.port)

    @property
    def journal_mode(self) -> str:
        """SQLite's journal mode for the state file (``wal``)."""
        return self._store.journal_mode

    def _open_listener(self) -> None:
        with self._listener_lock:
            if self._server is not None:
                return
            kind = _Server6 if ":" in self.host else _Server
            server = kind((self.host, self.port), _Handler)
            server.sim = self
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
                      running: bool = True) -> Dict[str, Any]:
        """Register a container at ``ip``.

        :param ip: its address
        :param name: its name (default ``ctr-<ip>``)
        :param running: whether it runs
        :returns: the container's record
        """
        return self._store.put_container(ip, name, running)

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

    # -- faults --------------------------------------------------------------------

    def set_fault(self, kind: str, **params: Any) -> None:
        """Inject a fault until :meth:`clear_faults` (or ``count`` uses).

        Kinds and their parameters:

        * ``down`` (``seconds``: come back by itself after that long):
          close the listening socket; clearing rebinds the same port
        * ``hang`` (``seconds``, default 60): accept, never answer
        * ``slow`` (``seconds``, default 1): wait, then answer
        * ``http5xx`` (``status`` 500/502/503, default 503; ``body``: a
          raw non-JSON body instead of orch's error JSON): answer that
          instead of doing the work (any ``status`` works, so a test can
          also send an arbitrary 200 answer)
        * ``malformed``: JSON answers cut to invalid JSON, files cut short
        * ``hostile_filename`` (``name``, default ``../../etc/passwd``;
          ``star``: send it as ``filename*``; ``fallback``: plain name)
        * ``drop_reply``: do the work, then reset the connection

        Every kind but ``down`` takes ``count``: how many requests it
        affects (default: all while set; 1 for ``drop_reply``).

        :param kind: one of :data:`FAULT_KINDS`
        :param params: the kind's parameters
        :raises ValueError: on an unknown kind
        """
        if kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % ", ".join(FAULT_KINDS))
        if kind == "down":
            self._go_down(params.get("seconds"))
            return
        params.setdefault("count", 1 if kind == "drop_reply" else None)
        with self._fault_lock:
            self._faults[kind] = dict(params)

    def _go_down(self, seconds: Optional[float]) -> None:
        with self._fault_lock:
            self._down = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if seconds is not None:
                self._timer = threading.Timer(float(seconds), self._come_back)
                self._timer.daemon = True
                self._timer.start()
        self._close_listener()

    def _come_back(self) -> None:
        with self._fault_lock:
            was_down, self._down = self._down, False
        if was_down:
            self._open_listener()

    def clear_faults(self) -> None:
        """Remove every fault, wake hung requests and listen again if down."""
        with self._fault_lock:
            self._faults.clear()
            self._wake.set()
            self._wake = threading.Event()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._come_back()

    def faults(self) -> Dict[str, Dict[str, Any]]:
        """The active faults and their parameters.

        :returns: kind -> parameters (``down`` included while down)
        """
        with self._fault_lock:
            active = {kind: dict(params) for kind, params in self._faults.items()}
            if self._down:
                active["down"] = {}
        return active

    def _take(self, kind: str) -> Optional[Dict[str, Any]]:
        """The fault's parameters if active, using up one ``count``."""
        with self._fault_lock:
            params = self._faults.get(kind)
            if params is None:
                return None
            if params.get("count") is not None:
                params["count"] -= 1
                if params["count"] <= 0:
                    del self._faults[kind]
            return dict(params)

    def _failure(self, params: Dict[str, Any]) -> _Reply:
        status = int(params.get("status", 503))
        if params.get("body") is not None:
            return _Reply(status, str(params["body"]).encode(), "text/html; charset=utf-8")
        return self._api.error(status, "INTERNAL_ERROR",
                               "Simulated server failure (HTTP %d)" % status)

    def _serve_api(self, handler: _Handler, path: str) -> None:
        """Answer one API request, applying the active faults."""
        entry: Dict[str, Any] = {"time": time.time(), "method": handler.command,
                                 "path": path, "ip": handler.client_address[0],
                                 "port": handler.client_address[1], "status": None,
                                 "fault": None}
        with self._fault_lock:
            self._requests.append(entry)
            wake = self._wake

        hang = self._take("hang")
        if hang is not None:
            entry["fault"] = "hang"
            wake.wait(float(hang.get("seconds", 60)))
            handler.close_connection = True
            return

        slow = self._take("slow")
        if slow is not None:
            entry["fault"] = "slow"
            wake.wait(float(slow.get("seconds", 1)))

        failure = self._take("http5xx")
        if failure is not None:
            entry["fault"] = "http5xx"
            reply = self._failure(failure)
        else:
            reply = self._api.route(handler.command, path, entry["ip"])

        disposition = None
        if reply.attachment is not None and reply.status == 200 and "/resource/" in path:
            hostile = self._take("hostile_filename")
            if hostile is not None:
                entry["fault"] = "hostile_filename"
                disposition = content_disposition(
                    str(hostile.get("name", "../../etc/passwd")), bool(hostile.get("star")),
                    hostile.get("fallback"))

        if self._take("drop_reply") is not None:
            entry["fault"] = "drop_reply"
            handler.reset()
            return

        cut = self._take("malformed") is not None
        if cut:
            entry["fault"] = "malformed"
        entry["status"] = reply.status
        handler.send(reply, cut=cut, disposition=disposition)

    # -- simulator-only admin surface (/_sim/...) ------------------------------------

    def _admin(self, method: str, path: str, body: bytes) -> _Reply:
        """Answer a ``/_sim/`` request; these are never faulted."""
        try:
            data = json.loads(body.decode("utf-8")) if body.strip() else {}
        except ValueError:
            return _json_reply(400, {"error": "the body is not JSON"})
        try:
            return self._admin_route(method, path[len(SIM):].rstrip("/"), data)
        except (KeyError, TypeError, ValueError) as exc:
            return _json_reply(400, {"error": "bad simulator request: %s" % exc})

    def _admin_route(self, method: str, what: str, data: Any) -> _Reply:
        if what == "/faults" and method == "POST":
            params = dict(data)
            self.set_fault(params.pop("kind"), **params)
            return _json_reply(200, {"faults": self.faults()})
        if what == "/faults" and method == "DELETE":
            self.clear_faults()
            return _json_reply(200, {"faults": self.faults()})
        if what == "/faults" and method == "GET":
            return _json_reply(200, {"faults": self.faults()})
        if what == "/holders" and method == "GET":
            return _json_reply(200, {"holders": self.holders()})
        if what == "/history" and method == "GET":
            return _json_reply(200, {"history": self.history()})
        if what == "/requests" and method == "GET":
            return _json_reply(200, {"requests": self.requests()})
        if what == "/resources" and method == "POST":
            items = data if isinstance(data, list) else [data]
            for item in items:
                self.add_resource(**resource_from_json(item))
            return _json_reply(200, {"mappings": self._api.mapping_list()})
        if what == "/containers" and method == "POST":
            record = self.add_container(data["ip"], data.get("name"),
                                        bool(data.get("running", True)))
            return _json_reply(200, {"container": record})
        if what == "/sweep" and method == "POST":
            return _json_reply(200, {"swept": self.sweep()})
        if what == "/release" and method == "POST":
            return _json_reply(200, {"released": self.force_release(str(data["uuid"]))})
        return _json_reply(404, {"error": "no simulator path %s %s%s" % (method, SIM, what)})


def resource_from_json(item: Dict[str, Any]) -> Dict[str, Any]:
    """Keyword arguments for :meth:`OrchSimulator.add_resource` from JSON.

    :param item: ``{"uuid", "name", "type"?, "description"?, "content"?
        (text) or "content_b64"?}``
    :returns: the keyword arguments
    :raises KeyError: when ``uuid`` or ``name`` is missing
    """
    content: Optional[bytes] = None
    if item.get("content_b64") is not None:
        content = base64.b64decode(item["content_b64"])
    elif item.get("content") is not None:
        content = str(item["content"]).encode()
    return {"uuid": str(item["uuid"]), "name": str(item["name"]), "content": content,
            "type": str(item.get("type", "file")), "description": item.get("description")}


# -- command line -------------------------------------------------------------------

def main(argv: Optional[List[str]] = None) -> int:
    """Serve a simulator until SIGTERM or SIGINT.

    :param argv: the arguments (default: ``sys.argv[1:]``)
    :returns: the exit status
    """
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.orch_sim",
                                     description="Simulate orch's V2 API on loopback.")
    parser.add_argument("--db", required=True, help="SQLite state file")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free one)")
    parser.add_argument("--resources", metavar="JSON_FILE",
                        help="a JSON list of resources to define")
    parser.add_argument("--ca-pem", metavar="FILE", help="CA certificate to serve")
    parser.add_argument("--no-auto-register", action="store_true",
                        help="do not register unknown loopback callers as containers")
    parser.add_argument("--request-ids", action="store_true",
                        help="put request ids in error bodies")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

    ca_pem = None
    if args.ca_pem:
        with open(args.ca_pem, "rb") as handle:
            ca_pem = handle.read()
    sim = OrchSimulator(args.db, args.host, args.port, ca_pem=ca_pem,
                        auto_register=not args.no_auto_register,
                        request_ids=args.request_ids)
    if args.resources:
        with open(args.resources, encoding="utf-8") as handle:
            for item in json.load(handle):
                sim.add_resource(**resource_from_json(item))

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    sim.start()
    print(sim.url, flush=True)
    while not stopping.wait(0.5):
        pass
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
