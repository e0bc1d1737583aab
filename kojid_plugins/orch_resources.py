"""The ``orch_resources`` plugin: orch leases around every task.

Before a task's handler runs, each resource its method needs (per
``orch_resources.conf``) is checked out of the orch service and its file
path handed to the task; after the task ends, however it ends, each is
released exactly once.  A lease that cannot be had refuses the task
softly, so the hub can give it to another host.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, List, Optional

from orch_bridge import OrchClient
from orch_bridge.errors import OrchError

from . import wiring
from .hookspec import TaskRefused, hookimpl
from .orch_credentials import credential_problem
from .lease_journal import LeaseJournal
from .leases import LeaseBroker
from .orch_settings import Settings, read_settings

__all__ = ("OrchResources", "install")

logger = logging.getLogger("koji.plugin.orch_resources")

NAME = "orch_resources"


class OrchResources:
    """Hook implementations holding one worker's lease state."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.journal = LeaseJournal(settings.orch["journal_dir"],
                                    fsync=settings.orch["journal_fsync"])
        self.broker = LeaseBroker(self.journal, settings.orch["resource_dir"], self.client,
                                  retry_interval=settings.orch["release_retry"],
                                  quick_client_factory=self.health_client)
        self._client: Optional[OrchClient] = None
        self._health_client: Optional[OrchClient] = None
        self._channels: Dict[int, str] = {}
        #: Kerberos for orch calls (``auth = gssapi``), shared by both clients
        self.kerberos = settings.kerberos()

    def client(self) -> OrchClient:
        """This process's orch client (a forked child gets its own pool)."""
        if self._client is None:
            orch = self.settings.orch
            self._client = OrchClient(
                self.settings.url, timeout=orch["timeout"], retries=orch["retries"],
                backoff=orch["backoff"], source_address=orch["source_address"] or None,
                kerberos=self.kerberos, verify=self.settings.verify)
        return self._client

    def health_client(self) -> OrchClient:
        """One short attempt per call: health checks, releases from kojid's loop."""
        if self._health_client is None:
            orch = self.settings.orch
            self._health_client = OrchClient(
                self.settings.url, timeout=orch["health_timeout"], retries=0,
                source_address=orch["source_address"] or None, kerberos=self.kerberos,
                verify=self.settings.verify)
        return self._health_client

    # -- the worker ------------------------------------------------------------

    @hookimpl
    def kojid_worker_startup(self, worker: Any) -> None:
        left = self.broker.recover()
        if left:
            logger.warning("%d lease(s) from a previous kojid could not be released yet; "
                           "retrying every loop", left)

    @hookimpl
    def kojid_worker_loop(self, worker: Any) -> None:
        self.broker.sweep("task process gone", tracked=worker.running_tasks)

    @hookimpl
    def kojid_worker_shutdown(self, worker: Any, reason: str) -> None:
        left = self.broker.release_all("kojid %s" % reason)
        if left:
            logger.error("%d lease(s) could not be released at %s; the lease journal "
                         "in %s keeps them for the next start", left, reason,
                         self.journal.directory)

    @hookimpl
    def kojid_host_data(self, worker: Any) -> Dict[str, Any]:
        return {"orch_leases": len(self.journal.entries())}

    @hookimpl
    def kojid_worker_status(self, worker: Any) -> Dict[str, Any]:
        leases = [{key: entry.get(key) for key in ("task_id", "method", "resource", "uuid",
                                                   "state")}
                  for entry in self.journal.entries()]
        return {"leases": leases}

    @hookimpl
    def kojid_health_checks(self, worker: Any) -> List[Dict[str, Any]]:
        return [self._check_orch(), self._check_journal()]

    def _check_orch(self) -> Dict[str, Any]:
        if not self.settings.rules:
            return {"name": "orch", "ok": True, "detail": "no lease rules: orch not needed"}
        problem = credential_problem(self.settings, self.kerberos)
        if problem is not None:
            return {"name": "orch", "ok": False, "detail": problem.message}
        try:
            answer = self.health_client().health()
        except OrchError as error:
            return {"name": "orch", "ok": False, "detail": str(error)}
        state = str(answer.get("status", "?"))
        ok = state.lower() in ("healthy", "ok")
        return {"name": "orch", "ok": ok, "detail": "orch at %s says %s"
                % (self.settings.url, state)}

    def _check_journal(self) -> Dict[str, Any]:
        try:
            self.journal.check_writable()
        except OSError as error:
            return {"name": "journal", "ok": False, "detail": str(error)}
        return {"name": "journal", "ok": True, "detail": "%s is writable"
                % self.journal.directory}

    # -- one task --------------------------------------------------------------

    @hookimpl
    def kojid_task_prepare(self, task: Any) -> None:
        needs = self.settings.needs(task.method, task.arch, self._channel(task))
        if not needs:
            return
        started = time.monotonic()
        try:
            paths = self.broker.acquire(task.id, task.method, needs)
        except TaskRefused:
            task.add_figure("lease_failures", 1)
            raise
        except Exception as error:
            # never let a task run without its leases: refuse it instead
            logger.exception("%s: leasing failed unexpectedly", task.describe())
            self.broker.release(task.id, "error")
            task.add_figure("lease_failures", 1)
            raise TaskRefused("orch_resources could not lease for this task: %s" % error) \
                from None
        task.add_figure("lease_acquire_seconds", time.monotonic() - started)
        for name, path in paths.items():
            task.add_resource(name, path)

    @hookimpl
    def kojid_task_finished(self, task: Any, outcome: str) -> None:
        self.broker.release(task.id, outcome)

    @hookimpl
    def kojid_task_reaped(self, worker: Any, task_id: int, outcome: str) -> None:
        self.broker.release(task_id, outcome, quick=True)

    def _channel(self, task: Any) -> Optional[str]:
        """The task's channel name, asked of the hub only if rules use it."""
        channel_id = task.channel_id
        if channel_id is None or not self.settings.uses_channels:
            return None
        if channel_id not in self._channels:
            info = task.session.getChannel(channel_id) or {}
            self._channels[channel_id] = info.get("name")
        return self._channels[channel_id]


def install(path: Optional[str] = None) -> OrchResources:
    """Read the settings, register the hooks and wire kojid (idempotent).

    :raises kojid_plugins.config.ConfigError: on a bad configuration
    """
    settings = read_settings(path)
    plugin = wiring.activate(OrchResources(settings), NAME)
    logger.info("orch_resources: %d lease rule(s), orch at %s, journal %s (pid %d)",
                len(settings.rules), settings.url or "(unset)",
                settings.orch["journal_dir"], os.getpid())
    if plugin.kerberos is not None:
        logger.info("orch_resources: orch calls use %s", plugin.kerberos.describe())
    return plugin
