"""Tests of the koji hub simulator: sessions, call numbers and faults.

Every check goes through koji.ClientSession, koji.daemon.TaskManager or
the installed ``koji`` command, so a simulator that drifts from the
protocol, the state machine or the fault codes of the real hub fails.
"""

from __future__ import annotations

import time

import koji
import pytest

from tests.doubles.fixtures_hub import CLIENT_OPTS, host_login, login
from tests.doubles.fixtures_hub import hub, make_hub  # noqa: F401
from tests.doubles.hub_helpers import STATES, admin_login, ready_host


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
