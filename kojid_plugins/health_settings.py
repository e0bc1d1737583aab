"""Settings of the ``worker_health`` plugin (``worker_health.conf``).

``[health]`` says which checks keep the worker from taking tasks, their
thresholds, and where the status and pid files live (``koji-worker
health`` reads the same file); ``[metrics]`` turns on the Prometheus
endpoint.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .config import (ConfigError, Key, Section, as_bool, as_count, as_float, as_path,
                     as_positive, as_text, as_words, conf_path, load)

__all__ = ("SCHEMA", "CHECKS", "read_health_settings")

PLUGIN = "worker_health"

#: every check a stock set of plugins reports
CHECKS = ("hub", "orch", "journal", "disk", "topdir", "plugins", "podman")

SCHEMA = (
    Section("health", doc="readiness checks and the files health tools read", keys=(
        Key("fatal", as_words, " ".join(CHECKS),
            "checks that, when failing, keep the worker from taking tasks"),
        Key("min_free_mb", as_count, "1024",
            "free MB needed in kojid's mockdir and workdir"),
        Key("topdir_mount", as_bool, "no",
            "require kojid's topdir to be a mount point (a shared /mnt/koji)"),
        Key("plugin_failure_window", as_float, "300",
            "a plugin that raised within this many seconds fails the plugins check"),
        Key("status_file", as_path, "/var/lib/kojid-plugins/status.json",
            "rewritten every loop; read by koji-worker health"),
        Key("pid_file", as_path, "/var/lib/kojid-plugins/kojid.pid",
            "kojid's pid, written at start"),
        Key("stale_factor", as_positive, "3",
            "koji-worker health: the status file is stale after this many sleeptimes"),
    )),
    Section("metrics", doc="the optional Prometheus endpoint", keys=(
        Key("enabled", as_bool, "no", "serve metrics over HTTP"),
        Key("listen", as_text, "127.0.0.1:9464", "address:port to serve them on"),
        Key("spool_dir", as_path, "/var/lib/kojid-plugins/metrics",
            "where task processes leave their figures for kojid to count"),
    )),
)


def _check_listen(path: str, text: str) -> None:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("bad config: %s [metrics] listen: %r is not ADDRESS:PORT"
                          % (path, text))


def read_health_settings(path: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """Load ``worker_health.conf``.

    :raises ConfigError: naming the file, section and key at fault
    """
    path = path or conf_path(PLUGIN)
    sections = load(PLUGIN, SCHEMA, path)
    unknown = [name for name in sections["health"]["fatal"] if name not in CHECKS]
    if unknown:
        raise ConfigError("bad config: %s [health] fatal: unknown check %r (known: %s)"
                          % (path, unknown[0], ", ".join(CHECKS)))
    _check_listen(path, sections["metrics"]["listen"])
    sections["path"] = {"file": path}
    return sections
