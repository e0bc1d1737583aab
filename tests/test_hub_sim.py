"""Tests of the koji hub simulator against the real koji client and CLI.

Every check goes through koji.ClientSession, koji.daemon.TaskManager or
the installed ``koji`` command, so a simulator that drifts from the
protocol, the state machine or the fault codes of the real hub fails.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time

import koji
import koji.daemon
import koji.tasks
import koji.xmlrpcplus
import pytest
import requests

from tests.doubles.fixtures_hub import (  # noqa: F401
    ADMIN, CLIENT_OPTS, host_login, hub, hub_process, koji_cli, login,
    make_hub, task_manager_options)
from tests.doubles.hub_sim import HubSimulator

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


# protocol basics


def test_version_calls_and_anonymous_session(hub):
    anon = koji.ClientSession(hub.url, CLIENT_OPTS)

    assert anon.getAPIVersion() == koji.API_VERSION
    assert anon.getKojiVersion() == koji.__version__
    assert anon.echo(1, 'two', [3]) == [1, 'two', [3]]
    assert anon.hello() == 'Hello World'
    assert anon.getLoggedInUser() is None
    assert anon.getSessionInfo() is None
    assert anon.hub_version_str == koji.__version__


def test_login_subsession_logout(hub):
    hub.add_user('alice', 'alice-pw')
    session = login(hub.url, 'alice', 'alice-pw')

    me = session.getLoggedInUser()
    assert me['name'] == 'alice'
    assert me['authtype'] == koji.AUTHTYPES['NORMAL']
    info = session.getSessionInfo()
    assert info['user_id'] == me['id'] and info['master'] is None
    assert info['start_ts'] <= time.time()

    sub = session.subsession()
    sub_id = sub.sinfo['session-id']
    assert sub_id != session.sinfo['session-id']
    assert sub.getLoggedInUser()['name'] == 'alice'
    assert sub.getSessionInfo()['master'] == session.sinfo['session-id']

    session.logoutChild(sub_id)
    with pytest.raises(koji.AuthError, match='Invalid session'):
        sub.getLoggedInUser()

    old_sinfo = dict(session.sinfo)
    session.logout()
    assert not session.logged_in
    assert session.getLoggedInUser() is None
    stale = koji.ClientSession(hub.url, CLIENT_OPTS, sinfo=old_sinfo)
    with pytest.raises(koji.AuthError, match='Invalid session'):
        stale.getLoggedInUser()


def test_bad_password_is_auth_error(hub):
    hub.add_user('bob', 'right')
    with pytest.raises(koji.AuthError, match='invalid username or password'):
        login(hub.url, 'bob', 'wrong')


def test_call_numbers_sequence_and_retry(hub):
    admin = admin_login(hub)
    admin.makeTask('sleep', [0])

    # repeating the number of a call that wrote something is refused...
    admin.callnum -= 1
    with pytest.raises(koji.RetryError):
        admin.makeTask('sleep', [0])

    # ...and going back further is out of sequence
    admin.callnum -= 3
    with pytest.raises(koji.SequenceError):
        admin.getLoggedInUser()

    # host.updateHost is on the hub's retry whitelist
    host = ready_host(hub, 'b1')
    host.host.updateHost(0.0, True)
    host.callnum -= 1
    host.host.updateHost(0.0, True)


def test_expired_session_fault_and_renewal(hub):
    hub.add_user('carol', 'carol-pw')
    session = login(hub.url, 'carol', 'carol-pw')
    session_id = session.sinfo['session-id']
    old_key = session.sinfo['session-key']
    assert hub.expire_session('carol') == 1

    # the raw answer is the AuthExpired fault
    handler, headers, request = session._prepCall('getLoggedInUser', ())
    with pytest.raises(koji.Fault) as raised:
        session._sendCall(handler, headers, request)
    assert type(koji.convertFault(raised.value)) is koji.AuthExpired

    # the client renews the same session with a new key
    assert session.getLoggedInUser()['name'] == 'carol'
    assert session.sinfo['session-id'] == session_id
    assert session.sinfo['session-key'] != old_key
    renewals = hub.call_log(method='login')
    assert renewals[-1]['kwargs'].get('renew') is True


def test_renewed_session_restarts_call_numbers_like_the_hub(hub):
    # updateHost writes, so the hub keeps its call number; after renewing
    # the client counts from 0 again and the hub (real or simulated)
    # answers the retried call with SequenceError
    host = ready_host(hub, 'b1')
    old_key = host.sinfo['session-key']
    hub.expire_session('b1')

    with pytest.raises(koji.SequenceError):
        host.host.getID()
    assert host.sinfo['session-key'] != old_key

    # the renewed session is still the exclusive one of the host
    resumed = koji.ClientSession(hub.url, CLIENT_OPTS, sinfo=host.sinfo)
    resumed.callnum = 1000
    assert resumed.host.getID() == hub.get_host('b1')['id']
    assert resumed.getSessionInfo()['exclusive'] is True


def test_exclusive_sessions(hub):
    hub.add_host('b1')
    first = host_login(hub.url, 'b1')
    second = login(hub.url, 'b1', 'b1')

    with pytest.raises(koji.AuthLockError):
        second.getLoggedInUser()
    with pytest.raises(koji.AuthLockError, match='Cannot get exclusive'):
        second.exclusiveSession()

    second.exclusiveSession(force=True)
    assert second.host.getID() == hub.get_host('b1')['id']
    with pytest.raises(koji.AuthError):
        first.host.getID()

    second.sharedSession()
    with pytest.raises(koji.AuthError, match='requires an exclusive'):
        second.host.getID()


# faults


def test_faults_arrive_as_koji_exceptions(hub):
    hub.add_user('dave', 'dave-pw')
    hub.add_host('b1')
    anon = koji.ClientSession(hub.url, CLIENT_OPTS)
    user = login(hub.url, 'dave', 'dave-pw')
    shared_host = login(hub.url, 'b1', 'b1')

    cases = [
        (lambda: anon.host.getID(), koji.AuthError, 'Not logged-in'),
        (lambda: user.host.getID(), koji.AuthError, 'is not a host'),
        (lambda: shared_host.host.getID(), koji.AuthError, 'exclusive'),
        (lambda: anon.makeTask('sleep', [1]), koji.ActionNotAllowed,
         'not logged in'),
        (lambda: user.makeTask('sleep', [1]), koji.ActionNotAllowed,
         'admin permission required'),
        (lambda: user.addHost('b2', ['x86_64']), koji.ActionNotAllowed,
         'host permission required'),
        (lambda: anon.noSuchCall(), koji.GenericError, 'Invalid method'),
        (lambda: anon.getTaskInfo(), koji.ParameterError, 'task_id'),
        (lambda: anon.getTaskInfo(424242, strict=True), koji.GenericError,
         'no rows'),
        (lambda: anon.getHost('nope', strict=True), koji.GenericError,
         'Invalid hostInfo'),
        (lambda: anon.error(), koji.GenericError, 'test error'),
    ]
    for call, exc_class, text in cases:
        with pytest.raises(koji.GenericError) as raised:
            call()
        assert type(raised.value) is exc_class, text
        assert text in str(raised.value)

    # a non-koji exception is faultCode 1, which the client keeps a Fault
    with pytest.raises(koji.Fault) as raised:
        anon.fault()
    assert raised.value.faultCode == 1
    assert 'test exception' in raised.value.faultString


def test_multicall_mixes_results_and_faults(hub):
    admin = admin_login(hub)
    task_id = admin.makeTask('sleep', [0])

    with admin.multicall() as m:
        good = m.getTaskInfo(task_id)
        bad = m.getTaskInfo(999, strict=True)
        denied = m.host.getID()
    assert good.result['id'] == task_id
    with pytest.raises(koji.GenericError):
        bad.result
    with pytest.raises(koji.AuthError):
        denied.result

    inner = [c for c in hub.call_log() if c['multicall']]
    assert [c['method'] for c in inner] == \
        ['getTaskInfo', 'getTaskInfo', 'host.getID']
    assert inner[1]['fault_code'] == koji.GenericError.faultCode


def test_failed_calls_roll_back_their_writes(hub):
    admin = admin_login(hub)
    host = ready_host(hub, 'b1')
    parent = admin.makeTask('sleep', [0])
    host.host.getTasks()
    host.host.openTask(parent)
    kid = host.host.subtask('sleep', [0], parent)
    host.host.taskSetWait(parent, None)

    # taskWaitResults clears the wait flags, then fails on the open kid
    with pytest.raises(koji.GenericError, match='not finished'):
        host.host.taskWaitResults(parent, [kid])
    assert admin.getTaskInfo(parent)['waiting'] is True

    with host.multicall() as m:
        m.host.setTaskWeight(parent, 2.5)
        failed = m.host.taskWaitResults(parent, [kid])
    with pytest.raises(koji.GenericError):
        failed.result
    info = admin.getTaskInfo(parent)
    assert info['waiting'] is True and info['weight'] == 2.5


def test_admin_helpers_make_and_cancel_tasks(hub):
    task_id = hub.make_task('sleep', [1], kwargs={'extra': 2},
                            arch='x86_64', priority=5)
    admin = admin_login(hub)
    info = admin.getTaskInfo(task_id, request=True)
    assert info['request'] == [1, {'extra': 2, '__starstar': True}]
    assert (info['arch'], info['priority']) == ('x86_64', 5)
    assert info['owner'] == admin.getUser('hub_sim')['id']

    assert hub.cancel_task(task_id) is True
    assert admin.getTaskInfo(task_id)['state'] == STATES['CANCELED']
    assert hub.task_result(task_id) is None
    with pytest.raises(koji.GenericError):
        hub.task_result(424242)


# hosts, channels and the CLI


def test_cli_list_hosts_and_hostinfo_after_update(hub, tmp_path):
    hub.add_host('builder-a', arches='x86_64 i686', capacity=4.0)
    before = koji_cli(hub.url, 'list-hosts', '--quiet', home=tmp_path)
    fields = before.stdout.split()
    assert fields[:3] == ['builder-a', 'Y', 'N']
    assert fields[-1] == '-'

    host = host_login(hub.url, 'builder-a')
    host.host.updateHost(1.5, True)
    row = hub.get_host('builder-a')
    assert row['ready'] is True and row['task_load'] == 1.5

    after = koji_cli(hub.url, 'list-hosts', home=tmp_path).stdout
    line = [x for x in after.splitlines() if x.startswith('builder-a')][0]
    assert line.split()[1:5] == ['Y', 'Y', '1.5/4.0', 'x86_64,i686']
    assert koji.formatTimeLong(row['update_ts']) in line

    ready_only = koji_cli(hub.url, 'list-hosts', '--not-ready',
                          home=tmp_path, check=False)
    assert 'builder-a' not in ready_only.stdout

    info = koji_cli(hub.url, 'hostinfo', 'builder-a', home=tmp_path).stdout
    assert 'Ready: yes' in info and 'Enabled: yes' in info
    assert 'Channels: default' in info
    assert 'Last Update: %s' % koji.formatTimeLong(row['update_ts']) in info
    assert 'Active Buildroots:\nNone' in info


def test_host_admin_calls(hub):
    admin = admin_login(hub)
    host_id = admin.addHost('b9', ['x86_64', 'aarch64'])
    assert admin.getHost(host_id)['arches'] == 'x86_64 aarch64'
    with pytest.raises(koji.GenericError, match='already exists'):
        admin.addHost('b9', ['x86_64'])

    assert admin.editHost('b9', capacity=8.0, comment='big') is True
    assert admin.editHost('b9', capacity=8.0) is False
    admin.disableHost('b9')
    assert admin.listHosts(enabled=False)[0]['name'] == 'b9'
    admin.enableHost('b9')

    admin.addChannel('fast')
    admin.addHostToChannel('b9', 'fast')
    names = [c['name'] for c in admin.listChannels(hostID=host_id)]
    assert names == ['default', 'fast']
    fast = admin.getChannel('fast')
    assert [h['id'] for h in admin.listHosts(channelID=fast['id'])] == \
        [host_id]
    assert admin.listHosts(arches=['ppc64le']) == []
    assert admin.getLastHostUpdate(host_id) is None


def test_get_load_data_shape_for_koji_134(hub):
    admin = admin_login(hub)
    host = ready_host(hub, 'b1')
    task_id = admin.makeTask('sleep', [0])

    hosts, tasks = host.host.getLoadData()
    assert [h['name'] for h in hosts] == ['b1']
    assert hosts[0]['channels'] == [admin.getChannel('default')['id']]
    assert [(t['id'], t['state'], t['host_id']) for t in tasks] == \
        [(task_id, STATES['ASSIGNED'], hosts[0]['id'])]


def test_update_host_stores_scheduler_data(hub):
    host = ready_host(hub, 'b1')
    host.host.updateHost(0.0, True, data={'maxjobs': 3, 'methods': ['x']})
    rows = host.callMethod('scheduler.getHostData', hub.get_host('b1')['id'])
    assert rows[0]['data'] == {'maxjobs': 3, 'methods': ['x']}
    host.host.setHostData('{"maxjobs": 4}')
    assert host.callMethod('scheduler.getHostData')[0]['data'] == \
        {'maxjobs': 4}


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


def test_cli_call_and_list_tasks(hub, tmp_path):
    ready_host(hub, 'b1')
    task_id = hub.make_task('sleep', [3], owner=ADMIN[0])

    out = koji_cli(hub.url, 'call', '--json-output', 'getHost', 'b1',
                   home=tmp_path).stdout
    assert '"name": "b1"' in out and '"ready": true' in out
    listed = koji_cli(hub.url, 'list-tasks', '--mine', home=tmp_path).stdout
    line = [x for x in listed.splitlines() if x.startswith(str(task_id))][0]
    assert 'FREE' in line and ADMIN[0] in line and 'sleep' in line

    denied = koji_cli(hub.url, 'list-tasks', password='wrong',
                      home=tmp_path, check=False)
    assert denied.returncode != 0
    assert 'invalid username or password' in denied.stderr


# uploads and task output


def test_upload_and_download_task_output(hub, tmp_path):
    admin = admin_login(hub)
    b1 = ready_host(hub, 'b1')
    b2 = ready_host(hub, 'b2')
    task_id = admin.makeTask('sleep', [0])
    hub.set_host_enabled('b2', False)
    b1.host.getTasks()
    b1.host.openTask(task_id)

    log = tmp_path / 'build.log'
    log.write_bytes(b'line one\nline two\n' * 1000)
    upload_dir = koji.pathinfo.taskrelpath(task_id)
    b1.uploadWrapper(str(log), upload_dir, blocksize=4096)
    assert admin.listTaskOutput(task_id) == ['build.log']
    assert admin.downloadTaskOutput(task_id, 'build.log') == log.read_bytes()
    assert admin.downloadTaskOutput(task_id, 'build.log', offset=5,
                                    size=3) == b'one'
    stat = admin.listTaskOutput(task_id, stat=True)['build.log']
    assert stat['st_size'] == str(log.stat().st_size)
    stored = os.path.join(hub.topdir, 'work', upload_dir, 'build.log')
    assert open(stored, 'rb').read() == log.read_bytes()

    with pytest.raises(koji.ActionNotAllowed):
        b2.uploadWrapper(str(log), upload_dir, name='other.log')
    with pytest.raises(koji.GenericError, match='no file'):
        admin.downloadTaskOutput(task_id, 'missing.log')

    data = b'chunk'
    ok = admin.uploadFile('tmp/x', 'a.txt', len(data),
                          ('sha256', hashlib.sha256(data).hexdigest()), 0,
                          base64.b64encode(data).decode())
    assert ok is True
    assert admin.checkUpload('tmp/x', 'a.txt', verify='sha256')[
        'hexdigest'] == hashlib.sha256(data).hexdigest()


# shared state, restarts and outages


def test_two_processes_share_one_hub(tmp_path, hub_process):
    db_path, topdir = tmp_path / 'shared.sqlite', tmp_path / 'top'
    proc = hub_process(db_path, topdir, '--admin', '%s:%s' % ADMIN,
                       '--host', 'b1:b1:x86_64,i686')
    local = HubSimulator(db_path, topdir).start()
    try:
        remote_admin = login(proc.url, *ADMIN)
        task_id = remote_admin.makeTask('sleep', [0])

        host = host_login(local.url, 'b1')
        host.host.updateHost(0.0, True)
        assert [t['id'] for t in host.host.getTasks()] == [task_id]
        assert remote_admin.getHost('b1')['arches'] == 'x86_64 i686'
        assert remote_admin.getHost('b1')['ready'] is True

        # a session made through one process is valid through the other
        moved = koji.ClientSession(proc.url, CLIENT_OPTS,
                                   sinfo=dict(host.sinfo))
        moved.callnum = host.callnum
        assert moved.host.openTask(task_id)['id'] == task_id
        assert local.task(task_id)['state_name'] == 'OPEN'
    finally:
        local.stop()

    # a restarted simulator keeps the hub's state
    proc.stop()
    again = hub_process(db_path, topdir)
    assert login(again.url, *ADMIN).getTaskInfo(task_id)['state'] == \
        STATES['OPEN']


def test_set_down_refuses_then_serves_on_same_port(hub):
    session = login(hub.url, *ADMIN)
    url = hub.url

    hub.set_down(True)
    with pytest.raises(requests.exceptions.ConnectionError):
        session.getLoggedInUser()

    hub.set_down(False)
    assert hub.url == url
    assert session.getLoggedInUser()['name'] == ADMIN[0]


def test_call_log_is_equal_for_equal_runs(make_hub, tmp_path):
    def run(name):
        sim = make_hub(name=name)
        host = ready_host(sim, 'b1')
        tm = new_task_manager(host, tmp_path / name, single=True)
        sim.make_task('sleep', [0])
        tm.updateTasks()
        tm.getNextTask()
        finish(tm)
        return [(c['user'], c['method'], c['args']) for c in sim.call_log()]

    first, second = run('one'), run('two')
    assert first == second
    assert [c[1] for c in first].count('host.closeTask') == 1
