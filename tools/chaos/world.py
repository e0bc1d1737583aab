"""One run's world: a hub, an orch and workers, all on loopback.

Each scenario gets a fresh :class:`World` in a directory of its own: the
hub simulator, the orch simulator with one pool of slots, and kojid
runners (stock ``koji.daemon.TaskManager`` in kojid's loop) with the
``orch_resources``, ``worker_health`` and ``lease_probe`` plugins.
Every worker sends to orch from its own loopback address, since orch
knows its callers by source address.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional

import koji

from tests.doubles.hub_sim import HubSimulator
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.worker import Worker, wait_until

__all__ = ("World", "POOL", "FINAL")

#: the fleet-wide pool every leaseProbe task takes one slot of
POOL = ["c4a05000-0000-4000-8000-0000000000%02d" % n for n in range(1, 6)]
#: task states that end a task
FINAL = ("CLOSED", "FAILED", "CANCELED")

ORCH_CONF = """\
[orch]
url = {url}
timeout = 2
health_timeout = 1
retries = 1
backoff = 0.05
release_retry = 1
source_address = {ip}
journal_dir = {journal}
resource_dir = {base}/resources

[resource:slot]
pool = {pool}

[lease:probe]
methods = {methods}
resources = slot
"""

HEALTH_CONF = """\
[health]
fatal = hub orch journal plugins
min_free_mb = 1
status_file = {base}/status.json
pid_file = {base}/kojid.pid
"""

#: kojid's own retry settings, shortened so an outage of seconds is
#: bridged in seconds (kojid's defaults wait 60 s between hub retries)
KOJID = {"retry_interval": "1", "max_retries": "60", "offline_retry_interval": "1",
         "maxjobs": "5", "log_level": "INFO"}


class World:
    """The simulators and workers of one scenario.

    :param base: a directory of its own (created)
    :param refusal_timeout: seconds a soft refusal keeps a task from a host
    """

    def __init__(self, base: Path, refusal_timeout: float = 2.0) -> None:
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.hub = HubSimulator(str(self.base / "hub.sqlite"), str(self.base / "hub-topdir"),
                                soft_refusal_timeout=refusal_timeout).start()
        self.orch = OrchSimulator(str(self.base / "orch.sqlite")).start()
        for number, uuid in enumerate(POOL, 1):
            self.orch.add_resource(uuid, "slot-%d" % number, content=b"slot %d\n" % number)
        self.workers: List[Worker] = []
        self.ips: Dict[str, str] = {}
        self.tasks: List[int] = []
        #: called at close, last first (mounts to remove, ...)
        self.cleanups: List[Callable[[], None]] = []

    def worker(self, name: str, ip: str, journal: Optional[str] = None,
               start: bool = True, extra: Optional[Dict[str, str]] = None,
               methods: str = "leaseProbe", **kojid: str) -> Worker:
        """A worker sending to orch from ``ip``, journal in ``journal``.

        :param extra: more plugins, name -> the text of its ``NAME.conf``
            (``container_buildroot`` also puts the host in the runroot
            channel and shares the hub's topdir)
        :param methods: the task methods that take a pool slot
        """
        base = self.base / name
        journal = journal or str(base / "leases")
        extra = dict(extra or {})
        channels = ("default", "runroot") if "container_buildroot" in extra else ("default",)
        self.hub.add_host(name, password=name + "-pw", arches="x86_64", channels=channels)
        options = dict(KOJID, **kojid)
        if "container_buildroot" in extra:
            options["topdir"] = self.hub.topdir
        confs = dict(extra, **{
            "orch_resources": ORCH_CONF.format(url=self.orch.url, ip=ip, journal=journal,
                                               base=base, pool=" ".join(POOL),
                                               methods=methods),
            "worker_health": HEALTH_CONF.format(base=base),
        })
        worker = Worker(base, self.hub.url, name, name + "-pw", kojid=options, confs=confs,
                        plugins=["orch_resources", "worker_health", "lease_probe",
                                 *extra])
        worker.journal = journal  # type: ignore[attr-defined]
        self.workers.append(worker)
        self.ips[name] = ip
        if start:
            worker.start()
            self.wait_ready(worker)
        return worker

    def wait_ready(self, worker: Worker, timeout: float = 60.0) -> None:
        wait_until(lambda: (self.hub.get_host(worker.name) or {}).get("ready"), timeout,
                   interval=0.1, what="%s to report ready" % worker.name)

    def submit(self, count: int, seconds: float = 0.0, mode: str = "close") -> List[int]:
        """``count`` leaseProbe tasks; their ids."""
        ids = [self.hub.make_task("leaseProbe", [mode, seconds]) for _ in range(count)]
        self.tasks.extend(ids)
        return ids

    def state(self, task_id: int) -> str:
        return koji.TASK_STATES[self.hub.task(task_id)["state"]]

    def states(self, ids: Optional[List[int]] = None) -> Dict[int, str]:
        return {task_id: self.state(task_id) for task_id in (ids or self.tasks)}

    def worker_holders(self) -> List[dict]:
        """orch's own record of leases held by this world's workers."""
        ours = set(self.ips.values())
        return [h for h in self.orch.holders() if h["ip"] in ours]

    def close(self) -> None:
        """Kill every worker (and its task children), stop the simulators."""
        for worker in self.workers:
            worker.kill_all()
        self.hub.stop()
        self.orch.stop()
        for cleanup in reversed(self.cleanups):
            cleanup()


def child_pids(worker: Worker) -> List[int]:
    """The task children of a worker that are still running."""
    return [pid for pid in worker.children() if os.path.exists("/proc/%d" % pid)]
