"""Exported task calls of the hub's RootExports.

getTaskInfo, getTaskRequest, getTaskResult, getTaskChildren,
getTaskDescendents, taskFinished, listTasks, makeTask, resubmitTask,
cancelTask, cancelTaskFull, cancelTaskChildren and freeTask.
"""

from __future__ import annotations

import datetime

import koji
import koji.xmlrpcplus

from . import db, hosts
from .tasks import Task, make_task, task_row
from .values import apply_query_opts


def getTaskInfo(ctx, task_id, request=False, strict=False):
    """Task row (or rows, for a list of ids)."""
    if isinstance(task_id, (list, tuple)):
        return [Task(ctx, i).getInfo(strict, request) for i in task_id]
    return Task(ctx, task_id).getInfo(strict, request)


def getTaskRequest(ctx, taskId):
    """The decoded argument list of a task."""
    return Task(ctx, taskId).getRequest()


def getTaskResult(ctx, taskId, raise_fault=True):
    """The result of a finished task (its fault is raised)."""
    return Task(ctx, taskId).getResult(raise_fault=raise_fault)


def getTaskChildren(ctx, task_id, request=False, strict=False):
    """Rows of the direct subtasks."""
    task = Task(ctx, task_id)
    if strict:
        task.getInfo(strict=True)
    return task.getChildren(request=request)


def getTaskDescendents(ctx, task_id, request=False):
    """Map of str(task id) -> child rows, over the whole subtree."""
    result = {}
    pending = [Task(ctx, task_id)]
    while pending:
        task = pending.pop(0)
        children = task.getChildren(request=request)
        result[str(task.id)] = children
        pending.extend(Task(ctx, c['id']) for c in children)
    return result


def taskFinished(ctx, taskId):
    """Whether the task is CLOSED, CANCELED or FAILED."""
    return Task(ctx, taskId).isFinished()


def _timestamp(value) -> float:
    if isinstance(value, str):
        parsed = datetime.datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        return parsed.timestamp()
    return float(value)


def _task_filter(opts):
    """SQL clauses and values for listTasks options."""
    clauses, values = [], []
    for field in ('arch', 'state'):
        for prefix, op in (('', 'IN'), ('not_', 'NOT IN')):
            if prefix + field in opts:
                items = list(opts[prefix + field])
                marks = ', '.join('?' for _ in items) or 'NULL'
                clauses.append('task.%s %s (%s)' % (field, op, marks))
                values.extend(items)

    for field in ('owner', 'host_id', 'channel_id', 'parent'):
        for prefix, neg in (('', False), ('not_', True)):
            key = prefix + field
            if key not in opts:
                continue
            value = opts[key]
            if value is None:
                clauses.append('task.%s IS %sNULL'
                               % (field, 'NOT ' if neg else ''))
            elif isinstance(value, list):
                marks = ', '.join('?' for _ in value) or 'NULL'
                clauses.append('task.%s %sIN (%s)'
                               % (field, 'NOT ' if neg else '', marks))
                values.extend(value)
            else:
                clauses.append('task.%s %s ?' % (field, '!=' if neg else '='))
                values.append(int(value))

    if 'method' in opts:
        clauses.append('task.method = ?')
        values.append(opts['method'])

    time_opts = (
        ('createdBefore', 'create_time', '<'),
        ('createdAfter', 'create_time', '>'),
        ('startedBefore', 'start_time', '<'),
        ('startedAfter', 'start_time', '>'),
        ('completeBefore', 'completion_time', '<'),
        ('completeAfter', 'completion_time', '>'),
        ('completedBefore', 'completion_time', '<'),
        ('completedAfter', 'completion_time', '>'),
    )
    for key, field, cmp in time_opts:
        if opts.get(key) is not None:
            clauses.append('task.%s %s ?' % (field, cmp))
            values.append(_timestamp(opts[key]))
    return clauses, values


def _decode(value):
    if not value:
        return value
    try:
        data, _method = koji.xmlrpcplus.loads(value)
    except koji.xmlrpcplus.Fault as fault:
        return fault
    return data


