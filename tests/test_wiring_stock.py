"""Wiring with no implementation registered changes nothing kojid does.

The real ``koji.daemon.TaskManager`` takes, forks and reaps real
``koji.tasks`` tasks against the hub simulator, once stock and once
wired; the hub must see the same calls in the same order.  Then the
hooks are checked to fire for a forked and a foreground task.
"""

from __future__ import annotations

import optparse

import koji
import koji.daemon
import koji.tasks
import pytest

from kojid_plugins import hookimpl, kojid_options, runtime, wiring
from tests.doubles.worker import wait_until


@pytest.fixture(autouse=True)
def clean_wiring():
    runtime.reset()
    wiring.uninstall()
    yield
    wiring.uninstall()
    runtime.reset()


def manager_for(hub, tmp_path, name):
    hub.add_host(name, password="pw", arches="x86_64")
    options = optparse.Values(dict(kojid_options.DEFAULTS))
    (tmp_path / "mock").mkdir(exist_ok=True)
    options.mockdir = str(tmp_path / "mock")
    options.workdir = str(tmp_path / "work")
    options.topdir = str(tmp_path / "topdir")
    options.minspace = 1
    options.sleeptime = 1
    session = koji.ClientSession(hub.url, {"user": name, "password": "pw"})
    session.login()
    session.exclusiveSession()
    manager = koji.daemon.TaskManager(options, session)
    manager.findHandlers(vars(koji.tasks))
    return manager


def run_tasks(hub, manager, tasks):
    """Take, run and reap each task; the hub calls made, by method name."""
    start = len(hub.call_log())
    for method, args in tasks:
        task_id = hub.make_task(method, args)
        manager.updateTasks()
        assert manager.getNextTask() is True
        wait_until(lambda: hub.task(task_id)["state"] in (
            koji.TASK_STATES["CLOSED"], koji.TASK_STATES["FAILED"]), 30)
        wait_until(lambda: manager._waitTask(task_id) or True, 5)
        manager.updateTasks()
    return [call["method"] for call in hub.call_log()[start:]]


TASKS = [("sleep", [0]), ("sleep", ["bad"]), ("fork", [1, 0])]


def test_wired_without_implementations_makes_the_same_hub_calls(hub, tmp_path):
    stock = run_tasks(hub, manager_for(hub, tmp_path, "stock"), TASKS)
    hub.set_host_enabled("stock", False)  # so that the scheduler picks "wired"
    assert wiring.install() is True
    assert wiring.install() is False, "wiring twice changes nothing"
    wired = run_tasks(hub, manager_for(hub, tmp_path, "wired"), TASKS)
    assert "host.closeTask" in stock and "host.failTask" in stock
    assert wired == stock


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def kojid_worker_startup(self, worker):
        self.events.append(("startup", worker.pid))

    @hookimpl
    def kojid_task_prepare(self, task):
        self.events.append(("prepare", task.id, task.method, task.arch))

    @hookimpl
    def kojid_task_finished(self, task, outcome):
        self.events.append(("finished", task.id, outcome))

    @hookimpl
    def kojid_task_reaped(self, worker, task_id, outcome):
        self.events.append(("reaped", task_id, outcome))


def test_foreground_task_passes_through_the_task_hooks(hub, tmp_path):
    recorder = Recorder()
    runtime.register(recorder, "recorder")
    wiring.install()
    manager = manager_for(hub, tmp_path, "fg")
    task_id = hub.make_task("restartVerify", [0, {"start_ts": 0}])

    manager.updateTasks()
    manager.getNextTask()
    events = [e for e in recorder.events if e[0] != "startup"]
    assert events[0] == ("prepare", task_id, "restartVerify", "noarch")
    assert events[1][:2] == ("finished", task_id)
    assert events[1][2] in ("closed", "failed")


def test_forked_task_hooks_run_in_the_child_and_reaped_in_kojid(hub, tmp_path):
    recorder = Recorder()
    runtime.register(recorder, "recorder")
    wiring.install()
    manager = manager_for(hub, tmp_path, "forked")
    task_id = hub.make_task("sleep", [0])

    manager.updateTasks()
    assert manager.getNextTask() is True
    wait_until(lambda: hub.task(task_id)["state"] == koji.TASK_STATES["CLOSED"], 30)
    wait_until(lambda: (manager.updateTasks() or True) and not manager.pids, 10)
    # the child's prepare/finished ran in another process: kojid saw neither
    assert [e[0] for e in recorder.events] == ["startup", "reaped"]
    assert recorder.events[1] == ("reaped", task_id, "exited")
