"""The fault scenarios: each injects one kind of fault into a live world.

A scenario starts its worker(s), submits leaseProbe tasks (each takes a
slot of the orch pool), injects its fault at a point the seeded random
generator picks, ends the fault, and returns a :class:`Run` saying what
it did.  The invariants are checked afterwards by the runner, the same
way for every scenario.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from typing import Callable, Dict, List

from orch_bridge import OrchClient
from orch_bridge.errors import OrchError
from tests.doubles.worker import wait_until

from . import mounts
from .invariants import call_mark
from .podman_restart import podman_restart
from .world import POOL, World, child_pids

__all__ = ("Run", "SCENARIOS")

#: the source address of another orch client fighting for the pool
OUTSIDER_IP = "127.0.0.99"


class Run:
    """What one scenario did."""

    def __init__(self) -> None:
        self.faults: Counter = Counter()
        self.forbidden: List[str] = []
        self.mark = 0
        self.cleared = 0.0
        self.notes: List[str] = []

    def fault_ended(self, world: World) -> None:
        self.mark = call_mark(world)
        self.cleared = time.time()


def _holding(world: World, count: int = 1, timeout: float = 30.0) -> None:
    wait_until(lambda: len(world.worker_holders()) >= count, timeout, interval=0.05,
               what="%d lease(s) to be held" % count)


# -- orch ---------------------------------------------------------------------------


def orch_down(world: World, rng: random.Random, scale: int) -> Run:
    run = Run()
    world.worker("w1", "127.0.0.11")
    world.submit(3 * scale, seconds=rng.uniform(0.5, 2.0))
    time.sleep(rng.uniform(0.0, 1.5))
    world.orch.set_fault("down")
    run.faults["orch down"] += 1
    time.sleep(rng.uniform(2.0, 4.0))
    run.fault_ended(world)
    world.orch.clear_faults()
    return run


def _orch_fault(kind: str, label: str, make: Callable[[random.Random], Dict]) -> Callable:
    def scenario(world: World, rng: random.Random, scale: int) -> Run:
        run = Run()
        world.worker("w1", "127.0.0.11")
        world.submit(3 * scale, seconds=rng.uniform(0.0, 1.0))
        time.sleep(rng.uniform(0.0, 1.0))
        params = make(rng)
        world.orch.set_fault(kind, **params)
        run.faults[label] += params["count"]
        wait_until(lambda: kind not in world.orch.faults(), 60, interval=0.1,
                   what="the %s fault to be used up" % kind)
        run.fault_ended(world)
        return run

    scenario.__doc__ = "orch answers %s (count drawn from the seed)" % label
    return scenario


orch_slow = _orch_fault("slow", "orch slow", lambda rng: {
    "seconds": rng.choice([0.5, 1.5, 3.0]), "count": rng.randint(3, 8)})
orch_5xx = _orch_fault("http5xx", "orch 5xx burst", lambda rng: {
    "status": rng.choice([500, 502, 503]), "count": rng.randint(3, 8),
    "body": rng.choice([None, "<html><body>Bad Gateway</body></html>"])})
orch_malformed = _orch_fault("malformed", "orch malformed body", lambda rng: {
    "count": rng.randint(2, 6)})


def orch_hostile_filename(world: World, rng: random.Random, scale: int) -> Run:
    run = Run()
    worker = world.worker("w1", "127.0.0.11")
    outside = str(world.base / "escaped-absolute")
    names = [("../../escaped-relative", False), (outside, False),
             ("../escaped-star", True), ("sub/../../../escaped-nested", False),
             ("..", False)]
    rng.shuffle(names)
    for name, star in names[:max(3, scale + 2)]:
        world.orch.set_fault("hostile_filename", name=name, star=star, count=1)
        run.faults["orch hostile filename"] += 1
        world.submit(1)
        wait_until(lambda: "hostile_filename" not in world.orch.faults(), 30,
                   interval=0.1, what="the hostile name to be served")
    run.forbidden = [outside, str(worker.base / "escaped-relative"),
                     str(worker.base / "resources" / "escaped-star"),
                     str(worker.base / "escaped-nested"), str(world.base / "escaped-nested")]
    run.fault_ended(world)
    return run


def pool_409_storm(world: World, rng: random.Random, scale: int) -> Run:
    """Another holder grabs every slot it can while tasks want them."""
    run = Run()
    world.worker("w1", "127.0.0.11")
    outsider = OrchClient(world.orch.url, timeout=2, retries=0,
                          source_address=OUTSIDER_IP)
    scratch = world.base / "outsider"
    scratch.mkdir()
    stop = threading.Event()

    def grab() -> None:
        while not stop.is_set():
            for uuid in POOL:
                try:
                    outsider.checkout(uuid, str(scratch))
                except OrchError:
                    pass
            stop.wait(0.05)

    thread = threading.Thread(target=grab, daemon=True)
    thread.start()
    time.sleep(0.3)
    world.submit(3 * scale, seconds=rng.uniform(0.0, 0.5))
    time.sleep(rng.uniform(3.0, 5.0))
    stop.set()
    thread.join()
    for uuid in POOL:
        try:
            outsider.release(uuid)
        except OrchError:
            pass
    outsider.close()
    ours = set(world.ips.values())
    run.faults["orch 409 on pool"] += sum(
        1 for r in world.orch.requests(method="POST")
        if r["ip"] in ours and r["status"] == 409)
    run.fault_ended(world)
    return run


# -- hub ----------------------------------------------------------------------------


def _hub_down_at(method: str, label: str) -> Callable:
    def scenario(world: World, rng: random.Random, scale: int) -> Run:
        run = Run()
        world.worker("w1", "127.0.0.11")
        seconds = rng.uniform(2.0, 4.0)
        world.hub.down_at(method, seconds)
        world.submit(2 * scale, seconds=rng.uniform(0.0, 1.0))
        wait_until(lambda: method in world.hub.outages.cut_calls, 60, interval=0.1,
                   what="a %s call to be cut" % method)
        run.faults[label] += 1
        wait_until(lambda: world.hub.running, seconds + 10, interval=0.1,
                   what="the hub to come back")
        run.fault_ended(world)
        return run

    scenario.__doc__ = "the hub dies as %s arrives, for 2-4 s" % method
    return scenario


hub_down_at_take = _hub_down_at("host.openTask", "hub down at take")
hub_down_at_close = _hub_down_at("host.closeTask", "hub down at close")


def hub_down_during_task(world: World, rng: random.Random, scale: int) -> Run:
    run = Run()
    world.worker("w1", "127.0.0.11")
    world.submit(2 * scale, seconds=rng.uniform(2.0, 4.0))
    _holding(world)
    time.sleep(rng.uniform(0.0, 1.0))
    world.hub.down_for(rng.uniform(2.0, 5.0))
    run.faults["hub down during task"] += 1
    time.sleep(0.5)
    wait_until(lambda: world.hub.running, 20, interval=0.1, what="the hub to come back")
    run.fault_ended(world)
    return run


# -- the kernel ---------------------------------------------------------------------


def sigkill_task_child(world: World, rng: random.Random, scale: int) -> Run:
    run = Run()
    worker = world.worker("w1", "127.0.0.11")
    world.submit(3 * scale, seconds=rng.uniform(1.0, 3.0))
    for _ in range(2 * scale):
        deadline = time.monotonic() + 20
        while not child_pids(worker) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.8))
        children = child_pids(worker)
        if children:
            os.kill(rng.choice(children), signal.SIGKILL)
            run.faults["SIGKILL task child"] += 1
    run.fault_ended(world)
    return run


def sigkill_kojid(world: World, rng: random.Random, scale: int) -> Run:
    run = Run()
    worker = world.worker("w1", "127.0.0.11")
    for _ in range(scale):
        world.submit(3, seconds=rng.uniform(1.0, 3.0))
        time.sleep(rng.uniform(0.2, 2.5))
        worker.kill()
        run.faults["SIGKILL kojid"] += 1
        time.sleep(rng.uniform(0.0, 1.0))
        worker.start()
    run.fault_ended(world)
    return run


# -- the lease journal's disk ----------------------------------------------------------


def _journal_fault(kind: str) -> Callable:
    def scenario(world: World, rng: random.Random, scale: int) -> Run:
        run = Run()
        mount = mounts.TmpfsMount(world.base / "journal-fs", size_kb=64)
        world.cleanups.append(mount.remove)
        world.worker("w1", "127.0.0.11", journal=str(mount.path / "leases"))
        world.submit(3 * scale, seconds=rng.uniform(0.5, 2.0))
        time.sleep(rng.uniform(0.0, 1.5))
        if kind == "full":
            mount.fill()
            run.faults["journal disk full"] += 1
        else:
            mount.read_only(True)
            run.faults["journal read-only"] += 1
        world.submit(scale)
        time.sleep(rng.uniform(3.0, 5.0))
        run.fault_ended(world)
        if kind == "full":
            mount.unfill()
        else:
            mount.read_only(False)
        run.notes.append("journal on a 64 kB tmpfs at %s" % mount.path)
        return run

    scenario.__doc__ = "the lease journal's file system turns %s mid-run" % kind
    return scenario


journal_full = _journal_fault("full")
journal_read_only = _journal_fault("read-only")

#: name -> scenario, in the order they run
SCENARIOS: Dict[str, Callable[[World, random.Random, int], Run]] = {
    "orch_down": orch_down,
    "orch_slow": orch_slow,
    "orch_5xx": orch_5xx,
    "orch_malformed": orch_malformed,
    "orch_hostile_filename": orch_hostile_filename,
    "pool_409_storm": pool_409_storm,
    "hub_down_at_take": hub_down_at_take,
    "hub_down_during_task": hub_down_during_task,
    "hub_down_at_close": hub_down_at_close,
    "sigkill_task_child": sigkill_task_child,
    "sigkill_kojid": sigkill_kojid,
    "journal_full": journal_full,
    "journal_read_only": journal_read_only,
    "podman_restart": podman_restart,
}
