"""Wire the hooks into stock kojid's ``koji.daemon.TaskManager``.

kojid builds its ``TaskManager`` before it loads any plugin, so the
drop-in modules cannot hand the hooks to it; instead :func:`install`
wraps a few ``TaskManager`` methods on the class, once per process.  The
instance kojid already made picks the wrappers up on its next call.

Where each hook fires:

=================  =========================================================
``updateTasks``    first call: ``kojid_worker_startup``; every call:
                   ``kojid_worker_loop``, then ``kojid_task_reaped`` for each
                   child that is gone afterwards
``getNextTask``    ``kojid_worker_reported`` once kojid has told the hub
``readyForTask``   ``kojid_ready_vote`` when stock checks pass
``_get_host_data`` ``kojid_host_data`` (koji 1.35 and later)
``takeTask``       remembers the hub's task row (arch, channel)
``_waitTask``      notes how a child ended (exit or signal)
``cleanupTask``    notes that kojid killed a child
``runTask``        ``kojid_task_prepare`` / ``kojid_task_finished``
``shutdown``       ``kojid_task_reaped`` ("freed"), ``kojid_worker_shutdown``
=================  =========================================================

``koji.genMockConfig`` is wrapped as well (:mod:`.mock_config`):
``kojid_mock_config`` for every mock configuration kojid writes.

With no implementation registered every wrapper calls straight through,
so kojid makes exactly the hub calls it makes stock.
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import Any, Callable, Dict, Optional

import koji
import koji.daemon
import koji.tasks

from . import mock_config, runtime
from .context import TaskContext, WorkerContext
from .hookspec import TaskRefused
from .task_outcome import OutcomeRecorder, exit_kind

__all__ = ("install", "activate", "uninstall", "worker_of", "is_installed")

logger = logging.getLogger("koji.plugin.kojid_plugins")

_MARK = "_kojid_plugins_originals"


def _hook(name: str) -> Any:
    return getattr(runtime.get_manager().hook, name)


def worker_of(manager: Any) -> WorkerContext:
    """The :class:`WorkerContext` of ``manager``, made on first use."""
    worker = manager.__dict__.get("_kp_worker")
    if worker is None:
        worker = WorkerContext(manager)
        manager.__dict__["_kp_worker"] = worker
    return worker


# -- worker life -----------------------------------------------------------


def _start_worker(manager: Any) -> WorkerContext:
    """Fire ``kojid_worker_startup`` once per process."""
    worker = worker_of(manager)
    if worker.state.get("started"):
        return worker
    worker.state["started"] = True
    logger.info("kojid_plugins active in kojid pid %d (host id %s)", worker.pid,
                manager.host_id)
    _hook("kojid_worker_startup")(worker=worker)
    atexit.register(_at_exit, manager, worker.pid)
    return worker


def _at_exit(manager: Any, pid: int) -> None:
    """Last chance for shutdown hooks when kojid exits without shutdown()."""
    if os.getpid() != pid or manager.__dict__.get("_kp_shut_down"):
        return
    _shutdown_hooks(manager, "exit")


def _shutdown_hooks(manager: Any, reason: str) -> None:
    manager.__dict__["_kp_shut_down"] = True
    worker = worker_of(manager)
    rows = manager.__dict__.get("_kp_rows", {})
    for task_id in list(manager.pids):
        method = rows.get(task_id, {}).get("method")
        _hook("kojid_task_reaped")(worker=worker, task_id=task_id, outcome="freed",
                                   method=method)
    _hook("kojid_worker_shutdown")(worker=worker, reason=reason)


def _wrap_update_tasks(original: Callable) -> Callable:
    def updateTasks(self: Any) -> Any:
        worker = _start_worker(self)
        _hook("kojid_worker_loop")(worker=worker)
        if not runtime.has_impls("kojid_task_reaped"):
            return original(self)

        before = dict(self.pids)
        self.__dict__["_kp_killed"] = {}
        self.__dict__["_kp_exits"] = {}
        try:
            return original(self)
        finally:
            _fire_reaped(self, worker, before)

    return updateTasks


def _fire_reaped(manager: Any, worker: WorkerContext, before: Dict[int, int]) -> None:
    """``kojid_task_reaped`` for each child that ``updateTasks`` let go."""
    killed = manager.__dict__.get("_kp_killed", {})
    exits = manager.__dict__.get("_kp_exits", {})
    for task_id in before:
        if task_id in manager.pids:
            continue
        if task_id in killed:
            outcome = _kill_reason(manager, task_id)
        else:
            outcome = exits.get(task_id, "exited")
        row = manager.__dict__.setdefault("_kp_rows", {}).pop(task_id, {})
        _hook("kojid_task_reaped")(worker=worker, task_id=task_id, outcome=outcome,
                                   method=row.get("method"))


def _kill_reason(manager: Any, task_id: int) -> str:
    """Why kojid killed a child: canceled or given to another host."""
    try:
        info = manager.session.getTaskInfo(task_id)
    except Exception:
        logger.warning("could not ask the hub why task %s was stopped", task_id)
        return "killed"
    if info and info.get("state") == koji.TASK_STATES["CANCELED"]:
        return "canceled"
    if info and info.get("host_id") != manager.host_id:
        return "reassigned"
    return "killed"


def _wrap_wait_task(original: Callable) -> Callable:
    def _waitTask(self: Any, task_id: int, pid: Optional[int] = None) -> Any:
        kind = exit_kind(pid if pid is not None else self.pids.get(task_id))
        done = original(self, task_id, pid)
        if done and kind and "_kp_exits" in self.__dict__:
            self.__dict__["_kp_exits"][task_id] = kind
        return done

    return _waitTask


def _wrap_cleanup_task(original: Callable) -> Callable:
    def cleanupTask(self: Any, task_id: int, wait: bool = True) -> Any:
        if wait and "_kp_killed" in self.__dict__:
            self.__dict__["_kp_killed"][task_id] = True
        return original(self, task_id, wait=wait)

    return cleanupTask


def _wrap_shutdown(original: Callable) -> Callable:
    def shutdown(self: Any) -> Any:
        try:
            return original(self)
        finally:
            _shutdown_hooks(self, "shutdown")

    return shutdown


def _wrap_next_task(original: Callable) -> Callable:
    def getNextTask(self: Any) -> Any:
        if not runtime.has_impls("kojid_worker_reported"):
            return original(self)
        try:
            taken = original(self)
        except koji.tasks.ServerRestart:
            raise
        except Exception:
            _hook("kojid_worker_reported")(worker=worker_of(self), ready=False,
                                           hub_ok=False)
            raise
        _hook("kojid_worker_reported")(worker=worker_of(self), ready=bool(self.ready),
                                       hub_ok=True)
        return taken

    return getNextTask


# -- readiness and host data -------------------------------------------------


def _wrap_ready(original: Callable) -> Callable:
    def readyForTask(self: Any) -> Any:
        ready = original(self)
        if not ready or not runtime.has_impls("kojid_ready_vote"):
            return ready
        reasons = [r for r in _hook("kojid_ready_vote")(worker=worker_of(self)) if r]
        if not reasons:
            return ready
        self.status = "; ".join(reversed(reasons))
        logger.info("not ready: %s", self.status)
        return False

    return readyForTask


def _wrap_host_data(original: Callable) -> Callable:
    def _get_host_data(self: Any) -> Any:
        data = original(self)
        if not runtime.has_impls("kojid_host_data"):
            return data
        for extra in reversed(_hook("kojid_host_data")(worker=worker_of(self))):
            for key, value in (extra or {}).items():
                data.setdefault(key, value)
        return data

    return _get_host_data


# -- one task ------------------------------------------------------------------


def _wrap_take_task(original: Callable) -> Callable:
    def takeTask(self: Any, task: Dict[str, Any]) -> Any:
        rows = self.__dict__.setdefault("_kp_rows", {})
        rows[task["id"]] = dict(task)
        taken = original(self, task)
        if task["id"] not in self.pids:
            # not taken, or run in the foreground: nothing left to reap
            rows.pop(task["id"], None)
        return taken

    return takeTask


def _wrap_run_task(original: Callable) -> Callable:
    def runTask(self: Any, handler: Any) -> Any:
        row = self.__dict__.get("_kp_rows", {}).get(handler.id, {})
        task = TaskContext(worker_of(self), handler, row)
        handler.kojid_task = task  # for handlers that fire build-root hooks
        mock_config.set_current_task(task)
        if not (runtime.has_impls("kojid_task_prepare")
                or runtime.has_impls("kojid_task_finished")):
            return original(self, handler)

        recorder = OutcomeRecorder(task)
        try:
            _prepare(task)
        except _refusals() as refusal:
            _refuse(self, task, refusal)
            recorder.finish("refused", refusal)
            return None

        recorder.watch(handler)
        with recorder.environment():
            try:
                return original(self, handler)
            finally:
                recorder.finish()

    return runTask


def _refusals() -> tuple:
    refuse = getattr(koji.tasks, "RefuseTask", None)
    return (TaskRefused,) if refuse is None else (TaskRefused, refuse)


def _prepare(task: TaskContext) -> None:
    _hook("kojid_task_prepare")(task=task)
    task.handler.kojid_resources = dict(task.resources)


def _refuse(manager: Any, task: TaskContext, refusal: BaseException) -> None:
    """Hand the task back softly, so the hub may give it to another host."""
    logger.warning("refusing %s: %s", task.describe(), refusal)
    try:
        manager.session.host.refuseTask(task.id, soft=True, msg=str(refusal))
    except Exception:
        logger.exception("the hub did not take the refusal of %s", task.describe())


# -- install -------------------------------------------------------------------

_WRAPPERS: Dict[str, Callable[[Callable], Callable]] = {
    "updateTasks": _wrap_update_tasks,
    "_waitTask": _wrap_wait_task,
    "cleanupTask": _wrap_cleanup_task,
    "shutdown": _wrap_shutdown,
    "getNextTask": _wrap_next_task,
    "readyForTask": _wrap_ready,
    "_get_host_data": _wrap_host_data,
    "takeTask": _wrap_take_task,
    "runTask": _wrap_run_task,
}


def is_installed(cls: Any = None) -> bool:
    cls = cls or koji.daemon.TaskManager
    return _MARK in cls.__dict__


def install(cls: Any = None) -> bool:
    """Wrap ``TaskManager``'s methods; a second call changes nothing.

    :param cls: the class to wire (stock ``koji.daemon.TaskManager``)
    :return: True if the wiring was done now
    """
    cls = cls or koji.daemon.TaskManager
    if is_installed(cls):
        return False
    originals = {}
    for name, wrap in _WRAPPERS.items():
        original = cls.__dict__.get(name)
        if original is None:
            logger.info("TaskManager.%s not in this koji; its hooks are off", name)
            continue
        wrapper = wrap(original)
        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        wrapper.__doc__ = original.__doc__
        originals[name] = original
        setattr(cls, name, wrapper)
    setattr(cls, _MARK, originals)
    mock_config.install()
    logger.info("kojid_plugins wired into %s.%s", cls.__module__, cls.__name__)
    return True


def activate(plugin: Any, name: str) -> Any:
    """Register a drop-in's hooks and wire kojid; both happen once.

    :return: the plugin registered under ``name`` (the earlier one, if
        kojid loaded the drop-in again)
    """
    if not runtime.register(plugin, name):
        plugin = runtime.get_manager().get_plugin(name)
    install()
    return plugin


def uninstall(cls: Any = None) -> None:
    """Put the original methods back (for tests)."""
    cls = cls or koji.daemon.TaskManager
    for name, original in cls.__dict__.get(_MARK, {}).items():
        setattr(cls, name, original)
    if _MARK in cls.__dict__:
        delattr(cls, _MARK)
    mock_config.uninstall()
