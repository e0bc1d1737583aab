"""Pytest fixtures and helpers around the koji hub simulator.

Import the fixtures into a test module (``from tests.doubles.fixtures_hub
import hub, make_hub, hub_process  # noqa: F401``); tests/conftest.py
belongs to the lead.

- ``make_hub(**hub_options)``: start a HubSimulator in tmp_path with the
  admin user ADMIN; stopped at teardown.
- ``hub``: ``make_hub()`` with the real hub's defaults.
- ``hub_process(db, topdir, *cli_args)``: run the simulator CLI in a
  subprocess and return a :class:`HubProcess`; ended by PID at teardown.
- ``login(url, user, password)``, ``host_login(url, name)``: logged-in
  koji.ClientSession objects (a host session is made exclusive, as kojid
  does).
- ``task_manager_options(tmp_path, **overrides)``: the option namespace
  koji.daemon.TaskManager and koji.tasks handlers read.
- ``koji_cli(url, *args)``: run the real ``koji`` command line.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import types

import koji
import pytest

from tests.doubles.hub_sim import HubSimulator

ADMIN = ('kojiadmin', 'kojiadmin-pw')
REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
CLIENT_OPTS = {'max_retries': 0, 'retry_interval': 0.1, 'timeout': 30}


def login(url, user, password, **opts) -> koji.ClientSession:
    """A ClientSession logged in with user/password."""
    session_opts = dict(CLIENT_OPTS, user=user, password=password)
    session_opts.update(opts)
    session = koji.ClientSession(url, session_opts)
    session.login()
    return session


def host_login(url, name, password=None) -> koji.ClientSession:
    """A builder's exclusive session (the password defaults to the name)."""
    session = login(url, name, password or name)
    session.exclusiveSession()
    return session


def task_manager_options(tmp_path, **overrides) -> types.SimpleNamespace:
    """Options for koji.daemon.TaskManager with small, local directories."""
    base = pathlib.Path(tmp_path)
    for sub in ('mock', 'work', 'topdir'):
        (base / sub).mkdir(parents=True, exist_ok=True)
    opts = dict(
        sleeptime=0.1, maxjobs=5, minspace=1,
        mockdir=str(base / 'mock'), workdir=str(base / 'work'),
        topdir=str(base / 'topdir'), topurl=None, single=False,
        failed_buildroot_lifetime=3600, buildroot_basic_cleanup_delay=120,
        buildroot_final_cleanup_delay=86400, task_avail_delay=0,
    )
    opts.update(overrides)
    return types.SimpleNamespace(**opts)


def koji_cli_path() -> str:
    """The ``koji`` script installed beside the running interpreter."""
    return os.path.join(os.path.dirname(sys.executable), 'koji')


def koji_cli(url, *args, user=ADMIN[0], password=ADMIN[1], home=None,
             check=True) -> subprocess.CompletedProcess:
    """Run ``koji -c CONF --server URL --user U --password P ... ARGS``.

    CONF is a minimal profile written under ``home`` (a temporary
    directory if None), which is also the HOME of the command, so a
    developer's ~/.koji/config stays out of the way.
    """
    with tempfile.TemporaryDirectory() as scratch:
        home = pathlib.Path(home or scratch)
        conf = home / 'koji-cli.conf'
        conf.write_text('[koji]\nserver = %s\n' % url)
        cmd = [koji_cli_path(), '-c', str(conf), '--server', url]
        if user is not None:
            cmd += ['--user', user, '--password', password,
                    '--authtype', 'password']
        cmd += list(args)
        env = dict(os.environ, HOME=str(home))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                              timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError('%s failed (%s):\n%s%s' % (
            ' '.join(args), proc.returncode, proc.stdout, proc.stderr))
    return proc


class HubProcess:
    """The simulator CLI running in a child process."""

    def __init__(self, db_path, topdir, *cli_args):
        cmd = [sys.executable, '-m', 'tests.doubles.hub_sim',
               '--db', str(db_path), '--topdir', str(topdir)]
        cmd += [str(a) for a in cli_args]
        self.proc = subprocess.Popen(cmd, cwd=str(REPO_ROOT),
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith('http://127.'):
            err = self.proc.stderr.read() if self.proc.poll() is not None \
                else ''
            self.stop()
            raise RuntimeError('hub simulator did not start: %r %s'
                               % (self.url, err))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> int:
        """SIGTERM this child (by its PID) and wait for it."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        return self.proc.returncode


@pytest.fixture
def make_hub(tmp_path):
    """Factory: make_hub(**hub_options) -> started HubSimulator."""
    started = []

    def factory(name='hub', **hub_options):
        sim = HubSimulator(tmp_path / ('%s.sqlite' % name),
                           tmp_path / ('%s-topdir' % name), **hub_options)
        sim.add_user(ADMIN[0], ADMIN[1], perms=('admin',))
        started.append(sim.start())
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture
def hub(make_hub):
    """A started HubSimulator with the real hub's default timeouts."""
    return make_hub()


@pytest.fixture
def hub_process():
    """Factory: hub_process(db, topdir, *cli_args) -> HubProcess."""
    procs = []

    def factory(db_path, topdir, *cli_args):
        proc = HubProcess(db_path, topdir, *cli_args)
        procs.append(proc)
        return proc

    yield factory
    for proc in procs:
        proc.stop()
