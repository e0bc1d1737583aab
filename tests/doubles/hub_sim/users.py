"""Users and permissions: getUser, getLoggedInUser, getPerms and kin."""

from __future__ import annotations

import koji

from . import db, krb_users


def get_user(ctx, userInfo=None, strict=False, krb_princs=True,
             groups=False):
    """Look a user up by id, name or dict, like the hub's get_user."""
    if userInfo is None:
        userInfo = ctx.session.user_id if ctx.session else None
        if userInfo is None:
            raise koji.GenericError('No user provided')

    if isinstance(userInfo, dict):
        data = userInfo
    elif isinstance(userInfo, int):
        data = {'id': userInfo}
    elif isinstance(userInfo, str):
        data = {'name': userInfo}
    else:
        raise koji.GenericError('Invalid type for userInfo: %s'
                                % type(userInfo))

    clauses = []
    values = []
    if data.get('id') is not None:
        if not isinstance(data['id'], int):
            raise koji.GenericError('Invalid type for userid: %s'
                                    % type(data['id']))
        clauses.append('id = ?')
        values.append(data['id'])
    if data.get('name'):
        if isinstance(userInfo, str):
            # a string is a user name or a Kerberos principal
            clauses.append('(name = ? OR id IN (SELECT user_id FROM'
                           ' user_krb_principals WHERE krb_principal = ?))')
            values.append(data['name'])
        else:
            clauses.append('name = ?')
        values.append(data['name'])
    if data.get('krb_principal'):
        clauses.append('id IN (SELECT user_id FROM user_krb_principals'
                       ' WHERE krb_principal = ?)')
        values.append(data['krb_principal'])

    sql = 'SELECT id, name, status, usertype FROM users'
    if clauses:
        sql += ' WHERE ' + ' AND '.join(clauses)
    user = db.fetch_one(ctx.conn, sql + ' ORDER BY id', values)
    if not user and strict:
        raise koji.GenericError('No such user: %r' % (userInfo,))
    if user:
        if krb_princs:
            user['krb_principals'] = krb_users.principals_of(ctx.conn, user['id'])
        if groups:
            user['groups'] = []
    return user


def get_user_perms(conn, user_id) -> list[str]:
    """Names of the permissions granted to a user."""
    rows = conn.execute(
        'SELECT permissions.name FROM user_perms'
        ' JOIN permissions ON perm_id = permissions.id'
        ' WHERE user_id = ? ORDER BY permissions.id', (user_id,))
    return [r[0] for r in rows]


def lookup_perm(conn, name):
    """The permission row for a name, or None."""
    return db.fetch_one(conn, 'SELECT id, name FROM permissions WHERE name = ?',
                        (name,))


def getLoggedInUser(ctx):
    """getUser() of the caller plus authtype, or None."""
    if not ctx.session.logged_in:
        return None
    me = get_user(ctx, ctx.session.user_id)
    me['authtype'] = ctx.session.authtype
    principals = krb_users.principals_of(ctx.conn, me['id'])
    me['krb_principal'] = principals[0] if principals else None
    return me


def getPerms(ctx):
    """The caller's permission names."""
    return ctx.session.getPerms()


def hasPerm(ctx, perm, strict=False):
    """Whether the caller holds a permission."""
    if strict and not lookup_perm(ctx.conn, perm):
        raise koji.GenericError('No such permission %s defined' % perm)
    return ctx.session.hasPerm(perm)


def getUserPerms(ctx, userID=None, with_groups=True):
    """Permission names of a user (the caller by default)."""
    user = get_user(ctx, userID, strict=True)
    return get_user_perms(ctx.conn, user['id'])


def getAllPerms(ctx):
    """Every permission row: id, name, description."""
    return db.fetch_all(ctx.conn, 'SELECT id, name, description'
                        ' FROM permissions ORDER BY id')


def getUser(ctx, userInfo=None, strict=False, krb_princs=True, groups=False):
    """Exported get_user."""
    return get_user(ctx, userInfo, strict=strict, krb_princs=krb_princs,
                    groups=groups)


EXPORTS = {
    'getUser': getUser,
    'getLoggedInUser': getLoggedInUser,
    'getPerms': getPerms,
    'hasPerm': hasPerm,
    'getUserPerms': getUserPerms,
    'getAllPerms': getAllPerms,
}
