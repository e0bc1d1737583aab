"""orch's URL and the local address calls leave from, checked up front.

A URL with a bad port or no host, or a source address this host does
not have, would otherwise surface as a urllib3 message after every
retry.  :func:`parse_url` refuses a bad URL with one line naming it;
:func:`family_mismatch` and :func:`bind_problem` say why a source
address cannot be used, without sending anything.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
from typing import NamedTuple, Optional, Union
from urllib.parse import SplitResult, urlsplit, urlunsplit

from .errors import printable

__all__ = ("OrchURL", "parse_url", "family_mismatch", "bind_problem", "BIND_ERRNOS")

#: errors a local bind(2) gives for an address this host cannot send from
BIND_ERRNOS = (errno.EADDRNOTAVAIL, errno.EINVAL, errno.EAFNOSUPPORT)

_USERINFO = re.compile(r"//[^/@]*@")
_HOST = re.compile(r"[\w.~-]+")

IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


class OrchURL(NamedTuple):
    """A checked orch URL.

    :param base: the URL requests are made under (no trailing ``/``)
    :param display: the same without any ``user:password@``, for messages
    :param host: the host name or IP address (no brackets)
    """

    base: str
    display: str
    host: str


def _shown(url: str) -> str:
    """``url`` for an error message: credentials hidden, one printable line."""
    return printable(repr(_USERINFO.sub("//***@", url)), 200)


def _ip(text: str) -> Optional[IP]:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _url_problem(parts: SplitResult, port_text: str) -> Optional[str]:
    """Why a split URL cannot be orch's base URL, or ``None``."""
    if parts.scheme not in ("http", "https"):
        return "it must start with http:// or https://"
    host = parts.hostname
    if not host:
        return "it names no host"
    if _ip(host) is None and not _HOST.fullmatch(host):
        return "%s is not a host name or IP address" % printable(repr(host), 80)
    if port_text:
        port = int(port_text) if port_text.isdigit() else 0
        if not 1 <= port <= 65535:
            return "port %s is not a number from 1 to 65535" % printable(port_text, 20)
    if parts.query or parts.fragment:
        return "a base URL has no ?query or #fragment"
    return None


def parse_url(url: object) -> OrchURL:
    """Check orch's base URL: http or https, a host, a port in 1-65535.

    :param url: the URL, e.g. ``http://orch.koji.box:5000``
    :returns: the base URL, its display form and host
    :raises ValueError: one line naming the URL and what is wrong
    """
    if not isinstance(url, str):
        raise ValueError("bad orch URL %s: not a string" % printable(repr(url), 80))
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError as error:
        raise ValueError("bad orch URL %s: %s" % (_shown(text), error)) from None
    # the port as written: after the host (or after "]" for IPv6), after the last ":"
    hostport = parts.netloc.rpartition("@")[2]
    port_text = hostport.rpartition("]")[2].partition(":")[2] if ":" in hostport else ""
    problem = _url_problem(parts, port_text)
    if problem:
        raise ValueError("bad orch URL %s: %s" % (_shown(text), problem))
    host = parts.hostname or ""
    path = parts.path.rstrip("/")
    shown_host = host if ":" not in host else "[%s]" % host
    port = ":%s" % int(port_text) if port_text else ""
    return OrchURL(urlunsplit((parts.scheme, parts.netloc, path, "", "")),
                   "%s://%s%s%s" % (parts.scheme, shown_host, port, path), host)


def _family(address: IP) -> str:
    return "IPv%d" % address.version


def family_mismatch(source: str, host: str) -> Optional[str]:
    """Say why ``source`` cannot reach ``host`` when both are IP literals.

    :param source: the local address to send from
    :param host: orch's host, as in its URL
    :returns: the mismatch, or ``None`` (also when ``host`` is a name)
    """
    mine, theirs = _ip(source), _ip(host)
    if mine is None or theirs is None or mine.version == theirs.version:
        return None
    return "%s is an %s address and orch's host %s is %s" % (
        source, _family(mine), host, _family(theirs))


def bind_problem(source: str) -> Optional[str]:
    """Try binding ``source`` locally (nothing is sent); say why it fails.

    :param source: an IP address
    :returns: ``None`` when this host can send from it, else the reason
    """
    address = _ip(source)
    if address is None:
        return "not an IP address"
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((source, 0))
    except OSError as error:
        if error.errno == errno.EADDRNOTAVAIL:
            return "not an address of this host (%s)" % (error.strerror or error)
        return "cannot be bound here (%s)" % (error.strerror or error)
    return None
