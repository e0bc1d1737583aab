"""Load: many tasks through workers sharing one pool of orch slots.

``pool_load``: tasks across 3 workers that share the pool of 5 slots;
orch's own history must never show more than 5 holders at once, and
every lease must be given back.  ``single_worker``: tasks through one
worker while kojid's resident memory and open file descriptors are
sampled, to show they stay flat.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from .invariants import Checks
from .world import FINAL, POOL, World

__all__ = ("pool_load", "single_worker")


def _wait_all(world: World, ids: List[int], timeout: float) -> int:
    """Wait for every task to end; how many had not at the deadline."""
    deadline = time.monotonic() + timeout
    left = list(ids)
    while left and time.monotonic() < deadline:
        left = [t for t in left if world.state(t) not in FINAL]
        if left:
            time.sleep(0.5)
    return len(left)


def pool_load(base: Path, count: int, workers: int = 3) -> Dict[str, Any]:
    """``count`` tasks across ``workers`` workers, one pool of 5 slots."""
    print("== load: %d tasks, %d workers, a pool of %d slots" % (count, workers, len(POOL)),
          flush=True)
    world = World(base, refusal_timeout=1.0)
    checks = Checks()
    try:
        for number in range(1, workers + 1):
            world.worker("load-%d" % number, "127.0.0.%d" % (20 + number))
        started = time.monotonic()
        ids = world.submit(count, seconds=1.0)
        lost = _wait_all(world, ids, timeout=60 + count * 2.0)
        elapsed = time.monotonic() - started
        most = world.orch.max_concurrent(POOL)
        checks.record("pool_limit", most <= len(POOL), "at most %d holders" % most)
        checks.no_task_lost(world, timeout=1)
        leaked = checks.no_lease_held(world)
        checks.journal_empty(world)
        states = world.states(ids)
        result = {
            "tasks": count, "workers": workers, "slots": len(POOL), "max_holders": most,
            "seconds": elapsed, "per_second": count / elapsed if elapsed else 0.0,
            "closed": sum(1 for s in states.values() if s == "CLOSED"), "lost": lost,
            "leaked": leaked, "checks": checks.results,
            "checkouts": sum(1 for e in world.orch.history() if e["action"] == "checkout"),
            "refusals": len(world.hub.refusals()),
        }
    finally:
        world.close()
    print("   %d tasks in %.1f s (%.1f tasks/s), at most %d of %d slots held, "
          "%d lost, %d leaked" % (count, result["seconds"], result["per_second"],
                                  result["max_holders"], len(POOL), lost, leaked), flush=True)
    return result


def _rss_kb(pid: int) -> int:
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _fds(pid: int) -> int:
    return len(os.listdir("/proc/%d/fd" % pid))


class Sampler:
    """Samples a process's RSS (kB) and open fds every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: List[Dict[str, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            try:
                self.samples.append({"t": time.monotonic() - started,
                                     "rss_kb": _rss_kb(self.pid), "fds": _fds(self.pid)})
            except OSError:
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()


def single_worker(base: Path, count: int) -> Dict[str, Any]:
    """``count`` tasks through one worker; kojid's RSS and fds over the run."""
    print("== load: %d tasks through one worker, sampling kojid" % count, flush=True)
    world = World(base)
    checks = Checks()
    try:
        worker = world.worker("solo", "127.0.0.31")
        # warm up first: imports and pools are made on the first tasks
        warm = world.submit(10)
        _wait_all(world, warm, 60)
        started = time.monotonic()
        with Sampler(worker.pid) as sampler:
            ids = world.submit(count, seconds=0.0)
            lost = _wait_all(world, ids, timeout=60 + count * 1.0)
        elapsed = time.monotonic() - started
        checks.no_task_lost(world, timeout=1)
        leaked = checks.no_lease_held(world)
        flat = _flatness(sampler.samples)
        checks.record("rss_flat", flat["rss_growth_kb"] <= 8 * 1024,
                      "RSS grew %d kB" % flat["rss_growth_kb"])
        checks.record("fds_flat", flat["fds_growth"] <= 2,
                      "open fds grew by %d" % flat["fds_growth"])
        result = dict(flat, tasks=count, seconds=elapsed, lost=lost, leaked=leaked,
                      per_second=count / elapsed if elapsed else 0.0,
                      samples=sampler.samples, checks=checks.results)
    finally:
        world.close()
    print("   %d tasks in %.1f s; kojid RSS %s MB; open fds %s" % (
        count, elapsed, " ".join("%.1f" % (s / 1024) for s in result["rss_points"]),
        " ".join(str(f) for f in result["fd_points"])), flush=True)
    return result


def _flatness(samples: List[Dict[str, float]]) -> Dict[str, Any]:
    """Growth from the first to the last quarter of the run (medians)."""
    if len(samples) < 4:
        samples = samples * 4 or [{"t": 0, "rss_kb": 0, "fds": 0}] * 4
    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]
    step = max(1, len(samples) // 8)
    points = samples[::step]
    return {
        "rss_first_kb": statistics.median(s["rss_kb"] for s in first),
        "rss_last_kb": statistics.median(s["rss_kb"] for s in last),
        "rss_max_kb": max(s["rss_kb"] for s in samples),
        "rss_growth_kb": int(statistics.median(s["rss_kb"] for s in last)
                             - statistics.median(s["rss_kb"] for s in first)),
        "fds_first": statistics.median(s["fds"] for s in first),
        "fds_last": statistics.median(s["fds"] for s in last),
        "fds_max": max(s["fds"] for s in samples),
        "fds_growth": int(statistics.median(s["fds"] for s in last)
                          - statistics.median(s["fds"] for s in first)),
        "rss_points": [s["rss_kb"] for s in points],
        "fd_points": [s["fds"] for s in points],
    }
