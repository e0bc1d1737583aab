"""Build-root containers on the podman service, through podman-py.

:class:`BuildrootContainers` makes a container for one task's build root
(labelled with the koji task id, buildroot id and host name, limited,
without network unless allowed), runs it to the end, reads its output
only after it exited (so the last lines are never lost), and removes it.
Labels let kojid find and remove containers whose task process died.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import time
from typing import Any, Dict, Iterable, List, Optional

import requests

__all__ = ("BuildrootContainers", "PodmanError", "LABEL_TASK", "LABEL_BUILDROOT",
           "LABEL_HOST", "LABEL_KEEP")

logger = logging.getLogger("koji.plugin.container_buildroot")

LABEL_TASK = "koji.task_id"
LABEL_BUILDROOT = "koji.buildroot_id"
LABEL_HOST = "koji.host"
#: on containers a runroot task asked to keep: not removed by cleanups
LABEL_KEEP = "koji.keep"


class PodmanError(Exception):
    """The podman service could not do what was asked; the text says what."""


def _service_gone(error: Exception) -> bool:
    """True when ``error`` means the service did not answer at all (no HTTP
    reply: refused, reset, socket missing), not that it refused the call."""
    if isinstance(error, requests.ConnectionError):
        return True
    cause = error.__cause__ or error.__context__
    return getattr(error, "response", None) is None and isinstance(
        cause, (requests.ConnectionError, ConnectionError, FileNotFoundError))


def _client(socket: str, timeout: float) -> Any:
    from podman import PodmanClient

    return PodmanClient(base_url=socket, timeout=timeout)


class BuildrootContainers:
    """One podman service, as the build roots of one worker use it.

    :param socket: the service's URL (``unix:///...``)
    :param host: this worker's koji host name (a label on every container)
    :param timeout: seconds for each API answer
    """

    def __init__(self, socket: str, host: str, timeout: float = 60.0) -> None:
        self.socket = socket
        self.host = host
        self.timeout = timeout
        self._pid: Optional[int] = None
        self._client: Any = None

    @property
    def client(self) -> Any:
        """A client of this process's own (a forked child never shares one)."""
        if self._client is None or self._pid != os.getpid():
            self._client = _client(self.socket, self.timeout)
            self._pid = os.getpid()
        return self._client

    def ping(self) -> str:
        """The service's version; :class:`PodmanError` if it does not answer."""
        try:
            return str(self.client.version().get("Version", "?"))
        except Exception as error:
            raise PodmanError("podman service at %s does not answer: %s"
                              % (self.socket, error)) from None

    def create(self, image: str, command: List[str], labels: Dict[str, str],
               mounts: Iterable[Dict[str, Any]], limits: Dict[str, Any],
               network: bool, name: Optional[str] = None) -> Any:
        """Create (not start) a labelled, limited build-root container."""
        options: Dict[str, Any] = {
            "command": command, "labels": dict(labels, **{LABEL_HOST: self.host}),
            "mounts": list(mounts), "network_mode": "host" if network else "none",
            "mem_limit": "%dm" % limits["memory_mb"], "pids_limit": limits["pids"],
            "cpu_period": 100000, "cpu_quota": int(limits["cpus"] * 100000),
            "stop_timeout": 0, "detach": True,
        }
        if name:
            options["name"] = name
        try:
            return self.client.containers.create(image, **options)
        except Exception as error:
            raise PodmanError("podman could not create a container from %s: %s"
                              % (image, error)) from None

    def run(self, container: Any, log_path: str) -> int:
        """Start, wait for the end, then write all its output to ``log_path``.

        :return: the command's exit status
        """
        try:
            container.start()
        except Exception as error:
            # a container that never ran holds nothing worth keeping
            self.remove(container)
            raise PodmanError("podman could not start container %s: %s"
                              % (container.id[:12], error)) from None
        status = self._wait(container)
        with open(log_path, "wb") as log:
            for chunk in container.logs(stdout=True, stderr=True, stream=False):
                log.write(chunk if isinstance(chunk, bytes) else chunk.encode())
        return status

    def _wait(self, container: Any) -> int:
        """The container's exit status, across restarts of the podman service.

        The container runs under conmon, not under the service: when the
        service stops answering (restarted, upgraded), the build goes on,
        so the wait is taken up again once the service is back, for up to
        ``timeout`` seconds of silence.
        """
        silent_since: Optional[float] = None
        while True:
            try:
                # no read deadline: a build runs as long as it runs (kojid cancels it)
                return int(container.wait(timeout=(self.timeout, None)))
            except Exception as error:
                if not _service_gone(error):
                    raise
                now = time.monotonic()
                if silent_since is None:
                    silent_since = now
                    logger.warning("podman service at %s stopped answering while container "
                                   "%s runs; waiting for it to come back", self.socket,
                                   container.id[:12])
                elif now - silent_since > self.timeout:
                    raise PodmanError("podman service at %s did not answer for %.0f s while "
                                      "container %s ran: %s" % (
                                          self.socket, now - silent_since,
                                          container.id[:12], error)) from None
                time.sleep(1.0)

    def copy_out(self, container: Any, path: str, dest_dir: str) -> str:
        """Copy one regular file out of a (stopped) container into ``dest_dir``.

        :return: the local path, named after ``path``'s last component
        :raises PodmanError: when ``path`` is missing or not a regular file
        """
        try:
            stream, _stat = container.get_archive(path)
            archive = tarfile.open(fileobj=io.BytesIO(b"".join(stream)))
        except Exception as error:
            raise PodmanError("no file %s in build root %s: %s"
                              % (path, container.id[:12], error)) from None
        member = archive.next()
        if member is None or not member.isfile():
            raise PodmanError("%s in build root %s is not a regular file"
                              % (path, container.id[:12]))
        local = os.path.join(dest_dir, os.path.basename(path.rstrip("/")))
        source = archive.extractfile(member)
        with open(local, "wb") as out:
            while True:
                chunk = source.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        return local

    def remove(self, container: Any) -> None:
        """Stop at once and remove; a container already gone is fine."""
        try:
            container.reload()
            if container.status == "running":
                container.stop(timeout=0)
            container.remove(v=True)
        except Exception as error:
            if "no such container" not in str(error).lower():
                raise PodmanError("podman could not remove container %s: %s"
                                  % (container.id[:12], error)) from None

    def labelled(self, **labels: str) -> List[Any]:
        """This host's containers carrying every label given."""
        # podman-py sends one label filter well, not a list: match the rest here
        mine = self.client.containers.list(
            all=True, filters={"label": "%s=%s" % (LABEL_HOST, self.host)})
        return [c for c in mine
                if all((c.labels or {}).get(k) == v for k, v in labels.items())]

    def remove_task(self, task_id: int) -> int:
        """Remove every container of ``task_id`` not marked to keep; how many."""
        found = [c for c in self.labelled(**{LABEL_TASK: str(task_id)})
                 if (c.labels or {}).get(LABEL_KEEP) != "1"]
        for container in found:
            logger.warning("task %s: removing its build-root container %s left behind",
                           task_id, container.id[:12])
            self.remove(container)
        return len(found)

    def remove_leftovers(self) -> int:
        """At kojid start: remove this host's task containers (none can be live)."""
        found = [c for c in self.labelled() if (c.labels or {}).get(LABEL_TASK)
                 and (c.labels or {}).get(LABEL_KEEP) != "1"]
        for container in found:
            logger.warning("task %s: removing build-root container %s left by a previous "
                           "kojid", container.labels.get(LABEL_TASK), container.id[:12])
            self.remove(container)
        return len(found)
