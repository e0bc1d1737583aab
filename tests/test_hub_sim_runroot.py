"""Tests of the koji hub simulator: tags, repos, buildroots and runroot.

The runroot tasks are made by the installed ``koji runroot`` command
(koji's own CLI plugin) and worked by a fake builder: a host's exclusive
koji.ClientSession making the hub calls kojid's runroot handler and
BuildRoot make, in their order.  The CLI then waits for the task and
prints the log the builder uploaded.
"""

from __future__ import annotations

import os
import subprocess
import time

import koji
import koji.xmlrpcplus
import pytest

from tests.doubles.fixtures_hub import ADMIN, host_login, koji_cli_path, login
from tests.doubles.fixtures_hub import hub, make_hub  # noqa: F401
from tests.doubles.hub_helpers import STATES, admin_login, ready_host, response

TAG = 'f40-build'
IMAGE = 'registry.example.com/f40-runroot:latest'
BR = koji.BR_STATES
PROFILE = 'hubsim'
RPMS = [
    {'name': 'bash', 'version': '5.2', 'release': '1.fc40', 'epoch': None,
     'arch': 'x86_64', 'payloadhash': 'aa', 'size': 10, 'buildtime': 1},
    {'name': 'coreutils', 'version': '9.4', 'release': '2.fc40', 'epoch': 1,
     'arch': 'x86_64', 'payloadhash': 'bb', 'size': 20, 'buildtime': 2},
]
EXTRA_RPM = {'name': 'git', 'version': '2.44', 'release': '1.fc40',
             'epoch': None, 'arch': 'x86_64', 'payloadhash': 'cc', 'size': 30,
             'buildtime': 3}


# the real koji command line


def cli_command(hub, home, user, password, *args):
    """``koji -c CONF -p hubsim --user U --password P ... ARGS`` and env."""
    conf = home / 'koji-runroot.conf'
    conf.write_text('[%s]\nserver = %s\npoll_interval = 1\n'
                    % (PROFILE, hub.url))
    cmd = [koji_cli_path(), '-c', str(conf), '-p', PROFILE, '--user', user,
           '--password', password, '--authtype', 'password'] + list(args)
    return cmd, dict(os.environ, HOME=str(home))


def run_cli(hub, home, *args, user=ADMIN[0], password=ADMIN[1]):
    cmd, env = cli_command(hub, home, user, password, *args)
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=120)


def submit(hub, home, *args, **login_opts) -> int:
    """``koji runroot --nowait --task-id ARGS``; the new task id."""
    proc = run_cli(hub, home, 'runroot', '--nowait', '--task-id', *args,
                   **login_opts)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.split()[0])


def wait_for_runroot_task(admin, timeout=60.0) -> int:
    deadline = time.time() + timeout
    while True:
        tasks = admin.listTasks(opts={'method': 'runroot'})
        if tasks:
            return tasks[0]['id']
        assert time.time() < deadline, 'the CLI made no runroot task'
        time.sleep(0.1)


# the fake builder


def setup_runroot(hub, hosts=('b1',)) -> int:
    """Runroot hosts, the tag (with an image set through editTag2) and a
    READY repo; returns the repo id."""
    for name in hosts:
        hub.add_host(name, channels=('default', 'runroot'))
    hub.add_tag(TAG, arches='x86_64')
    admin_login(hub).editTag2(TAG, extra={'container.image': IMAGE})
    return hub.add_repo(TAG)


def open_runroot_task(host, task_id):
    """Take the task as kojid does; its decoded (args, kwargs)."""
    host.host.updateHost(0.0, True)
    assert task_id in [t['id'] for t in host.host.getTasks()]
    opened = host.host.openTask(task_id)
    params, method = koji.xmlrpcplus.loads(opened['request'])
    assert method == 'runroot'
    return koji.decode_args(*params)


