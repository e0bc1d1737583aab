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
import time
from typing import Any, Callable, Dict, Optional

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
                                % (hub_url, timeout, last_error))
    raise RegistrationError("the hub %s still does not know %s as a host after %g s; "
                            "did orch register it (its log, 'koji list-hosts')?"
                            % (hub_url, principal, timeout))
