"""The checks ``worker_health`` makes itself, each quick and bounded.

Each function returns ``{"name", "ok", "detail"}`` and never raises.
The live services (orch, podman) are checked by the plugins that use
them, through the ``kojid_health_checks`` hook.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, Iterable, Mapping, Optional

__all__ = ("check_disk", "check_topdir", "check_hub", "check_plugins", "result")


def result(name: str, ok: bool, detail: str) -> Dict[str, Any]:
    return {"name": name, "ok": bool(ok), "detail": detail}


def check_disk(paths: Iterable[str], min_free_mb: int) -> Dict[str, Any]:
    """Free space where kojid builds."""
    worst = None
    for path in paths:
        try:
            stat = os.statvfs(path)
        except OSError as error:
            return result("disk", False, "cannot stat %s: %s" % (path, error.strerror))
        free = stat.f_bavail * stat.f_frsize // (1024 * 1024)
        if worst is None or free < worst[1]:
            worst = (path, free)
    if worst is None:
        return result("disk", True, "no build directories configured")
    path, free = worst
    if free < min_free_mb:
        return result("disk", False, "%s has %d MB free, %d MB needed" % (
            path, free, min_free_mb))
    return result("disk", True, "%s has %d MB free" % (path, free))


def check_topdir(topdir: Optional[str], must_be_mount: bool) -> Dict[str, Any]:
    """kojid's topdir (the shared /mnt/koji) is there and readable."""
    if not topdir:
        return result("topdir", False, "kojid has no topdir set")
    if not os.path.isdir(topdir):
        return result("topdir", False, "topdir %s is missing" % topdir)
    if must_be_mount and not os.path.ismount(topdir):
        return result("topdir", False, "topdir %s is not mounted" % topdir)
    if not os.access(topdir, os.R_OK | os.X_OK):
        return result("topdir", False, "topdir %s is not readable" % topdir)
    return result("topdir", True, "topdir %s is there" % topdir)


def check_hub(last_ok: Optional[float], last_error: Optional[float]) -> Dict[str, Any]:
    """kojid's last pass reached the hub."""
    if last_error is not None and (last_ok is None or last_error > last_ok):
        return result("hub", False, "kojid's last pass could not reach the hub")
    if last_ok is None:
        return result("hub", True, "no pass yet")
    return result("hub", True, "last hub update %.0f s ago" % (time.time() - last_ok))


def check_plugins(failures: Mapping[str, Mapping[str, float]],
                  window: float) -> Dict[str, Any]:
    """No plugin raised within ``window`` seconds.

    :param failures: plugin -> hook -> time of its last failure
    """
    cutoff = time.time() - window
    recent = sorted("%s in %s" % (plugin, hook)
                    for plugin, hooks in failures.items()
                    for hook, when in hooks.items() if when >= cutoff)
    if recent:
        return result("plugins", False, "plugin failures: %s" % ", ".join(recent))
    return result("plugins", True, "no plugin failed in the last %.0f s" % window)