def prepare_buildroot(host, task_id, tag, arch) -> int:
    """The hub calls of the runroot handler and kojid's BuildRoot."""
    config = host.getBuildConfig(tag)
    assert config['extra']['container.image'] == IMAGE
    assert arch in config['arches'].split()
    repo = host.getRepo(tag)
    repo_info = host.repoInfo(repo['id'], strict=True)
    assert repo_info['tag_id'] == config['id']
    assert koji.REPO_STATES[repo_info['state']] == 'READY'
    host.getBuildConfig(tag, event=repo_info['create_event'])

    broot = host.host.newBuildRoot(repo['id'], arch, task_id=task_id)
    host.host.setBuildRootList(broot, RPMS)
    host.host.setBuildRootState(broot, 'BUILDING')
    host.host.updateBuildRootList(broot, RPMS[:1] + [EXTRA_RPM])
    return broot


def run_runroot_task(host, task_id, tmp_path, log_text, outcome='closed'):
    """Work an open runroot task to the end; the buildroot id."""
    args, _kwargs = open_runroot_task(host, task_id)
    broot = prepare_buildroot(host, task_id, args[0], args[1])
    local = tmp_path / 'runroot.log'
    local.write_text(log_text)
    host.uploadWrapper(str(local), koji.pathinfo.taskrelpath(task_id),
                       name='runroot.log')
    host.host.setBuildRootState(broot, BR['EXPIRED'])
    if outcome == 'closed':
        host.host.closeTask(task_id, response('echo completed successfully'))
    else:
        fault = koji.xmlrpcplus.Fault(koji.BuildrootError.faultCode,
                                      'echo failed: exit code 1')
        host.host.failTask(task_id, koji.xmlrpcplus.dumps(fault))
    return broot


# runroot task creation


def test_cli_runroot_makes_task_for_runroot_channel(hub, tmp_path):
    setup_runroot(hub)
    hub.add_host('b2', channels=('special',))
    admin = admin_login(hub)

    task_id = submit(hub, tmp_path, TAG, 'x86_64', 'echo hi')
    info = admin.getTaskInfo(task_id, request=True)
    assert info['method'] == 'runroot' and info['state'] == STATES['FREE']
    assert info['arch'] == 'x86_64' and info['priority'] == 15
    assert info['channel_id'] == admin.getChannel('runroot')['id']
    assert info['owner'] == admin.getLoggedInUser()['id']
    assert info['request'] == list(koji.encode_args(
        TAG, 'x86_64', ['echo hi'], packages=[], mounts=[], repo_id=None,
        skip_setarch=False, weight=None))

    other = submit(hub, tmp_path, '--channel-override', 'special',
                   '--package', 'bash', '--use-shell', '--weight', '3',
                   '--new-chroot', TAG, 'i686', 'echo', 'hi')
    info = admin.getTaskInfo(other, request=True)
    assert info['channel_id'] == admin.getChannel('special')['id']
    assert info['arch'] == 'i686'
    args, kwargs = koji.decode_args(*info['request'])
    assert args == (TAG, 'i686', 'echo hi')
    assert kwargs == {'packages': ['bash'], 'mounts': [], 'repo_id': None,
                      'skip_setarch': False, 'weight': 3,
                      'new_chroot': True}


def test_cli_runroot_needs_the_runroot_permission(hub, tmp_path):
    setup_runroot(hub)
    hub.add_user('eve', 'eve-pw')
    admin = admin_login(hub)

    denied = run_cli(hub, tmp_path, 'runroot', '--nowait', TAG, 'x86_64',
                     'true', user='eve', password='eve-pw')
    assert denied.returncode == 1
    assert ('ActionNotAllowed: runroot permission required (logged in as'
            ' eve)') in denied.stderr
    assert admin.listTasks(opts={'method': 'runroot'}) == []

    hub.grant('eve', 'runroot')
    task_id = submit(hub, tmp_path, TAG, 'x86_64', 'true', user='eve',
                     password='eve-pw')
    eve_id = admin.getUser('eve')['id']
    assert admin.getTaskInfo(task_id)['owner'] == eve_id