def listTasks(ctx, opts=None, queryOpts=None):
    """Task rows filtered by the hub's listTasks options."""
    opts = opts or {}
    queryOpts = queryOpts or {}
    clauses, values = _task_filter(opts)
    sql = ('SELECT task.*, users.name AS owner_name,'
           ' users.usertype AS owner_type FROM task'
           ' LEFT JOIN users ON task.owner = users.id')
    if clauses:
        sql += ' WHERE ' + ' AND '.join(clauses)

    tasks = []
    for row in db.fetch_all(ctx.conn, sql + ' ORDER BY task.id', values):
        info = task_row(row)
        info['request'] = row['request']
        info['result'] = row['result']
        info['owner_name'] = row['owner_name']
        info['owner_type'] = row['owner_type']
        tasks.append(info)
    shaped = apply_query_opts(tasks, queryOpts)
    if queryOpts.get('countOnly') or queryOpts.get('asList'):
        return shaped

    if opts.get('decode'):
        for task in shaped:
            task['request'] = _decode(task['request'])
            task['result'] = _decode(task['result'])
    return shaped


def makeTask(ctx, *args, **opts):
    """Create an arbitrary task (admin only)."""
    ctx.session.assertPerm('admin')
    if 'owner' in opts:
        raise koji.ActionNotAllowed('The owner option is not allowed here')
    return make_task(ctx, *args, **opts)


def resubmitTask(ctx, taskID):
    """Retry a canceled or failed top-level task."""
    ctx.session.assertLogin()
    task = Task(ctx, taskID)
    if not (task.isCanceled() or task.isFailed()):
        raise koji.GenericError(
            'only canceled or failed tasks may be resubmitted')
    info = task.getInfo()
    if info['parent'] is not None:
        raise koji.GenericError('only top-level tasks may be resubmitted')
    me = ctx.session.user_id
    if not (me == info['owner'] or ctx.session.hasPerm('admin')):
        raise koji.GenericError(
            'only the task owner or an admin may resubmit a task')
    channel = hosts.get_channel(ctx, info['channel_id'], strict=True)
    return make_task(ctx, info['method'], task.getRequest(),
                     arch=info['arch'], channel=channel['name'],
                     priority=info['priority'])


def cancelTask(ctx, task_id, recurse=True):
    """Cancel a task (owner, host holding it, or admin)."""
    task = Task(ctx, task_id)
    if not task.verifyOwner() and not task.verifyHost():
        if not ctx.session.hasPerm('admin'):
            raise koji.ActionNotAllowed('Cannot cancel task, not owner')
    task.cancel(recurse=recurse)


def cancelTaskFull(ctx, task_id, strict=True):
    """Cancel a task and every task of its family (admin only)."""
    ctx.session.assertPerm('admin')
    Task(ctx, task_id).cancelFull(strict=strict)


def cancelTaskChildren(ctx, task_id):
    """Cancel the subtasks of a task."""
    ctx.session.assertLogin()
    task = Task(ctx, task_id)
    if not task.verifyOwner() and not task.verifyHost():
        if not ctx.session.hasPerm('admin'):
            raise koji.ActionNotAllowed('Cannot cancel task, not owner')
    task.cancelChildren()


def freeTask(ctx, task_id):
    """Put a task back to FREE (admin only)."""
    ctx.session.assertPerm('admin')
    Task(ctx, task_id).free()


EXPORTS = {
    'getTaskInfo': getTaskInfo,
    'getTaskRequest': getTaskRequest,
    'getTaskResult': getTaskResult,
    'getTaskChildren': getTaskChildren,
    'getTaskDescendents': getTaskDescendents,
    'taskFinished': taskFinished,
    'listTasks': listTasks,
    'makeTask': makeTask,
    'resubmitTask': resubmitTask,
    'cancelTask': cancelTask,
    'cancelTaskFull': cancelTaskFull,
    'cancelTaskChildren': cancelTaskChildren,
    'freeTask': freeTask,
}
