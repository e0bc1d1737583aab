"""The ``worker_drain`` plugin: no new task once ``koji-worker start`` drains.

``koji-worker start`` tells kojid where its drain flag lives through
``$KOJID_DRAIN_FILE`` and creates that file on SIGTERM.  From then on this
plugin votes "not ready" on every pass, so kojid reports ``ready=False``
to the hub and takes no task while the running ones finish.  Without the
variable (kojid not started by ``koji-worker start``) it never votes.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

from . import wiring
from .hookspec import hookimpl

__all__ = ("DRAIN_FILE_ENV", "WorkerDrain", "install")

logger = logging.getLogger("koji.plugin.worker_drain")

NAME = "worker_drain"
DRAIN_FILE_ENV = "KOJID_DRAIN_FILE"
REASON = "draining: the worker is stopping"


class WorkerDrain:
    """Vote "not ready" while the drain flag file exists.

    :param flag: the flag file's path (empty: never drain)
    """

    def __init__(self, flag: str) -> None:
        self.flag = flag
        self.logged = False

    @hookimpl
    def kojid_ready_vote(self, worker: Any) -> Optional[str]:
        if not self.flag or not os.path.exists(self.flag):
            return None
        if not self.logged:
            logger.warning("worker_drain: %s exists; taking no new task", self.flag)
            self.logged = True
        return REASON


def install() -> WorkerDrain:
    """Register the vote and wire kojid (idempotent)."""
    flag = os.environ.get(DRAIN_FILE_ENV, "")
    plugin = wiring.activate(WorkerDrain(flag), NAME)
    logger.info("worker_drain: drain flag %s", flag or "(none: $%s is unset)" % DRAIN_FILE_ENV)
    return plugin
