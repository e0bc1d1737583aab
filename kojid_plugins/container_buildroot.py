"""The ``container_buildroot`` plugin: build roots as podman containers.

It brings the ``runroot`` task handler (:mod:`kojid_plugins.runroot_task`)
and looks after the containers from kojid: at start it removes what a
previous kojid left and runs one trivial container as a self-check (the
worker is not ready while that fails); when a task child is gone it
removes that task's containers, since killing the podman client does not
stop a container.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, List, Optional, Set

from . import wiring
from .config import ConfigError
from .containers import BuildrootContainers, PodmanError
from .hookspec import hookimpl
from .podman_settings import PodmanSettings, read_podman_settings

__all__ = ("ContainerBuildroot", "install")

logger = logging.getLogger("koji.plugin.container_buildroot")

NAME = "container_buildroot"

#: seconds between self-check attempts while it fails
SELFCHECK_RETRY = 60.0


class ContainerBuildroot:
    """Hook implementations holding one worker's container state."""

    def __init__(self, settings: PodmanSettings) -> None:
        self.settings = settings
        self.containers: Optional[BuildrootContainers] = None
        self.selfcheck_error: Optional[str] = None
        self.selfcheck_at = 0.0
        #: ended tasks whose containers could not be removed yet (service down)
        self.unremoved: Set[int] = set()

    # -- the worker ------------------------------------------------------------

    @hookimpl
    def kojid_worker_startup(self, worker: Any) -> None:
        host = worker.session.host.getHost()["name"]
        self.containers = BuildrootContainers(self.settings.socket, host,
                                              self.settings.podman["timeout"])
        try:
            self.containers.remove_leftovers()
        except Exception as error:
            logger.warning("could not look for leftover build-root containers: %s", error)
        self._selfcheck()

    @hookimpl
    def kojid_worker_loop(self, worker: Any) -> None:
        if self.selfcheck_error and time.time() - self.selfcheck_at > SELFCHECK_RETRY:
            self._selfcheck()
        for task_id in sorted(self.unremoved):
            self._remove_task(task_id, "retry")

    def _selfcheck(self) -> None:
        """Run one trivial container from the default image."""
        self.selfcheck_at = time.time()
        if not self.settings.podman["selfcheck"] or self.containers is None:
            return
        image = self.settings.images["default"]
        try:
            if not image:
                raise PodmanError("no [images] default to run the self-check with")
            container = self.containers.create(image, ["true"], {"koji.selfcheck": "1"}, [],
                                               self.settings.limits, False)
            try:
                status = self.containers.run(container, os.devnull)
            finally:
                self.containers.remove(container)
            if status != 0:
                raise PodmanError("self-check container from %s exited %d" % (image, status))
        except PodmanError as error:
            if self.selfcheck_error != str(error):
                logger.error("build-root self-check failed, worker not ready: %s", error)
            self.selfcheck_error = str(error)
            return
        if self.selfcheck_error:
            logger.info("build-root self-check passes again")
        self.selfcheck_error = None

    @hookimpl
    def kojid_ready_vote(self, worker: Any) -> Optional[str]:
        if self.selfcheck_error:
            return "podman self-check: %s" % self.selfcheck_error
        return None

    @hookimpl
    def kojid_health_checks(self, worker: Any) -> List[Dict[str, Any]]:
        containers = self.containers or BuildrootContainers(
            self.settings.socket, "?", min(self.settings.podman["timeout"], 5.0))
        try:
            version = containers.ping()
        except PodmanError as error:
            return [{"name": "podman", "ok": False, "detail": str(error)}]
        if self.selfcheck_error:
            return [{"name": "podman", "ok": False, "detail": self.selfcheck_error}]
        return [{"name": "podman", "ok": True, "detail": "podman %s at %s"
                 % (version, self.settings.socket)}]

    # -- mock roots of stock tasks -----------------------------------------------

    @hookimpl
    def kojid_mock_config(self, task: Any, tag: str, arch: str,
                          opts: Dict[str, Any]) -> Optional[List[str]]:
        extra = self._tag_extra(task, tag)
        try:
            mode = self.settings.mock_mode(tag, extra)
            if mode == "off":
                return None
            image = self.settings.image_for(tag, extra)
        except ConfigError as error:
            logger.error("mock root for %s: %s; mock builds it the usual way", tag, error)
            return None
        if not self.settings.allowed(image):
            logger.error("mock root for %s: image %s is not allowed by %s [images] allowed; "
                         "mock builds it the usual way", tag, image, self.settings.path)
            return None
        logger.info("mock root for %s (%s): %s from image %s", tag, arch, mode, image)
        if mode == "bootstrap":
            opts["bootstrap_image"] = image
            opts["use_bootstrap"] = True
            if self.settings.mock["image_ready"]:
                return ["config_opts['bootstrap_image_ready'] = True"]
            return None
        return ["config_opts['use_buildroot_image'] = True",
                "config_opts['buildroot_image'] = %r" % image]

    @staticmethod
    def _tag_extra(task: Any, tag: str) -> Optional[Dict[str, Any]]:
        """The build tag's extra settings, when a task's session can ask."""
        if task is None or not tag:
            return None
        try:
            return task.session.getBuildConfig(tag).get("extra")
        except Exception as error:
            logger.warning("mock root for %s: could not read the tag's extra: %s", tag, error)
            return None

    # -- tasks -----------------------------------------------------------------

    @hookimpl
    def kojid_task_reaped(self, worker: Any, task_id: int, outcome: str) -> None:
        if self.containers is not None:
            self._remove_task(task_id, outcome)

    def _remove_task(self, task_id: int, why: str) -> None:
        """Remove a gone task's containers; on failure, retry every loop."""
        try:
            self.containers.remove_task(task_id)
        except Exception as error:
            if task_id not in self.unremoved:
                logger.warning("task %s: could not remove its containers (%s), will retry "
                               "each loop: %s", task_id, why, error)
            self.unremoved.add(task_id)
            return
        if task_id in self.unremoved:
            logger.info("task %s: its containers are removed now", task_id)
        self.unremoved.discard(task_id)


def install(path: Optional[str] = None) -> ContainerBuildroot:
    """Read the settings, register the hooks and wire kojid (idempotent).

    :raises kojid_plugins.config.ConfigError: on a bad configuration
    """
    settings = read_podman_settings(path)
    plugin = wiring.activate(ContainerBuildroot(settings), NAME)
    logger.info("container_buildroot: podman at %s, default image %s, network %s",
                settings.socket, settings.images["default"] or "(none)",
                "host" if settings.network else "none")
    return plugin
