"""Login sessions, as kojihub/auth.py keeps them.

A request names its session in ``Koji-Session-Id/Key/Callnum`` headers
(koji >= 1.30 clients) or, for older clients, in the query string.
:meth:`Session.load` validates it the way ``auth.Session.__init__`` does:
unknown or closed sessions raise AuthError, expired ones AuthExpired
(except for login), call numbers must grow (SequenceError) and may only
repeat for retry-safe methods (RetryError), and a session of a user that
another session holds exclusively is flagged so that the dispatcher
raises AuthLockError.
"""

from __future__ import annotations

import random
import string
from urllib.parse import parse_qs

import koji

from . import db, krb_users, users

RETRY_WHITELIST = (
    'host.taskWait', 'host.taskUnwait', 'host.taskSetWait', 'host.updateHost',
    'host.setBuildRootState', 'repoExpire', 'repoDelete', 'repoProblem',
)
AUTH_METHODS = ('login', 'sslLogin')
LOCK_EXEMPT = ('exclusiveSession', 'login', 'logout')
SESSION_FIELDS = ('authtype', 'callnum', 'exclusive', 'expired', 'master',
                  'start_time', 'update_time', 'user_id', 'renew_time')


def read_credentials(headers, query: str):
    """Return (session id, key, callnum) sent with a request, or None."""
    sid = headers.get('Koji-Session-Id')
    if sid is not None:
        key = headers.get('Koji-Session-Key')
        callnum = headers.get('Koji-Session-Callnum')
        if callnum is None:
            callnum = headers.get('Koji-Callnum')
        return int(sid), key, callnum

    if not query:
        return None
    args = parse_qs(query, strict_parsing=True)
    try:
        sid = int(args['session-id'][0])
        key = args['session-key'][0]
    except KeyError as field:
        raise koji.AuthError('%s not specified in session args' % field)
    callnum = args.get('callnum', [None])[0]
    return sid, key, callnum


def _new_key(user_id) -> str:
    alnum = string.ascii_letters + string.digits
    rand = ''.join(random.choice(alnum) for _ in range(1, 20))
    return '%s-%s' % (user_id, rand)


def _session_data(row: dict) -> dict:
    """The session dict getSessionInfo answers."""
    data = {f: row[f] for f in SESSION_FIELDS}
    data['expired'] = bool(data['expired'])
    data['exclusive'] = True if data['exclusive'] else None
    for name in ('start', 'update', 'renew'):
        ts = row['%s_time' % name]
        data['%s_time' % name] = db.ts_text(ts)
        data['%s_ts' % name] = ts
    return data


