"""The hooks kojid_plugins calls inside stock kojid: the plugin API.

Every hook is named ``kojid_<phase>_<event>`` and grouped below by phase:
the worker's life, one task's life, readiness and host data, and build
roots.  Implementations are plain functions or methods marked with
:data:`hookimpl`; they come from the drop-in modules kojid loads
(``plugins = ...`` in kojid.conf) and from third-party packages that
declare an entry point in the ``kojid_plugins`` group.

Rules every implementation can rely on:

- An implementation that raises is logged with its plugin name and then
  skipped; the other implementations still run and kojid carries on.  The
  only exception that passes through is :class:`TaskRefused` raised from
  :func:`kojid_task_prepare`, which refuses the task softly.
- Hooks never receive keyword arguments they did not ask for: pluggy
  passes only the parameters an implementation names, so new arguments
  can be added to a hook without breaking older implementations.
- Task hooks run in the process that runs the task: the forked child for
  ordinary tasks, kojid itself for ``Foreground`` handlers.  Parent-side
  hooks (:func:`kojid_task_reaped`, worker hooks, readiness) run in kojid.

.. versionadded:: 0.1
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pluggy

__all__ = (
    "PROJECT",
    "hookspec",
    "hookimpl",
    "TaskRefused",
    "OUTCOMES",
)

#: pluggy project name; also the entry-point group third parties use.
PROJECT = "kojid_plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: Every value the ``outcome`` argument of the task hooks can take.
OUTCOMES = (
    "closed",      # the handler returned; kojid closed the task
    "failed",      # the handler raised; kojid failed the task
    "refused",     # a plugin or the handler refused; the hub may reassign
    "freed",       # handed back to the hub (graceful restart, shutdown)
    "canceled",    # canceled on the hub; kojid killed the child
    "reassigned",  # the hub gave the task to another host; child killed
    "killed",      # the child died without reporting (signal, crash)
    "exited",      # the child exited after reporting its own outcome
)


class TaskRefused(Exception):
    """Raised by :func:`kojid_task_prepare` to refuse the task softly.

    kojid_plugins answers it with ``host.refuseTask(task_id, soft=True,
    msg=str(exc))`` so that the hub's scheduler can hand the task to
    another host.  The message reaches the hub: keep it short and say
    what was missing.
    """


# -- the worker's life -----------------------------------------------------


@hookspec
def kojid_worker_startup(worker: Any) -> None:
    """kojid's main loop is about to run for the first time.

    Fires once per kojid process, in kojid, before the first
    ``updateTasks``; after a graceful restart (kojid re-executes itself)
    it fires again in the new image.  Recover what a previous process
    left behind here.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    """


@hookspec
def kojid_worker_shutdown(worker: Any, reason: str) -> None:
    """kojid is stopping; every task child has already been killed.

    Fires once, in kojid, after stock ``TaskManager.shutdown`` (even when
    that raised, as it does once the hub session expired).  Release
    everything still held.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    :param reason: ``"shutdown"``, or ``"exit"`` when kojid leaves
        without calling shutdown
    """


@hookspec
def kojid_worker_loop(worker: Any) -> None:
    """kojid starts a pass of its main loop (before ``updateTasks``).

    For short periodic work in kojid: retrying a release that failed,
    sweeping leftovers.  Keep it quick; it delays the loop.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    """


# -- one task's life -------------------------------------------------------


@hookspec
def kojid_task_prepare(task: Any) -> None:
    """The task is open on the hub and its handler is about to run.

    Acquire what the task needs and record it with
    ``task.add_resource(name, path)``.  Raise :class:`TaskRefused` to
    refuse the task softly; implementations that already ran get
    :func:`kojid_task_finished` with outcome ``"refused"``.

    :param task: the :class:`kojid_plugins.context.TaskContext`
    """


@hookspec
def kojid_task_finished(task: Any, outcome: str, error: Optional[BaseException]) -> None:
    """The task has ended in the process that ran it.

    Fires after kojid reported the result to the hub (or tried to), in a
    ``finally``, whatever happened.  Release here what
    :func:`kojid_task_prepare` took.

    :param task: the :class:`kojid_plugins.context.TaskContext`
    :param outcome: one of :data:`OUTCOMES`
    :param error: the exception the handler raised, if any
    """


@hookspec
def kojid_task_reaped(worker: Any, task_id: int, outcome: str,
                      method: Optional[str]) -> None:
    """kojid is done with a task child: it exited, or kojid killed it.

    Fires in kojid for every forked task once its child is gone.  Code in
    a killed child's ``finally`` never runs, so this is where leftovers of
    a canceled, reassigned or SIGKILLed task are released.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    :param task_id: the koji task id
    :param outcome: ``"exited"``, ``"killed"``, ``"canceled"``,
        ``"reassigned"`` or ``"freed"``
    :param method: the task's method, when kojid still knows it
    """


@hookspec
def kojid_worker_reported(worker: Any, ready: bool, hub_ok: bool) -> None:
    """kojid ended a pass of its loop: it told the hub whether it is ready.

    Fires in kojid after ``getNextTask`` returned (``hub_ok`` true) or
    raised (``hub_ok`` false: the hub could not be reached, or refused).

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    :param ready: what kojid decided this pass
    :param hub_ok: whether the pass's hub calls went through
    """


# -- readiness, health and host data -----------------------------------------


@hookspec
def kojid_health_checks(worker: Any) -> Optional[List[Dict[str, Any]]]:
    """Check what this plugin depends on; asked once per loop in kojid.

    Each check is a dict ``{"name": str, "ok": bool, "detail": str}``.
    Which failed checks keep the worker from taking tasks is the
    ``worker_health`` plugin's setting, not the checker's.  Every check
    must finish within a few seconds whatever the service it asks does.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`, or
        ``None`` when ``koji-worker health --deep`` asks outside kojid
    :return: a list of checks, or ``None``
    """


@hookspec
def kojid_worker_status(worker: Any) -> Optional[Dict[str, Any]]:
    """Contribute to the worker's status file and metrics.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    :return: a dict of JSON-able values, merged into the status file
    """


@hookspec
def kojid_ready_vote(worker: Any) -> Optional[str]:
    """May kojid take a task now?  Asked on every loop before kojid does.

    Stock readiness checks run first; this is asked only when they pass.
    Return ``None`` to agree, or a short reason to vote "not ready"; one
    reason is enough to keep kojid from taking tasks and to report
    ``ready=False`` to the hub.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    :return: ``None``, or the reason this worker is not ready
    """


@hookspec
def kojid_host_data(worker: Any) -> Optional[Dict[str, Any]]:
    """Contribute to the data kojid sends with ``host.updateHost``.

    Each returned dict is merged, in order, into the scheduler data kojid
    builds (``methods``, ``maxjobs``); keys already set are not replaced.

    :param worker: the :class:`kojid_plugins.context.WorkerContext`
    :return: a dict of JSON-able values, or ``None``
    """


# -- build roots (filled by a later issue) -----------------------------------


@hookspec
def kojid_buildroot_created(task: Any, buildroot: Dict[str, Any]) -> None:
    """A build root for ``task`` exists and is about to be used.

    :param task: the :class:`kojid_plugins.context.TaskContext`
    :param buildroot: what is known of it: at least ``id`` (the hub's
        buildroot id, or ``None``), ``tag`` and ``arch``
    """


@hookspec
def kojid_buildroot_destroyed(task: Any, buildroot: Dict[str, Any]) -> None:
    """A build root made for ``task`` has been removed.

    :param task: the :class:`kojid_plugins.context.TaskContext`
    :param buildroot: the same mapping passed to
        :func:`kojid_buildroot_created`
    """


@hookspec
def kojid_mock_config(task: Any, tag: str, arch: str, opts: Dict[str, Any]) -> List[str]:
    """Adjust the mock configuration koji generates for a build root.

    :param task: the :class:`kojid_plugins.context.TaskContext`, or
        ``None`` outside a task
    :param tag: the build tag's name
    :param arch: the build root's arch
    :param opts: the options passed to ``koji.genMockConfig``; change them
        in place
    :return: extra lines to append to the generated file, or ``None``
    """
