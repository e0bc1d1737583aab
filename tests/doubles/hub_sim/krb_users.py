"""Kerberos principals of users and the GSSAPI half of ``sslLogin``.

The real hub sits behind Apache, whose mod_auth_gssapi guards
``/kojihub/ssllogin`` (``GssapiLocalName Off``): it verifies the SPNEGO
token and hands the hub the client principal as ``REMOTE_USER``.  The hub
(``kojihub/auth.py`` ``Session.sslLogin``) then maps the principal to a user
through ``user_krb_principals``; an unknown principal becomes a new normal
user named after the part before ``@`` when ``LoginCreatesUser`` is on (the
hub's default), else the login fails with ``AuthError('Unknown user: P')``.
Nothing checks the user type at login: a plain user's principal logs in
fine and its ``host.*`` calls fail later ("User N is not a host").
"""

from __future__ import annotations

import koji

from . import db


def principals_of(conn, user_id) -> list:
    """The Kerberos principals of a user, in the order they were added."""
    rows = conn.execute('SELECT krb_principal FROM user_krb_principals'
                        ' WHERE user_id = ? ORDER BY rowid', (user_id,))
    return [r[0] for r in rows]


def user_id_of(conn, principal):
    """The id of the user holding ``principal``, or None."""
    return db.fetch_value(conn, 'SELECT user_id FROM user_krb_principals'
                          ' WHERE krb_principal = ?', (principal,))


def add_principal(conn, user_id, principal) -> None:
    """Give a user one more principal (a principal maps to one user)."""
    owner = user_id_of(conn, principal)
    if owner is not None and owner != user_id:
        raise koji.GenericError('Kerberos principal %s is already used by user %s'
                                % (principal, owner))
    if owner is None:
        conn.execute('INSERT INTO user_krb_principals (user_id, krb_principal)'
                     ' VALUES (?, ?)', (user_id, principal))


def create_user(conn, name, principal=None,
                usertype=koji.USERTYPES['NORMAL'], password=None) -> int:
    """Insert a user (with its principal, if any); its id."""
    if not name:
        raise koji.GenericError('a user must have a non-empty name')
    cur = conn.execute('INSERT INTO users (name, password, status, usertype)'
                       ' VALUES (?, ?, ?, ?)',
                       (name, password, koji.USER_STATUS['NORMAL'], usertype))
    if principal:
        add_principal(conn, cur.lastrowid, principal)
    return cur.lastrowid


def create_user_from_kerberos(conn, principal) -> int:
    """The hub's createUserFromKerberos: user named before the ``@``."""
    atidx = principal.find('@')
    if atidx == -1:
        raise koji.AuthError('invalid Kerberos principal: %s' % principal)
    name = principal[:atidx]
    existing = db.fetch_value(conn, 'SELECT id FROM users WHERE name = ?', (name,))
    if existing is None:
        return create_user(conn, name, principal)
    add_principal(conn, existing, principal)
    return existing


def gssapi_user_id(ctx, principal) -> int:
    """Map the verified principal to a user id as sslLogin does."""
    if '@' in principal:
        user_id = user_id_of(ctx.conn, principal)
    else:
        user_id = db.fetch_value(ctx.conn, 'SELECT id FROM users WHERE name = ?',
                                 (principal,))
    if user_id:
        return user_id
    if not ctx.opts.login_creates_user:
        raise koji.AuthError('Unknown user: %s' % principal)
    if '@' in principal:
        return create_user_from_kerberos(ctx.conn, principal)
    return create_user(ctx.conn, principal)


def gssapi_login(ctx, renew=False, exclusive=None) -> dict:
    """sslLogin for a request mod_auth_gssapi let through (REMOTE_USER set)."""
    session = ctx.session
    if session.logged_in:
        raise koji.AuthError('Already logged in')
    user_id = gssapi_user_id(ctx, ctx.remote_user)
    user = db.fetch_one(ctx.conn, 'SELECT name, status FROM users WHERE id = ?',
                        (user_id,))
    if user['status'] != koji.USER_STATUS['NORMAL']:
        raise koji.AuthError('logins by %s are not allowed' % user['name'])
    sinfo = session.createSession(user_id, ctx.remote_ip, koji.AUTHTYPES['GSSAPI'],
                                  renew=renew)
    if sinfo and exclusive and not session.exclusive:
        session.makeExclusive()
    return sinfo
