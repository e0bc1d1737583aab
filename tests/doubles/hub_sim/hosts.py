"""Builder hosts and channels: lookups, listings and host admin calls.

Covers getHost, listHosts, getLastHostUpdate, getChannel, listChannels,
addHost, editHost, enableHost/disableHost, addHostToChannel,
removeHostFromChannel and addChannel with the rows and errors of the
kojihub functions of the same names.  The host_config and host_channels
tables are not versioned here: no ``event`` lookups into the past.
"""

from __future__ import annotations

import koji

from . import db, krb_users, users
from .values import apply_query_opts, convert_value, name_or_id_clause

HOST_SQL = (
    'SELECT host.id AS id, host.user_id AS user_id, host.name AS name,'
    ' host.update_time AS update_ts, host.ready AS ready,'
    ' host.task_load AS task_load, host_config.arches AS arches,'
    ' host_config.capacity AS capacity,'
    ' host_config.description AS description,'
    ' host_config.comment AS comment, host_config.enabled AS enabled'
    ' FROM host_config JOIN host ON host.id = host_config.host_id')

CHANNEL_FIELDS = 'channels.id AS id, channels.name AS name,' \
    ' channels.description AS description, channels.enabled AS enabled,' \
    ' channels.comment AS comment'


def _host_row(row: dict) -> dict:
    row['ready'] = bool(row['ready'])
    row['enabled'] = bool(row['enabled'])
    return row


def _channel_row(row: dict) -> dict:
    row['enabled'] = bool(row['enabled'])
    return row


def get_host(ctx, hostInfo, strict=False, event=None):
    """Host row by id or name (None, or GenericError when strict)."""
    clause, value = name_or_id_clause('host', hostInfo)
    row = db.fetch_one(ctx.conn, HOST_SQL + ' WHERE ' + clause, (value,))
    if not row:
        if strict:
            raise koji.GenericError('Invalid hostInfo: %s' % hostInfo)
        return None
    return _host_row(row)


def lookup_channel(ctx, info, strict=False):
    """{'id', 'name'} of a channel by id or name (lookup_name)."""
    clause, value = name_or_id_clause('channels', info)
    row = db.fetch_one(ctx.conn, 'SELECT id, name FROM channels WHERE '
                       + clause, (value,))
    if row is None and strict:
        raise koji.GenericError('No such entry in table channels: %s' % info)
    return row


def get_channel_id(ctx, info, strict=False, create=False):
    """Channel id by id or name, optionally creating a named channel."""
    row = lookup_channel(ctx, info, strict=strict and not create)
    if row:
        return row['id']
    if create:
        if not isinstance(info, str):
            raise koji.GenericError('Name must be a string')
        cur = ctx.conn.execute('INSERT INTO channels (name) VALUES (?)',
                               (info,))
        return cur.lastrowid
    return None


def get_channel(ctx, channelInfo, strict=False):
    """Channel row: id, name, description, enabled, comment."""
    clause, value = name_or_id_clause('channels', channelInfo)
    row = db.fetch_one(ctx.conn, 'SELECT %s FROM channels WHERE %s'
                       % (CHANNEL_FIELDS, clause), (value,))
    if row is None:
        if strict:
            raise koji.GenericError('query returned no rows')
        return None
    return _channel_row(row)


def list_channels(ctx, hostID=None, event=None, enabled=None):
    """All channels, or those a host listens to."""
    clauses = []
    values = []
    if enabled is not None:
        clauses.append('channels.enabled = ?')
        values.append(1 if enabled else 0)
    if hostID:
        if isinstance(hostID, str):
            hostID = get_host(ctx, hostID, strict=True)['id']
        sql = ('SELECT %s FROM host_channels JOIN channels'
               ' ON channels.id = host_channels.channel_id' % CHANNEL_FIELDS)
        clauses.insert(0, 'host_channels.host_id = ?')
        values.insert(0, hostID)
    elif event:
        raise koji.GenericError('list_channels with event and '
                                'not host is not allowed.')
    else:
        sql = 'SELECT %s FROM channels' % CHANNEL_FIELDS
    if clauses:
        sql += ' WHERE ' + ' AND '.join(clauses)
    rows = db.fetch_all(ctx.conn, sql + ' ORDER BY channels.id', values)
    return [_channel_row(r) for r in rows]


