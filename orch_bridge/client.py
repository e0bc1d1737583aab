"""A client for the orch service's V2 API.

orch hands out secrets (keytabs, certificates, keys) by UUID, one holder
at a time, and identifies the holder by the source IP of the request.
:class:`OrchClient` wraps its HTTP API with a timeout on every call,
bounded retries with jittered exponential backoff, typed errors, and
safe, atomic writes of checked-out files.

Each process gets its own pooled :class:`requests.Session`: a forked
child notices the pid change and builds a fresh one, leaving the
parent's pooled connections alone.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import logging
import os
import random
import re
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple, Union
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from . import files
from .errors import (OrchConflict, OrchError, OrchNotFound, OrchProtocolError,
                     OrchServerError, OrchUnavailable, OrchValidationError, printable)

__all__ = ("OrchClient", "CheckoutResult", "SourceAddressAdapter", "filename_from_disposition")

logger = logging.getLogger("orch_bridge")

API = "/api/v2"
UUID_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
PEM_MARK = b"-----BEGIN CERTIFICATE-----"
CHUNK = 64 * 1024
#: most bytes read from an error answer
ERROR_BODY_LIMIT = 64 * 1024
#: most bytes read from a JSON answer or the CA certificate
BODY_LIMIT = 8 * 1024 * 1024

Timeout = Union[float, Tuple[float, float]]

_TAGS = re.compile(r"<[^>]*>")


class CheckoutResult(NamedTuple):
    """A file checked out of orch.

    :param uuid: the resource's UUID
    :param path: where the file was written
    :param name: the file name used
    """

    uuid: str
    path: str
    name: str


class SourceAddressAdapter(HTTPAdapter):
    """An HTTP adapter whose connections leave from a fixed local IP.

    orch identifies a caller by its source address, so binding it lets
    one host act as several containers (on loopback, in tests).

    :param source_ip: the local IP address to bind
    """

    def __init__(self, source_ip: str, **kwargs: Any) -> None:
        self.source_ip = source_ip
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        """Create the pool manager, binding ``source_ip`` on every connection."""
        pool_kwargs["source_address"] = (self.source_ip, 0)
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)


def _parameters(value: str) -> Dict[str, str]:
    """Split a ``Content-Disposition`` value into its parameters."""
    items: List[str] = []
    current: List[str] = []
    quoted = escaped = False
    for ch in value:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            items.append("".join(current))
            current = []
            continue
        current.append(ch)
    items.append("".join(current))

    params: Dict[str, str] = {}
    for item in items[1:]:
        key, sep, raw = item.partition("=")
        if not sep:
            continue
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params.setdefault(key.strip().lower(), raw)
    return params


def filename_from_disposition(value: str) -> Optional[str]:
    """The file name in a ``Content-Disposition`` header value.

    ``filename*=UTF-8''...`` (RFC 6266/5987) wins over ``filename=``.
    The name is returned as sent; checking it is the caller's job.

    :param value: the header value
    :returns: the file name, or ``None`` when there is none
    """
    params = _parameters(value)
    extended = params.get("filename*")
    if extended is not None:
        charset, sep, rest = extended.partition("'")
        _language, sep2, encoded = rest.partition("'")
        if sep and sep2:
            try:
                return unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                pass
    return params.get("filename")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps (cause, context, reason, args)."""
    seen = set()
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(x for x in (item.__cause__, item.__context__, getattr(item, "reason", None))
                    if isinstance(x, BaseException))
        todo.extend(x for x in item.args if isinstance(x, BaseException))


