"""The promises checked after every scenario, each from an outside record.

- ``no_lease_held``: orch's own holder table lists nothing for the
  world's workers once they have recovered;
- ``journal_empty``: no lease journal entry or resource file is left;
- ``no_task_lost``: every task ended (closed or failed) on the hub,
  none stuck open on a dead worker;
- ``files_contained``: no file was written outside its directory: the
  path each hostile file name served by orch points at does not exist
  (and ``journal_empty`` finds the resource directory empty);
- ``ready_again``: the worker reported ready to the hub within
  ``READY_LOOPS`` loops of the fault ending;
- ``no_container_left``: the podman service lists no container of the
  world's workers (the podman scenario; other scenarios run none);
- ``no_hook_raised`` (in the runner): no hook implementation raised.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

from .world import FINAL, World

__all__ = ("Checks", "READY_LOOPS")

#: kojid loops (host.updateHost calls) a recovered worker may take to be ready
READY_LOOPS = 5


class Checks:
    """Run invariant checks and keep their verdicts."""

    def __init__(self) -> None:
        self.results: List[Dict[str, Any]] = []

    def record(self, name: str, ok: bool, detail: str = "") -> bool:
        self.results.append({"name": name, "ok": bool(ok), "detail": detail})
        return bool(ok)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r["ok"])

    @property
    def failed(self) -> List[Dict[str, Any]]:
        return [r for r in self.results if not r["ok"]]

    # -- each invariant ------------------------------------------------------------

    def no_lease_held(self, world: World, timeout: float = 30.0) -> int:
        """orch holds nothing for the workers; the count left at the deadline."""
        left = _settle(world.worker_holders, timeout)
        self.record("no_lease_held", not left,
                    "orch still lists %s" % [h["uuid"] for h in left] if left else "")
        return len(left)

    def journal_empty(self, world: World, timeout: float = 15.0) -> None:
        def leftovers() -> List[str]:
            found = []
            for worker in world.workers:
                for sub in (Path(worker.journal), worker.base / "resources"):
                    if sub.is_dir():
                        found += [str(sub / n) for n in os.listdir(sub)
                                  if not n.startswith(".") and n != "lost+found"]
            return found

        left = _settle(leftovers, timeout)
        self.record("journal_empty", not left, "left: %s" % left[:5] if left else "")

    def no_task_lost(self, world: World, timeout: float = 90.0,
                     ids: Optional[Iterable[int]] = None) -> int:
        """Every task ended; the count not ended at the deadline."""
        ids = list(ids if ids is not None else world.tasks)

        def unfinished() -> Dict[int, str]:
            return {t: s for t, s in world.states(ids).items() if s not in FINAL}

        left = _settle(unfinished, timeout, interval=0.3)
        self.record("no_task_lost", not left,
                    "not ended: %s" % dict(list(left.items())[:5]) if left else "")
        return len(left)

    def no_container_left(self, world: World, timeout: float = 30.0) -> Optional[int]:
        """No build-root container is left; the count at the deadline, or
        None when the world ran no container."""
        from .podman_restart import containers_left

        if getattr(world, "podman", None) is None:
            return None
        left = _settle(lambda: containers_left(world), timeout)
        self.record("no_container_left", not left, "left: %s" % left if left else "")
        return len(left)

    def files_contained(self, world: World, forbidden: Iterable[str] = ()) -> None:
        escaped = [path for path in forbidden if os.path.lexists(path)]
        self.record("files_contained", not escaped,
                    "written outside: %s" % escaped if escaped else "")

    def ready_again(self, world: World, mark: int, name: Optional[str] = None,
                    timeout: float = 30.0) -> Optional[int]:
        """Loops (``host.updateHost`` calls after ``mark``) until ready."""
        names = [name] if name else [w.name for w in world.workers]
        worst = 0
        for host in names:
            def loops_to_ready(host: str = host) -> Optional[int]:
                calls = world.hub.call_log(method="host.updateHost", user=host,
                                           after_id=mark)
                for number, call in enumerate(calls, 1):
                    if call["fault_code"] is None and call["args"][1]:
                        return number
                return None

            _settle(lambda: loops_to_ready() is None, timeout)
            loops = loops_to_ready()
            if loops is None:
                self.record("ready_again", False, "%s never reported ready" % host)
                return None
            worst = max(worst, loops)
        self.record("ready_again", worst <= READY_LOOPS,
                    "ready after %d loop(s)" % worst)
        return worst


def call_mark(world: World) -> int:
    """The id of the hub's last logged call (a point in time for ready_again)."""
    calls = world.hub.call_log()
    return calls[-1]["id"] if calls else 0


def _settle(probe: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll ``probe`` until it returns something empty; its last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value and time.monotonic() < deadline:
        time.sleep(interval)
        value = probe()
    return value
