"""Tasks: the kojihub Task class, make_task and the task state machine.

States and transitions follow the hub: FREE -> ASSIGNED (scheduler) ->
OPEN (host.openTask) -> CLOSED/FAILED (host.closeTask/failTask), and
CANCELED from any unfinished state.  ``request`` and ``result`` are kept
as the XML-RPC documents the hub stores.
"""

from __future__ import annotations

import logging

import koji
import koji.xmlrpcplus

from . import db, hosts, users
from .values import convert_value

logger = logging.getLogger('hub_sim.tasks')

STATES = koji.TASK_STATES
FINISHED = tuple(STATES[s] for s in ('CLOSED', 'CANCELED', 'FAILED'))
TASK_COLUMNS = ('id', 'state', 'create_time', 'start_time', 'completion_time',
                'channel_id', 'host_id', 'parent', 'label', 'waiting',
                'awaited', 'owner', 'method', 'arch', 'priority', 'weight')


def task_row(row: dict) -> dict:
    """Shape a task table row like the hub's Task.fields."""
    info = {}
    for col in TASK_COLUMNS:
        info[col] = row[col]
    for name in ('create', 'start', 'completion'):
        ts = row['%s_time' % name]
        info['%s_time' % name] = db.ts_text(ts)
        info['%s_ts' % name] = ts
    info['waiting'] = db.as_bool(info['waiting'])
    info['awaited'] = db.as_bool(info['awaited'])
    return info


def decode_request(xml_request):
    """The argument list stored in a task's request document."""
    params, _method = koji.xmlrpcplus.loads(xml_request)
    return params


