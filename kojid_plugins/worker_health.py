"""The ``worker_health`` plugin: readiness the hub sees, a status file, metrics.

Every pass of kojid's loop it gathers checks (its own: hub, disk, topdir,
plugins; and every plugin's through ``kojid_health_checks``: orch, the
lease journal, podman).  A failing check named in ``fatal`` votes "not
ready", so kojid reports ``ready=False`` to the hub and takes no task
until the check passes again.  After each pass it rewrites the status
file ``koji-worker health`` reads, and counts tasks for the metrics.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from typing import Any, Dict, List, Optional

from . import runtime, wiring
from .config import ConfigError
from .health_checks import check_disk, check_hub, check_plugins, check_topdir
from .health_settings import read_health_settings
from .hookspec import hookimpl
from .metrics import WorkerMetrics, spool_report, task_report
from .status_file import write_json, write_pid

__all__ = ("WorkerHealth", "install", "gather_checks")

logger = logging.getLogger("koji.plugin.worker_health")

NAME = "worker_health"


def gather_checks(worker: Any, options: Any, health: Dict[str, Any],
                  hub: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every check, with ``fatal`` set from the settings."""
    checks = [
        check_hub(hub.get("ok"), hub.get("error")),
        check_disk([options.mockdir, options.workdir], health["min_free_mb"]),
        check_topdir(options.topdir, health["topdir_mount"]),
        check_plugins(runtime.LAST_FAILURE, health["plugin_failure_window"]),
    ]
    for found in runtime.get_manager().hook.kojid_health_checks(worker=worker):
        checks.extend(found or [])
    for check in checks:
        check["fatal"] = check["name"] in health["fatal"]
    return checks


class WorkerHealth:
    """Hook implementations holding one worker's health state."""

    def __init__(self, settings: Dict[str, Dict[str, Any]]) -> None:
        self.health = settings["health"]
        self.metrics_conf = settings["metrics"]
        self.checks: List[Dict[str, Any]] = []
        self.failing: Dict[str, str] = {}
        self.hub: Dict[str, Optional[float]] = {"ok": None, "error": None}
        self.metrics: Optional[WorkerMetrics] = None

    # -- the worker ------------------------------------------------------------

    @hookimpl
    def kojid_worker_startup(self, worker: Any) -> None:
        write_pid(self.health["pid_file"], worker.pid)
        if self.metrics_conf["enabled"] and self.metrics is None:
            self.metrics = WorkerMetrics(self.metrics_conf["spool_dir"], self._since_update)
            self.metrics.serve(self.metrics_conf["listen"])

    @hookimpl
    def kojid_worker_loop(self, worker: Any) -> None:
        self.checks = gather_checks(worker, worker.options, self.health, self.hub)
        self._log_changes()

    @hookimpl
    def kojid_worker_reported(self, worker: Any, ready: bool, hub_ok: bool) -> None:
        self.hub["ok" if hub_ok else "error"] = time.time()
        if self.metrics is not None:
            self.metrics.ready.set(1 if ready and hub_ok else 0)
        self._write_status(worker, ready and hub_ok)

    @hookimpl
    def kojid_worker_shutdown(self, worker: Any, reason: str) -> None:
        self._write_status(worker, False, stopped=reason)
        if self.metrics is not None:
            self.metrics.stop()

    # -- readiness -------------------------------------------------------------

    def fatal_failures(self) -> List[str]:
        return ["%s: %s" % (c["name"], c["detail"]) for c in self.checks
                if c["fatal"] and not c["ok"]]

    @hookimpl
    def kojid_ready_vote(self, worker: Any) -> Optional[str]:
        failures = self.fatal_failures()
        return "; ".join(failures) if failures else None

    @hookimpl
    def kojid_host_data(self, worker: Any) -> Dict[str, Any]:
        return {"health": {c["name"]: "ok" if c["ok"] else "FAIL: " + c["detail"]
                           for c in self.checks}}

    def _log_changes(self) -> None:
        """Log each check once when it starts failing and once when it recovers."""
        now_failing = {c["name"]: c["detail"] for c in self.checks if not c["ok"]}
        for name, detail in now_failing.items():
            if name not in self.failing:
                fatal = name in self.health["fatal"]
                logger.warning("health check %s failing%s: %s", name,
                               " (worker not ready)" if fatal else "", detail)
        for name in self.failing:
            if name not in now_failing:
                logger.info("health check %s passes again", name)
        self.failing = now_failing

    def _since_update(self) -> float:
        last = self.hub["ok"]
        return time.time() - last if last else float("nan")

    # -- tasks -----------------------------------------------------------------

    @hookimpl
    def kojid_task_finished(self, task: Any, outcome: str) -> None:
        if not self.metrics_conf["enabled"]:
            return
        report = task_report(task, outcome)
        if self.metrics is not None and os.getpid() == task.worker.pid:
            self.metrics.record(report)
        else:
            spool_report(self.metrics_conf["spool_dir"], task.id, report)

    @hookimpl
    def kojid_task_reaped(self, worker: Any, task_id: int, outcome: str,
                          method: Optional[str]) -> None:
        if self.metrics is None:
            return
        if not self.metrics.collect(task_id):
            self.metrics.record({"method": method, "outcome": outcome})

    # -- the status file -------------------------------------------------------

    def _write_status(self, worker: Any, ready: bool, stopped: Optional[str] = None) -> None:
        status: Dict[str, Any] = {
            "time": time.time(), "pid": worker.pid, "host_id": worker.host_id,
            "sleeptime": worker.options.sleeptime, "ready": ready,
            "last_hub_update": self.hub["ok"], "last_hub_error": self.hub["error"],
            "reasons": self._reasons(worker, ready), "checks": self.checks,
            "tasks": worker.running_tasks, "stopped": stopped,
        }
        for extra in runtime.get_manager().hook.kojid_worker_status(worker=worker):
            for key, value in (extra or {}).items():
                status.setdefault(key, value)
        if self.metrics is not None:
            self.metrics.leases_held.set(len(status.get("leases", ())))
        try:
            write_json(self.health["status_file"], status)
        except OSError as error:
            logger.warning("cannot write status file %s: %s", self.health["status_file"],
                           error)

    def _reasons(self, worker: Any, ready: bool) -> List[str]:
        if ready:
            return []
        reasons = self.fatal_failures()
        if not reasons and worker.status:
            reasons = [worker.status]
        if self.hub["error"] and (not self.hub["ok"] or self.hub["error"] > self.hub["ok"]):
            reasons.append("the hub could not be reached")
        return reasons


def install(path: Optional[str] = None) -> WorkerHealth:
    """Read the settings, register the hooks and wire kojid (idempotent).

    :raises kojid_plugins.config.ConfigError: on a bad configuration
    """
    settings = read_health_settings(path)
    if settings["metrics"]["enabled"] and not importlib.util.find_spec("prometheus_client"):
        raise ConfigError("bad config: %s [metrics] enabled: prometheus_client is not "
                          "installed" % settings["path"]["file"])
    plugin = wiring.activate(WorkerHealth(settings), NAME)
    logger.info("worker_health: fatal checks %s, status file %s",
                " ".join(settings["health"]["fatal"]), settings["health"]["status_file"])
    return plugin
