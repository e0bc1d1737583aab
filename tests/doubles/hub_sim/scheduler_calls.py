"""The ``scheduler.*`` calls and ``assignTask`` of the hub.

Query calls take ``clauses`` as lists of ``[field, value]`` or
``[field, op, value]`` (op one of = != < > <= >= IN) over the default
fields of the hub's QueryView classes.
"""

from __future__ import annotations

import json
import operator

import koji

from . import db
from .scheduler import TaskScheduler, assignTask
from .values import convert_value

OPS = {'=': operator.eq, '!=': operator.ne, '<': operator.lt,
       '>': operator.gt, '<=': operator.le, '>=': operator.ge,
       'IN': lambda a, b: a in b}


def _filter(rows, clauses):
    for clause in clauses or ():
        if len(clause) == 2:
            field, op, value = clause[0], '=', clause[1]
        elif len(clause) == 3:
            field, op, value = clause
        else:
            raise koji.ParameterError('Invalid clause: %r' % (clause,))
        if op.upper() not in OPS:
            raise koji.ParameterError('Invalid operator: %s' % op)
        test = OPS[op.upper()]
        rows = [r for r in rows if field in r and test(r[field], value)]
    return rows


def _fields(rows, fields):
    if not fields:
        return rows
    return [{f: r.get(f) for f in fields} for r in rows]


def getTaskRuns(ctx, clauses=None, fields=None, opts=None):
    """Scheduler run entries: id, task_id, host_id, active, create_ts."""
    rows = db.fetch_all(ctx.conn, 'SELECT id, task_id, host_id, active,'
                        ' create_time AS create_ts FROM scheduler_task_runs'
                        ' ORDER BY id')
    for row in rows:
        row['active'] = bool(row['active'])
    return _fields(_filter(rows, clauses), fields)


def getTaskRefusals(ctx, clauses=None, fields=None):
    """Refusals: id, task_id, host_id, by_host, soft, msg, ts."""
    rows = db.fetch_all(ctx.conn, 'SELECT id, task_id, host_id, by_host,'
                        ' soft, msg, time AS ts FROM scheduler_task_refusals'
                        ' ORDER BY id')
    for row in rows:
        row['by_host'] = bool(row['by_host'])
        row['soft'] = bool(row['soft'])
    return _fields(_filter(rows, clauses), fields)


def getHostData(ctx, hostID=None):
    """The data hosts reported: list of {host_id, data}."""
    sql = 'SELECT host_id, data FROM scheduler_host_data'
    values = ()
    if hostID is not None:
        sql += ' WHERE host_id = ?'
        values = (hostID,)
    rows = db.fetch_all(ctx.conn, sql + ' ORDER BY host_id', values)
    for row in rows:
        row['data'] = json.loads(row['data']) if row['data'] else None
    return rows


def getLogMessages(ctx, clauses=None, fields=None, opts=None):
    """Scheduler log: id, task_id, host_id, msg, msg_ts."""
    rows = db.fetch_all(ctx.conn, 'SELECT id, task_id, host_id, msg,'
                        ' msg_time AS msg_ts FROM scheduler_log_messages'
                        ' ORDER BY id')
    return _fields(_filter(rows, clauses), fields)


def doRun(ctx, force=False):
    """Run the scheduler now (admin only)."""
    force = convert_value(force, cast=bool)
    ctx.session.assertPerm('admin')
    return TaskScheduler(ctx).run(force=force)


EXPORTS = {
    'scheduler.getTaskRuns': getTaskRuns,
    'scheduler.getTaskRefusals': getTaskRefusals,
    'scheduler.getHostData': getHostData,
    'scheduler.getLogMessages': getLogMessages,
    'scheduler.doRun': doRun,
    'assignTask': assignTask,
}
