"""Simulator-only setup and inspection helpers (no XML-RPC involved).

Each helper opens its own connection and transaction, so it can be used
from the process running the server or from any other process sharing
the database file.
"""

from __future__ import annotations

import koji
import koji.xmlrpcplus

from . import db, hosts, krb_users
from .admin_tags import TagAdmin
from .context import CallContext, HubOptions
from .sessions import Session
from .tasks import Task, make_task, task_row

TASK_OWNER = 'hub_sim'


class AdminHelpers(TagAdmin):
    """Direct database access for test setup and assertions.

    The tag and repo helpers come from :class:`~.admin_tags.TagAdmin`.
    """

    def __init__(self, db_path: str, opts: HubOptions):
        self.db_path = db_path
        self.opts = opts

    def _run(self, func):
        conn = db.connect(self.db_path)
        try:
            with db.Transaction(conn):
                ctx = CallContext(conn, self.opts, Session(), 'admin')
                return func(ctx)
        finally:
            conn.close()

    # users and hosts

    def add_user(self, name, password, perms=(), krb_principal=None) -> int:
        """Create (or update) a normal user with a password and perms.

        ``krb_principal`` maps a Kerberos principal to the user, for
        GSSAPI logins (a hub with ``kerberos=``); ``password`` may be None.
        """
        def run(ctx):
            user_id = _ensure_user(ctx.conn, name, password, perms)
            if krb_principal:
                krb_users.add_principal(ctx.conn, user_id, krb_principal)
            return user_id
        return self._run(run)

    def grant(self, name, perm) -> None:
        """Give an existing user a permission."""
        def run(ctx):
            user_id = _user_id(ctx.conn, name)
            _grant(ctx.conn, user_id, perm)
        self._run(run)

    def add_host(self, name, arches='x86_64', capacity=2.0,
                 channels=('default',), password=None,
                 krb_principal=None) -> int:
        """Create or update a host and its user; returns the host id.

        The host logs in as a user of the same name, whose password
        defaults to the name too, or with GSSAPI as ``krb_principal``.
        """
        if password is None:
            password = name
        if isinstance(arches, (list, tuple)):
            arches = ' '.join(arches)
        arches = koji.parse_arches(arches)

        def run(ctx):
            existing = hosts.get_host(ctx, name)
            if existing:
                host_id = existing['id']
                ctx.conn.execute('UPDATE users SET password = ? WHERE id = ?',
                                 (password, existing['user_id']))
                if krb_principal:
                    krb_users.add_principal(ctx.conn, existing['user_id'],
                                            krb_principal)
            else:
                host_id = hosts.create_host(ctx, name, arches,
                                            krb_principal=krb_principal,
                                            password=password)
            ctx.conn.execute('UPDATE host_config SET arches = ?, capacity = ?'
                             ' WHERE host_id = ?',
                             (arches, float(capacity), host_id))
            ctx.conn.execute('DELETE FROM host_channels WHERE host_id = ?',
                             (host_id,))
            for channel in channels:
                chan_id = hosts.get_channel_id(ctx, channel, create=True)
                ctx.conn.execute('INSERT INTO host_channels (host_id,'
                                 ' channel_id) VALUES (?, ?)',
                                 (host_id, chan_id))
            return host_id
        return self._run(run)

    def set_host_enabled(self, name, enabled) -> None:
        """Enable or disable a host."""
        def run(ctx):
            host = hosts.get_host(ctx, name, strict=True)
            ctx.conn.execute('UPDATE host_config SET enabled = ?'
                             ' WHERE host_id = ?',
                             (1 if enabled else 0, host['id']))
        self._run(run)

    def get_host(self, name_or_id) -> dict | None:
        """The getHost row of a host."""
        return self._run(lambda ctx: hosts.get_host(ctx, name_or_id))

    def add_buildroot(self, host, task_id=None, state=0, tag_name='build',
                      repo_id=1, arch='x86_64') -> int:
        """Add a buildroot row for listBuildroots/getBuildroot."""
        def run(ctx):
            host_id = hosts.get_host(ctx, host, strict=True)['id']
            cur = ctx.conn.execute(
                'INSERT INTO buildroot (host_id, task_id, state, tag_name,'
                ' repo_id, container_arch, create_time)'
                ' VALUES (?, ?, ?, ?, ?, ?, ?)',
                (host_id, task_id, state, tag_name, repo_id, arch, db.now()))
            return cur.lastrowid
        return self._run(run)

    # tasks

    def make_task(self, method, args=(), kwargs=None, channel='default',
                  arch='noarch', owner=None, priority=None) -> int:
        """Create a FREE task as makeTask would; returns its id."""
        arglist = koji.encode_args(*args, **(kwargs or {}))

        def run(ctx):
            owner_id = _ensure_user(ctx.conn, owner or TASK_OWNER, None, ())
            opts = {'channel': channel, 'arch': arch, 'owner': owner_id}
            if priority is not None:
                opts['priority'] = priority
            return make_task(ctx, method, arglist, **opts)
        return self._run(run)

    def task(self, task_id) -> dict | None:
        """Task row with decoded request/result and a state name."""
        def run(ctx):
            row = db.fetch_one(ctx.conn, 'SELECT * FROM task WHERE id = ?',
                               (task_id,))
            if row is None:
                return None
            info = task_row(row)
            info['state_name'] = koji.TASK_STATES[info['state']]
            info['request'] = Task(ctx, task_id).getRequest()
            info['result'] = _decode_result(row['result'])
            return info
        return self._run(run)

    def task_result(self, task_id):
        """Decoded result of a task (a fault dict for a failed one)."""
        info = self.task(task_id)
        if info is None:
            raise koji.GenericError('No such task: %s' % task_id)
        return info['result']

    def cancel_task(self, task_id, recurse=True) -> bool:
        """Cancel a task as cancelTask does; False if it had finished."""
        return self._run(lambda ctx: Task(ctx, task_id).cancel(recurse))

    def refusals(self, task_id=None) -> list[dict]:
        """Rows of scheduler_task_refusals (for one task if given)."""
        sql = ('SELECT task_id, host_id, by_host, soft, msg, time AS ts'
               ' FROM scheduler_task_refusals')
        values = ()
        if task_id is not None:
            sql += ' WHERE task_id = ?'
            values = (task_id,)

        def run(ctx):
            rows = db.fetch_all(ctx.conn, sql + ' ORDER BY id', values)
            for row in rows:
                row['soft'] = bool(row['soft'])
                row['by_host'] = bool(row['by_host'])
            return rows
        return self._run(run)

    # sessions and the call log

    def expire_session(self, user_name) -> int:
        """Expire the open sessions of a user; returns how many."""
        def run(ctx):
            user_id = _user_id(ctx.conn, user_name)
            cur = ctx.conn.execute('UPDATE sessions SET expired = 1'
                                   ' WHERE user_id = ? AND closed = 0'
                                   ' AND expired = 0', (user_id,))
            return cur.rowcount
        return self._run(run)

    def call_log(self, method=None, user=None, after_id=None) -> list[dict]:
        """Recorded calls: id, ts, session_id, user, method, args, kwargs,
        multicall, fault_code, fault_string (oldest first)."""
        clauses, values = [], []
        for column, value in (('method', method), ('user_name', user)):
            if value is not None:
                clauses.append('%s = ?' % column)
                values.append(value)
        if after_id is not None:
            clauses.append('id > ?')
            values.append(after_id)
        sql = 'SELECT * FROM call_log'
        if clauses:
            sql += ' WHERE ' + ' AND '.join(clauses)

        def run(ctx):
            return [_log_row(r) for r in
                    db.fetch_all(ctx.conn, sql + ' ORDER BY id', values)]
        return self._run(run)

    def clear_call_log(self) -> None:
        """Forget every recorded call."""
        self._run(lambda ctx: ctx.conn.execute('DELETE FROM call_log'))


