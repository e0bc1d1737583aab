"""The ``host.*`` calls a builder makes (kojihub HostExports).

Each call first checks, like ``Host().verify()``, that the caller's user
is a host (AuthError "Not logged-in" / "User N is not a host") and that
its session is exclusive, or a subsession of the exclusive one
(AuthError "This method requires an exclusive session").
"""

from __future__ import annotations

import json
import logging

import koji

from . import db, hosts, scheduler
from .tasks import STATES, Task, make_task
from .values import convert_value

logger = logging.getLogger('hub_sim.host_calls')


class Host:
    """The calling host (``kojihub.Host``)."""

    def __init__(self, ctx, id=None):
        session = ctx.session
        remote_id = session.host_id
        if id is None:
            id = remote_id
        if id is None:
            if session.logged_in:
                raise koji.AuthError('User %i is not a host' % session.user_id)
            raise koji.AuthError('Not logged-in')
        self.ctx = ctx
        self.conn = ctx.conn
        self.id = id
        self.same_host = (id == remote_id)

    def verify(self) -> bool:
        if not self.same_host:
            raise koji.AuthError('Host mismatch')
        if not self.ctx.session.exclusive:
            raise koji.AuthError('This method requires an exclusive session')
        return True

    def taskWaitCheck(self, parent):
        """[finished, unfinished] ids of the awaited subtasks."""
        rows = self.conn.execute('SELECT id, state FROM task WHERE parent = ?'
                                 ' AND awaited = 1 ORDER BY id', (parent,))
        finished, unfinished = [], []
        for task_id, state in rows:
            done = STATES[state] in ('CANCELED', 'CLOSED', 'FAILED')
            (finished if done else unfinished).append(task_id)
        return finished, unfinished


def _verified(ctx) -> Host:
    host = Host(ctx)
    host.verify()
    return host


def getID(ctx):
    """The caller's host id."""
    return _verified(ctx).id


def updateHost(ctx, task_load, ready, data=None):
    """Check-in: task load, ready flag and optional scheduler data."""
    host = _verified(ctx)
    ctx.conn.execute('UPDATE host SET task_load = ?, ready = ?,'
                     ' update_time = ? WHERE id = ?',
                     (float(task_load), 1 if ready else 0, db.now(), host.id))
    if data is not None:
        scheduler.set_host_data(ctx, host.id, data)


def getLoadData(ctx):
    """[[this host with channel ids], tasks assigned to it] (1.34 path)."""
    host = _verified(ctx)
    info = hosts.get_host(ctx, host.id)
    info['channels'] = hosts.host_channel_ids(ctx.conn, host.id)
    tasks = scheduler.get_tasks_for_host(ctx, host.id, retry=True)
    return [[info], tasks]


def getHost(ctx):
    """The caller's host row."""
    return hosts.get_host(ctx, _verified(ctx).id)


def isEnabled(ctx):
    """Whether the caller's host is enabled."""
    host = _verified(ctx)
    return bool(db.fetch_value(ctx.conn, 'SELECT enabled FROM host_config'
                               ' WHERE host_id = ?', (host.id,)))


def getTasks(ctx):
    """Tasks assigned to the caller (runs the scheduler if none)."""
    return scheduler.get_tasks_for_host(ctx, _verified(ctx).id, retry=True)


def openTask(ctx, task_id):
    """Open an assigned (or free) task; its row, or None."""
    host = _verified(ctx)
    return Task(ctx, task_id).open(host.id)


def closeTask(ctx, task_id, response):
    """Store the result and close an open task of the caller."""
    host = _verified(ctx)
    task = Task(ctx, task_id)
    task.assertHost(host.id)
    return task.close(response)


def failTask(ctx, task_id, response):
    """Store the fault and fail an open task of the caller."""
    host = _verified(ctx)
    task = Task(ctx, task_id)
    task.assertHost(host.id)
    return task.fail(response)


def freeTasks(ctx, tasks):
    """Free the listed tasks the caller holds open (others are skipped)."""
    host = _verified(ctx)
    for task_id in tasks:
        task = Task(ctx, task_id)
        if task.verifyHost(host.id):
            task.free()


def setTaskWeight(ctx, task_id, weight):
    """Set the weight of an open task of the caller."""
    host = _verified(ctx)
    task = Task(ctx, task_id)
    task.assertHost(host.id)
    return task.setWeight(weight)


def setHostData(ctx, hostdata):
    """Scheduler data as a dict (or a JSON string)."""
    host = _verified(ctx)
    if isinstance(hostdata, str):
        hostdata = json.loads(hostdata)
    scheduler.set_host_data(ctx, host.id, hostdata)


def refuseTask(ctx, task_id, soft=True, msg=''):
    """Refuse a task assigned to the caller and free it."""
    soft = convert_value(soft, cast=bool)
    msg = convert_value(msg, cast=str)
    host = _verified(ctx)
    task = Task(ctx, task_id)
    info = task.getInfo(strict=True)
    if info['host_id'] != host.id:
        logger.warning('Host %s refused unrelated task: %s', host.id,
                       info['id'])
        return
    scheduler.set_refusal(ctx, host.id, info['id'], soft=soft, msg=msg,
                          by_host=True)
    task.free()


