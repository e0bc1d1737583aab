"""Kerberos (SPNEGO, HTTP Negotiate) for calls to orch, from a keytab.

:class:`Kerberos` holds who the client is and whom it talks to: a client
principal, a keytab and a credential cache, the service principal, and
whether the server must prove its identity (mutual authentication, on by
default).  It hands each :class:`requests.Session` a fresh
:class:`SpnegoAuth`, which gets tickets through a GSSAPI credential store
(``client_keytab`` and ``ccache``): no ``kinit``, and the user's default
credential cache is never read or written.  Without a ccache setting the
tickets live in memory, in this process and the children it forks.

A failure is kept as a :class:`~orch_bridge.credentials.CredentialProblem`
so the client can say why orch refused (``401``) in one line, instead of
the bare status code.
"""

from __future__ import annotations

import base64
import logging
import os
import uuid
from typing import Any, Dict, Mapping, Optional

from .credentials import CredentialProblem, check_keytab, from_gss_error

__all__ = ("Kerberos", "SpnegoAuth", "DEFAULT_CCACHE")

logger = logging.getLogger("orch_bridge")

#: where tickets live when no ccache is configured: this process (and its
#: forked children) only, one cache per :class:`Kerberos` object
DEFAULT_CCACHE = "MEMORY:orch-bridge-"
#: the standard MIT variable naming a client keytab
KEYTAB_ENV = "KRB5_CLIENT_KTNAME"


def _gssapi() -> Any:
    try:
        import gssapi
        import requests_gssapi
    except ImportError as error:  # koji depends on both; a bare orch-bridge may not
        raise CredentialProblem("kerberos", "Kerberos: %s is not installed; install "
                                "requests-gssapi" % error.name) from None
    return gssapi, requests_gssapi


class Kerberos:
    """Who talks to orch over SPNEGO, and to whom.

    :param principal: the client principal (``name@REALM``); empty: the
        one principal in the keytab
    :param keytab: the client keytab; empty: ``$KRB5_CLIENT_KTNAME``,
        and without either the tickets already in ``ccache``
    :param ccache: the credential cache (``FILE:/path``, ``MEMORY:name``);
        empty: a memory cache of its own with a keytab, else the default cache
    :param service: orch's service principal, for a host behind an alias:
        ``HTTP/host@REALM`` or ``HTTP@host``; empty: ``HTTP@<URL host>``
    :param mutual: require orch to prove its identity in every answer
    :param environ: where ``$KRB5_CLIENT_KTNAME`` is looked up
    """

    def __init__(self, principal: Optional[str] = None, keytab: Optional[str] = None,
                 ccache: Optional[str] = None, service: Optional[str] = None,
                 mutual: bool = True, environ: Optional[Mapping[str, str]] = None) -> None:
        environ = os.environ if environ is None else environ
        self.principal = principal or None
        self.keytab = keytab or environ.get(KEYTAB_ENV) or None
        if self.keytab and self.keytab.startswith("FILE:"):
            self.keytab = self.keytab[5:]
        if not ccache and self.keytab:
            ccache = DEFAULT_CCACHE + uuid.uuid4().hex[:12]
        self.ccache = ccache or None
        self.service = service or None
        self.mutual = bool(mutual)

    def describe(self) -> str:
        """One phrase for logs: principal, keytab, service, mutual."""
        parts = ["as %s" % (self.principal or "the default principal")]
        if self.keytab:
            parts.append("keytab %s" % self.keytab)
        parts.append("service %s" % (self.service or "HTTP@<orch host>"))
        parts.append("mutual authentication %s" % ("required" if self.mutual else "off"))
        return "Kerberos " + ", ".join(parts)

    def preflight(self) -> None:
        """Check the keytab (exists, readable, holds the principal).

        Fills in the principal from a keytab holding exactly one.

        :raises CredentialProblem: naming the cause
        """
        if self.keytab:
            self.principal = check_keytab(self.keytab, self.principal)

    def store(self) -> Optional[Dict[str, str]]:
        """The GSSAPI credential store, or ``None`` for the defaults."""
        store: Dict[str, str] = {}
        if self.keytab:
            store["client_keytab"] = self.keytab
        if self.ccache:
            store["ccache"] = self.ccache
        return store or None

    def target(self, host: str) -> Any:
        """orch's service name as GSSAPI wants it."""
        gssapi, _requests_gssapi = _gssapi()
        if self.service and "/" in self.service:
            return gssapi.Name(self.service, gssapi.NameType.kerberos_principal)
        name = self.service or "HTTP@%s" % host
        return gssapi.Name(name, gssapi.NameType.hostbased_service)

    def service_name(self, host: str) -> str:
        """orch's service principal as written in messages."""
        if self.service:
            return self.service
        return "HTTP/%s" % host

    def credentials(self) -> Any:
        """Initiator credentials from the store (tickets fetched when needed)."""
        gssapi, _requests_gssapi = _gssapi()
        name = None
        if self.principal:
            name = gssapi.Name(self.principal, gssapi.NameType.kerberos_principal)
        return gssapi.Credentials(name=name, usage="initiate", store=self.store())

    def auth(self) -> "SpnegoAuth":
        """A fresh requests auth object (one per session)."""
        return SpnegoAuth(self)


