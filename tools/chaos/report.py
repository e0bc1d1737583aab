"""``docs/reliability.md``: the figures of the last run, in Markdown."""

from __future__ import annotations

import os
import platform
import time
from typing import Any, Dict, List

from .invariants import READY_LOOPS

__all__ = ("render", "summary", "all_passed")


def _all_checks(figures: Dict[str, Any]) -> List[Dict[str, Any]]:
    checks = list(figures["checks"].results)
    for key in ("pool_load", "single_load"):
        checks += figures.get(key, {}).get("checks", [])
    return checks


def all_passed(figures: Dict[str, Any]) -> bool:
    return all(c["ok"] for c in _all_checks(figures))


def _totals(figures: Dict[str, Any]) -> Dict[str, Any]:
    rows = figures["scenarios"]
    recoveries = [r["recovery_seconds"] for r in rows if r.get("recovery_seconds") is not None]
    loops = [r["ready_loops"] for r in rows if r.get("ready_loops") is not None]
    leaked = sum(r.get("leaked") or 0 for r in rows)
    lost = sum(r.get("lost") or 0 for r in rows)
    for key in ("pool_load", "single_load"):
        leaked += figures.get(key, {}).get("leaked", 0)
        lost += figures.get(key, {}).get("lost", 0)
    checks = _all_checks(figures)
    podman_rows = [r["containers_left"] for r in rows if r.get("containers_left") is not None]
    containers = ("%d" % sum(podman_rows)) if podman_rows else "not run (no podman scenario)"
    return {"leaked": leaked, "lost": lost, "checks": len(checks), "containers": containers,
            "passed": sum(1 for c in checks if c["ok"]),
            "recovery_max": max(recoveries) if recoveries else None,
            "loops_max": max(loops) if loops else None,
            "faults": sum(figures["faults"].values())}


def summary(figures: Dict[str, Any]) -> str:
    t = _totals(figures)
    return ("chaos (%s, seed %d): %d faults injected, %d/%d invariant checks passed, "
            "%d leases leaked, %d tasks lost" % (figures["mode"], figures["seed"],
                                                 t["faults"], t["passed"], t["checks"],
                                                 t["leaked"], t["lost"]))


def render(figures: Dict[str, Any]) -> str:
    t = _totals(figures)
    out = [
        "# Reliability: faults and load (figures of the last run)",
        "",
        "Written by `make chaos` (`tools/chaos/`); do not edit by hand.",
        "",
        "- command: `%s` (%s mode, seed %d)" % (figures["command"], figures["mode"],
                                                figures["seed"]),
        "- run: %s on %s (%d CPUs, Python %s), %.1f minutes" % (
            time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), platform.machine(),
            _cpus(), platform.python_version(), figures["minutes"]),
        "- faults injected: **%d**; invariant checks: **%d of %d passed**" % (
            t["faults"], t["passed"], t["checks"]),
        "- leases leaked: **%d**; containers left: **%s**; tasks lost: **%d**" % (
            t["leaked"], t["containers"], t["lost"]),
        "- recovery: ready again at most **%s** after a fault ended (at most %s kojid "
        "loops; the bound checked is %d)" % (
            "%.1f s" % t["recovery_max"] if t["recovery_max"] is not None else "n/a",
            t["loops_max"], _ready_bound()),
        "",
        "## Faults injected, by kind",
        "",
        "| fault | injected |",
        "|---|---|",
    ]
    for kind, count in sorted(figures["faults"].items()):
        out.append("| %s | %d |" % (kind, count))
    out += ["", "## Scenarios", "",
            "| scenario | seed | tasks | faults | checks passed | leaked | lost | "
            "ready after | settled after |",
            "|---|---|---|---|---|---|---|---|---|"]
    for row in figures["scenarios"]:
        ok = sum(1 for c in row["checks"] if c["ok"])
        out.append("| %s | %d | %s | %s | %d/%d | %s | %s | %s | %s |" % (
            row["name"], row["seed"], row.get("tasks", "-"), row.get("faults", "-"), ok,
            len(row["checks"]), row.get("leaked", "-"), row.get("lost", "-"),
            _secs(row.get("recovery_seconds"), row.get("ready_loops")),
            _secs(row.get("settle_seconds"))))
    failed = [(row["name"], c) for row in figures["scenarios"] for c in row["checks"]
              if not c["ok"]]
    if failed:
        out += ["", "### Failed checks", ""]
        out += ["- %s: %s (%s)" % (name, c["name"], c["detail"]) for name, c in failed]
    out += _load_section(figures)
    out += ["", "## What is checked", "",
            "After every scenario, from records outside the worker:", "",
            "- no lease held: orch's own holder table lists nothing for the workers;",
            "- the lease journal and the resource directory are empty;",
            "- no task lost: every task closed or failed on the hub (a refused or freed",
            "  task must come back and run), none left open on a dead worker;",
            "- files contained: the targets of the hostile file names do not exist;",
            "- ready again: the worker reported ready within %d kojid loops of the fault "
            "ending;" % _ready_bound(),
            "- no hook raised: the workers' logs hold no \"plugin ... failed in\" line",
            "  (a raising hook also keeps the worker not ready for `plugin_failure_window`);",
            "- kojid still running (a fault must not kill it).", ""]
    return "\n".join(out)


def _load_section(figures: Dict[str, Any]) -> List[str]:
    out: List[str] = []
    pool = figures.get("pool_load")
    if pool:
        out += ["", "## Load: %d tasks, %d workers, one pool of %d slots" % (
            pool["tasks"], pool["workers"], pool["slots"]), "",
            "- most holders at once (orch's history): **%d** (limit %d)" % (
                pool["max_holders"], pool["slots"]),
            "- closed %d, lost %d, leases leaked %d; %d checkouts, %d soft refusals" % (
                pool["closed"], pool["lost"], pool["leaked"], pool["checkouts"],
                pool["refusals"]),
            "- throughput: **%.1f tasks/s** (%.1f s in all)" % (pool["per_second"],
                                                                pool["seconds"])]
    solo = figures.get("single_load")
    if solo:
        out += ["", "## Load: %d tasks through one worker" % solo["tasks"], "",
                "- %.1f s, %.1f tasks/s; lost %d, leases leaked %d" % (
                    solo["seconds"], solo["per_second"], solo["lost"], solo["leaked"]),
                "- kojid RSS (MB) over the run: %s (first quarter %.1f, last quarter "
                "%.1f)" % (" ".join("%.1f" % (k / 1024) for k in solo["rss_points"]),
                           solo["rss_first_kb"] / 1024, solo["rss_last_kb"] / 1024),
                "- kojid open fds over the run: %s (first quarter %s, last quarter %s)" % (
                    " ".join(str(f) for f in solo["fd_points"]), solo["fds_first"],
                    solo["fds_last"])]
    return out


def _secs(value: Any, loops: Any = None) -> str:
    if value is None:
        return "-"
    return "%.1f s" % value + (" (%s loops)" % loops if loops is not None else "")


def _cpus() -> int:
    return os.cpu_count() or 0


def _ready_bound() -> int:
    return READY_LOOPS