def _excerpt(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    return printable(_TAGS.sub(" ", text), 200)


class OrchClient:
    """Talk to orch's V2 API.

    :param url: orch's base URL, e.g. ``http://orch.koji.box:5000``
    :param timeout: seconds to wait to connect and for each read; a
        ``(connect, read)`` pair sets them apart
    :param retries: how many times to retry after the first attempt, on
        connection errors, timeouts and 5xx answers (never on 4xx)
    :param backoff: the first retry waits up to this many seconds; each
        later one up to twice as long (full jitter)
    :param backoff_max: the longest wait between attempts
    :param source_address: a local IP address to send from
    :param auth: a :mod:`requests` auth object or ``(user, password)``
    :param verify: TLS verification, as for :mod:`requests`
    :param session_factory: builds the :class:`requests.Session` (default:
        a plain one that ignores proxy and netrc settings from the
        environment)
    :raises ValueError: on a bad URL, timeout or source address
    """

    #: how the client waits between attempts (tests replace it)
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, url: str, timeout: Timeout = 10.0, retries: int = 3,
                 backoff: float = 0.5, backoff_max: float = 8.0,
                 source_address: Optional[str] = None, auth: Any = None,
                 verify: Union[bool, str] = True,
                 session_factory: Optional[Callable[[], requests.Session]] = None) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("orch URL must be http:// or https:// with a host: %r" % url)
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
        port = ":%d" % parts.port if parts.port else ""
        #: the URL as shown in messages (without any user:password@)
        self.display_url = "%s://%s%s%s" % (parts.scheme, host, port, parts.path.rstrip("/"))

        if isinstance(timeout, (tuple, list)):
            self.timeout = (float(timeout[0]), float(timeout[1]))
        else:
            self.timeout = (float(timeout), float(timeout))
        if min(self.timeout) <= 0:
            raise ValueError("timeout must be positive: %r" % (timeout,))
        if retries < 0:
            raise ValueError("retries must not be negative: %r" % retries)
        self.retries = int(retries)
        self.backoff = max(float(backoff), 0.0)
        self.backoff_max = max(float(backoff_max), 0.0)
        if source_address is not None:
            ipaddress.ip_address(source_address)
        self.source_address = source_address
        self._auth = auth
        self._verify = verify
        self._session_factory = session_factory

        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._session: Optional[requests.Session] = None
        #: sessions inherited from a parent process: kept, never used
        self._inherited: List[requests.Session] = []

    # -- the session -----------------------------------------------------------

    def _new_session(self) -> requests.Session:
        if self._session_factory is not None:
            session = self._session_factory()
        else:
            session = requests.Session()
            session.trust_env = False
        if self._auth is not None:
            session.auth = self._auth
        session.verify = self._verify
        if self.source_address:
            session.mount("http://", SourceAddressAdapter(self.source_address))
            session.mount("https://", SourceAddressAdapter(self.source_address))
        session.headers["User-Agent"] = "orch-bridge"
        return session

    @property
    def session(self) -> requests.Session:
        """This process's session, made on first use (again after a fork)."""
        pid = os.getpid()
        if self._pid != pid:
            # A forked child: the parent's lock may be held and its pool
            # is the parent's.  Keep a reference, so nothing here ever
            # closes it, and start afresh.
            self._lock = threading.Lock()
            if self._session is not None:
                self._inherited.append(self._session)
            self._session = None
            self._pid = pid
            logger.debug("orch client: new session for forked process %d", pid)
        session = self._session
        if session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._new_session()
                session = self._session
        return session

    def close(self) -> None:
        """Close this process's session (a parent's is only dropped)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            session.close()

    def __enter__(self) -> OrchClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- requests, retries and errors ------------------------------------------

    def _pause(self, attempt: int, attempts: int, method: str, path: str,
               reason: str) -> None:
        ceiling = min(self.backoff_max, self.backoff * (2 ** (attempt - 1)))
        delay = random.uniform(0.0, ceiling) if ceiling > 0 else 0.0
        logger.warning("orch %s %s: attempt %d of %d failed (%s); retrying in %.2fs",
                       method, path, attempt, attempts, reason, delay)
        self._sleep(delay)

    def _transport_error(self, exc: requests.RequestException, method: str, path: str,
                         operation: str, uuid: Optional[str]) -> Tuple[OrchError, bool]:
        """Turn a requests exception into an error and say if it is retryable."""
        where = "orch at %s" % self.display_url
        causes = list(_causes(exc))
        retry = True
        if isinstance(exc, requests.exceptions.SSLError):
            text = "TLS with %s failed: %s" % (where, printable(exc, 160))
            retry = False
        elif isinstance(exc, requests.exceptions.ConnectTimeout):
            text = "%s did not accept a connection within %gs" % (where, self.timeout[0])
        elif isinstance(exc, requests.exceptions.Timeout) or any(
                isinstance(c, socket.timeout) for c in causes):
            text = "%s did not answer within %gs" % (where, self.timeout[1])
        elif any(isinstance(c, ConnectionRefusedError) for c in causes):
            text = "%s refused the connection" % where
        elif any(isinstance(c, (ConnectionResetError, ConnectionAbortedError,
                                http.client.RemoteDisconnected, BrokenPipeError))
                 for c in causes):
            text = "%s dropped the connection before answering" % where
        elif isinstance(exc, requests.exceptions.ConnectionError):
            text = "could not reach %s: %s" % (where, printable(exc, 160))
        else:
            text = "request to %s failed: %s" % (where, printable(exc, 160))
            retry = False
        error = OrchUnavailable(text, uuid=uuid, operation=operation, method=method,
                                path=path)
        return error, retry

    def _read(self, response: requests.Response, limit: int) -> bytes:
        """Read an answer's body, at most ``limit`` bytes."""
        chunks: List[bytes] = []
        size = 0
        for chunk in response.iter_content(CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
        return b"".join(chunks)[:limit]

    def _http_error(self, response: requests.Response, method: str, path: str,
                    operation: str, uuid: Optional[str], attempts: int) -> OrchError:
        status = response.status_code
        try:
            body = self._read(response, ERROR_BODY_LIMIT)
        except requests.RequestException:
            body = b""
        code = request_id = None
        details: Dict[str, Any] = {}
        message = None
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            data = None
        if isinstance(data, dict):
            error = data.get("error")
            if isinstance(error, dict):
                code = error.get("code")
                message = error.get("message")
                details = error.get("details") if isinstance(error.get("details"), dict) else {}
            elif isinstance(error, str):
                message = error
            if data.get("request_id") is not None:
                request_id = str(data.get("request_id"))
        if not message:
            answered = "answered %d %s" % (status, response.reason or "")
            if data is not None:
                message = "%s without an error message" % answered.strip()
            elif body.strip():
                message = "%s with a non-JSON body: %s" % (answered.strip(), _excerpt(body))
            else:
                message = "%s with an empty body" % answered.strip()

        if status == 400:
            kind: type = OrchValidationError
        elif status == 404:
            kind = OrchNotFound
        elif status == 409:
            kind = OrchConflict
        elif status >= 500:
            kind = OrchServerError
        else:
            kind = OrchError
        err = kind(str(message), status=status, code=str(code) if code else None,
                   details=details, request_id=request_id, uuid=uuid, operation=operation,
                   method=method, path=path, attempts=attempts)
        if kind is OrchError:
            err.verb = "orch refused"
        return err

    def _request(self, method: str, path: str, operation: str,
                 uuid: Optional[str] = None) -> requests.Response:
        """Send one call, retrying as configured; return a 2xx answer.

        The answer is streamed: the caller reads and closes it.
        """
        attempts = self.retries + 1
        url = self.url + path
        for attempt in range(1, attempts + 1):
            try:
                response = self.session.request(method, url, timeout=self.timeout,
                                                stream=True, allow_redirects=False)
            except requests.RequestException as exc:
                error, retry = self._transport_error(exc, method, path, operation, uuid)
                if retry and attempt < attempts:
                    self._pause(attempt, attempts, method, path, error.message)
                    continue
                error.attempts = attempt
                raise error from None

            status = response.status_code
            if status >= 400:
                error = self._http_error(response, method, path, operation, uuid, attempt)
                response.close()
                if status >= 500 and attempt < attempts:
                    self._pause(attempt, attempts, method, path, error.reason)
                    continue
                raise error
            if status >= 300:
                where = response.headers.get("Location", "?")
                response.close()
                raise OrchProtocolError(
                    "answered %d, redirecting to %s; point the client at that URL"
                    % (status, printable(where, 120)), status=status, uuid=uuid,
                    operation=operation, method=method, path=path, attempts=attempt)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _bad_answer(self, text: str, method: str, path: str, operation: str,
                    uuid: Optional[str], status: Optional[int] = None) -> OrchProtocolError:
        return OrchProtocolError(text, status=status, uuid=uuid, operation=operation,
                                 method=method, path=path)

    def _body(self, response: requests.Response, method: str, path: str,
              operation: str, uuid: Optional[str]) -> bytes:
        try:
            return self._read(response, BODY_LIMIT)
        except requests.exceptions.ChunkedEncodingError:
            raise self._bad_answer("the answer was cut short", method, path, operation,
                                   uuid, response.status_code) from None
        except requests.RequestException as exc:
            error, _retry = self._transport_error(exc, method, path, operation, uuid)
            raise error from None
        finally:
            response.close()

    def _get_json(self, method: str, path: str, operation: str, uuid: Optional[str] = None,
                  field: Optional[str] = None, kind: type = dict) -> Dict[str, Any]:
        """Call, parse a JSON object and check ``field`` has type ``kind``."""
        response = self._request(method, path, operation, uuid)
        status = response.status_code
        body = self._body(response, method, path, operation, uuid)
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            raise self._bad_answer("answered %d with a body that is not JSON: %s"
                                   % (status, _excerpt(body)),
                                   method, path, operation, uuid, status) from None
        if not isinstance(data, dict):
            raise self._bad_answer("answered %d with JSON that is not an object" % status,
                                   method, path, operation, uuid, status)
        if field is not None and not isinstance(data.get(field), kind):
            raise self._bad_answer("answered %d without a %r %s" % (
                status, field, kind.__name__), method, path, operation, uuid, status)
        return data

    @staticmethod
    def _resource_path(uuid: str, suffix: str = "") -> str:
        if not isinstance(uuid, str) or not UUID_PATTERN.match(uuid):
            raise ValueError("not a UUID: %s" % printable(repr(uuid), 80))
        return "%s/resource/%s%s" % (API, quote(uuid, safe=""), suffix)

    # -- resources -------------------------------------------------------------

    def _file_chunks(self, response: requests.Response, method: str, path: str,
                     uuid: str) -> Iterator[bytes]:
        """Yield the checked-out file, checking it arrives whole."""
        expected = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity") != "identity"
        received = 0
        try:
            for chunk in response.iter_content(CHUNK):
                received += len(chunk)
                yield chunk
        except requests.exceptions.ChunkedEncodingError:
            raise self._bad_answer("the file was cut short after %d bytes" % received,
                                   method, path, "checkout", uuid, 200) from None
        except requests.RequestException as exc:
            error, _retry = self._transport_error(exc, method, path, "checkout", uuid)
            raise error from None
        if expected and expected.isdigit() and not encoded and int(expected) != received:
            raise self._bad_answer("the file was cut short: %d of %s bytes"
                                   % (received, expected), method, path, "checkout", uuid, 200)

    def checkout(self, uuid: str, directory: str,
                 filename: Optional[str] = None) -> CheckoutResult:
        """Check a resource out and write its file into ``directory``.

        The file is named as orch says (``Content-Disposition``) unless
        ``filename`` is given; either way the name must be a plain file
        name.  It is written atomically with mode 0600; ``directory`` is
        created 0700 if missing.  A 409 may mean this very container
        already holds it (for instance after a lost reply); ``validate``
        tells.

        :param uuid: the resource's UUID
        :param directory: where to write the file
        :param filename: a file name to use instead of orch's
        :returns: the UUID, the file's path and name
        :raises ValueError: when ``uuid`` is not a UUID
        :raises UnsafeResourceName: when the name could escape
            ``directory``; nothing is written (if orch supplied it, the
            resource stays checked out)
        :raises OrchConflict: when the resource is already checked out
        :raises OrchError: on any other failure
        :raises OSError: when the file cannot be written
        """
        method, path = "POST", self._resource_path(uuid)
        if filename is not None:
            files.safe_target(directory, filename, from_server=False, uuid=uuid,
                              operation="checkout")

        response = self._request(method, path, "checkout", uuid)
        try:
            name = filename
            if name is None:
                header = response.headers.get("Content-Disposition")
                name = filename_from_disposition(header) if header else None
                if name is None:
                    raise self._bad_answer("the answer names no file (Content-Disposition); "
                                           "pass a file name", method, path, "checkout",
                                           uuid, response.status_code)
            target = files.safe_target(directory, name, from_server=filename is None,
                                       uuid=uuid, operation="checkout")
            files.ensure_directory(directory)
            size = files.write_atomic(target, self._file_chunks(response, method, path, uuid),
                                      mode=0o600)
        finally:
            response.close()

        logger.info("orch: checked out %s to %s (%d bytes)", uuid, target, size)
        return CheckoutResult(uuid, target, name)

    def release(self, uuid: str) -> Dict[str, Any]:
        """Give a resource back.

        :param uuid: the resource's UUID
        :returns: orch's answer (``message``, ``uuid``, ``released_at``)
        :raises ValueError: when ``uuid`` is not a UUID
        :raises OrchValidationError: with ``not_checked_out`` set when this
            container does not hold it
        :raises OrchError: on any other failure
        """
        data = self._get_json("DELETE", self._resource_path(uuid), "release", uuid)
        logger.info("orch: released %s", uuid)
        return data

    def status(self, uuid: str) -> Dict[str, Any]:
        """A resource's checkout status.

        :param uuid: the resource's UUID
        :returns: orch's ``status`` object (``checked_out``,
            ``container_id``, ``container_ip``, ...)
        :raises ValueError: when ``uuid`` is not a UUID
        :raises OrchNotFound: when orch has no such resource
        :raises OrchError: on any other failure
        """
        data = self._get_json("GET", self._resource_path(uuid, "/status"), "status", uuid,
                              field="status")
        return data["status"]

    def validate(self, uuid: str) -> Dict[str, Any]:
        """Whether this container may use a resource (free or held by it).

        :param uuid: the resource's UUID
        :returns: ``{"can_access": bool, "error": str or None, ...}``
        :raises ValueError: when ``uuid`` is not a UUID
        :raises OrchError: on failure
        """
        return self._get_json("GET", self._resource_path(uuid, "/validate"), "validate",
                              uuid, field="can_access", kind=bool)

    # -- service and CA --------------------------------------------------------

    def health(self) -> Dict[str, Any]:
        """orch's health (asking it also sweeps stopped containers' leases).

        :returns: orch's health object
        :raises OrchError: on failure, including an unhealthy orch (500)
        """
        return self._get_json("GET", API + "/status/health", "health check", field="status",
                              kind=str)

    def mappings(self) -> Dict[str, Any]:
        """Every resource orch knows.

        :returns: ``{"mappings": [{"uuid", "resource_type", ...}, ...]}``
        :raises OrchError: on failure
        """
        return self._get_json("GET", API + "/status/mappings", "mappings", field="mappings",
                              kind=list)

    def ca_certificate(self) -> bytes:
        """orch's CA certificate, PEM encoded.

        :returns: the PEM bytes
        :raises OrchProtocolError: when the answer is not a PEM certificate
        :raises OrchError: on any other failure
        """
        method, path = "GET", API + "/ca/certificate"
        response = self._request(method, path, "CA certificate")
        status = response.status_code
        body = self._body(response, method, path, "CA certificate", None)
        if PEM_MARK not in body:
            raise self._bad_answer("answered %d with something that is not a PEM certificate"
                                   % status, method, path, "CA certificate", None, status)
        return body

    def ca_info(self) -> Dict[str, Any]:
        """Information about orch's CA certificate.

        :returns: orch's ``ca_info`` object (``exists``, ``cert_info``, ...)
        :raises OrchNotFound: when orch has no CA yet
        :raises OrchError: on any other failure
        """
        data = self._get_json("GET", API + "/ca/info", "CA info", field="ca_info")
        return data["ca_info"]

    def ca_status(self) -> Dict[str, Any]:
        """Whether orch's CA exists.

        :returns: orch's answer (``ca_exists``, ``status``, ...)
        :raises OrchError: on failure
        """
        return self._get_json("GET", API + "/ca/status", "CA status", field="ca_exists",
                              kind=bool)
