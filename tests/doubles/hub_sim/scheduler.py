"""Task scheduler, after kojihub/scheduler.py.

A run (triggered by host.getTasks / host.getLoadData when the host has
nothing assigned, at most every ``run_interval`` seconds) marks hosts
that stopped checking in as not ready, then assigns FREE tasks, in
priority/creation order, to ready enabled hosts listening on the task's
channel with a fitting arch (``noarch`` fits all), below their job limit
and capacity, skipping hosts that refused the task.  Soft refusals are
dropped after ``soft_refusal_timeout`` seconds; hard ones last as long
as the task is active.  Tasks stuck ASSIGNED past ``assign_timeout`` or
OPEN on a silent host past ``host_timeout`` are freed.
"""

from __future__ import annotations

import json
import logging
import time

import koji

from . import db, hosts
from .tasks import Task
from .values import convert_value

logger = logging.getLogger('hub_sim.scheduler')
STATES = koji.TASK_STATES
ACTIVE = (STATES['ASSIGNED'], STATES['OPEN'])


def log_db(conn, msg, task_id=None, host_id=None):
    """Record a scheduler log message."""
    logger.info('[task %s host %s] %s', task_id, host_id, msg)
    conn.execute('INSERT INTO scheduler_log_messages (task_id, host_id,'
                 ' msg_time, msg) VALUES (?, ?, ?, ?)',
                 (task_id, host_id, db.now(), msg))


def get_tasks_for_host(ctx, hostID, retry=True) -> list[dict]:
    """ASSIGNED tasks of a host, running the scheduler if there are none."""
    hostID = convert_value(hostID, cast=int, none_allowed=True)
    sql = ('SELECT id, state, channel_id, host_id, arch, method, priority,'
           ' create_time AS create_ts FROM task WHERE host_id = ?'
           ' AND state = ? ORDER BY priority, create_time')
    values = (hostID, STATES['ASSIGNED'])
    tasks = db.fetch_all(ctx.conn, sql, values)
    if not tasks and retry:
        TaskScheduler(ctx).run()
        tasks = db.fetch_all(ctx.conn, sql, values)
    return tasks


def set_refusal(ctx, hostID, taskID, soft=True, by_host=False, msg=''):
    """Insert or replace the refusal of a task by a host."""
    data = (convert_value(taskID, cast=int), convert_value(hostID, cast=int),
            1 if convert_value(by_host, cast=bool) else 0,
            1 if convert_value(soft, cast=bool) else 0,
            convert_value(msg, cast=str), db.now())
    ctx.conn.execute(
        'INSERT INTO scheduler_task_refusals (task_id, host_id, by_host,'
        ' soft, msg, time) VALUES (?, ?, ?, ?, ?, ?)'
        ' ON CONFLICT (task_id, host_id) DO UPDATE SET'
        ' by_host = excluded.by_host, soft = excluded.soft,'
        ' msg = excluded.msg, time = excluded.time',
        data)
    log_db(ctx.conn, 'Host refused task: %s' % msg, taskID, hostID)


def set_host_data(ctx, hostID, data):
    """Store the scheduler data a host reports."""
    if not isinstance(data, dict):
        raise koji.ParameterError('Host data should be a dictionary')
    ctx.conn.execute(
        'INSERT INTO scheduler_host_data (host_id, data) VALUES (?, ?)'
        ' ON CONFLICT (host_id) DO UPDATE SET data = excluded.data',
        (hostID, json.dumps(data)))


