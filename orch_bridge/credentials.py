"""Credential trouble, named: Kerberos and TLS failures as one-line causes.

A worker that cannot authenticate usually fails deep inside GSSAPI or
OpenSSL, with messages such as "No credentials cache found" for a keytab
that does not exist.  This module turns those failures into a
:class:`CredentialProblem`: a ``cause`` from :data:`CAUSES` and one line
saying what went wrong and what to check.  Messages name files,
principals and hosts, never key, ticket or keytab content.

- :func:`check_keytab` checks a keytab file before GSSAPI sees it;
- :func:`from_gss_error` reads a ``gssapi`` error;
- :func:`from_tls_error` reads an SSL verification failure;
- :func:`classify` takes any exception and finds either kind inside it.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, List, Optional

from .errors import error_chain, printable
from .keytab import KeytabFormatError, keytab_principals

__all__ = ("CAUSES", "CredentialProblem", "check_keytab", "from_gss_error",
           "from_tls_error", "classify", "minor_text")

#: every cause a :class:`CredentialProblem` can name
CAUSES = (
    "keytab_missing", "keytab_unreadable", "keytab_invalid", "wrong_principal",
    "unknown_principal", "ticket_expired", "clock_skew", "kdc_down", "unknown_service",
    "no_credentials", "kerberos", "token_refused", "mutual_failed", "negotiate_needed",
    "tls_untrusted", "tls_hostname", "tls_expired", "tls", "not_a_ca", "ca_missing",
)

# MIT krb5 error codes as GSSAPI reports them (minor status, unsigned 32 bits)
_MIT_CODES = {
    2529639068: "kdc_down",            # KRB5_KDC_UNREACH
    2529638949: "clock_skew",          # KRB5KRB_AP_ERR_SKEW
    2529638944: "ticket_expired",      # KRB5KRB_AP_ERR_TKT_EXPIRED
    2529638918: "unknown_principal",   # KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
    2529638919: "unknown_service",     # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN
    2529639053: "wrong_principal",     # KRB5_KT_NOTFOUND
}
# the same, by the words of the message (Heimdal, other versions)
_WORDS = (
    ("cannot contact any kdc", "kdc_down"),
    ("clock skew too great", "clock_skew"),
    ("ticket expired", "ticket_expired"),
    ("credentials have expired", "ticket_expired"),
    ("credential has expired", "ticket_expired"),
    ("client '", "unknown_principal"),
    ("not found in kerberos database", "unknown_service"),
    ("no key table entry found", "wrong_principal"),
)


class CredentialProblem(Exception):
    """A credential failure with its cause and one line for an operator.

    :param cause: one of :data:`CAUSES`
    :param message: what went wrong and what to check, one line
    """

    def __init__(self, cause: str, message: str) -> None:
        if cause not in CAUSES:
            raise ValueError("unknown credential cause %r" % cause)
        self.cause = cause
        self.message = printable(message, 400)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


# -- keytabs -------------------------------------------------------------------------

def check_keytab(keytab: str, principal: Optional[str] = None) -> str:
    """Check that ``keytab`` can be read and holds ``principal``.

    :param keytab: the keytab's path (a ``FILE:`` prefix is allowed)
    :param principal: the principal wanted (``name@REALM``); ``None``
        accepts a keytab holding exactly one
    :returns: the principal to use
    :raises CredentialProblem: ``keytab_missing``, ``keytab_unreadable``,
        ``keytab_invalid`` or ``wrong_principal``
    """
    path = keytab[5:] if keytab.startswith("FILE:") else keytab
    try:
        found = keytab_principals(path)
    except FileNotFoundError:
        raise CredentialProblem("keytab_missing", "Kerberos: keytab %s does not exist; "
                                "check the keytab setting and that it was checked out of "
                                "orch" % path) from None
    except OSError as error:
        raise CredentialProblem("keytab_unreadable", "Kerberos: keytab %s cannot be read "
                                "(%s); check its owner and mode (0600, owned by the user "
                                "kojid runs as)" % (path, error.strerror or error)) from None
    except KeytabFormatError as error:
        raise CredentialProblem("keytab_invalid", "Kerberos: %s is not a keytab (%s); "
                                "check it is the keytab orch handed out" % (path, error)) \
            from None
    if principal is None:
        if len(found) != 1:
            raise CredentialProblem("wrong_principal", "Kerberos: keytab %s holds %s; "
                                    "set the principal to use" % (path, _names(found)))
        return found[0]
    if principal not in found:
        raise CredentialProblem("wrong_principal", "Kerberos: keytab %s has no key for %s "
                                "(it holds %s); check the principal setting"
                                % (path, principal, _names(found)))
    return principal


def _names(found: List[str]) -> str:
    return ", ".join(found) if found else "no keys"


# -- GSSAPI --------------------------------------------------------------------------

def minor_text(error: Any) -> str:
    """The mechanism's own words from a ``gssapi`` error (its minor status)."""
    try:
        texts = error.get_all_statuses(error.min_code, False)
    except Exception:
        texts = []
    text = "; ".join(t for t in texts if t) or str(error)
    return printable(text, 200)


