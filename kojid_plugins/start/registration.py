"""Wait until the hub knows the worker's principal as a build host.

orch registers the host on the hub when it hands out the worker keytab
(``koji add-host NAME ARCH --krb-principal PRINCIPAL``).  kojid logs in
before it loads any plugin, and a login as a principal the hub does not
know as a host fails, so ``koji-worker start`` asks the hub first, with
anonymous calls, for a bounded time: ``getUser(principal)`` (the hub
matches a user's name or Kerberos principal) and ``getHost(name)``.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from typing import Any, Callable, Dict, List, Optional

import koji

from .errors import StartError

__all__ = ("wait_for_host", "RegistrationError")

logger = logging.getLogger("koji_worker.start")

#: seconds between two questions to the hub
POLL = 1.0


class RegistrationError(StartError):
    """The hub does not know the host in time, or knows it as something else."""


def _plain_user(principal: str, user: Dict[str, Any]) -> RegistrationError:
    return RegistrationError(
        "the hub knows %s as a plain user (%r), not a build host; an admin fixes it with "
        "'koji add-host --force %s ARCH' (which turns that user into a host) or by "
        "removing the user so orch can register the host" % (
            principal, user["name"], user["name"]))


def _chain(error: BaseException) -> List[BaseException]:
    """``error`` and what it wraps: cause, context, urllib3's reason, exception args."""
    found: List[BaseException] = []
    todo = [error]
    while todo:
        item = todo.pop(0)
        if any(item is seen for seen in found):
            continue
        found.append(item)
        wrapped = [item.__cause__, item.__context__, getattr(item, "reason", None)]
        todo.extend(x for x in wrapped + list(item.args) if isinstance(x, BaseException))
    return found


def describe(error: BaseException) -> str:
    """One line for why a call to the hub failed: the socket's or TLS's own words.

    requests and urllib3 wrap the cause in pool, retry and object texts;
    this digs it out (``connection refused``, ``timed out``, a TLS reason,
    a name that does not resolve), else gives the error's text on one line.
    """
    chain = _chain(error)
    for item in chain:
        if isinstance(item, ssl.SSLError):
            detail = getattr(item, "verify_message", None) or item.reason or str(item)
            return "TLS: %s" % " ".join(str(detail).split())
    for item in chain:
        if isinstance(item, socket.gaierror):
            return "cannot resolve the host name: %s" % item.strerror
        if isinstance(item, OSError) and item.strerror:
            return item.strerror[:1].lower() + item.strerror[1:]
    if any(isinstance(item, (socket.timeout, TimeoutError)) for item in chain) \
            or "timed out" in str(error):
        return "timed out"
    return " ".join(str(error).split()) or type(error).__name__


def _ask(session: Any, principal: str) -> Optional[str]:
    """The host's name once registered, else None."""
    user = session.getUser(principal)
    if not user:
        return None
    if user.get("usertype") != koji.USERTYPES["HOST"]:
        raise _plain_user(principal, user)
    host = session.getHost(user["name"])
    return host["name"] if host else None


def wait_for_host(hub_url: str, principal: str, timeout: float,
                  session_opts: Optional[Dict[str, Any]] = None,
                  clock: Callable[[], float] = time.monotonic) -> str:
    """Ask the hub until it knows ``principal`` as a host.

    :param hub_url: the hub's URL
    :param principal: the worker's Kerberos principal
    :param timeout: seconds to keep asking
    :param session_opts: options for :class:`koji.ClientSession`
        (``serverca`` for an https hub)
    :returns: the host's name on the hub
    :raises RegistrationError: when the principal is a plain user, or the
        hub still does not know the host (or cannot be reached) after
        ``timeout`` seconds
    """
    opts = {"timeout": max(2.0, min(timeout, 15.0)), "max_retries": 0, "anon_retry": False}
    opts.update(session_opts or {})
    session = koji.ClientSession(hub_url, opts)
    deadline = clock() + timeout
    last_error = None
    logger.info("waiting up to %g s for the hub %s to know host principal %s",
                timeout, hub_url, principal)
    try:
        while True:
            try:
                name = _ask(session, principal)
                last_error = None
            except StartError:
                raise  # a plain user, or a stop signal
            except Exception as error:  # connection refused, faults, TLS trouble
                name, last_error = None, error
            if name:
                logger.info("the hub knows %s as host %s", principal, name)
                return name
            if clock() >= deadline:
                break
            time.sleep(POLL)
    finally:
        session.logout()
    if last_error is not None:
        raise RegistrationError("the hub %s did not answer within %g s: %s"
                                % (hub_url, timeout, describe(last_error)))
    raise RegistrationError("the hub %s still does not know %s as a host after %g s "
                            "(orch registers it at checkout: see orch's log and "
                            "'koji list-hosts')" % (hub_url, principal, timeout))