def _make_auth_class() -> Any:
    """Build :class:`SpnegoAuth` on requests-gssapi's class when it is there."""
    try:
        from requests_gssapi import HTTPSPNEGOAuth
    except ImportError:
        return object
    return HTTPSPNEGOAuth


class SpnegoAuth(_make_auth_class()):  # type: ignore[misc]
    """requests-gssapi's Negotiate auth with credentials from a store.

    It keeps the last failure as :attr:`problem` (requests-gssapi itself
    only logs it and hands back the ``401``).

    :param kerberos: the settings
    """

    def __init__(self, kerberos: Kerberos) -> None:
        _gssapi_mod, requests_gssapi = _gssapi()
        mutual = requests_gssapi.REQUIRED if kerberos.mutual else requests_gssapi.DISABLED
        super().__init__(mutual_authentication=mutual, target_name="HTTP")
        self.kerberos = kerberos
        #: why the last token could not be made, or ``None``
        self.problem: Optional[CredentialProblem] = None

    def generate_request_header(self, response: Any, host: str,
                                is_preemptive: bool = False) -> str:
        """Make the ``Negotiate`` token for ``host``, keeping any failure."""
        gssapi, requests_gssapi = _gssapi()
        flags = []
        if self.mutual_authentication != requests_gssapi.DISABLED:
            flags.append(gssapi.RequirementFlag.mutual_authentication)
        self.problem = None
        try:
            self.kerberos.preflight()
            context = gssapi.SecurityContext(
                usage="initiate", name=self.kerberos.target(host), flags=flags,
                creds=self.kerberos.credentials(), mech=self.mech)
            self.context[host] = context
            challenge = None if is_preemptive else _challenge(response)
            token = context.step(challenge)
        except CredentialProblem as problem:
            self.problem = problem
        except gssapi.exceptions.GSSError as error:
            self.problem = from_gss_error(error, self.kerberos.principal,
                                          self.kerberos.service_name(host),
                                          self.kerberos.ccache)
        if self.problem is not None:
            logger.debug("orch: no Kerberos token for %s: %s", host, self.problem)
            raise requests_gssapi.exceptions.SPNEGOExchangeError(self.problem.message)
        return "Negotiate " + base64.b64encode(token or b"").decode("ascii")


def _challenge(response: Any) -> Optional[bytes]:
    """The server's token in ``WWW-Authenticate: Negotiate <token>``, if any."""
    if response is None:
        return None
    for part in response.headers.get("WWW-Authenticate", "").split(","):
        scheme, _sep, value = part.strip().partition(" ")
        if scheme.lower() == "negotiate" and value.strip():
            return base64.b64decode(value.strip())
    return None
