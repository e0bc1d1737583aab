"""orch's CA certificate: fetch it, check it is a CA, store it for TLS.

orch signs the certificates of the services beside it (the hub among
them) and serves its CA certificate at ``/api/v2/ca/certificate``.
:func:`install_ca` fetches it, checks every certificate in it with the
``openssl`` command (it parses, ``basicConstraints`` says ``CA:TRUE``,
it has not expired) and that Python's ``ssl`` module accepts it as trust
anchors, then writes it atomically (mode 0644: a CA certificate is
public) where kojid's ``serverca`` and the orch client's ``verify``
point.  Nothing here can turn verification off: fetching over https
verifies orch against the CA file the client was given (or the system
trust store), so a first fetch goes over http inside the trusted
network, or over https with a CA file the operator supplied.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import subprocess
from typing import Any, List, NamedTuple, Optional

from . import files
from .credentials import CredentialProblem
from .errors import printable

__all__ = ("CaCertificate", "check_ca_pem", "check_ca_file", "ca_file_problem", "install_ca",
           "fetch_ca")

logger = logging.getLogger("orch_bridge")

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.+?-----END CERTIFICATE-----",
                        re.DOTALL)
#: most bytes of a CA file looked at (a large system bundle fits)
_CA_FILE_LIMIT = 16 * 1024 * 1024


class CaCertificate(NamedTuple):
    """One checked CA certificate: its subject and last valid day."""

    subject: str
    not_after: str


def _not_a_ca(source: str, why: str) -> CredentialProblem:
    return CredentialProblem("not_a_ca", "TLS: %s is not a usable CA certificate (%s); "
                             "check orch's CA (orch-bridge ca-info)" % (source, why))


def _openssl_x509(block: bytes, source: str) -> CaCertificate:
    """Subject, expiry and CA:TRUE of one PEM certificate, by ``openssl x509``."""
    try:
        proc = subprocess.run(
            ["openssl", "x509", "-noout", "-subject", "-enddate",
             "-ext", "basicConstraints", "-checkend", "0"],
            input=block, capture_output=True, timeout=30)
    except FileNotFoundError:
        raise CredentialProblem("not_a_ca", "TLS: cannot check %s: the openssl command "
                                "is not installed" % source) from None
    out = proc.stdout.decode("utf-8", "replace")
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if "notAfter" not in fields:
        first = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["?"])[0]
        raise _not_a_ca(source, "openssl: %s" % printable(first, 120))
    subject = fields.get("subject", "?").strip()
    if "will expire" in out and "will not expire" not in out:
        raise _not_a_ca(source, "%s expired on %s" % (subject, fields["notAfter"]))
    if not re.search(r"Basic Constraints:.*\n\s*CA:TRUE", out):
        raise _not_a_ca(source, "%s has no basicConstraints CA:TRUE" % subject)
    return CaCertificate(subject, fields["notAfter"].strip())


def check_ca_pem(pem: bytes, source: str = "the CA certificate") -> List[CaCertificate]:
    """Check that ``pem`` holds only CA certificates, all valid now.

    :param pem: PEM text, one certificate or a chain of them
    :param source: where it came from, for messages
    :returns: the certificates, in order
    :raises CredentialProblem: ``not_a_ca``, naming what is wrong
    """
    blocks = _PEM_BLOCK.findall(pem)
    if not blocks:
        raise _not_a_ca(source, "no PEM certificate in it")
    found = [_openssl_x509(block, source) for block in blocks]
    try:
        ssl.create_default_context(cadata=pem.decode("ascii"))
    except (ssl.SSLError, UnicodeDecodeError, ValueError) as error:
        raise _not_a_ca(source, "Python's ssl refuses it: %s" % printable(error, 120)) \
            from None
    return found


def check_ca_file(path: str) -> List[CaCertificate]:
    """:func:`check_ca_pem` on a file.

    :raises CredentialProblem: ``ca_missing`` when it cannot be read,
        ``not_a_ca`` when it is not a CA certificate
    """
    try:
        with open(path, "rb") as handle:
            pem = handle.read(1024 * 1024)
    except OSError as error:
        raise CredentialProblem("ca_missing", "TLS: CA file %s cannot be read (%s); "
                                "install orch's CA there (orch-bridge ca-cert %s)"
                                % (path, error.strerror or error, path)) from None
    return check_ca_pem(pem, path)


def ca_file_problem(path: str) -> Optional[CredentialProblem]:
    """A quick look at the CA file https calls verify against.

    It must be a readable file holding at least one PEM certificate;
    :func:`check_ca_file` checks the certificates themselves.

    :param path: the CA file
    :returns: ``None`` when it looks usable, else the problem:
        ``ca_missing`` (absent, a directory, unreadable) or ``not_a_ca``
        (no PEM certificate in it)
    """
    hint = "install orch's CA there (orch-bridge ca-cert %s)" % path
    if os.path.isdir(path):
        return CredentialProblem("ca_missing", "TLS: CA file %s is a directory, not a file; "
                                 "give the certificate file in it (orch-bridge ca-cert %s "
                                 "writes %s)" % (path, path, os.path.join(path, "ca.crt")))
    try:
        with open(path, "rb") as handle:
            pem = handle.read(_CA_FILE_LIMIT)
    except FileNotFoundError:
        return CredentialProblem("ca_missing", "TLS: CA file %s does not exist; %s"
                                 % (path, hint))
    except OSError as error:
        return CredentialProblem("ca_missing", "TLS: CA file %s cannot be read (%s)"
                                 % (path, error.strerror or error))
    if not _PEM_BLOCK.search(pem):
        return CredentialProblem("not_a_ca", "TLS: CA file %s holds no PEM certificate; %s"
                                 % (path, hint))
    return None


def fetch_ca(client: Any) -> bytes:
    """orch's CA certificate, checked.

    :param client: an :class:`~orch_bridge.OrchClient`
    :returns: the PEM bytes
    :raises OrchError: when orch does not answer with a certificate
    :raises CredentialProblem: when it is not a CA certificate
    """
    pem = client.ca_certificate()
    check_ca_pem(pem, "the CA certificate from orch at %s" % client.display_url)
    return pem


def install_ca(client: Any, path: str) -> List[CaCertificate]:
    """Fetch orch's CA, check it and write it to ``path`` atomically (0644).

    The directory is created (0755) when missing.  A file already there
    is replaced only by a certificate that passed every check.

    :param client: an :class:`~orch_bridge.OrchClient` (over https it
        verifies orch against its own CA file or the system store)
    :param path: where kojid's ``serverca`` and the orch client look
    :returns: the certificates written
    :raises OrchError: when orch cannot be asked
    :raises CredentialProblem: when the answer is not a CA certificate
    :raises OSError: when the file cannot be written
    """
    pem = client.ca_certificate()
    found = check_ca_pem(pem, "the CA certificate from orch at %s" % client.display_url)
    directory = os.path.dirname(os.path.abspath(path))
    files.ensure_directory(directory, 0o755)
    files.write_atomic(os.path.abspath(path), [pem], mode=0o644)
    logger.info("orch: CA certificate %s installed at %s",
                "; ".join(c.subject for c in found), path)
    return found
