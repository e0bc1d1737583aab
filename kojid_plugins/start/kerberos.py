"""A krb5.conf naming the KDC, for containers that have no DNS records for it.

When ``KRB5_KDC`` is set, ``koji-worker start`` writes
``KOJI_WORKER_STATE_DIR/krb5.conf`` with ``KRB5_REALM`` as the default
realm served by that KDC, and puts it first in kojid's ``KRB5_CONFIG``
(MIT Kerberos reads a colon-separated list and skips missing files; the
image's ``KRB5_CONFIG`` already names this path, so a shell in the
container sees it too).
"""

from __future__ import annotations

import logging
import os
from typing import Dict

from ..atomic import write_atomic
from .environment import WorkerEnv
from .errors import StartError

__all__ = ("krb5_conf_text", "install_krb5_conf")

logger = logging.getLogger("koji_worker.start")


def krb5_conf_text(realm: str, kdc: str) -> str:
    """The configuration: one realm, its KDC, no DNS lookups."""
    return ("# written by koji-worker start from KRB5_REALM and KRB5_KDC\n"
            "[libdefaults]\n"
            "    default_realm = %(realm)s\n"
            "    dns_lookup_kdc = false\n"
            "    dns_lookup_realm = false\n"
            "    rdns = false\n"
            "[realms]\n"
            "    %(realm)s = {\n"
            "        kdc = %(kdc)s\n"
            "        admin_server = %(kdc)s\n"
            "    }\n" % {"realm": realm, "kdc": kdc})


def install_krb5_conf(env: WorkerEnv, environ: Dict[str, str]) -> None:
    """Write the file and put it first in ``environ["KRB5_CONFIG"]`` (if KRB5_KDC is set)."""
    kdc = env["KRB5_KDC"]
    if not kdc:
        return
    path = os.path.join(env["KOJI_WORKER_STATE_DIR"], "krb5.conf")
    try:
        write_atomic(path, krb5_conf_text(env["KRB5_REALM"], kdc).encode(), mode=0o644)
    except OSError as error:
        raise StartError("KOJI_WORKER_STATE_DIR: cannot write %s: %s"
                         % (path, error.strerror or error)) from None
    rest = [p for p in environ.get("KRB5_CONFIG", "/etc/krb5.conf").split(":") if p != path]
    environ["KRB5_CONFIG"] = ":".join([path] + rest)
    logger.info("wrote %s: realm %s served by %s", path, env["KRB5_REALM"], kdc)
