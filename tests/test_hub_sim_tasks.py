"""Tests of the koji hub simulator: task life and task states.

Every check goes through koji.ClientSession, koji.daemon.TaskManager or
the installed ``koji`` command, so a simulator that drifts from the
protocol, the state machine or the fault codes of the real hub fails.
"""

from __future__ import annotations

import os

import koji
import koji.tasks
import pytest

from tests.doubles.fixtures_hub import ADMIN, host_login, koji_cli, login
from tests.doubles.fixtures_hub import hub, hub_process, make_hub  # noqa: F401
from tests.doubles.hub_helpers import (LOAD_DATA_PATH, STATES, TASKS_CALL, admin_login, finish,
                                       new_task_manager, ready_host, reap, response)
from tests.doubles.hub_sim import HubSimulator


# task life with the real TaskManager


def test_task_manager_runs_sleep_to_closed(hub, tmp_path):
    host = ready_host(hub, 'b1')
    tm = new_task_manager(host, tmp_path, single=True)
    task_id = hub.make_task('sleep', [0])

    tm.updateTasks()
    assert tm.getNextTask() is True
    finish(tm)

    task = hub.task(task_id)
    assert task['state_name'] == 'CLOSED'
    assert task['host_id'] == tm.host_id
    assert task['weight'] == koji.tasks.SleepTask._taskWeight
    assert task['result'] is None
    admin = admin_login(hub)
    assert admin.getTaskResult(task_id) is None

    methods = [c['method'] for c in hub.call_log(user='b1')]
    start = methods.index('host.getHostTasks')
    assert methods[start:start + 7] == [
        'host.getHostTasks', 'host.getHost', 'host.updateHost', TASKS_CALL,
        'getTaskInfo', 'host.openTask', 'host.setTaskWeight']
    assert methods.count('host.closeTask') == 1


def test_task_manager_fails_sleep_with_bad_args(hub, tmp_path):
    host = ready_host(hub, 'b1')
    tm = new_task_manager(host, tmp_path, single=True)
    task_id = hub.make_task('sleep', [])

    tm.updateTasks()
    assert tm.getNextTask() is True
    finish(tm)

    assert hub.task(task_id)['state_name'] == 'FAILED'
    admin = admin_login(hub)
    with pytest.raises(koji.ParameterError, match="argument: 'n'"):
        admin.getTaskResult(task_id)
    fault = admin.getTaskResult(task_id, raise_fault=False)
    assert fault['faultCode'] == koji.ParameterError.faultCode


def test_task_manager_and_unknown_methods(hub, tmp_path):
    host = ready_host(hub, 'b1')
    tm = new_task_manager(host, tmp_path, single=True)
    task_id = hub.make_task('noSuchMethod', [1])

    tm.updateTasks()
    assert tm.getNextTask() is False

    if LOAD_DATA_PATH:
        # old daemons skip the task, which stays assigned to them
        task = hub.task(task_id)
        assert task['state_name'] == 'ASSIGNED'
        assert task['host_id'] == tm.host_id
        assert hub.refusals(task_id) == []
        return
    assert hub.task(task_id)['state_name'] == 'FREE'
    refusal = hub.refusals(task_id)[0]
    assert refusal['soft'] is False and refusal['by_host'] is True
    tm.updateTasks()
    tm.getNextTask()
    assert hub.task(task_id)['host_id'] is None


def test_forked_task_closes_and_is_reaped(tmp_path, hub_process):
    proc = hub_process(tmp_path / 'hub.sqlite', tmp_path / 'top',
                       '--admin', '%s:%s' % ADMIN, '--host', 'b1:b1')
    host = host_login(proc.url, 'b1')
    admin = login(proc.url, *ADMIN)
    tm = new_task_manager(host, tmp_path)
    task_id = admin.makeTask('sleep', [0.5])

    tm.updateTasks()
    assert tm.getNextTask() is True
    pid = tm.pids[task_id]
    sub_id = tm.subsessions[task_id]
    assert pid != os.getpid()

    reap(tm)
    assert task_id not in tm.subsessions
    assert admin.getTaskInfo(task_id)['state'] == STATES['CLOSED']
    with pytest.raises(OSError):
        os.kill(pid, 0)

    # the child closed the task through its subsession, which is now gone
    closes = HubSimulator(tmp_path / 'hub.sqlite', tmp_path / 'top') \
        .call_log(method='host.closeTask')
    assert [c['session_id'] for c in closes] == [sub_id]
    sessions = admin.getSessionInfo(user_id='b1', details=True)
    assert sub_id not in [s['id'] for s in sessions]


