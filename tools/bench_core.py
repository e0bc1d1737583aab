"""``make bench``: what the hooks and leases cost per task.  A script, not a test.

Three measurements, each printed against the target of issue "Core":

1. hook dispatch plus lease-journal bookkeeping per task, with a local
   stand-in for orch (no network): target under 2 ms;
2. the same with one real checkout and release per task against the orch
   simulator on loopback: target p50 under 10 ms;
3. N ``sleep 0`` tasks through the kojid runner, stock and with
   ``orch_resources`` (one lease per task): wall time per task, and kojid's
   resident memory; target under 25 MB added.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, List

import koji

from kojid_plugins import orch_resources, runtime, wiring
from kojid_plugins.context import TaskContext, WorkerContext
from kojid_plugins.orch_settings import read_settings
from orch_bridge import CheckoutResult
from tests.doubles.hub_sim import HubSimulator
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.worker import Worker, wait_until

UUID = "be7c0000-0000-4000-8000-000000000001"
#: one lease per task, never contended: as many slots as kojid's maxjobs
SLOTS = ["be7c0000-0000-4000-8000-0000000001%02d" % n for n in range(10)]

CONF = """\
[orch]
url = {url}
journal_dir = {base}/leases
resource_dir = {base}/resources

[resource:token]
{uuid}

[lease:all]
methods = *
resources = token
"""


class LocalOrch:
    """Stands in for ``OrchClient`` without a network: writes the file."""

    def checkout(self, uuid: str, directory: str) -> CheckoutResult:
        path = os.path.join(directory, "token")
        with open(path, "wb") as handle:
            handle.write(b"token")
        os.chmod(path, 0o600)
        return CheckoutResult(uuid, path, "token")

    def release(self, uuid: str) -> dict:
        return {}


class FakeHandler:
    method = "sleep"
    params: List[Any] = [0]

    def __init__(self, task_id: int) -> None:
        self.id = task_id
        self.session = None


class FakeManager:
    options = None
    session = None
    host_id = 1
    pids: dict = {}
    status = ""


def per_task(base: Path, url: str, client: Any, count: int) -> List[float]:
    """Milliseconds for prepare + finished hooks of ``count`` tasks."""
    base.mkdir(parents=True, exist_ok=True)
    conf = base / "orch_resources.conf"
    conf.write_text(CONF.format(url=url, base=base, uuid="uuid = " + UUID))
    runtime.reset()
    plugin = orch_resources.OrchResources(read_settings(str(conf)))
    if client is not None:
        plugin._client = client
    runtime.register(plugin, "orch_resources")
    hook = runtime.get_manager().hook
    worker = WorkerContext(FakeManager())

    samples = []
    for task_id in range(1, count + 1):
        start = time.perf_counter()
        task = TaskContext(worker, FakeHandler(task_id), {"arch": "noarch"})
        hook.kojid_task_prepare(task=task)
        hook.kojid_task_finished(task=task, outcome="closed", error=None)
        samples.append((time.perf_counter() - start) * 1000)
    runtime.reset()
    return samples


def show(label: str, samples: List[float], target: str) -> None:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print("  %-44s p50 %7.3f ms  p95 %7.3f ms  max %7.3f ms   target: %s" % (
        label, statistics.median(ordered), p95, ordered[-1], target))


def rss_mb(pid: int) -> float:
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def through_runner(base: Path, hub: HubSimulator, orch_url: str, count: int,
                   plugins: bool) -> Any:
    """Run ``count`` sleep-0 tasks through a fresh worker; (s/task, MB)."""
    name = "bench-%s" % ("plugins" if plugins else "stock")
    hub.add_host(name, password="pw", arches="x86_64")
    slots = "pool = " + " ".join(SLOTS)
    confs = {"orch_resources": CONF.format(url=orch_url, base=base / name, uuid=slots)}
    worker = Worker(base / name, hub.url, name, "pw", confs=confs,
                    plugins=["orch_resources"] if plugins else [],
                    kojid={"maxjobs": "10", "log_level": "WARNING"})
    worker.start()
    wait_until(lambda: hub.get_host(name)["ready"], 30, what="%s to be ready" % name)
    ids = [hub.make_task("sleep", [0]) for _ in range(count)]
    start = time.monotonic()
    closed = koji.TASK_STATES["CLOSED"]
    wait_until(lambda: all(hub.task(i)["state"] == closed for i in ids),
               timeout=count * 2.0, interval=0.2, what="the bench tasks")
    elapsed = time.monotonic() - start
    memory = rss_mb(worker.pid)
    worker.stop()
    hub.set_host_enabled(name, False)
    return elapsed / count, memory


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="koji-worker-bench."))
    try:
        return run(base, args.tasks)
    finally:
        wiring.uninstall()
        shutil.rmtree(base, ignore_errors=True)


def run(base: Path, count: int) -> int:
    orch = OrchSimulator(str(base / "orch.sqlite")).start()
    for uuid in [UUID] + SLOTS:
        orch.add_resource(uuid, "token-" + uuid[-3:], content=b"token")
    hub = HubSimulator(str(base / "hub.sqlite"), str(base / "topdir")).start()
    try:
        print("per task, in process (%d tasks):" % count)
        local = per_task(base / "local", orch.url, LocalOrch(), count)
        show("hooks + journal, no orch calls", local, "< 2 ms")
        remote = per_task(base / "remote", orch.url, None, count)
        show("hooks + journal + checkout/release (loopback)", remote, "p50 < 10 ms")

        print("through the kojid runner (%d sleep-0 tasks, maxjobs 10):" % count)
        stock_time, stock_mem = through_runner(base, hub, orch.url, count, plugins=False)
        plug_time, plug_mem = through_runner(base, hub, orch.url, count, plugins=True)
        print("  stock kojid loop            %6.1f ms/task   kojid RSS %6.1f MB" % (
            stock_time * 1000, stock_mem))
        print("  with orch_resources         %6.1f ms/task   kojid RSS %6.1f MB" % (
            plug_time * 1000, plug_mem))
        print("  added per task %+.1f ms; added memory %+.1f MB   target: < 25 MB" % (
            (plug_time - stock_time) * 1000, plug_mem - stock_mem))
        leaked = orch.holders()
        print("  leases left in orch: %d" % len(leaked))
    finally:
        hub.stop()
        orch.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
