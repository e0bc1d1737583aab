"""What hook implementations are handed: the worker and one task.

Both are thin views over stock kojid objects (``koji.daemon.TaskManager``
and a ``koji.tasks.BaseTaskHandler``) so that plugins need not reach into
kojid's internals themselves.
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List, Optional

__all__ = ("WorkerContext", "TaskContext", "plugin_conf_dir")

#: where ``/etc/kojid/plugins/NAME.conf`` lives; relocatable for tests
CONF_DIR_ENV = "KOJID_PLUGINS_CONFDIR"
DEFAULT_CONF_DIR = "/etc/kojid/plugins"


def plugin_conf_dir() -> str:
    """The directory holding each plugin's ``NAME.conf``."""
    return os.environ.get(CONF_DIR_ENV) or DEFAULT_CONF_DIR


class WorkerContext:
    """The running kojid, as plugins see it.

    :param manager: the stock ``koji.daemon.TaskManager``
    """

    def __init__(self, manager: Any) -> None:
        self.manager = manager
        self.pid = os.getpid()
        self.started = time.time()
        self.state: Dict[str, Any] = {}

    @property
    def options(self) -> Any:
        """kojid's options (kojid.conf merged with its command line)."""
        return self.manager.options

    @property
    def session(self) -> Any:
        """kojid's own hub session (not a task's subsession)."""
        return self.manager.session

    @property
    def host_id(self) -> int:
        return self.manager.host_id

    @property
    def running_tasks(self) -> List[int]:
        """Ids of the task children kojid is tracking."""
        return sorted(self.manager.pids)

    @property
    def status(self) -> str:
        """kojid's last "not ready" reason, if any."""
        return self.manager.status


class TaskContext:
    """One task, in the process that runs it.

    :param worker: the :class:`WorkerContext`
    :param handler: the task's ``koji.tasks.BaseTaskHandler``
    :param row: the task as the hub listed it (``arch``, ``channel_id``,
        ``priority``...), or an empty dict when unknown
    """

    def __init__(self, worker: WorkerContext, handler: Any, row: Dict[str, Any]) -> None:
        self.worker = worker
        self.handler = handler
        self.row = dict(row)
        self.resources: Dict[str, str] = {}
        self.outcome: Optional[str] = None
        self.error: Optional[BaseException] = None
        self.started = time.time()
        self.figures: Dict[str, float] = {}

    @property
    def id(self) -> int:
        return self.handler.id

    @property
    def method(self) -> str:
        return self.handler.method

    @property
    def params(self) -> Any:
        return self.handler.params

    @property
    def arch(self) -> Optional[str]:
        return self.row.get("arch")

    @property
    def channel_id(self) -> Optional[int]:
        return self.row.get("channel_id")

    @property
    def session(self) -> Any:
        """The session the task uses (a subsession in a forked child)."""
        return self.handler.session

    def add_resource(self, name: str, path: str) -> None:
        """Tell the task where a resource acquired for it lives.

        The task sees it as ``handler.kojid_resources[name]`` and, in its
        environment, as ``KOJID_RESOURCE_<NAME>``.
        """
        self.resources[name] = path

    def add_figure(self, name: str, value: float) -> None:
        """Add ``value`` to a per-task figure (seconds, counts) for metrics."""
        self.figures[name] = self.figures.get(name, 0.0) + value

    def describe(self) -> str:
        """``task 12 (sleep)``: how logs name this task."""
        return "task %s (%s)" % (self.id, self.method)