def test_cancel_open_task_with_cli_kills_the_child(tmp_path, hub_process):
    proc = hub_process(tmp_path / 'hub.sqlite', tmp_path / 'top',
                       '--admin', '%s:%s' % ADMIN, '--host', 'b1:b1')
    host = host_login(proc.url, 'b1')
    admin = login(proc.url, *ADMIN)
    tm = new_task_manager(host, tmp_path)
    task_id = admin.makeTask('sleep', [60])
    tm.updateTasks()
    assert tm.getNextTask() is True
    assert admin.getTaskInfo(task_id)['state'] == STATES['OPEN']

    listed = koji_cli(proc.url, 'list-tasks', home=tmp_path).stdout
    assert str(task_id) in listed and 'OPEN' in listed
    koji_cli(proc.url, 'cancel', str(task_id), home=tmp_path)
    assert admin.getTaskInfo(task_id)['state'] == STATES['CANCELED']

    reap(tm)
    assert host.host.getHostTasks() == []
    with pytest.raises(koji.GenericError, match='canceled'):
        admin.getTaskResult(task_id)


def test_task_manager_frees_stale_open_tasks(hub, tmp_path):
    admin = admin_login(hub)
    host = ready_host(hub, 'b1')
    task_id = admin.makeTask('sleep', [0])
    assert [t['id'] for t in host.host.getTasks()] == [task_id]
    assert host.host.openTask(task_id)['id'] == task_id

    # a restarted daemon does not know the task and gives it back
    tm = new_task_manager(host, tmp_path)
    tm.updateTasks()
    info = admin.getTaskInfo(task_id)
    assert info['state'] == STATES['FREE'] and info['host_id'] is None


# task states through the host calls


def test_open_close_and_ownership_errors(hub):
    admin = admin_login(hub)
    b1 = ready_host(hub, 'b1')
    b2 = ready_host(hub, 'b2')
    hub.set_host_enabled('b2', False)
    task_id = admin.makeTask('sleep', [0])

    assert [t['id'] for t in b1.host.getTasks()] == [task_id]
    assert b2.host.openTask(task_id) is None
    with pytest.raises(koji.ActionNotAllowed, match='does not own'):
        b1.host.closeTask(task_id, response(1))

    opened = b1.host.openTask(task_id)
    assert opened['state'] == STATES['OPEN'] and 'sleep' in opened['request']
    assert b1.host.openTask(task_id) is None
    assert b1.host.getHostTasks() == [
        {'id': task_id, 'waiting': None, 'weight': 1.0}]
    with pytest.raises(koji.ActionNotAllowed):
        b2.host.failTask(task_id, 'x')

    b1.host.closeTask(task_id, response('ok'))
    assert admin.getTaskResult(task_id) == 'ok'
    with pytest.raises(koji.ActionNotAllowed):
        b1.host.closeTask(task_id, 'again')
    assert admin.cancelTask(task_id) is None
    assert admin.getTaskInfo(task_id)['state'] == STATES['CLOSED']


def test_cancel_open_task_and_children(hub):
    hub.add_user('eve', 'eve-pw')
    admin = admin_login(hub)
    host = ready_host(hub, 'b1')
    parent = admin.makeTask('sleep', [0])
    host.host.getTasks()
    host.host.openTask(parent)
    child = host.host.subtask('sleep', [0], parent, label='one')
    assert host.host.subtask('sleep', [0], parent, label='one') == child
    assert admin.getTaskChildren(parent)[0]['id'] == child

    eve = login(hub.url, 'eve', 'eve-pw')
    with pytest.raises(koji.ActionNotAllowed, match='not owner'):
        eve.cancelTask(parent)

    admin.cancelTask(parent)
    states = [admin.getTaskInfo(t)['state'] for t in (parent, child)]
    assert states == [STATES['CANCELED'], STATES['CANCELED']]
    assert host.host.getHostTasks() == []
    with pytest.raises(koji.GenericError, match='Cannot free'):
        admin.freeTask(parent)


def test_free_tasks(hub):
    admin = admin_login(hub)
    b1 = ready_host(hub, 'b1')
    b2 = ready_host(hub, 'b2')
    hub.set_host_enabled('b2', False)
    task_id = admin.makeTask('sleep', [0])
    b1.host.getTasks()
    b1.host.openTask(task_id)

    b2.host.freeTasks([task_id])
    assert admin.getTaskInfo(task_id)['state'] == STATES['OPEN']

    b1.host.freeTasks([task_id])
    info = admin.getTaskInfo(task_id)
    assert info['state'] == STATES['FREE'] and info['host_id'] is None
    b1.host.freeTasks([task_id])


def test_wait_for_subtasks(hub):
    admin = admin_login(hub)
    host = ready_host(hub, 'b1')
    parent = admin.makeTask('sleep', [0])
    host.host.getTasks()
    host.host.openTask(parent)
    kids = [host.host.subtask('sleep', [0], parent) for _ in range(2)]

    host.host.taskSetWait(parent, None)
    assert host.host.taskWait(parent) == [[], kids]
    assert admin.getTaskInfo(kids[0])['priority'] == koji.PRIO_DEFAULT - 1

    host.host.getTasks()
    host.host.openTask(kids[0])
    host.host.closeTask(kids[0], response(7))
    assert host.host.getHostTasks()[0] == \
        {'id': parent, 'waiting': True, 'weight': 1.0, 'alert': True}
    assert host.host.taskWait(parent) == [[kids[0]], [kids[1]]]
    assert host.host.taskWaitResults(parent, [kids[0]]) == [[kids[0], 7]]
    assert admin.getTaskInfo(parent)['waiting'] is False