class Task:
    """One task, bound to the current call context."""

    def __init__(self, ctx, id):
        self.ctx = ctx
        self.conn = ctx.conn
        self.id = convert_value(id, cast=int)

    def _row(self, columns: str):
        return db.fetch_one(self.conn, 'SELECT %s FROM task WHERE id = ?'
                            % columns, (self.id,))

    def verifyHost(self, host_id=None) -> bool:
        """True if the task is OPEN and held by host_id (or the caller)."""
        if host_id is None:
            host_id = self.ctx.session.host_id
        if host_id is None:
            return False
        row = self._row('state, host_id')
        if not row:
            raise koji.GenericError('No such task: %i' % self.id)
        return row['state'] == STATES['OPEN'] and row['host_id'] == host_id

    def assertHost(self, host_id) -> None:
        if not self.verifyHost(host_id):
            raise koji.ActionNotAllowed('host %d does not own task %d'
                                        % (host_id, self.id))

    def getOwner(self):
        return db.fetch_value(self.conn, 'SELECT owner FROM task WHERE id = ?',
                              (self.id,))

    def verifyOwner(self, user_id=None) -> bool:
        if user_id is None:
            user_id = self.ctx.session.user_id
        if user_id is None:
            return False
        owner = self.getOwner()
        if not owner:
            raise koji.GenericError('No such task: %i' % self.id)
        return owner == user_id

    def lock(self, host_id, newstate='OPEN', force=False) -> bool:
        """Assign or open the task for a host; False if not possible."""
        if not force:
            row = self._row('state, host_id')
            if not row:
                raise koji.GenericError('No such task: %i' % self.id)
            if not self._lockable(row, host_id, newstate):
                return False

        state = STATES[newstate]
        if state == STATES['OPEN']:
            self.conn.execute('UPDATE task SET state = ?, host_id = ?,'
                              ' start_time = ? WHERE id = ?',
                              (state, host_id, db.now(), self.id))
        else:
            self.conn.execute('UPDATE task SET state = ?, host_id = ?'
                              ' WHERE id = ?', (state, host_id, self.id))
        return True

    def _lockable(self, row, host_id, newstate) -> bool:
        state, other = row['state'], row['host_id']
        if state == STATES['FREE']:
            if other is not None:
                logger.error('task %s is both free and handled by host %s',
                             self.id, other)
                return False
            return True
        if state == STATES['ASSIGNED']:
            if other is None or other != host_id:
                return False
            return True
        if state == STATES['OPEN'] and other == host_id:
            logger.error('task %s is already open and handled by %s',
                         self.id, host_id)
        return False

    def assign(self, host_id, force=False) -> bool:
        return self.lock(host_id, 'ASSIGNED', force)

    def open(self, host_id):
        """Open for host_id; the task row with its request, or None."""
        if not self.lock(host_id, 'OPEN'):
            return None
        row = db.fetch_one(self.conn, 'SELECT * FROM task WHERE id = ?',
                           (self.id,))
        info = task_row(row)
        info['request'] = row['request']
        return info

    def free(self) -> bool:
        state = db.fetch_value(self.conn, 'SELECT state FROM task'
                               ' WHERE id = ?', (self.id,))
        if state is None:
            raise koji.GenericError('No such task: %i' % self.id)
        if state in FINISHED:
            raise koji.GenericError('Cannot free task %i, state is %s'
                                    % (self.id, STATES[state]))
        self.conn.execute('UPDATE task SET state = ?, host_id = NULL'
                          ' WHERE id = ?', (STATES['FREE'], self.id))
        return True

    def setWeight(self, weight) -> None:
        weight = convert_value(weight, cast=float)
        self.conn.execute('UPDATE task SET weight = ? WHERE id = ?',
                          (weight, self.id))

    def _close(self, result, state) -> None:
        self.conn.execute('UPDATE task SET result = ?, state = ?,'
                          ' completion_time = ? WHERE id = ?',
                          (result, state, db.now(), self.id))

    def close(self, result) -> None:
        self._close(result, STATES['CLOSED'])

    def fail(self, result) -> None:
        self._close(result, STATES['FAILED'])

    def getState(self):
        state = db.fetch_value(self.conn, 'SELECT state FROM task'
                               ' WHERE id = ?', (self.id,))
        if state is None:
            raise koji.GenericError('query returned no rows')
        return state

    def isFinished(self) -> bool:
        return self.getState() in FINISHED

    def isCanceled(self) -> bool:
        return self.getState() == STATES['CANCELED']

    def isFailed(self) -> bool:
        return self.getState() == STATES['FAILED']

    def cancel(self, recurse=True) -> bool:
        """Cancel unless finished; True if (already) canceled."""
        state = self.getState()
        if state == STATES['CANCELED']:
            return True
        if state in (STATES['CLOSED'], STATES['FAILED']):
            return False
        self.conn.execute('UPDATE task SET state = ?, completion_time = ?'
                          ' WHERE id = ?',
                          (STATES['CANCELED'], db.now(), self.id))
        if recurse:
            self.cancelChildren()
        return True

    def child_ids(self) -> list[int]:
        rows = self.conn.execute('SELECT id FROM task WHERE parent = ?'
                                 ' ORDER BY id', (self.id,))
        return [r[0] for r in rows]

    def cancelChildren(self) -> None:
        for child_id in self.child_ids():
            Task(self.ctx, child_id).cancel(recurse=True)

    def cancelFull(self, strict=True) -> None:
        """Cancel this task's whole family from the top-level task."""
        parent = db.fetch_value(self.conn, 'SELECT parent FROM task'
                                ' WHERE id = ?', (self.id,))
        if parent is not None:
            if strict:
                raise koji.GenericError('Task %d is not top-level (parent=%d)'
                                        % (self.id, parent))
            top = self.id
            seen = {top}
            while parent is not None:
                if parent in seen:
                    raise koji.GenericError('Task LOOP at task %i' % top)
                top = parent
                seen.add(top)
                parent = db.fetch_value(self.conn, 'SELECT parent FROM task'
                                        ' WHERE id = ?', (top,))
            Task(self.ctx, top).cancelFull(strict=True)
            return

        pending = [self.id]
        for task_id in pending:
            task = Task(self.ctx, task_id)
            task.cancel(recurse=False)
            pending.extend(task.child_ids())

    def getRequest(self):
        xml_request = db.fetch_value(self.conn, 'SELECT request FROM task'
                                     ' WHERE id = ?', (self.id,))
        if xml_request is None:
            raise koji.GenericError('query returned no rows')
        return decode_request(xml_request)

    def getResult(self, raise_fault=True):
        row = self._row('state, result')
        if not row:
            raise koji.GenericError('No such task')
        state = STATES[row['state']]
        if state == 'CANCELED':
            raise koji.GenericError('Task %i is canceled' % self.id)
        if state not in ('CLOSED', 'FAILED'):
            raise koji.GenericError('Task %i is not finished' % self.id)
        try:
            result, _method = koji.xmlrpcplus.loads(row['result'])
        except koji.xmlrpcplus.Fault as fault:
            if raise_fault:
                raise
            return {'faultCode': fault.faultCode,
                    'faultString': fault.faultString}
        return result[0]

    def getInfo(self, strict=True, request=False):
        row = db.fetch_one(self.conn, 'SELECT * FROM task WHERE id = ?',
                           (self.id,))
        if row is None:
            if strict:
                raise koji.GenericError('query returned no rows')
            return None
        info = task_row(row)
        if request:
            info['request'] = decode_request(row['request'])
        return info

    def getChildren(self, request=False) -> list[dict]:
        rows = db.fetch_all(self.conn, 'SELECT * FROM task WHERE parent = ?'
                            ' ORDER BY id', (self.id,))
        result = []
        for row in rows:
            info = task_row(row)
            if request:
                info['request'] = decode_request(row['request'])
            result.append(info)
        return result


