"""Typed errors for talking to the orch service.

Every failure the client can meet is an :class:`OrchError`; the subclass
says what kind of failure it was, so a caller can decide whether to
retry, give up, or treat the resource as gone.  ``str()`` of each is one
line a person can act on, built only from printable characters, since
parts of it come from the server.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Optional

__all__ = (
    "OrchError",
    "OrchValidationError",
    "OrchNotFound",
    "OrchConflict",
    "OrchServerError",
    "OrchUnavailable",
    "OrchProtocolError",
    "OrchAuthError",
    "UnsafeResourceName",
    "printable",
)

_SPACES = re.compile(r"\s+")


def printable(text: Any, limit: int = 200) -> str:
    """Make ``text`` safe to show on one line of a terminal or log.

    Whitespace runs become one space, other control characters become
    ``?`` and the result is cut to ``limit`` characters.

    :param text: any value; it is converted with ``str()``
    :param limit: the most characters to keep (an ellipsis marks a cut)
    :returns: a single printable line
    """
    text = _SPACES.sub(" ", str(text)).strip()
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    if len(text) > limit:
        text = text[:max(limit - 1, 0)] + "\u2026"
    return text


class OrchError(Exception):
    """Base of every orch failure.

    :param message: what went wrong, in orch's words where it gave some
    :param status: the HTTP status, or ``None`` when there was no answer
    :param code: orch's error code, e.g. ``RESOURCE_ALREADY_CHECKED_OUT``
    :param details: orch's ``details`` object
    :param request_id: orch's ``request_id``, when it sent one
    :param uuid: the resource the call was about
    :param operation: the client call, e.g. ``checkout``
    :param method: the HTTP method used
    :param path: the URL path asked for
    :param attempts: how many times the request was tried
    """

    #: how the head of the message describes orch's part
    verb = "orch failed"

    def __init__(self, message: str, *, status: Optional[int] = None,
                 code: Optional[str] = None, details: Optional[Dict[str, Any]] = None,
                 request_id: Optional[str] = None, uuid: Optional[str] = None,
                 operation: Optional[str] = None, method: Optional[str] = None,
                 path: Optional[str] = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details if details is not None else {}
        self.request_id = request_id
        self.uuid = uuid
        self.operation = operation
        self.method = method
        self.path = path
        self.attempts = attempts

    def _tags(self) -> List[str]:
        tags = []
        if self.status is not None:
            tags.append("%s %s" % (self.status, self.code) if self.code else str(self.status))
        if self.request_id:
            tags.append("request %s" % self.request_id)
        if self.attempts > 1:
            tags.append("after %d attempts" % self.attempts)
        return tags

    def _text(self) -> str:
        tags = self._tags()
        if tags:
            return "%s (%s)" % (self.message, ", ".join(tags))
        return self.message

    @property
    def reason(self) -> str:
        """The failure without naming the call: ``orch refused: ... (409 ...)``."""
        return printable("%s: %s" % (self.verb, self._text()), 400)

    def __str__(self) -> str:
        if self.operation:
            target = " of %s" % self.uuid if self.uuid else ""
            head = "%s %s%s" % (self.verb, self.operation, target)
            return printable("%s: %s" % (head, self._text()), 400)
        return printable(self._text(), 400)

    @property
    def caller_not_identified(self) -> bool:
        """True when orch could not tell which container was asking.

        The real orch answers that case with ``500 CONTAINER_CLIENT_ERROR``
        (it also covers a stopped container), or ``400 CONTAINER_NOT_FOUND``.
        """
        if self.code == "CONTAINER_NOT_FOUND":
            return True
        blob = "%s %s" % (self.message, self.details)
        return "unable to identify" in blob.lower()


class OrchValidationError(OrchError):
    """orch answered 400: the request was refused as invalid.

    This includes "Resource not checked out to this container" on a
    release by a container that does not hold the resource.
    """

    verb = "orch refused"

    @property
    def not_checked_out(self) -> bool:
        """True when orch says the resource is not checked out to us."""
        return "not checked out to this container" in self.message.lower()


class OrchNotFound(OrchError):
    """orch answered 404: no such resource."""

    verb = "orch refused"


class OrchConflict(OrchError):
    """orch answered 409: the resource is already checked out.

    The real orch also says so when the asking container is the holder,
    e.g. after a checkout whose reply was lost.
    """

    verb = "orch refused"


class OrchServerError(OrchError):
    """orch answered 5xx."""

    verb = "orch failed"


class OrchUnavailable(OrchError):
    """No HTTP answer at all: refused, timed out or reset."""

    verb = "orch unavailable"

    def _tags(self) -> List[str]:
        tags = []
        if self.method and self.path:
            tags.append("%s %s" % (self.method, self.path))
        if self.attempts > 1:
            tags.append("after %d attempts" % self.attempts)
        return tags

    @property
    def reason(self) -> str:
        """The failure, which already names orch's address."""
        return printable(self._text(), 400)

    def __str__(self) -> str:
        return self.reason


class OrchProtocolError(OrchError):
    """orch answered, but not with what the API promises."""

    verb = "orch sent a bad answer to"

    @property
    def reason(self) -> str:
        """The failure without naming the call."""
        return printable("orch sent a bad answer: %s" % self._text(), 400)


class OrchAuthError(OrchError):
    """Kerberos or TLS kept the call from being made or accepted.

    :param problem: the :class:`~orch_bridge.credentials.CredentialProblem`
        (its ``cause`` and one-line ``message``)
    """

    verb = "orch credentials"

    def __init__(self, problem: Any, **kwargs: Any) -> None:
        super().__init__(problem.message, **kwargs)
        self.problem = problem
        self.cause = problem.cause

    @property
    def reason(self) -> str:
        """The cause and what to check, one line."""
        return printable(self.message, 400)

    def __str__(self) -> str:
        return self.reason


class UnsafeResourceName(OrchError):
    """A file name that must not be used as given; nothing was written.

    :param name: the offending name (shown escaped)
    :param why: which rule it breaks
    :param from_server: whether orch supplied it (else the caller did)
    """

    verb = "unsafe file name in"

    def __init__(self, name: Any, why: str, *, from_server: bool = True,
                 uuid: Optional[str] = None, operation: Optional[str] = None) -> None:
        self.name = name
        self.why = why
        self.from_server = from_server
        source = "orch named the file" if from_server else "file name"
        hint = "; pass a file name of your own" if from_server else ""
        message = "%s %s, which is unsafe (%s); nothing was written%s" % (
            source, printable(repr(name), 120), why, hint)
        super().__init__(message, uuid=uuid, operation=operation)

    @property
    def reason(self) -> str:
        """The refusal without naming the call."""
        return printable(self.message, 400)


def error_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps (cause, context, ``reason``, exceptions
    among its ``args``), each once, nearest first."""
    seen = set()
    todo = [error]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        todo.extend(x for x in (item.__cause__, item.__context__, getattr(item, "reason", None))
                    if isinstance(x, BaseException))
        todo.extend(x for x in item.args if isinstance(x, BaseException))
