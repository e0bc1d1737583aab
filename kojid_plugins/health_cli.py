"""Is this worker healthy? (for a container HEALTHCHECK)

``koji-worker health`` exits 0 when the kojid named in the pid file runs
and its status file is fresh (younger than ``stale_factor`` times
kojid's ``sleeptime``), and 1 with one line saying why not.  ``--deep``
also runs the live checks (hub, orch, journal, disk, topdir) from this
process; ``--json`` prints the whole picture.  Only a usage error exits
2 (which container runtimes reserve), never a health verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict

from .config import ConfigError
from .context import CONF_DIR_ENV
from .health_settings import read_health_settings
from .status_file import StatusError, read_pid, read_status

__all__ = ("add_arguments", "run", "assess")

UNHEALTHY = 1

DEFAULT_KOJID_CONF = "/etc/kojid/kojid.conf"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--conf-dir", help="plugin config directory "
                        "(default: $%s or /etc/kojid/plugins)" % CONF_DIR_ENV)
    parser.add_argument("--kojid-conf",
                        help="kojid.conf, for --deep (default: %s)" % DEFAULT_KOJID_CONF)
    parser.add_argument("--deep", action="store_true", help="also run the live checks")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")


def _alive(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid, "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def assess(health: Dict[str, Any]) -> Dict[str, Any]:
    """The picture from the files kojid writes; ``reason`` when unhealthy."""
    picture: Dict[str, Any] = {"healthy": False, "reason": None,
                               "status_file": health["status_file"],
                               "pid_file": health["pid_file"]}
    try:
        pid = read_pid(health["pid_file"])
    except StatusError as error:
        picture["reason"] = str(error)
        return picture
    picture["pid"] = pid
    if not _alive(pid):
        # before the status file: a kojid that died at start never wrote one
        picture["reason"] = "kojid (pid %d from %s) is not running" % (pid, health["pid_file"])
        return picture
    try:
        status = read_status(health["status_file"])
    except StatusError as error:
        picture["reason"] = str(error)
        return picture
    picture["status"] = status

    try:
        age = time.time() - float(status["time"])
        limit = health["stale_factor"] * float(status.get("sleeptime") or 15)
    except (TypeError, ValueError):
        picture["reason"] = ("status file %s is corrupt (time or sleeptime is not a number)"
                             % health["status_file"])
        return picture
    picture["age"] = round(age, 1)
    if status.get("stopped"):
        picture["reason"] = "kojid stopped (%s)" % status["stopped"]
    elif age > limit:
        picture["reason"] = ("status file %s is %.0f s old, more than %.0f s (%g x sleeptime)"
                             % (health["status_file"], age, limit, health["stale_factor"]))
    else:
        picture["healthy"] = True
    return picture


def _summary(picture: Dict[str, Any]) -> str:
    status = picture["status"]
    ready = "ready" if status.get("ready") else "not ready (%s)" % "; ".join(
        status.get("reasons") or ["no reason given"])
    return "healthy: kojid pid %d, last loop %.0f s ago, %s, %d task(s), %d lease(s)" % (
        picture["pid"], picture["age"], ready, len(status.get("tasks") or ()),
        len(status.get("leases") or ()))


def _refuse(args: argparse.Namespace, reason: str) -> int:
    """Unhealthy before any check ran: one line, or a JSON picture with ``--json``."""
    if args.json:
        print(json.dumps({"healthy": False, "reason": reason}, indent=2, sort_keys=True))
    else:
        sys.stderr.write("unhealthy: %s\n" % reason)
    return UNHEALTHY


def run(args: argparse.Namespace) -> int:
    if args.conf_dir:
        if not os.path.isdir(args.conf_dir):
            return _refuse(args, "--conf-dir %s is not a directory" % args.conf_dir)
        os.environ[CONF_DIR_ENV] = args.conf_dir
    if args.kojid_conf and not args.deep:
        return _refuse(args, "--kojid-conf is read only by the live checks: add --deep")
    kojid_conf = args.kojid_conf or DEFAULT_KOJID_CONF
    if args.deep and not os.path.isfile(kojid_conf):
        return _refuse(args, "--kojid-conf %s is not a file" % kojid_conf)
    try:
        health = read_health_settings()["health"]
    except ConfigError as error:
        return _refuse(args, str(error))
    picture = assess(health)

    if args.deep:
        from .health_deep import deep_checks

        checks = deep_checks(kojid_conf, health)
        picture["deep_checks"] = checks
        failed = [c for c in checks if not c["ok"] and c.get("fatal")]
        if failed and picture["healthy"]:
            picture["healthy"] = False
            picture["reason"] = "; ".join("%s: %s" % (c["name"], c["detail"]) for c in failed)

    if args.json:
        print(json.dumps(picture, indent=2, sort_keys=True, default=str))
    elif picture["healthy"]:
        print(_summary(picture))
    else:
        sys.stderr.write("unhealthy: %s\n" % picture["reason"])
    return 0 if picture["healthy"] else UNHEALTHY