class Session:
    """The caller's session (``context.session`` of the hub)."""

    def __init__(self):
        self.logged_in = False
        self.id = None
        self.key = None
        self.master = None
        self.user_id = None
        self.authtype = None
        self.hostip = None
        self.callnum = None
        self.exclusive = False
        self.lockerror = None
        self.message = ''
        self.session_data = {}
        self.user_data = {}
        self._perms = None
        self._host_id = ''
        self._conn = None

    @classmethod
    def load(cls, conn, creds, method: str, remote_ip: str) -> 'Session':
        """Validate the credentials of a request (inside a transaction)."""
        self = cls()
        self._conn = conn
        self.hostip = remote_ip
        if creds is None:
            self.message = 'no Koji-Session-* headers'
            return self
        self.id, self.key, callnum = creds

        row = db.fetch_one(conn, 'SELECT * FROM sessions WHERE id = ?'
                           ' AND key = ? AND closed = 0', (self.id, self.key))
        if not row:
            raise koji.AuthError('Invalid session or bad credentials')
        if row['expired'] and method not in AUTH_METHODS:
            raise koji.AuthExpired('session "%s" has expired' % self.id)

        callnum = self._check_callnum(row, callnum, method)
        if row['expired']:
            return self

        user = db.fetch_one(conn, 'SELECT name, status, usertype FROM users'
                            ' WHERE id = ?', (row['user_id'],))
        if user['status'] != koji.USER_STATUS['NORMAL']:
            raise koji.AuthError('logins by %s are not allowed' % user['name'])
        self._check_exclusive(row)

        conn.execute('UPDATE sessions SET update_time = ? WHERE id = ?',
                     (db.now(), self.id))
        self.callnum = callnum
        self.user_id = row['user_id']
        self.authtype = row['authtype']
        self.master = row['master']
        self.session_data = _session_data(row)
        self.user_data = user
        self.logged_in = True
        return self

    def _check_callnum(self, row, callnum, method):
        if callnum is None:
            return None
        try:
            callnum = int(callnum)
        except (ValueError, TypeError):
            raise koji.AuthError('Invalid callnum: %r' % callnum)

        lastcall = row['callnum']
        if lastcall is not None:
            if lastcall > callnum:
                raise koji.SequenceError('%s > %s (session %s)'
                                         % (lastcall, callnum, self.id))
            if lastcall == callnum and method not in RETRY_WHITELIST:
                raise koji.RetryError(
                    'unable to retry call %s (method %s) for session %s'
                    % (callnum, method, self.id))
        return callnum

    def _check_exclusive(self, row):
        if row['exclusive']:
            self.exclusive = True
            return
        excl_id = db.fetch_value(
            self._conn, 'SELECT id FROM sessions WHERE user_id = ?'
            ' AND exclusive = 1 AND closed = 0', (row['user_id'],))
        if excl_id:
            if excl_id == row['master']:
                self.exclusive = True
            else:
                self.lockerror = 'User locked by another session'

    def store_callnum(self) -> None:
        """Record this call's number (kept only if the call writes)."""
        if self.logged_in and self.callnum is not None:
            self._conn.execute('UPDATE sessions SET callnum = ? WHERE id = ?',
                               (self.callnum, self.id))

    def check_lock(self, method: str) -> None:
        """Raise AuthLockError unless the method may run while locked."""
        if self.lockerror and method not in LOCK_EXEMPT:
            raise koji.AuthLockError(self.lockerror)

    def __str__(self) -> str:
        if not self.logged_in:
            text = 'session: not logged in'
        else:
            public = {k: v for k, v in vars(self).items()
                      if not k.startswith('_')}
            text = 'session %d: %r' % (self.id, public)
        if self.message:
            text += ' (%s)' % self.message
        return text

    # permissions and identity

    @property
    def perms(self) -> dict:
        if self._perms is None:
            names = users.get_user_perms(self._conn, self.user_id)
            self._perms = dict.fromkeys(names, 1)
        return self._perms

    @property
    def host_id(self):
        if self._host_id == '':
            self._host_id = None
            if self.user_id is not None:
                self._host_id = db.fetch_value(
                    self._conn, 'SELECT id FROM host WHERE user_id = ?',
                    (self.user_id,))
        return self._host_id

    def getPerms(self) -> list:
        if not self.logged_in:
            return []
        return list(self.perms)

    def hasPerm(self, name: str) -> bool:
        if not self.logged_in:
            return False
        return name in self.perms

    def assertPerm(self, name: str) -> None:
        if not self.hasPerm(name) and not self.hasPerm('admin'):
            msg = '%s permission required' % name
            if self.logged_in:
                msg += ' (logged in as %s)' % self.user_data['name']
            else:
                msg += ' (user not logged in)'
            raise koji.ActionNotAllowed(msg)

    def assertLogin(self) -> None:
        if not self.logged_in:
            raise koji.ActionNotAllowed(
                'you must be logged in for this operation')

    # session life

    def createSession(self, user_id, hostip, authtype, master=None,
                      renew=False):
        """Insert (or renew) a session row and return the sinfo dict."""
        key = _new_key(user_id)
        stamp = db.now()
        if renew and self.id is not None:
            session_id = self.id
            self.key = key
            if self.master:
                alive = db.fetch_value(
                    self._conn, 'SELECT count(*) FROM sessions'
                    ' WHERE id = ? AND closed = 0', (self.master,))
                if not alive:
                    return None
            self._conn.execute(
                'UPDATE sessions SET key = ?, expired = 0, update_time = ?,'
                ' renew_time = ? WHERE id = ?',
                (key, stamp, stamp, session_id))
        else:
            cur = self._conn.execute(
                'INSERT INTO sessions (user_id, key, hostip, authtype,'
                ' master, start_time, update_time)'
                ' VALUES (?, ?, ?, ?, ?, ?, ?)',
                (user_id, key, hostip, authtype, master, stamp, stamp))
            session_id = cur.lastrowid
        return {'session-id': session_id, 'session-key': key,
                'header-auth': True}

    def login(self, user, password, opts=None, renew=False, exclusive=False):
        if opts is None:
            opts = {}
        if not isinstance(password, str) or len(password) == 0:
            raise koji.AuthError('invalid username or password')
        if self.logged_in:
            raise koji.AuthError('Already logged in')
        hostip = opts.get('hostip', self.hostip)

        row = db.fetch_one(self._conn, 'SELECT id, name, status FROM users'
                           ' WHERE name = ? AND password = ?',
                           (user, password))
        if not row:
            raise koji.AuthError('invalid username or password')
        if row['status'] != koji.USER_STATUS['NORMAL']:
            raise koji.AuthError('logins by %s are not allowed' % row['name'])

        sinfo = self.createSession(row['id'], hostip,
                                   koji.AUTHTYPES['NORMAL'], renew=renew)
        if sinfo and exclusive and not self.exclusive:
            # as in the hub, this acts on the renewed session only (a
            # fresh login has no id or user yet)
            self.makeExclusive()
        return sinfo

    def makeExclusive(self, force=False):
        if self.master is not None:
            raise koji.GenericError('subsessions cannot become exclusive')
        if self.exclusive:
            raise koji.GenericError('session is already exclusive')
        excl_id = db.fetch_value(
            self._conn, 'SELECT id FROM sessions WHERE user_id = ?'
            ' AND closed = 0 AND exclusive = 1', (self.user_id,))
        if excl_id:
            if not force:
                raise koji.AuthLockError('Cannot get exclusive session')
            self._conn.execute(
                'UPDATE sessions SET expired = 1, exclusive = NULL,'
                ' closed = 1 WHERE id = ?', (excl_id,))
        self._conn.execute('UPDATE sessions SET exclusive = 1 WHERE id = ?',
                           (self.id,))

    def makeShared(self):
        self._conn.execute('UPDATE sessions SET exclusive = NULL'
                           ' WHERE id = ?', (self.id,))

    def logout(self, session_id=None):
        if not self.logged_in:
            raise koji.AuthError('Not logged in')
        if session_id:
            if not self.hasPerm('admin'):
                owned = db.fetch_value(
                    self._conn, 'SELECT id FROM sessions WHERE user_id = ?'
                    ' AND id = ?', (self.user_id, session_id))
                if not owned:
                    raise koji.ActionNotAllowed(
                        'only admins or owner may logout other session')
            ses_id = session_id
        else:
            ses_id = self.id
        self._conn.execute(
            'UPDATE sessions SET expired = 1, exclusive = NULL, closed = 1'
            ' WHERE id = ? OR master = ?', (ses_id, ses_id))
        if not session_id:
            self.logged_in = False

    def logoutChild(self, session_id):
        if not self.logged_in:
            raise koji.AuthError('Not logged in')
        self._conn.execute(
            'UPDATE sessions SET expired = 1, exclusive = NULL, closed = 1'
            ' WHERE id = ? AND master = ?', (session_id, self.id))

    def subsession(self):
        if not self.logged_in:
            raise koji.AuthError('Not logged in')
        master = self.master
        if master is None:
            master = self.id
        return self.createSession(self.user_id, self.hostip, self.authtype,
                                  master=master)


