"""How :class:`~orch_bridge.OrchClient` talks HTTP to orch.

A timeout on every call, bounded retries with jittered exponential
backoff on connection errors, timeouts and 5xx answers, transport
failures and failed answers turned into typed errors, and size limits on
what is read.

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
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import requests
from requests.adapters import HTTPAdapter

from .addresses import BIND_ERRNOS, bind_problem, family_mismatch, parse_url
from .answers import error_from_answer, excerpt
from .ca import ca_file_problem
from .credentials import CredentialProblem, classify, from_tls_error
from .errors import (OrchAuthError, OrchError, OrchProtocolError, OrchUnavailable,
                     error_chain, printable)

__all__ = ("Transport", "SourceAddressAdapter", "Timeout")

logger = logging.getLogger("orch_bridge")

CHUNK = 64 * 1024
#: most bytes read from an error answer
ERROR_BODY_LIMIT = 64 * 1024
#: most bytes read from a JSON answer or the CA certificate
BODY_LIMIT = 8 * 1024 * 1024

Timeout = Union[float, Tuple[float, float]]


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


class Transport:
    """Sessions, requests, retries and errors for :class:`~orch_bridge.OrchClient`.

    The parameters are :class:`~orch_bridge.OrchClient`'s.
    """

    #: how the client waits between attempts (tests replace it)
    _sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(self, url: str, timeout: Timeout = 10.0, retries: int = 3,
                 backoff: float = 0.5, backoff_max: float = 8.0,
                 source_address: Optional[str] = None, auth: Any = None,
                 verify: Union[bool, str] = True,
                 session_factory: Optional[Callable[[], requests.Session]] = None,
                 kerberos: Any = None) -> None:
        checked = parse_url(url)
        self.url = checked.base
        #: the URL as shown in messages (without any user:password@)
        self.display_url = checked.display

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
            self._check_source(source_address, checked.host)
        self.source_address = source_address
        if auth is not None and kerberos is not None:
            raise ValueError("give either auth or kerberos, not both")
        self._auth = auth
        if verify is False or not (verify is True or isinstance(verify, str) and verify):
            raise ValueError("TLS verification cannot be turned off: give True (the system "
                             "trust store) or the path of orch's CA file, not %r" % (verify,))
        self._verify = verify
        #: a CA file every https call is verified against (None: system store)
        self.ca_file: Optional[str] = verify if isinstance(verify, str) else None
        #: Kerberos settings (:class:`~orch_bridge.spnego.Kerberos`), or None
        self.kerberos = kerberos
        self._session_factory = session_factory

        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._session: Optional[requests.Session] = None
        #: sessions inherited from a parent process: kept, never used
        self._inherited: List[requests.Session] = []

    def _check_source(self, source: str, host: str) -> None:
        try:
            ipaddress.ip_address(source)
        except ValueError:
            raise ValueError("source address %s is not an IP address"
                             % printable(repr(source), 80)) from None
        mismatch = family_mismatch(source, host)
        if mismatch:
            raise ValueError("cannot send from %s to orch at %s: %s"
                             % (source, self.display_url, mismatch))

    # -- the session -----------------------------------------------------------

    def _new_session(self) -> requests.Session:
        if self._session_factory is not None:
            session = self._session_factory()
        else:
            session = requests.Session()
            session.trust_env = False
        if self._auth is not None:
            session.auth = self._auth
        elif self.kerberos is not None:
            session.auth = self.kerberos.auth()
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
        causes = list(error_chain(exc))
        retry = True
        local = self._source_problem(causes)
        if local:
            return OrchUnavailable(local, uuid=uuid, operation=operation, method=method,
                                   path=path), False
        problem = self._credential_problem(exc)
        if problem is not None:
            return OrchAuthError(problem, uuid=uuid, operation=operation, method=method,
                                 path=path), False
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

    def _source_problem(self, causes: List[BaseException]) -> Optional[str]:
        """Why no connection could leave from the source address, if that is why.

        Both are local failures, found before any packet is sent, so they
        are never retried.
        """
        source = self.source_address
        if not source:
            return None
        errnos = {getattr(c, "errno", None) for c in causes if isinstance(c, OSError)}
        if socket.EAI_FAMILY in errnos:
            return ("cannot send from %s to orch at %s: its host has no IPv%d address "
                    "(the source and orch's address are of different families)"
                    % (source, self.display_url, ipaddress.ip_address(source).version))
        if errnos & set(BIND_ERRNOS):
            why = bind_problem(source)
            if why:
                return "cannot send from %s: %s" % (source, why)
        return None

    def _credential_problem(self, exc: BaseException) -> Optional[CredentialProblem]:
        """The Kerberos or TLS cause of a failed request, if it is one."""
        if isinstance(exc, requests.exceptions.SSLError):
            return from_tls_error(exc, self.display_url, self.ca_file)
        kerberos = self.kerberos
        auth = self.session.auth
        if getattr(auth, "problem", None) is not None:
            return auth.problem
        if type(exc).__name__ == "MutualAuthenticationError":
            return CredentialProblem(
                "mutual_failed", "orch at %s did not prove its identity (mutual "
                "authentication failed); check the service setting names orch's own "
                "principal" % self.display_url)
        return classify(exc, principal=getattr(kerberos, "principal", None),
                        url=self.display_url, ca_file=self.ca_file)

    def _refused_401(self, response: requests.Response) -> CredentialProblem:
        """Why orch answered 401, as far as this side can tell."""
        auth = self.session.auth
        if getattr(auth, "problem", None) is not None:
            return auth.problem
        offers = response.headers.get("WWW-Authenticate", "")
        if self.kerberos is None:
            if "negotiate" in offers.lower():
                return CredentialProblem(
                    "negotiate_needed", "orch at %s asks for Kerberos (401 Negotiate); "
                    "set [orch] auth = gssapi with the worker's principal and keytab"
                    % self.display_url)
            return CredentialProblem(
                "token_refused", "orch at %s refused the call (401, offers %r); check "
                "orch's authentication settings" % (self.display_url, offers or "nothing"))
        return CredentialProblem(
            "token_refused", "orch at %s refused the Kerberos token of %s (401); check "
            "orch's service keytab is current and that orch accepts this principal"
            % (self.display_url, self.kerberos.principal or "the default principal"))

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
        return error_from_answer(status, response.reason, body, method, path, operation,
                                 uuid, attempts)

    def _request(self, method: str, path: str, operation: str,
                 uuid: Optional[str] = None) -> requests.Response:
        """Send one call, retrying as configured; return a 2xx answer.

        The answer is streamed: the caller reads and closes it.
        """
        attempts = self.retries + 1
        url = self.url + path
        if self.ca_file and url.startswith("https:"):
            problem = ca_file_problem(self.ca_file)
            if problem is not None:
                raise OrchAuthError(problem, uuid=uuid, operation=operation, method=method,
                                    path=path)
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
            offers = response.headers.get("WWW-Authenticate", "").lower()
            if status == 401 and (self.kerberos is not None or "negotiate" in offers):
                problem = self._refused_401(response)
                response.close()
                raise OrchAuthError(problem, status=401, uuid=uuid, operation=operation,
                                    method=method, path=path, attempts=attempt)
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
                                   % (status, excerpt(body)),
                                   method, path, operation, uuid, status) from None
        if not isinstance(data, dict):
            raise self._bad_answer("answered %d with JSON that is not an object" % status,
                                   method, path, operation, uuid, status)
        if field is not None and not isinstance(data.get(field), kind):
            raise self._bad_answer("answered %d without a %r %s" % (
                status, field, kind.__name__), method, path, operation, uuid, status)
        return data
