"""The podman scenario: the podman service restarted under running build roots.

The worker runs ``runroot`` tasks (each also takes an orch pool slot) in
real containers on the private podman test service
(``tools/podman-env.sh``), and the service is stopped and started again
at a random point while containers run.  Besides the common invariants,
:func:`containers_left` checks that no container of the world's workers
is left on the service.

It restarts the shared test service: do not run it beside ``make test``.
"""

from __future__ import annotations

import random
import time
from typing import List

from podman import PodmanClient

from tests.doubles.podman_env import (PodmanEnv, podman_env_down, podman_env_up,
                                      podman_service_start, podman_service_stop)
from tests.doubles.worker import wait_until

from .world import World

__all__ = ("podman_restart", "containers_left")

TAG = "chaos-build"

def _env(world: World) -> PodmanEnv:
    env = podman_env_up()
    world.cleanups.append(podman_env_down)
    world.podman = env  # type: ignore[attr-defined]
    return env


def podman_restart(world: World, rng: random.Random, scale: int):
    from .scenarios import Run

    run = Run()
    env = _env(world)
    world.hub.add_tag(TAG, arches="x86_64")
    world.hub.add_repo(TAG)
    worker = world.worker("w1", "127.0.0.11", methods="leaseProbe runroot",
                          extra={"container_buildroot": env.plugin_conf(
                              timeout=30, cpus=0.5, memory_mb=256, pids=256)})
    for _ in range(scale):
        count = rng.randint(2, 4)
        for _ in range(count):
            command = "echo start; sleep %.1f; echo end" % rng.uniform(2.0, 6.0)
            world.tasks.append(world.hub.make_task("runroot", [TAG, "x86_64", command],
                                                   channel="runroot", arch="x86_64"))
        wait_until(lambda: containers_left(world), 60, interval=0.1,
                   what="a build-root container to run")
        time.sleep(rng.uniform(0.0, 1.5))
        podman_service_stop()
        run.faults["podman service restarted"] += 1
        time.sleep(rng.uniform(1.0, 4.0))
        podman_service_start()
    run.fault_ended(world)
    run.notes.append("runroot tasks on %s, worker %s" % (env.url, worker.name))
    return run


def containers_left(world: World) -> List[str]:
    """Containers of this world's workers still on the podman service."""
    env = getattr(world, "podman", None)
    if env is None:
        return []
    names = {w.name for w in world.workers}
    with PodmanClient(base_url=env.url) as client:
        found = client.containers.list(all=True)
        return [c.id[:12] for c in found if (c.labels or {}).get("koji.host") in names]
