"""Tests of the koji hub simulator: scheduler, refusals and timeouts.

Every check goes through koji.ClientSession, koji.daemon.TaskManager or
the installed ``koji`` command, so a simulator that drifts from the
protocol, the state machine or the fault codes of the real hub fails.
"""

from __future__ import annotations

import time


from tests.doubles.fixtures_hub import host_login
from tests.doubles.fixtures_hub import hub, make_hub  # noqa: F401
from tests.doubles.hub_helpers import STATES, admin_login, ready_host


# scheduler and refusals


def test_soft_refusal_goes_to_another_host_not_back(make_hub):
    sim = make_hub(soft_refusal_timeout=60)
    admin = admin_login(sim)
    b1 = ready_host(sim, 'b1')
    sim.add_host('b2')
    task_id = admin.makeTask('sleep', [0])

    assert [t['id'] for t in b1.host.getTasks()] == [task_id]
    b1.host.refuseTask(task_id, soft=True, msg='busy')
    info = admin.getTaskInfo(task_id)
    assert info['state'] == STATES['FREE'] and info['host_id'] is None
    refusal = sim.refusals(task_id)[0]
    assert refusal['soft'] is True and refusal['msg'] == 'busy'

    assert b1.host.getTasks() == []
    assert admin.getTaskInfo(task_id)['state'] == STATES['FREE']

    b2 = host_login(sim.url, 'b2')
    b2.host.updateHost(0.0, True)
    assert [t['id'] for t in b2.host.getTasks()] == [task_id]
    assert admin.getTaskInfo(task_id)['host_id'] == sim.get_host('b2')['id']


def test_soft_refusal_expires_hard_does_not(make_hub):
    sim = make_hub(soft_refusal_timeout=1.0)
    admin = admin_login(sim)
    b1 = ready_host(sim, 'b1')
    soft_task = admin.makeTask('sleep', [0])
    b1.host.getTasks()
    b1.host.refuseTask(soft_task, soft=True)
    assert b1.host.getTasks() == []

    time.sleep(1.3)
    assert [t['id'] for t in b1.host.getTasks()] == [soft_task]

    admin.cancelTask(soft_task)
    hard_task = admin.makeTask('sleep', [0])
    b1.host.getTasks()
    b1.host.refuseTask(hard_task, soft=False)
    time.sleep(1.3)
    assert b1.host.getTasks() == []
    assert admin.getTaskInfo(hard_task)['state'] == STATES['FREE']


def test_scheduler_matches_arch_channel_and_readiness(hub):
    admin = admin_login(hub)
    arm = ready_host(hub, 'arm1', arches='aarch64')
    x86 = ready_host(hub, 'x86', arches='x86_64', channels=('special',))
    x86.host.updateHost(0.0, False)
    x86_task = admin.makeTask('sleep', [0], arch='x86_64')
    special = admin.makeTask('sleep', [0], channel='special')

    # arm1 fits neither task; x86 is the only special host but not ready
    assert arm.host.getTasks() == []
    assert x86.host.getTasks() == []
    x86.host.updateHost(0.0, True)
    assert [t['id'] for t in x86.host.getTasks()] == [special]
    assert admin.getTaskInfo(x86_task)['state'] == STATES['FREE']

    hub.set_host_enabled('x86', False)
    admin.freeTask(special)
    assert x86.host.getTasks() == []
    hub.set_host_enabled('x86', True)
    assert [t['id'] for t in x86.host.getTasks()] == [special]


def test_silent_host_is_marked_not_ready(make_hub):
    sim = make_hub(ready_timeout=1.0)
    ready_host(sim, 'quiet')
    other = ready_host(sim, 'b2')
    time.sleep(1.3)

    other.host.updateHost(0.0, True)
    other.host.getTasks()
    assert sim.get_host('quiet')['ready'] is False
    assert sim.get_host('b2')['ready'] is True


def test_assignment_timeout_frees_and_reassigns(make_hub):
    sim = make_hub(assign_timeout=1.0)
    admin = admin_login(sim)
    slow = ready_host(sim, 'slow')
    task_id = admin.makeTask('sleep', [0])
    assert [t['id'] for t in slow.host.getTasks()] == [task_id]
    other = ready_host(sim, 'other')

    # slow checks in but never opens the task: an implicit soft refusal
    time.sleep(1.3)
    slow.host.updateHost(0.0, True)
    assert other.host.getTasks() == []
    assert admin.getTaskInfo(task_id)['state'] == STATES['FREE']
    assert sim.refusals(task_id)[0]['msg'] == 'assignment timeout'

    assert [t['id'] for t in other.host.getTasks()] == [task_id]
