"""Prometheus figures for the worker, counted in kojid itself.

Tasks run in forked children, whose memory dies with them, so a child
leaves its figures (method, outcome, duration, lease figures) in a small
JSON file in the spool directory when its task ends, and kojid counts it
when it reaps the child.  A child that was killed leaves nothing; kojid
then counts the outcome it saw (``killed``, ``canceled``...).

The HTTP endpoint is prometheus-client's own server thread, bound to a
loopback address by default.  It only reads the registry; no code of this
project that a forked child runs takes a lock that thread may hold.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Callable, Dict, Optional, Tuple

from .atomic import write_atomic

__all__ = ("WorkerMetrics", "spool_report", "parse_listen")

logger = logging.getLogger("koji.plugin.worker_health")

#: seconds buckets: most tasks are short, builds are long
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)
ACQUIRE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def parse_listen(text: str) -> Tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def spool_report(spool_dir: str, task_id: int, report: Dict[str, Any]) -> None:
    """Leave one task's figures for kojid (called in the task's process)."""
    os.makedirs(spool_dir, mode=0o700, exist_ok=True)
    path = os.path.join(spool_dir, "%d.%d.json" % (task_id, os.getpid()))
    write_atomic(path, json.dumps(report).encode())


class WorkerMetrics:
    """The worker's registry, its endpoint and the spool it reads.

    :param spool_dir: where task processes leave their figures
    :param since_update: returns seconds since the last hub update
    """

    def __init__(self, spool_dir: str, since_update: Callable[[], float]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.spool_dir = spool_dir
        self.registry = registry = CollectorRegistry()
        self.tasks = Counter("koji_worker_tasks", "Tasks ended, by method and outcome",
                             ["method", "outcome"], registry=registry)
        self.duration = Histogram("koji_worker_task_duration_seconds",
                                  "Time from a task's start to its end", ["method"],
                                  buckets=DURATION_BUCKETS, registry=registry)
        self.acquire = Histogram("koji_worker_lease_acquire_seconds",
                                 "Time to check out a task's orch leases",
                                 buckets=ACQUIRE_BUCKETS, registry=registry)
        self.lease_failures = Counter("koji_worker_lease_failures",
                                      "Tasks refused for want of an orch lease",
                                      registry=registry)
        self.leases_held = Gauge("koji_worker_leases_held",
                                 "orch leases held by this worker's tasks", registry=registry)
        self.ready = Gauge("koji_worker_ready", "1 when kojid told the hub it is ready",
                           registry=registry)
        self.since_update = Gauge("koji_worker_seconds_since_hub_update",
                                  "Seconds since kojid last reached the hub",
                                  registry=registry)
        self.since_update.set_function(since_update)
        self.server: Optional[Any] = None

    def serve(self, listen: str) -> None:
        """Start the HTTP endpoint (a daemon thread) on ``listen``."""
        from prometheus_client import start_http_server

        host, port = parse_listen(listen)
        answer = start_http_server(port, addr=host, registry=self.registry)
        self.server = answer[0] if isinstance(answer, tuple) else answer
        logger.info("metrics served on http://%s:%d/metrics", host, port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def record(self, report: Dict[str, Any]) -> None:
        """Count one task's figures."""
        method = report.get("method") or "unknown"
        self.tasks.labels(method, report.get("outcome") or "unknown").inc()
        if report.get("duration") is not None:
            self.duration.labels(method).observe(report["duration"])
        figures = report.get("figures") or {}
        if "lease_acquire_seconds" in figures:
            self.acquire.observe(figures["lease_acquire_seconds"])
        if figures.get("lease_failures"):
            self.lease_failures.inc(figures["lease_failures"])

    def collect(self, task_id: int) -> int:
        """Count the reports one task's process spooled; how many."""
        try:
            names = os.listdir(self.spool_dir)
        except FileNotFoundError:
            return 0
        prefix = "%d." % task_id
        counted = 0
        for name in names:
            if not name.endswith(".json") or name.startswith(".") \
                    or not name.startswith(prefix):
                continue
            path = os.path.join(self.spool_dir, name)
            try:
                with open(path) as handle:
                    self.record(json.load(handle))
                counted += 1
            except (OSError, ValueError):
                logger.warning("metrics report %s is unreadable; dropped", path)
            try:
                os.unlink(path)
            except OSError:
                pass
        return counted


def task_report(task: Any, outcome: str) -> Dict[str, Any]:
    """What one task leaves for the metrics."""
    return {"task_id": task.id, "method": task.method, "outcome": outcome,
            "duration": time.time() - task.started, "figures": dict(task.figures)}