def test_runroot_call_checks_and_arch_choice(hub):
    hub.add_tag(TAG, arches='x86_64')
    hub.add_tag('no-arches', arches=None)
    admin = admin_login(hub)
    with pytest.raises(koji.GenericError, match='No such channel: runroot'):
        admin.runroot(TAG, 'x86_64', 'true')

    hub.add_host('b1', arches='x86_64', channels=('runroot',))
    hub.add_host('b2', arches='aarch64', channels=('default',))
    with pytest.raises(koji.GenericError, match='No such tagInfo'):
        admin.runroot('nosuch', 'x86_64', 'true')
    with pytest.raises(koji.GenericError, match='Invalid type for value'):
        admin.runroot(TAG, 'x86_64', 42)
    with pytest.raises(koji.GenericError, match='no arches defined'):
        admin.runroot('no-arches', 'noarch', 'true')

    # the tag lacks aarch64: pick an arch of the tag the channel has
    task_id = admin.runroot(TAG, 'noarch', 'true', packages=['x'])
    info = admin.getTaskInfo(task_id, request=True)
    assert info['arch'] == 'x86_64'
    assert info['request'][:2] == [TAG, 'noarch']
    assert info['request'][3] == {'packages': ['x'], '__starstar': True}

    hub.add_tag('arm-only', arches='aarch64')
    with pytest.raises(koji.GenericError,
                       match='no common arches for tag/channel'):
        admin.runroot('arm-only', 'noarch', 'true')

    # a tag covering every host arch keeps noarch
    hub.add_tag('all', arches='x86_64 aarch64')
    task_id = admin.runroot('all', 'noarch', 'true', channel='default')
    info = admin.getTaskInfo(task_id)
    assert info['arch'] == 'noarch'
    assert info['channel_id'] == admin.getChannel('default')['id']


# the runroot task end to end


def test_fake_builder_runs_a_runroot_task(hub, tmp_path):
    repo_id = setup_runroot(hub)
    admin = admin_login(hub)
    task_id = submit(hub, tmp_path, TAG, 'x86_64', 'echo hi')
    host = host_login(hub.url, 'b1')
    other = hub.add_buildroot('b1', task_id=None, state=BR['EXPIRED'])

    broot = run_runroot_task(host, task_id, tmp_path, 'hi\n')

    assert admin.getTaskInfo(task_id)['state'] == STATES['CLOSED']
    rows = admin.listBuildroots(taskID=task_id)
    assert [r['id'] for r in rows] == [broot]
    row = rows[0]
    assert row['state'] == BR['EXPIRED'] and row['retire_ts'] is not None
    assert (row['host_name'], row['repo_id'], row['tag_name']) == \
        ('b1', repo_id, TAG)
    assert row['arch'] == 'x86_64' and row['repo_state'] == koji.REPO_READY
    assert admin.getBuildroot(broot) == row
    assert admin.listBuildroots(taskID=task_id, state=BR['BUILDING']) == []
    assert [r['id'] for r in admin.listBuildroots(state=BR['EXPIRED'])] == \
        [other, broot]

    listed = admin.listRPMs(componentBuildrootID=broot)
    assert [(r['nvr'], r['is_update']) for r in listed] == [
        ('bash-5.2-1.fc40', False), ('coreutils-9.4-2.fc40', False),
        ('git-2.44-1.fc40', True)]
    assert admin.listBuildroots(rpmID=listed[2]['id'])[0]['id'] == broot

    assert admin.listTaskOutput(task_id, all_volumes=True) == \
        {'runroot.log': ['DEFAULT']}
    assert admin.downloadTaskOutput(task_id, 'runroot.log') == b'hi\n'
    assert admin.taskFinished(task_id) is True