def getHostTasks(ctx):
    """Open tasks of the caller: id, waiting, weight (+ alert)."""
    host = _verified(ctx)
    rows = db.fetch_all(ctx.conn, 'SELECT id, waiting, weight FROM task'
                        ' WHERE host_id = ? AND state = ? ORDER BY id',
                        (host.id, STATES['OPEN']))
    for row in rows:
        row['waiting'] = db.as_bool(row['waiting'])
        if row['waiting']:
            finished, _unfinished = host.taskWaitCheck(row['id'])
            if finished:
                row['alert'] = True
    return rows


def taskSetWait(ctx, parent, tasks):
    """Mark a parent waiting and (some of) its subtasks awaited."""
    _verified(ctx)
    convert_value(tasks, cast=list, none_allowed=True, check_only=True)
    conn = ctx.conn
    conn.execute('UPDATE task SET waiting = 1 WHERE id = ?', (parent,))
    if tasks is None:
        conn.execute('UPDATE task SET awaited = 1 WHERE parent = ?',
                     (parent,))
    elif tasks:
        clause, values = db.in_clause('id', tasks)
        conn.execute('UPDATE task SET awaited = 1 WHERE parent = ? AND '
                     + clause, [parent] + values)
        conn.execute('UPDATE task SET awaited = 0 WHERE parent = ? AND'
                     ' awaited = 1 AND NOT ' + clause, [parent] + values)


def taskWait(ctx, parent):
    """[finished, unfinished] awaited subtasks; un-await finished ones."""
    host = _verified(ctx)
    finished, unfinished = host.taskWaitCheck(parent)
    for task_id in sorted(finished):
        ctx.conn.execute('UPDATE task SET awaited = 0 WHERE id = ?',
                         (task_id,))
    return [finished, unfinished]


def _unwait(conn, parent):
    """Clear the waiting flag of a parent and awaited of its children."""
    conn.execute('UPDATE task SET waiting = 0 WHERE id = ?', (parent,))
    conn.execute('UPDATE task SET awaited = 0 WHERE parent = ?', (parent,))


def taskWaitResults(ctx, parent, tasks, canfail=None):
    """[[task id, result], ...] of finished subtasks; ends the wait."""
    _verified(ctx)
    canfail = canfail or []
    _unwait(ctx.conn, parent)
    if tasks is None:
        rows = ctx.conn.execute(
            'SELECT id FROM task WHERE parent = ? AND state IN (?, ?, ?)'
            ' ORDER BY id', (parent, STATES['CLOSED'], STATES['FAILED'],
                             STATES['CANCELED']))
        tasks = [r[0] for r in rows]
    results = []
    for task_id in tasks:
        task = Task(ctx, task_id)
        raise_fault = task_id not in canfail
        try:
            results.append([task_id, task.getResult(raise_fault=raise_fault)])
        except koji.GenericError as e:
            if not raise_fault and task.isCanceled():
                results.append([task_id, {'faultCode': e.faultCode,
                                          'faultString': str(e)}])
                continue
            raise
    return results


def subtask(ctx, method, arglist, parent, **opts):
    """Create a subtask of an open task of the caller."""
    host = _verified(ctx)
    Task(ctx, parent).assertHost(host.id)
    opts['parent'] = parent
    if 'owner' in opts:
        raise koji.ActionNotAllowed('The owner option is not allowed here')
    if 'label' in opts:
        existing = db.fetch_value(ctx.conn, 'SELECT id FROM task WHERE'
                                  ' parent = ? AND label = ?',
                                  (parent, opts['label']))
        if existing:
            return existing
    if 'kwargs' in opts:
        arglist = koji.encode_args(*arglist, **opts['kwargs'])
        del opts['kwargs']
    return make_task(ctx, method, arglist, **opts)


def subtask2(ctx, __parent, __taskopts, __method, *args, **opts):
    """subtask() with the signature of the hub's subtask2."""
    args = koji.encode_args(*args, **opts)
    return subtask(ctx, __method, args, __parent, **__taskopts)


EXPORTS = {
    'host.getID': getID,
    'host.updateHost': updateHost,
    'host.getLoadData': getLoadData,
    'host.getHost': getHost,
    'host.isEnabled': isEnabled,
    'host.getTasks': getTasks,
    'host.openTask': openTask,
    'host.closeTask': closeTask,
    'host.failTask': failTask,
    'host.freeTasks': freeTasks,
    'host.setTaskWeight': setTaskWeight,
    'host.setHostData': setHostData,
    'host.refuseTask': refuseTask,
    'host.getHostTasks': getHostTasks,
    'host.taskSetWait': taskSetWait,
    'host.taskWait': taskWait,
    'host.taskWaitResults': taskWaitResults,
    'host.subtask': subtask,
    'host.subtask2': subtask2,
}
