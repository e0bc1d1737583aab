"""A client for the orch service's V2 API.

orch hands out secrets (keytabs, certificates, keys) by UUID, one holder
at a time, and identifies the holder by the source IP of the request.
:class:`OrchClient` wraps its HTTP API with a timeout on every call,
bounded retries with jittered exponential backoff, typed errors, and
safe, atomic writes of checked-out files.

The HTTP side (a session per process, retries, errors) is in
:mod:`orch_bridge.transport`; reading orch's answers (file names, error
bodies) in :mod:`orch_bridge.answers`.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Dict, Iterator, NamedTuple, Optional
from urllib.parse import quote

import requests

from . import files
from .answers import filename_from_disposition
from .errors import printable
from .transport import CHUNK, SourceAddressAdapter, Transport

__all__ = ("OrchClient", "CheckoutResult", "SourceAddressAdapter", "filename_from_disposition")

logger = logging.getLogger("orch_bridge")

API = "/api/v2"
UUID_PATTERN = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
PEM_MARK = b"-----BEGIN CERTIFICATE-----"


class CheckoutResult(NamedTuple):
    """A file checked out of orch.

    :param uuid: the resource's UUID
    :param path: where the file was written
    :param name: the file name used
    """

    uuid: str
    path: str
    name: str


class OrchClient(Transport):
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

    def __enter__(self) -> OrchClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

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

        An error raised after orch granted the checkout (a bad or cut
        answer, an unsafe name from orch, a file that cannot be written)
        leaves the resource checked out and carries its UUID in a
        ``lease_held`` attribute: the caller releases it or keeps it
        (``orch_resources`` keeps it in its journal and releases it
        later; ``orch-bridge checkout`` releases it at once).
        """
        method, path = "POST", self._resource_path(uuid)
        if filename is not None:
            files.safe_target(directory, filename, from_server=False, uuid=uuid,
                              operation="checkout")

        response = self._request(method, path, "checkout", uuid)
        try:
            return self._write_checkout(response, uuid, directory, filename)
        except Exception as error:
            # orch granted it: the caller decides whether to give it back
            error.lease_held = uuid  # type: ignore[attr-defined]
            raise
        finally:
            response.close()

    def _write_checkout(self, response: requests.Response, uuid: str, directory: str,
                        filename: Optional[str]) -> CheckoutResult:
        """Write the file of a checkout orch granted."""
        method, path = "POST", self._resource_path(uuid)
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
