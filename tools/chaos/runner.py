"""Run the scenarios, check the invariants after each, gather the figures."""

from __future__ import annotations

import logging
import random
import re
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

from .invariants import Checks
from .scenarios import SCENARIOS, Run
from .world import World

__all__ = ("run_scenarios",)

logger = logging.getLogger("chaos")

#: what kojid_plugins logs when a hook implementation raised (it is skipped)
_HOOK_FAILED = re.compile(r"plugin \S+ failed in kojid_\w+; skipped")


def run_scenarios(base: Path, seed: int, rounds: int, scale: int,
                  only: List[str]) -> Dict[str, Any]:
    """Each scenario ``rounds`` times; the figures for the report."""
    rng = random.Random(seed)
    figures: Dict[str, Any] = {"faults": Counter(), "scenarios": [], "checks": Checks()}
    names = [n for n in SCENARIOS if not only or n in only]
    for round_number in range(1, rounds + 1):
        for name in names:
            sub_seed = rng.randrange(1 << 30)
            figures["scenarios"].append(
                _one(base / ("%s-%d" % (name, round_number)), name, sub_seed, scale,
                     figures))
    return figures


def _one(base: Path, name: str, seed: int, scale: int,
         figures: Dict[str, Any]) -> Dict[str, Any]:
    started = time.monotonic()
    checks = Checks()
    row: Dict[str, Any] = {"name": name, "seed": seed, "error": None}
    print("== %s (seed %d)" % (name, seed), flush=True)
    world = World(base)
    try:
        run = SCENARIOS[name](world, random.Random(seed), scale)
        _check(world, run, checks, row)
        figures["faults"].update(run.faults)
        row["faults"] = sum(run.faults.values())
    except Exception as error:
        row["error"] = "%s: %s" % (type(error).__name__, error)
        checks.record("scenario_ran", False, row["error"])
        traceback.print_exc()
    finally:
        row["logs"] = {w.name: str(w.log_path) for w in world.workers}
        world.close()
    row["checks"] = checks.results
    row["seconds"] = time.monotonic() - started
    figures["checks"].results.extend(checks.results)
    for result in checks.results:
        print("   %-4s %-18s %s" % ("ok" if result["ok"] else "FAIL", result["name"],
                                    result["detail"]), flush=True)
    return row


def _check(world: World, run: Run, checks: Checks, row: Dict[str, Any]) -> None:
    """The invariants, in the order that lets each settle."""
    loops = checks.ready_again(world, run.mark)
    ready_at = _first_ready_time(world, run.mark)
    row["ready_loops"] = loops
    row["recovery_seconds"] = max(0.0, ready_at - run.cleared) if ready_at else None
    row["lost"] = checks.no_task_lost(world)
    row["leaked"] = checks.no_lease_held(world)
    row["settle_seconds"] = time.time() - run.cleared
    checks.journal_empty(world)
    row["containers_left"] = checks.no_container_left(world)
    checks.files_contained(world, run.forbidden)
    raised = [line for w in world.workers for line in w.log().splitlines()
              if _HOOK_FAILED.search(line)]
    checks.record("no_hook_raised", not raised, raised[0][-160:] if raised else "")
    alive = [w.name for w in world.workers if not w.running()]
    checks.record("worker_running", not alive, "exited: %s" % alive if alive else "")
    row["tasks"] = len(world.tasks)
    row["notes"] = run.notes


def _first_ready_time(world: World, mark: int) -> float:
    for call in world.hub.call_log(method="host.updateHost", after_id=mark):
        if call["fault_code"] is None and call["args"][1]:
            return call["ts"]
    return 0.0