def host_channel_ids(conn, host_id) -> list[int]:
    """Ids of the channels a host listens to."""
    rows = conn.execute('SELECT channel_id FROM host_channels'
                        ' WHERE host_id = ? ORDER BY channel_id', (host_id,))
    return [r[0] for r in rows]


def listHosts(ctx, arches=None, channelID=None, ready=None, enabled=None,
              userID=None, queryOpts=None):
    """Host rows filtered like the hub's listHosts."""
    clauses = []
    values = []
    if channelID is not None:
        channel_id = get_channel_id(ctx, channelID, strict=True)
        clauses.append('host.id IN (SELECT host_id FROM host_channels'
                       ' WHERE channel_id = ?)')
        values.append(channel_id)
    if ready is not None:
        clauses.append('host.ready = ?')
        values.append(1 if ready else 0)
    if enabled is not None:
        clauses.append('host_config.enabled = ?')
        values.append(1 if enabled else 0)
    if userID is not None:
        user = users.get_user(ctx, userID, strict=True)
        clauses.append('host.user_id = ?')
        values.append(user['id'])

    sql = HOST_SQL
    if clauses:
        sql += ' WHERE ' + ' AND '.join(clauses)
    rows = [_host_row(r) for r in db.fetch_all(ctx.conn, sql + ' ORDER BY id',
                                               values)]
    if arches is not None:
        if not arches:
            raise koji.GenericError('arches option cannot be empty')
        if not isinstance(arches, (list, tuple)):
            arches = [arches]
        wanted = set(arches)
        rows = [r for r in rows if wanted & set((r['arches'] or '').split())]
    return apply_query_opts(rows, queryOpts)


def getLastHostUpdate(ctx, hostID, ts=False):
    """Latest update time of any session of the host's user."""
    stamp = db.fetch_value(
        ctx.conn, 'SELECT max(sessions.update_time) FROM sessions'
        ' JOIN host ON sessions.user_id = host.user_id WHERE host.id = ?',
        (hostID,))
    if stamp is None or ts:
        return stamp
    return db.ts_text(stamp)


def create_host(ctx, hostname, arches, krb_principal=None, force=False,
                password=None):
    """Insert host, host_config, host_channels (and its user if needed)."""
    if get_host(ctx, hostname):
        raise koji.GenericError('host already exists: %s' % hostname)
    default_channel = get_channel_id(ctx, 'default', strict=True)

    # the host's user may exist already (a login before add-host made it)
    lookup = {'name': hostname}
    if krb_principal:
        lookup['krb_principal'] = krb_principal
    user = users.get_user(ctx, lookup)
    if user:
        if user['usertype'] != koji.USERTYPES['HOST']:
            if force and user['usertype'] == koji.USERTYPES['NORMAL']:
                ctx.conn.execute('UPDATE users SET usertype = ? WHERE id = ?',
                                 (koji.USERTYPES['HOST'], user['id']))
            else:
                raise koji.GenericError(
                    'user %s already exists and it is not a host' % hostname)
        user_id = user['id']
        if password is not None:
            ctx.conn.execute('UPDATE users SET password = ? WHERE id = ?',
                             (password, user_id))
    else:
        user_id = krb_users.create_user(ctx.conn, hostname, krb_principal,
                                        usertype=koji.USERTYPES['HOST'],
                                        password=password)

    cur = ctx.conn.execute('INSERT INTO host (user_id, name) VALUES (?, ?)',
                           (user_id, hostname))
    host_id = cur.lastrowid
    ctx.conn.execute('INSERT INTO host_config (host_id, arches)'
                     ' VALUES (?, ?)', (host_id, arches))
    ctx.conn.execute('INSERT INTO host_channels (host_id, channel_id)'
                     ' VALUES (?, ?)', (host_id, default_channel))
    return host_id


def addHost(ctx, hostname, arches, krb_principal=None, force=False):
    """Add a builder host (needs the host permission)."""
    ctx.session.assertPerm('host')
    if not isinstance(hostname, str):
        raise koji.GenericError('Name should be string')
    arches = koji.parse_arches(' '.join(arches), strict=True)
    return create_host(ctx, hostname, arches, krb_principal, force)