@pytest.mark.parametrize('outcome, code', [('closed', 0), ('failed', 1)])
def test_cli_runroot_waits_and_prints_the_log(hub, tmp_path, outcome, code):
    setup_runroot(hub)
    admin = admin_login(hub)
    host = host_login(hub.url, 'b1')
    cmd, env = cli_command(hub, tmp_path, ADMIN[0], ADMIN[1], 'runroot',
                           '--task-id', TAG, 'x86_64', 'echo hi')
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        task_id = wait_for_runroot_task(admin)
        time.sleep(1.5)
        assert proc.poll() is None, 'the CLI did not wait for the task'
        run_runroot_task(host, task_id, tmp_path, 'hi from %s\n' % outcome,
                         outcome=outcome)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, err
    assert out == '%d\nhi from %s\n' % (task_id, outcome)
    methods = [c['method'] for c in hub.call_log(user=ADMIN[0])]
    assert methods.count('runroot') == 1
    for name in ('taskFinished', 'listTaskOutput', 'downloadTaskOutput',
                 'getTaskInfo'):
        assert name in methods


def test_cli_runroot_exits_1_for_a_canceled_task(hub, tmp_path):
    setup_runroot(hub)
    admin = admin_login(hub)
    cmd, env = cli_command(hub, tmp_path, ADMIN[0], ADMIN[1], 'runroot',
                           TAG, 'x86_64', 'sleep 60')
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        task_id = wait_for_runroot_task(admin)
        admin.cancelTask(task_id)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err
    assert out == ''


# buildroot host calls


def test_buildroot_calls_check_host_task_and_state(hub):
    repo_id = setup_runroot(hub, hosts=('b1', 'b2'))
    admin = admin_login(hub)
    b1 = ready_host(hub, 'b1')
    b2 = ready_host(hub, 'b2')
    task_id = admin.runroot(TAG, 'x86_64', 'true')
    assert b1.host.openTask(task_id)['id'] == task_id

    with pytest.raises(koji.ActionNotAllowed, match='does not own task'):
        b2.host.newBuildRoot(repo_id, 'x86_64', task_id=task_id)
    with pytest.raises(koji.GenericError, match='No such repo'):
        b1.host.newBuildRoot(repo_id + 1, 'x86_64')
    hub.add_host('b3')
    plain = login(hub.url, 'b3', 'b3')
    with pytest.raises(koji.AuthError, match='exclusive session'):
        plain.host.newBuildRoot(repo_id, 'x86_64')

    broot = b1.host.newBuildRoot(repo_id, 'x86_64', task_id=task_id)
    spare = b1.host.newBuildRoot(repo_id, 'x86_64')
    assert admin.getBuildroot(broot)['state'] == BR['INIT']
    assert [r['id'] for r in admin.listBuildroots(hostID=b1.host.getID())] \
        == [broot, spare]
    assert admin.listBuildroots(hostID=b2.host.getID()) == []

    with pytest.raises(koji.ActionNotAllowed, match='not owner of buildroot'):
        b2.host.setBuildRootState(broot, 'BUILDING')
    with pytest.raises(koji.ActionNotAllowed, match='does not have lock'):
        b1.host.setBuildRootState(spare, 'BUILDING', task_id=task_id)
    with pytest.raises(koji.GenericError, match='no buildroot with ID'):
        b1.host.setBuildRootState(9999, 'BUILDING')
    with pytest.raises(koji.GenericError, match='to INIT'):
        b1.host.setBuildRootState(broot, 'INIT')
    with pytest.raises(koji.GenericError, match='in wrong state'):
        b1.host.updateBuildRootList(broot, RPMS)

    b1.host.setBuildRootList(broot, RPMS, task_id=task_id)
    b1.host.setBuildRootState(broot, BR['BUILDING'], task_id=task_id)
    with pytest.raises(koji.GenericError, match='in wrong state'):
        b1.host.setBuildRootList(broot, RPMS)
    b1.host.updateBuildRootList(broot, RPMS)
    assert [r['is_update'] for r in hub.buildroot_rpms(broot)] == \
        [False, False]

    states = [BR['INIT'], BR['BUILDING']]
    assert [r['id'] for r in admin.listBuildroots(state=states)] == \
        [broot, spare]
    assert [r['id'] for r in admin.listBuildroots(state=BR['BUILDING'])] == \
        [broot]

    b1.host.setBuildRootState(broot, 'EXPIRED')
    b1.host.setBuildRootState(broot, 'EXPIRED')
    with pytest.raises(koji.GenericError, match='is EXPIRED'):
        b1.host.setBuildRootState(broot, 'BUILDING')
    assert admin.getBuildroot(broot)['retire_event_id'] == \
        admin.getLastEvent()['id']
    assert admin.getBuildroot(12345) is None
    with pytest.raises(koji.GenericError, match='No such buildroot'):
        admin.getBuildroot(12345, strict=True)


