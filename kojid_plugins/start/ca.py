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
from orch_bridge.ca import install_ca as install_orch_ca
from orch_bridge.credentials import CredentialProblem

from .environment import WorkerEnv
from .errors import StartError

__all__ = ("install_ca",)

logger = logging.getLogger("koji_worker.start")


def install_ca(env: WorkerEnv, client: OrchClient) -> str:
    """Fetch, check and write orch's CA certificate when a URL is https.

    The answer must be a CA certificate (``CA:TRUE``, not expired), or
    nothing is written: see :func:`orch_bridge.ca.install_ca`.

    :param env: the checked environment
    :param client: an orch client
    :returns: the certificate's path, or ``""`` when no URL is https
    :raises StartError: when orch does not give it, it is not a CA
        certificate, or it cannot be written
    """
    if not env.uses_https:
        return ""
    path = env["KOJI_WORKER_CA_FILE"]
    try:
        install_orch_ca(client, path)
    except (OrchError, CredentialProblem) as error:
        raise StartError("cannot install orch's CA certificate: %s" % error) from None
    except OSError as error:
        raise StartError("KOJI_WORKER_CA_FILE: cannot write %s: %s"
                         % (path, error.strerror or error)) from None
    return path