def set_host_enabled(ctx, hostname, enabled=True):
    """Flip host_config.enabled."""
    ctx.session.assertPerm('host')
    host = get_host(ctx, hostname)
    if not host:
        raise koji.GenericError('host does not exist: %s' % hostname)
    ctx.conn.execute('UPDATE host_config SET enabled = ? WHERE host_id = ?',
                     (1 if enabled else 0, host['id']))


def enableHost(ctx, hostname):
    """Mark a host as enabled."""
    set_host_enabled(ctx, hostname, True)


def disableHost(ctx, hostname):
    """Mark a host as disabled."""
    set_host_enabled(ctx, hostname, False)


def editHost(ctx, hostInfo, **kw):
    """Change arches/capacity/description/comment; True if changed."""
    ctx.session.assertPerm('host')
    host = get_host(ctx, hostInfo, strict=True)
    fields = ('arches', 'capacity', 'description', 'comment')
    changes = [f for f in fields if f in kw and kw[f] != host[f]]
    if not changes:
        return False

    for change in changes:
        if change in ('description', 'comment', 'arches'):
            convert_value(kw[change], cast=str, check_only=True)
    for change in changes:
        ctx.conn.execute('UPDATE host_config SET %s = ? WHERE host_id = ?'
                         % change, (kw[change], host['id']))
    return True


def addHostToChannel(ctx, hostname, channel_name, create=False, force=False):
    """Subscribe a host to a channel."""
    ctx.session.assertPerm('host')
    host = get_host(ctx, hostname)
    if host is None:
        raise koji.GenericError('host does not exist: %s' % hostname)
    channel_id = get_channel_id(ctx, channel_name, create=create)
    if channel_id is None:
        raise koji.GenericError('channel does not exist: %s' % channel_name)
    if not force and not get_channel(ctx, channel_id)['enabled']:
        raise koji.GenericError('channel %s is disabled' % channel_name)
    if channel_id in host_channel_ids(ctx.conn, host['id']):
        raise koji.GenericError(
            'host %s is already subscribed to the %s channel'
            % (hostname, channel_name))
    ctx.conn.execute('INSERT INTO host_channels (host_id, channel_id)'
                     ' VALUES (?, ?)', (host['id'], channel_id))


def removeHostFromChannel(ctx, hostname, channel_name):
    """Unsubscribe a host from a channel."""
    ctx.session.assertPerm('host')
    host = get_host(ctx, hostname)
    if host is None:
        raise koji.GenericError('host does not exist: %s' % hostname)
    channel_id = get_channel_id(ctx, channel_name)
    if channel_id is None:
        raise koji.GenericError('channel does not exist: %s' % channel_name)
    if channel_id not in host_channel_ids(ctx.conn, host['id']):
        raise koji.GenericError('host %s is not subscribed to the %s channel'
                                % (hostname, channel_name))
    ctx.conn.execute('DELETE FROM host_channels WHERE host_id = ?'
                     ' AND channel_id = ?', (host['id'], channel_id))


def addChannel(ctx, channel_name, description=None):
    """Create a channel (admin only); returns its id."""
    ctx.session.assertPerm('admin')
    if not isinstance(channel_name, str):
        raise koji.GenericError('Name should be string')
    existing = lookup_channel(ctx, channel_name)
    if existing:
        raise koji.GenericError('channel %(name)s already exists (id=%(id)i)'
                                % existing)
    cur = ctx.conn.execute('INSERT INTO channels (name, description)'
                           ' VALUES (?, ?)', (channel_name, description))
    return cur.lastrowid


def getHost(ctx, hostInfo, strict=False, event=None):
    """Exported get_host."""
    return get_host(ctx, hostInfo, strict=strict, event=event)


def getChannel(ctx, channelInfo, strict=False):
    """Exported get_channel."""
    return get_channel(ctx, channelInfo, strict=strict)


def listChannels(ctx, hostID=None, event=None, enabled=None):
    """Exported list_channels."""
    return list_channels(ctx, hostID=hostID, event=event, enabled=enabled)


EXPORTS = {
    'getHost': getHost,
    'listHosts': listHosts,
    'getLastHostUpdate': getLastHostUpdate,
    'getChannel': getChannel,
    'listChannels': listChannels,
    'addHost': addHost,
    'editHost': editHost,
    'enableHost': enableHost,
    'disableHost': disableHost,
    'addHostToChannel': addHostToChannel,
    'removeHostFromChannel': removeHostFromChannel,
    'addChannel': addChannel,
}