def _user_id(conn, name) -> int:
    user_id = db.fetch_value(conn, 'SELECT id FROM users WHERE name = ?',
                             (name,))
    if user_id is None:
        raise koji.GenericError('No such user: %r' % name)
    return user_id


def _grant(conn, user_id, perm) -> None:
    perm_id = db.fetch_value(conn, 'SELECT id FROM permissions'
                             ' WHERE name = ?', (perm,))
    if perm_id is None:
        cur = conn.execute('INSERT INTO permissions (name) VALUES (?)',
                           (perm,))
        perm_id = cur.lastrowid
    conn.execute('INSERT OR IGNORE INTO user_perms (user_id, perm_id)'
                 ' VALUES (?, ?)', (user_id, perm_id))


def _ensure_user(conn, name, password, perms) -> int:
    user_id = db.fetch_value(conn, 'SELECT id FROM users WHERE name = ?',
                             (name,))
    if user_id is None:
        cur = conn.execute('INSERT INTO users (name, password, status,'
                           ' usertype) VALUES (?, ?, ?, ?)',
                           (name, password, koji.USER_STATUS['NORMAL'],
                            koji.USERTYPES['NORMAL']))
        user_id = cur.lastrowid
    elif password is not None:
        conn.execute('UPDATE users SET password = ? WHERE id = ?',
                     (password, user_id))
    for perm in perms:
        _grant(conn, user_id, perm)
    return user_id


def _decode_result(xml_result):
    if xml_result is None:
        return None
    try:
        result, _method = koji.xmlrpcplus.loads(xml_result)
    except koji.xmlrpcplus.Fault as fault:
        return {'faultCode': fault.faultCode,
                'faultString': fault.faultString}
    return result[0]


def _log_row(row: dict) -> dict:
    params, _method = koji.xmlrpcplus.loads(row['params'])
    args, kwargs = params
    return {
        'id': row['id'],
        'ts': row['ts'],
        'session_id': row['session_id'],
        'user': row['user_name'],
        'method': row['method'],
        'args': args,
        'kwargs': kwargs,
        'multicall': bool(row['multicall']),
        'fault_code': row['fault_code'],
        'fault_string': row['fault_string'],
    }
