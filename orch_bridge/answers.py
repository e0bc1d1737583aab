"""Reading orch's answers: attachment names and error bodies.

orch names a checked-out file in ``Content-Disposition`` (as Werkzeug's
``send_file`` writes it) and describes a failure as
``{"error": {code, message, details}, request_id, timestamp}``; this
module turns the first into a file name and any failed answer into the
matching :class:`~orch_bridge.errors.OrchError`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional
from urllib.parse import unquote

from .errors import (OrchConflict, OrchError, OrchNotFound, OrchServerError,
                     OrchValidationError, printable)

__all__ = ("filename_from_disposition", "excerpt", "error_from_answer")

_TAGS = re.compile(r"<[^>]*>")


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


def excerpt(body: bytes) -> str:
    """The start of an answer's body as one printable line, without HTML tags."""
    text = body.decode("utf-8", "replace")
    return printable(_TAGS.sub(" ", text), 200)


def error_from_answer(status: int, reason: Optional[str], body: bytes, method: str,
                      path: str, operation: str, uuid: Optional[str],
                      attempts: int) -> OrchError:
    """The error for a failed (4xx or 5xx) answer.

    :param status: the HTTP status
    :param reason: the HTTP reason phrase
    :param body: (the start of) the answer's body
    :param method: the request's method
    :param path: the request's path
    :param operation: what the call was for, as shown in messages
    :param uuid: the resource concerned, if any
    :param attempts: how many attempts were made
    :returns: the :class:`OrchError` subclass for ``status``
    """
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
        answered = "answered %d %s" % (status, reason or "")
        if data is not None:
            message = "%s without an error message" % answered.strip()
        elif body.strip():
            message = "%s with a non-JSON body: %s" % (answered.strip(), excerpt(body))
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
