"""``make bench-containers``: what a podman build root costs.  A script, not a test.

Measured against the targets of issue "Containers", with the test image
already cached by ``tools/podman-env.sh up``:

1. time from a runroot task being opened on the hub to the command's
   first output inside the container (the command prints the clock as
   its first act; the hub records when the task opened): target p50
   under 1.5 s;
2. removal of a build-root container (``BuildrootContainers.remove``),
   exited and still running (as after a cancel): target under 1 s;
3. 20 runroot tasks at once on one worker: all end, and no container is
   left behind.

Mock's cost of initialising a chroot is printed beside these as a cited
statement, not a measurement: mock cannot run on this machine.
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import koji

from kojid_plugins.containers import BuildrootContainers
from tests.doubles.hub_sim import HubSimulator
from tests.doubles.podman_env import PodmanEnv, podman_env_down, podman_env_up
from tests.doubles.worker import Worker, wait_until
from tools import demo_runroot

TAG = demo_runroot.TAG
MOCK_CITED = ("mock chroot initialisation (cited, not measured): \"tens of seconds\" to "
              "populate a chroot (issue Containers); mock's own issue #1159 calls build-root "
              "preparation \"relatively expensive and time consuming\" (many DNF "
              "transactions, large metadata downloads)")


def pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def opened_at(info: Dict[str, Any]) -> float:
    if info.get("start_ts"):
        return float(info["start_ts"])
    return datetime.datetime.fromisoformat(info["start_time"]).timestamp()


def wait_ended(hub: HubSimulator, ids: List[int], timeout: float) -> Dict[int, str]:
    def states() -> Dict[int, str]:
        return {i: koji.TASK_STATES[hub.task(i)["state"]] for i in ids}

    wait_until(lambda: all(s in ("CLOSED", "FAILED", "CANCELED") for s in states().values()),
               timeout, what="%d runroot tasks to end" % len(ids))
    return states()


def first_output(session: Any, hub: HubSimulator, runs: int) -> List[float]:
    """Seconds from OPEN to the first line the command printed, per task."""
    delays = []
    for _ in range(runs):
        task_id = session.runroot(TAG, "x86_64", "date +%s.%N; echo done")
        wait_ended(hub, [task_id], 120)
        log = session.downloadTaskOutput(task_id, "runroot.log").decode()
        delays.append(float(log.split()[0]) - opened_at(session.getTaskInfo(task_id)))
    return delays


def removals(env: PodmanEnv, runs: int) -> Dict[str, List[float]]:
    """Seconds to remove one build-root container, exited or still running."""
    containers = BuildrootContainers(env.url, "bench-removal", timeout=60)
    limits = {"cpus": 1, "memory_mb": 256, "pids": 256}
    times: Dict[str, List[float]] = {"exited": [], "running": []}
    for _ in range(runs):
        made = containers.create(env.image, ["true"], {"koji.bench": "1"}, [], limits, False)
        containers.run(made, "/dev/null")
        times["exited"].append(timed(containers.remove, made))

        made = containers.create(env.image, ["sleep", "300"], {"koji.bench": "1"}, [],
                                 limits, False)
        made.start()  # a canceled task's container: still running
        times["running"].append(timed(containers.remove, made))
    return times


def timed(call: Any, *args: Any) -> float:
    started = time.monotonic()
    call(*args)
    return time.monotonic() - started


def concurrent(session: Any, hub: HubSimulator, env: PodmanEnv, host: str,
               count: int) -> Dict[str, Any]:
    """``count`` runroot tasks at once: peak containers, leftovers, wall time."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], len(demo_runroot.leftovers(env, host)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    ids = [session.runroot(TAG, "x86_64", "sleep 3; echo done") for _ in range(count)]
    states = wait_ended(hub, ids, 600)
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    return {"closed": sum(s == "CLOSED" for s in states.values()), "peak": peak[0],
            "left": demo_runroot.leftovers(env, host), "wall": wall}


def run(base: Path, runs: int, at_once: int) -> int:
    env = podman_env_up()
    hub = HubSimulator(str(base / "hub.sqlite"), str(base / "topdir")).start()
    hub.add_user("admin", "bench-admin", perms=("admin",))
    # runroot weighs 2.0: room for every task at once
    hub.add_host("bench-1", password="bench-pw", arches="x86_64",
                 capacity=2.0 * at_once + 2, channels=("default", "runroot"))
    demo_runroot.prepare_hub(hub)
    worker = Worker(base / "bench-1", hub.url, "bench-1", "bench-pw",
                    plugins=["container_buildroot"],
                    confs={"container_buildroot": env.plugin_conf()},
                    kojid={"topdir": hub.topdir, "maxjobs": str(at_once + 2)})
    try:
        worker.start()
        worker.wait_log(r"kojid_plugins active")
        session = koji.ClientSession(hub.url, {"user": "admin", "password": "bench-admin"})
        session.login()
        report(first_output(session, hub, runs), removals(env, runs),
               concurrent(session, hub, env, worker.name, at_once), at_once)
        return 0
    finally:
        if worker.running():
            worker.stop()
        hub.stop()
        podman_env_down()


def report(firsts: List[float], removed: Dict[str, List[float]],
           together: Dict[str, Any], at_once: int) -> None:
    print("task opened -> first output: p50 %.3f s, p95 %.3f s, max %.3f s (n=%d; "
          "target p50 < 1.5 s)" % (statistics.median(firsts), pct(firsts, 0.95),
                                    max(firsts), len(firsts)))
    for kind, times in removed.items():
        print("container removal (%s): p50 %.3f s, max %.3f s (n=%d; target < 1 s)"
              % (kind, statistics.median(times), max(times), len(times)))
    print("%d runroot tasks at once: %d closed, peak %d containers at once, %d left "
          "behind, %.1f s wall (target: none left)" % (
              at_once, together["closed"], together["peak"], len(together["left"]),
              together["wall"]))
    print(MOCK_CITED)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="sequential tasks and removals")
    parser.add_argument("--at-once", type=int, default=20, help="concurrent runroot tasks")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="koji-worker-bench."))
    try:
        return run(base, args.runs, args.at_once)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