def _pick_channel(ctx, opts, pdata):
    """The default channel policy: req, then parent, then 'default'."""
    if 'channel' in opts:
        channel = hosts.get_channel(ctx, opts['channel'])
        if not channel:
            raise koji.GenericError('No such channel: %s' % opts['channel'])
        if not channel['enabled']:
            raise koji.GenericError('Channel %s is disabled.'
                                    % opts['channel'])
        return channel['id']
    if opts.get('parent'):
        return pdata['channel_id']
    return hosts.get_channel_id(ctx, 'default', strict=True)


def make_task(ctx, method, arglist, **opts):
    """Insert a task row (FREE, or ASSIGNED with ``assign``)."""
    convert_value(method, cast=str, check_only=True)
    if 'parent' in opts:
        opts['parent'] = convert_value(opts['parent'], cast=int)
    if 'label' in opts:
        convert_value(opts['label'], cast=str, check_only=True)
    if 'owner' in opts and not isinstance(opts['owner'], int):
        opts['owner'] = users.get_user(ctx, opts['owner'], strict=True)['id']
    if 'arch' in opts:
        opts['arch'] = koji.parse_arches(opts['arch'], strict=True,
                                         allow_none=True)
    if 'priority' in opts:
        opts['priority'] = convert_value(opts['priority'], cast=int)
    if 'assign' in opts and not isinstance(opts['assign'], int):
        opts['assign'] = hosts.get_host(ctx, opts['assign'], strict=True)['id']

    pdata = None
    if 'parent' in opts:
        pdata = db.fetch_one(ctx.conn, 'SELECT state, owner, channel_id,'
                             ' priority, arch FROM task WHERE id = ?',
                             (opts['parent'],))
        if not pdata:
            raise koji.GenericError('Invalid parent task: %(parent)s' % opts)
        if pdata['state'] != STATES['OPEN']:
            raise koji.GenericError('Parent task (id %(parent)s) is not open'
                                    % opts)
        opts.setdefault('priority', pdata['priority'] - 1)
        for field in ('owner', 'arch'):
            opts.setdefault(field, pdata[field])
        opts.setdefault('label', None)
    else:
        opts.setdefault('priority', koji.PRIO_DEFAULT)
        opts.setdefault('arch', 'noarch')
        if 'owner' not in opts:
            if not ctx.session.logged_in:
                raise koji.GenericError('task must have an owner')
            opts['owner'] = ctx.session.user_id
        opts['label'] = None
        opts['parent'] = None

    channel_id = _pick_channel(ctx, opts, pdata)
    request = koji.xmlrpcplus.dumps(tuple(arglist), methodname=method)
    state, host_id = STATES['FREE'], None
    if opts.get('assign'):
        state, host_id = STATES['ASSIGNED'], opts['assign']
    cur = ctx.conn.execute(
        'INSERT INTO task (state, create_time, channel_id, host_id, parent,'
        ' label, owner, method, request, arch, priority)'
        ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        (state, db.now(), channel_id, host_id, opts['parent'], opts['label'],
         opts['owner'], method, request, opts['arch'], opts['priority']))
    return cur.lastrowid
