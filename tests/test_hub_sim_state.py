"""Tests of the koji hub simulator: uploads, shared state and outages.

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
import pytest
import requests

from tests.doubles.fixtures_hub import ADMIN, CLIENT_OPTS, host_login, login
from tests.doubles.fixtures_hub import hub, hub_process, make_hub  # noqa: F401
from tests.doubles.hub_helpers import STATES, admin_login, finish, new_task_manager, ready_host
from tests.doubles.hub_sim import HubSimulator


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


def test_down_at_cuts_that_call_unanswered_and_unrun_then_comes_back(hub):
    host = ready_host(hub, 'b1')
    task_id = hub.make_task('sleep', [0])
    hub.down_at('host.openTask', seconds=1.0)

    assert host.echo('before') == ['before']  # other calls pass
    with pytest.raises(requests.exceptions.ConnectionError):
        host.host.openTask(task_id)  # no retries in CLIENT_OPTS
    assert hub.outages.cut_calls == ['host.openTask']
    assert not hub.running
    assert hub.task(task_id)['state_name'] == 'FREE', 'the cut call did not run'
    assert hub.call_log(method='host.openTask') == []

    deadline = time.time() + 10
    while not hub.running:
        assert time.time() < deadline, 'the hub did not come back'
        time.sleep(0.05)
    assert host.host.openTask(task_id)['state'] == STATES['OPEN']


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
