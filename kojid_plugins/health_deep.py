"""``koji-worker health --deep``: the live checks, run outside kojid.

Reads kojid.conf (as kojid would) for the hub URL and build directories,
and builds the checks of each of this project's plugins that kojid.conf
enables, each with its own short deadline.
"""

from __future__ import annotations

from typing import Any, Dict, List

import koji

from . import kojid_options
from .health_checks import check_disk, check_topdir, result

__all__ = ("deep_checks",)

HUB_TIMEOUT = 5


def _kojid_options(path: str) -> Any:
    config = koji.read_config_files([path], raw=True)
    sections = {name: dict(config.items(name)) for name in config.sections()}
    values = kojid_options.check(sections)
    return type("KojidOptions", (), values)


def check_hub_live(server: str) -> Dict[str, Any]:
    """An anonymous call to the hub, with a deadline."""
    session = koji.ClientSession(server, {"timeout": HUB_TIMEOUT, "max_retries": 0,
                                          "anon_retry": False})
    try:
        version = session.getAPIVersion()
    except Exception as error:  # koji faults, refused connections, timeouts
        return result("hub", False, "hub at %s: %s" % (server, error))
    return result("hub", True, "hub at %s answers (API %s)" % (server, version))


def _plugin_checks(plugins: List[str]) -> List[Dict[str, Any]]:
    checks: List[Dict[str, Any]] = []
    if "orch_resources" in plugins:
        from .orch_resources import OrchResources
        from .orch_settings import read_settings

        checks.extend(OrchResources(read_settings()).kojid_health_checks(None))
    return checks


def deep_checks(kojid_conf: str, health: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Run the live checks; each marked ``fatal`` as worker_health.conf says."""
    try:
        options = _kojid_options(kojid_conf)
    except Exception as error:  # unreadable file, or a value kojid would refuse
        return [dict(result("kojid.conf", False, "%s: %s" % (kojid_conf, error)), fatal=True)]
    checks = [
        check_hub_live(options.server),
        check_disk([options.mockdir, options.workdir], health["min_free_mb"]),
        check_topdir(options.topdir, health["topdir_mount"]),
    ]
    try:
        checks.extend(_plugin_checks(getattr(options, "plugin", None) or []))
    except Exception as error:
        checks.append(result("plugins", False, "cannot build plugin checks: %s" % error))
    for check in checks:
        check["fatal"] = check["name"] in health["fatal"]
    return checks
