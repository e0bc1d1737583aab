"""Helpers shared by the hub simulator's tests (``tests/test_hub_sim_*.py``).

Logged-in admin and ready host sessions, a real koji TaskManager, task
results encoded as kojid does, and waiting for forked task processes.
The pytest fixtures stay in :mod:`tests.doubles.fixtures_hub`.
"""

from __future__ import annotations

import os
import time

import koji
import koji.daemon
import koji.tasks
import koji.xmlrpcplus

from tests.doubles.fixtures_hub import ADMIN, host_login, login, task_manager_options

STATES = koji.TASK_STATES
# koji < 1.35 TaskManagers poll host.getLoadData and fork every task;
# newer ones poll host.getTasks, refuse unknown methods and honour
# options.single (run in the foreground)
LOAD_DATA_PATH = hasattr(koji.daemon.TaskManager, 'checkAvailDelay')
TASKS_CALL = 'host.getLoadData' if LOAD_DATA_PATH else 'host.getTasks'


def admin_login(sim) -> koji.ClientSession:
    return login(sim.url, *ADMIN)


def ready_host(sim, name, **host_opts) -> koji.ClientSession:
    """Add a host, log it in exclusively and report it ready."""
    sim.add_host(name, **host_opts)
    session = host_login(sim.url, name)
    session.host.updateHost(0.0, True)
    return session


def new_task_manager(session, tmp_path, **opts):
    tm = koji.daemon.TaskManager(task_manager_options(tmp_path, **opts),
                                 session)
    tm.registerHandler(koji.tasks.SleepTask)
    return tm


def response(value) -> str:
    """A task result document as kojid's runTask encodes it."""
    return koji.xmlrpcplus.dumps((value,), methodresponse=1)


def finish(tm) -> None:
    """Wait for the children a TaskManager forked, then let it reap them.

    A no-op for tasks run in the foreground (options.single).
    """
    for pid in list(tm.pids.values()):
        os.waitpid(pid, 0)
    if tm.pids:
        tm.updateTasks()
    assert not tm.pids


def reap(tm, timeout=30.0) -> None:
    """Run updateTasks until the TaskManager has no child process left."""
    deadline = time.time() + timeout
    while tm.pids:
        assert time.time() < deadline, 'task processes not reaped'
        tm.updateTasks()
        time.sleep(0.1)
