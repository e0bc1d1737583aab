"""orch's CA certificate, installed when the hub or orch is reached over https.

In the Boxed Koji layout orch is the certificate authority: it signs the
hub's certificate.  When ``KOJI_HUB_URL`` or ``ORCH_SERVICE_URL`` is an
https URL, ``koji-worker start`` fetches the CA certificate from orch
(``GET /api/v2/ca/certificate``), writes it to ``KOJI_WORKER_CA_FILE``
and points kojid's ``serverca`` at it, so kojid verifies the hub with it.
Over plain http nothing is fetched.
"""

from __future__ import annotations

import logging

from orch_bridge import OrchClient, OrchError

from ..atomic import write_atomic
from .environment import WorkerEnv
from .errors import StartError

__all__ = ("install_ca",)

logger = logging.getLogger("koji_worker.start")


def install_ca(env: WorkerEnv, client: OrchClient) -> str:
    """Fetch and write orch's CA certificate when a URL is https.

    :param env: the checked environment
    :param client: an orch client
    :returns: the certificate's path, or ``""`` when no URL is https
    :raises StartError: when orch does not give it or it cannot be written
    """
    if not env.uses_https:
        return ""
    path = env["KOJI_WORKER_CA_FILE"]
    try:
        pem = client.ca_certificate()
    except OrchError as error:
        raise StartError("cannot fetch orch's CA certificate: %s" % error) from None
    try:
        write_atomic(path, pem, mode=0o644, sync=True)
    except OSError as error:
        raise StartError("KOJI_WORKER_CA_FILE: cannot write %s: %s"
                         % (path, error.strerror or error)) from None
    logger.info("installed orch's CA certificate in %s (%d bytes)", path, len(pem))
    return path