# tags and repos


def test_tags_and_tag_extra(hub):
    tag_id = hub.add_tag(TAG, arches=['x86_64', 'i686'], extra={'a': 1})
    hub.add_tag('f40-updates', arches=None)
    hub.add_user('eve', 'eve-pw')
    admin = admin_login(hub)

    info = admin.getTag(TAG)
    assert info['id'] == tag_id and info['arches'] == 'x86_64 i686'
    assert info['extra'] == {'a': 1} and info['locked'] is False
    assert admin.getTag(tag_id) == admin.getTag({'name': TAG}) == info
    assert admin.getTag('nosuch') is None
    with pytest.raises(koji.GenericError, match='No such tagInfo'):
        admin.getTag('nosuch', strict=True)
    assert [t['name'] for t in admin.listTags()] == [TAG, 'f40-updates']
    assert [t['name'] for t in admin.listTags(pattern='*-UPD*')] == \
        ['f40-updates']

    eve = login(hub.url, 'eve', 'eve-pw')
    with pytest.raises(koji.ActionNotAllowed, match='tag permission'):
        eve.editTag2(TAG, extra={'b': 2})
    admin.editTag2(TAG, extra={'container.image': IMAGE, 'b': None},
                   remove_extra=['a'], locked=True)
    info = admin.getTag(TAG)
    assert info['extra'] == {'container.image': IMAGE, 'b': None}
    assert info['locked'] is True
    with pytest.raises(koji.GenericError, match="doesn't have extra: a"):
        admin.editTag2(TAG, remove_extra=['a'])

    admin.editTag2(TAG, block_extra=['b'])
    config = admin.getBuildConfig(TAG)
    assert config['extra'] == {'container.image': IMAGE}
    assert config['config_inheritance'] == {'extra': {}, 'arches': None}
    assert admin.getTag(TAG, blocked=True)['extra']['b'] == [True, None]


def test_repos_and_their_directories(hub):
    hub.add_tag(TAG, arches='x86_64 i686 noarch')
    hub.add_tag('empty')
    admin = admin_login(hub)

    first = hub.add_repo(TAG)
    repodir = koji.PathInfo(topdir=hub.topdir).repo(first, TAG)
    assert sorted(os.listdir(repodir)) == ['i386', 'repo.json', 'x86_64']
    for arch in ('i386', 'x86_64'):
        assert os.path.isfile(os.path.join(repodir, arch, 'repodata',
                                           'repomd.xml'))
    second = hub.add_repo(TAG, arches=['aarch64'])
    seconddir = koji.PathInfo(topdir=hub.topdir).repo(second, TAG)
    assert sorted(os.listdir(seconddir)) == ['aarch64', 'repo.json']

    repo = admin.getRepo(TAG)
    assert repo['id'] == second and repo['tag_name'] == TAG
    assert repo['state'] == koji.REPO_READY and repo['dist'] is False
    assert repo['create_event'] == admin.getLastEvent()['id']
    assert admin.repoInfo(second) == repo

    hub.set_repo_state(second, 'EXPIRED')
    assert admin.getRepo(TAG)['id'] == first
    assert admin.getRepo(TAG, state=koji.REPO_EXPIRED)['id'] == second
    assert admin.getRepo(TAG, event=repo['create_event'] - 1)['id'] == first
    assert admin.getRepo('empty') is None
    with pytest.raises(koji.GenericError, match='No such entry in table tag'):
        admin.getRepo('nosuch')
    assert admin.repoInfo(999) is None
    with pytest.raises(koji.GenericError, match='no rows'):
        admin.repoInfo(999, strict=True)
