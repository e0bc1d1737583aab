"""Tests of the koji hub simulator: hosts, channels and the CLI.

Every check goes through koji.ClientSession, koji.daemon.TaskManager or
the installed ``koji`` command, so a simulator that drifts from the
protocol, the state machine or the fault codes of the real hub fails.
"""

from __future__ import annotations

import koji
import pytest

from tests.doubles.fixtures_hub import ADMIN, host_login, koji_cli
from tests.doubles.fixtures_hub import hub, make_hub  # noqa: F401
from tests.doubles.hub_helpers import STATES, admin_login, ready_host


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
