"""The worker's identity: its keytab checked out of orch, and the principal in it.

orch hands each worker container its own keytab for the one worker
resource UUID (Boxed Koji's "scaled" worker resource: the principal is
named after the container's service and scale index) and registers that
principal as a build host on the hub.  A keytab that does not hold the
expected principal is given back at once.
"""

from __future__ import annotations

import logging
import os
import time
from typing import NamedTuple

from orch_bridge import OrchClient, OrchConflict, OrchError

from .environment import RELEASE_RESERVE, WorkerEnv
from .errors import StartError, Stopped
from .keytab import KeytabError, expected_principal
from .releases import Lease, release_all, remove_file

__all__ = ("Identity", "check_out_identity", "give_back")

logger = logging.getLogger("koji_worker.start")


class Identity(NamedTuple):
    """The checked-out keytab and its principal."""

    uuid: str
    keytab: str
    principal: str


def _checkout(client: OrchClient, uuid: str, path: str) -> str:
    directory, name = os.path.split(path)
    try:
        return client.checkout(uuid, directory, name).path
    except OrchConflict:
        # held already: by this very container after a restart (take it
        # again), or by another one (stop)
        if not client.validate(uuid).get("can_access"):
            raise StartError("the worker keytab %s is checked out by another container; "
                             "each worker needs its own (orch 'status' tells who holds it)"
                             % uuid) from None
        logger.warning("this container already held the worker keytab %s; taking it anew",
                       uuid)
        client.release(uuid)
        return client.checkout(uuid, directory, name).path


def give_back(env: WorkerEnv, uuid: str, path: str) -> None:
    """Release the worker keytab (within the release reserve) and remove its file."""
    release_all([Lease(uuid, "worker keytab")], env["ORCH_SERVICE_URL"],
                env["ORCH_SOURCE_ADDRESS"], time.monotonic() + RELEASE_RESERVE)
    remove_file(path)


def check_out_identity(env: WorkerEnv, client: OrchClient) -> Identity:
    """Check the worker keytab out and read the expected principal from it.

    :param env: the checked environment
    :param client: an orch client
    :returns: the identity
    :raises StartError: when orch does not hand the keytab out, or the
        keytab does not hold the expected principal (the keytab is then
        released again and its file removed)
    """
    uuid, wanted = env["KOJI_WORKER_KEYTAB"], env["KOJID_KEYTAB"]
    try:
        path = _checkout(client, uuid, wanted)
    except Stopped:
        give_back(env, uuid, wanted)  # the answer may have come: hold nothing
        raise
    except OrchError as error:
        raise StartError("cannot check the worker keytab out of orch: %s" % error) from None
    except OSError as error:
        raise StartError("KOJID_KEYTAB: cannot write %s: %s"
                         % (wanted, error.strerror or error)) from None
    try:
        principal = expected_principal(path, env["KOJI_WORKER_PRINCIPAL"])
    except (KeytabError, OSError) as error:
        give_back(env, uuid, path)
        raise StartError("%s; it was given back to orch" % (error,)) from None
    logger.info("checked out worker keytab %s to %s: principal %s", uuid, path, principal)
    return Identity(uuid, path, principal)