# exported calls


def login(ctx, user, password, opts=None, renew=False, exclusive=False):
    """Create a session from a user name and password."""
    return ctx.session.login(user, password, opts=opts, renew=renew,
                             exclusive=exclusive)


def sslLogin(ctx, proxyuser=None, proxyauthtype=None, renew=False,
             exclusive=None):
    """GSSAPI login through /kojihub/ssllogin (no client certificates here).

    Only a request whose SPNEGO token the server verified carries a
    principal (``ctx.remote_user``); anything else fails as the hub does
    when neither REMOTE_USER nor a verified certificate is present.
    """
    if not ctx.remote_user:
        raise koji.AuthError('could not verify client: None')
    if proxyuser:
        # ProxyPrincipals is empty: nobody may log in other users
        raise koji.AuthError('%s is not authorized to login other users'
                             % ctx.remote_user)
    return krb_users.gssapi_login(ctx, renew=renew, exclusive=exclusive)


def logout(ctx, session_id=None):
    """Close the caller's session (or another one, for admins/owners)."""
    return ctx.session.logout(session_id)


def subsession(ctx):
    """Open a subsession of the caller's session."""
    return ctx.session.subsession()


def logoutChild(ctx, session_id):
    """Close one subsession of the caller's session."""
    return ctx.session.logoutChild(session_id)


def exclusiveSession(ctx, force=False):
    """Make the caller's session the user's exclusive one."""
    return ctx.session.makeExclusive(force=force)


def sharedSession(ctx):
    """Drop out of exclusive mode."""
    return ctx.session.makeShared()


def showSession(ctx):
    """String form of the caller's session."""
    return '%s' % ctx.session


def getSessionInfo(ctx, details=False, user_id=None):
    """Session data of the caller, or the open sessions of a user."""
    if not ctx.session.logged_in:
        return None
    columns = ('user_id, expired, master, authtype, callnum, start_time,'
               ' update_time, renew_time, exclusive, hostip, id')
    if user_id:
        user = users.get_user(ctx, user_id, strict=True)
        me = ctx.session.user_id
        if not ctx.session.hasPerm('admin') and user['id'] != me:
            raise koji.ActionNotAllowed(
                'only admins or owners may see all active sessions')
        rows = db.fetch_all(ctx.conn, 'SELECT %s FROM sessions WHERE'
                            ' expired = 0 AND user_id = ? ORDER BY id'
                            % columns, (user['id'],))
        result = []
        for row in rows:
            entry = _session_data(row)
            if details:
                entry['hostip'] = row['hostip']
                entry['id'] = row['id']
            result.append(entry)
        return result

    result = dict(ctx.session.session_data)
    if details:
        result['hostip'] = ctx.session.hostip
        result['id'] = ctx.session.id
    return result


EXPORTS = {
    'login': login,
    'sslLogin': sslLogin,
    'logout': logout,
    'subsession': subsession,
    'logoutChild': logoutChild,
    'exclusiveSession': exclusiveSession,
    'sharedSession': sharedSession,
    'showSession': showSession,
    'getSessionInfo': getSessionInfo,
}