def _gss_cause(error: Any, text: str) -> str:
    cause = _MIT_CODES.get(getattr(error, "min_code", None) or 0)
    if cause is None:
        lowered = text.lower()
        cause = next((c for words, c in _WORDS if words in lowered), None)
    if cause is None:
        major = type(error).__name__
        cause = "no_credentials" if "MissingCredentials" in major else "kerberos"
    return cause


def from_gss_error(error: Any, principal: Optional[str] = None,
                   service: Optional[str] = None,
                   ccache: Optional[str] = None) -> CredentialProblem:
    """The cause of a ``gssapi.exceptions.GSSError``.

    :param error: the GSSAPI error
    :param principal: the client principal, for the message
    :param service: the service principal asked for, for the message
    :param ccache: the credential cache used, for the message
    :returns: the problem (not raised)
    """
    text = minor_text(error)
    cause = _gss_cause(error, text)
    who = principal or "the default principal"
    messages = {
        "kdc_down": "Kerberos: %s; check the KDC runs and is reachable, and krb5.conf "
                    "[realms] kdc" % text,
        "clock_skew": "Kerberos: clock skew too great between this host and the KDC; "
                      "check the clock (timedatectl, chronyc tracking)",
        "ticket_expired": "Kerberos: the ticket of %s has expired (ccache %s); renew it "
                          "(kinit) or configure a keytab" % (who, ccache or "default"),
        "unknown_principal": "Kerberos: the KDC does not know %s; check the principal "
                             "setting and that it exists (kadmin getprinc)" % who,
        "unknown_service": "Kerberos: the KDC has no service principal %s (%s); check "
                           "the host name in the URL or the service setting"
                           % (service or "?", text),
        "wrong_principal": "Kerberos: no key for %s (%s); check the principal setting "
                           "against the keytab (klist -k)" % (who, text),
        "no_credentials": "Kerberos: no credentials for %s (%s); check the keytab and "
                          "ccache settings" % (who, text),
        "kerberos": "Kerberos: %s failed: %s; check the principal, keytab and krb5.conf"
                    % (who, text),
    }
    return CredentialProblem(cause, messages[cause])


# -- TLS -----------------------------------------------------------------------------

def from_tls_error(error: BaseException, url: str,
                   ca_file: Optional[str] = None) -> CredentialProblem:
    """The cause of a failed TLS handshake with ``url``.

    :param error: the ``ssl`` error (or one wrapping it)
    :param url: the server's URL, for the message
    :param ca_file: the CA file used; ``None`` means the system trust store
    :returns: the problem (not raised)
    """
    found = next((e for e in error_chain(error) if isinstance(e, ssl.SSLError)), error)
    detail = getattr(found, "verify_message", None) or getattr(found, "reason", None) \
        or str(found)
    detail = printable(detail, 160)
    anchors = ca_file or "the system trust store"
    lowered = detail.lower()
    if ca_file and not os.path.isfile(ca_file):
        return CredentialProblem("ca_missing", "TLS: CA file %s does not exist; install "
                                 "orch's CA there (orch-bridge ca-cert %s)" % (ca_file, ca_file))
    if "hostname mismatch" in lowered or "doesn't match" in lowered \
            or "ip address mismatch" in lowered:
        return CredentialProblem("tls_hostname", "TLS: the certificate of %s is not for "
                                 "that host name (%s); use the name it was issued for"
                                 % (url, detail))
    if "expired" in lowered:
        return CredentialProblem("tls_expired", "TLS: the certificate of %s has expired "
                                 "(%s); renew the server certificate" % (url, detail))
    if isinstance(found, ssl.SSLCertVerificationError) or "verify failed" in lowered \
            or "unable to get" in lowered or "self signed" in lowered \
            or "self-signed" in lowered:
        return CredentialProblem("tls_untrusted", "TLS: the certificate of %s does not "
                                 "verify against %s (%s); check the CA file holds orch's "
                                 "current CA (orch-bridge ca-cert FILE)"
                                 % (url, anchors, detail))
    return CredentialProblem("tls", "TLS with %s failed (%s); check the URL's scheme and "
                             "port, and the CA file %s" % (url, detail, anchors))


# -- anything --------------------------------------------------------------------------

def classify(error: BaseException, *, principal: Optional[str] = None,
             service: Optional[str] = None, ccache: Optional[str] = None,
             url: Optional[str] = None,
             ca_file: Optional[str] = None) -> Optional[CredentialProblem]:
    """Find a credential problem in ``error`` or anything it wraps.

    :param error: any exception (a requests error, a koji login error, ...)
    :returns: the problem, or ``None`` when it is not a credential failure
    """
    for item in error_chain(error):
        if isinstance(item, CredentialProblem):
            return item
        if type(item).__module__.startswith("gssapi") and hasattr(item, "min_code"):
            return from_gss_error(item, principal, service, ccache)
        if isinstance(item, ssl.SSLError):
            return from_tls_error(item, url or "the server", ca_file)
    return None