class TaskScheduler:
    """One scheduling pass over the database of the current call."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.conn = ctx.conn
        self.opts = ctx.opts
        self.hosts = {}
        self.hosts_by_bin = {}
        self.free_tasks = []
        self.active_tasks = []

    def run(self, force=False) -> bool:
        if not force and not self.check_ts():
            return False
        self.get_tasks()
        self.get_hosts()
        self.check_hosts()
        self.do_schedule()
        self.check_active_tasks()
        return True

    def check_ts(self) -> bool:
        """True if run_interval has passed since the last run."""
        last = db.fetch_value(self.conn, 'SELECT data FROM scheduler_sys_data'
                              " WHERE name = 'last_run_ts'")
        last = json.loads(last) if last else 0
        now = time.time()
        delta = now - last
        if 0 <= delta < self.opts.run_interval:
            return False
        self.conn.execute(
            'INSERT INTO scheduler_sys_data (name, data)'
            " VALUES ('last_run_ts', ?) ON CONFLICT (name)"
            ' DO UPDATE SET data = excluded.data', (json.dumps(now),))
        return delta >= 0

    def get_tasks(self) -> None:
        sql = ('SELECT id AS task_id, state, waiting, weight, channel_id,'
               ' host_id, arch, method, priority, create_time AS create_ts'
               ' FROM task WHERE ')
        self.active_tasks = db.fetch_all(
            self.conn, sql + 'state IN (?, ?) AND host_id IS NOT NULL'
            ' ORDER BY id', ACTIVE)
        self.free_tasks = db.fetch_all(
            self.conn, sql + 'state = ? ORDER BY priority, create_time, id'
            ' LIMIT 1000', (STATES['FREE'],))
        for task in self.free_tasks + self.active_tasks:
            task['_bin'] = '%(channel_id)s:%(arch)s' % task

    def get_hosts(self) -> None:
        rows = db.fetch_all(
            self.conn, 'SELECT host.id AS id, host.name AS name,'
            ' host.update_time AS update_ts, host.task_load AS task_load,'
            ' host.ready AS ready, host_config.arches AS arches,'
            ' host_config.capacity AS capacity, scheduler_host_data.data'
            ' AS data FROM host'
            ' JOIN host_config ON host.id = host_config.host_id'
            ' LEFT JOIN scheduler_host_data'
            ' ON host.id = scheduler_host_data.host_id'
            ' WHERE host_config.enabled = 1 ORDER BY host.id')
        chans = db.fetch_all(
            self.conn, 'SELECT host_id, channel_id FROM host_channels'
            ' JOIN channels ON host_channels.channel_id = channels.id'
            ' WHERE channels.enabled = 1')
        chan_idx = {}
        for row in chans:
            chan_idx.setdefault(row['host_id'], []).append(row['channel_id'])

        self.hosts, self.hosts_by_bin = {}, {}
        for host in rows:
            host['ready'] = bool(host['ready'])
            host['data'] = json.loads(host['data']) if host['data'] else None
            host['channels'] = chan_idx.get(host['id'], [])
            self.hosts[host['id']] = host
            for chan in host['channels']:
                for arch in (host['arches'] or '').split() + ['noarch']:
                    key = '%s:%s' % (chan, arch)
                    self.hosts_by_bin.setdefault(key, []).append(host)

    def check_hosts(self) -> None:
        """Hosts silent for ready_timeout are no longer ready."""
        now = time.time()
        for host in self.hosts.values():
            if not host['ready']:
                continue
            stamp = host['update_ts']
            if stamp is None or now - stamp > self.opts.ready_timeout:
                log_db(self.conn, 'Marking host not ready', host_id=host['id'])
                self.conn.execute('UPDATE host SET ready = 0 WHERE id = ?',
                                  (host['id'],))
                host['ready'] = False

    def get_refusals(self) -> dict:
        """Refusals by task and host, dropping stale ones."""
        cutoff = time.time() - self.opts.soft_refusal_timeout
        rows = db.fetch_all(
            self.conn, 'SELECT r.id AS id, r.task_id AS task_id,'
            ' r.host_id AS host_id, r.soft AS soft, r.time AS ts,'
            ' task.state AS state FROM scheduler_task_refusals AS r'
            ' JOIN task ON r.task_id = task.id')
        refusals, to_drop = {}, []
        for row in rows:
            live = STATES[row['state']] in ('FREE', 'OPEN', 'ASSIGNED')
            if (row['soft'] and row['ts'] < cutoff) or not live:
                to_drop.append(row['id'])
            else:
                refusals.setdefault(row['task_id'], {})[row['host_id']] = row
        if to_drop:
            clause, values = db.in_clause('id', to_drop)
            self.conn.execute('DELETE FROM scheduler_task_refusals WHERE '
                              + clause, values)
        return refusals

    def _prepare_hosts(self) -> None:
        for task in self.active_tasks:
            host = self.hosts.get(task['host_id'])
            if not host:
                continue
            host.setdefault('_load', 0.0)
            host.setdefault('_ntasks', 0)
            if not task['waiting']:
                host['_load'] += task['weight']
            host['_ntasks'] += 1

        for host in self.hosts.values():
            host.setdefault('_load', 0.0)
            host.setdefault('_ntasks', 0)
            host.setdefault('_demand', 0.0)
            data = host['data'] or {}
            host.setdefault('_maxjobs', data.get('maxjobs') or
                            self.opts.max_jobs)

    def _fits(self, host, min_avail) -> bool:
        return (host['capacity'] - host['_load'] > min_avail and
                host['_ntasks'] < host['_maxjobs'])

    def do_schedule(self) -> None:
        self._prepare_hosts()
        refusals = self.get_refusals()
        for task in self.free_tasks:
            min_avail = max(0, task['weight'] - self.opts.capacity_overcommit)
            refused = refusals.get(task['task_id'], {})
            task['_hosts'] = [
                h for h in self.hosts_by_bin.get(task['_bin'], [])
                if h['ready'] and self._fits(h, min_avail) and
                h['id'] not in refused]
            for host in task['_hosts']:
                host['_demand'] += task['weight'] / len(task['_hosts'])

        total = sum(h['_demand'] for h in self.hosts.values())
        for host in self.hosts.values():
            if total > 0.0:
                host['_demand'] = host['_demand'] / total
            self._rank_host(host)

        for task in self.free_tasks:
            min_avail = max(0, task['weight'] - self.opts.capacity_overcommit)
            task['_hosts'].sort(key=lambda h: (h['_rank'], h['id']))
            for host in task['_hosts']:
                if self._fits(host, min_avail):
                    if self.assign(task, host):
                        host['_load'] += task['weight']
                        host['_ntasks'] += 1
                        self._rank_host(host)
                    break

    @staticmethod
    def _rank_host(host) -> None:
        host['_rank'] = host['_load'] + host['_ntasks'] + host['_demand']

    def check_active_tasks(self) -> None:
        """Free tasks whose assignment or host timed out."""
        runs = {}
        for row in db.fetch_all(self.conn, 'SELECT task_id, create_time'
                                ' FROM scheduler_task_runs WHERE active = 1'):
            runs.setdefault(row['task_id'], []).append(row['create_time'])

        now = time.time()
        for task in self.active_tasks:
            host = self.hosts.get(task['host_id'])
            taskruns = runs.get(task['task_id'])
            if not host or not taskruns:
                # disabled host or a manual assignment: leave it alone
                continue
            if task['state'] == STATES['ASSIGNED']:
                assign_ts = min(taskruns)
                if now - assign_ts > self.opts.assign_timeout:
                    if host['update_ts'] and host['update_ts'] > assign_ts:
                        set_refusal(self.ctx, host['id'], task['task_id'],
                                    msg='assignment timeout')
                    log_db(self.conn, 'Task assignment timeout',
                           task['task_id'], host['id'])
                    Task(self.ctx, task['task_id']).free()
            elif task['state'] == STATES['OPEN']:
                stamp = host['update_ts'] or min(taskruns)
                if now - stamp > self.opts.host_timeout:
                    log_db(self.conn, 'Freeing task from unresponsive host',
                           task['task_id'], host['id'])
                    Task(self.ctx, task['task_id']).free()

        self.conn.execute(
            'UPDATE scheduler_task_runs SET active = 0 WHERE active = 1'
            ' AND task_id NOT IN (SELECT id FROM task WHERE state IN (?, ?))',
            ACTIVE)

    def assign(self, task, host, force=False, override=False) -> bool:
        """Mark the task ASSIGNED to host and record the run."""
        if not Task(self.ctx, task['task_id']).assign(host['id'], force=force):
            log_db(self.conn, 'Assignment failed', task['task_id'], host['id'])
            return False
        msg = 'Assigning task (override)' if override else 'Assigning task'
        log_db(self.conn, msg, task['task_id'], host['id'])
        self.conn.execute('UPDATE scheduler_task_runs SET active = 0'
                          ' WHERE task_id = ? AND active = 1',
                          (task['task_id'],))
        if not override:
            self.conn.execute('INSERT INTO scheduler_task_runs (task_id,'
                              ' host_id, create_time) VALUES (?, ?, ?)',
                              (task['task_id'], host['id'], db.now()))
        return True


def assignTask(ctx, task_id, host, force=False, override=False):
    """Assign a task to a host (admin only)."""
    task_id = convert_value(task_id, cast=int)
    host = hosts.get_host(ctx, host, strict=True)
    force = convert_value(force, cast=bool)
    override = convert_value(override, cast=bool)
    ctx.session.assertPerm('admin')
    return TaskScheduler(ctx).assign({'task_id': task_id}, host, force=force,
                                     override=override)
