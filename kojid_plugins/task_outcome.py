"""How a task ended: seen from inside the task, and from kojid.

Stock ``TaskManager.runTask`` turns the handler's result into a hub call
and keeps the verdict to itself; :class:`OutcomeRecorder` watches the
handler to learn it, and fires ``kojid_task_finished`` exactly once.
:func:`exit_kind` tells kojid whether a child it reaps exited or was
killed by a signal, without reaping it itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Iterator, Optional

import koji.tasks

from . import runtime
from .context import TaskContext
from .orch_settings import resource_env_name

__all__ = ("OutcomeRecorder", "exit_kind", "classify")

logger = logging.getLogger("koji.plugin.kojid_plugins")


def classify(error: Optional[BaseException]) -> str:
    """The outcome kojid's ``runTask`` gives a handler that raised ``error``."""
    if error is None:
        return "closed"
    refuse = getattr(koji.tasks, "RefuseTask", None)
    if refuse is not None and isinstance(error, refuse):
        return "refused"
    if isinstance(error, koji.tasks.ServerRestart):
        return "freed"
    if isinstance(error, (SystemExit, KeyboardInterrupt, koji.tasks.ServerExit)):
        return "killed"
    return "failed"


class OutcomeRecorder:
    """Learns one task's outcome and reports it to the plugins once."""

    def __init__(self, task: TaskContext) -> None:
        self.task = task
        self.done = False

    def watch(self, handler: Any) -> None:
        """Shadow ``handler.run`` on the instance to see how it ends."""
        run = handler.run
        task = self.task

        def watched_run(*args: Any, **kwargs: Any) -> Any:
            try:
                result = run(*args, **kwargs)
            except BaseException as error:
                task.outcome = classify(error)
                task.error = error
                raise
            task.outcome = "closed"
            return result

        handler.run = watched_run

    def finish(self, outcome: Optional[str] = None,
               error: Optional[BaseException] = None) -> None:
        """Fire ``kojid_task_finished``; later calls do nothing."""
        if self.done:
            return
        self.done = True
        task = self.task
        if outcome is not None:
            task.outcome, task.error = outcome, error
        if task.outcome is None:
            # runTask left before the handler ended: kojid is exiting
            task.outcome = "killed"
        hook = runtime.get_manager().hook.kojid_task_finished
        hook(task=task, outcome=task.outcome, error=task.error)

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """``KOJID_RESOURCE_<NAME>=path`` for each resource, then restore."""
        saved = {}
        for name, path in self.task.resources.items():
            key = resource_env_name(name)
            saved[key] = os.environ.get(key)
            os.environ[key] = path
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def exit_kind(pid: Optional[int]) -> Optional[str]:
    """"exited" or "killed" for a child that has ended, else ``None``.

    Peeks with ``waitid(WNOWAIT)``, leaving the child for kojid to reap.
    """
    if not pid or not hasattr(os, "waitid"):
        return None
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return None
    if info is None:
        return None
    return "exited" if info.si_code == os.CLD_EXITED else "killed"
