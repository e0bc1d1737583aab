"""Minimal buildroots: listBuildroots, getBuildroot, host.setBuildRootState.

The simulator has no tags, repos or content generators; a buildroot row
only carries what kojid's TaskManager.updateBuildroots and ``koji
hostinfo`` read.  Tests add rows with ``HubSimulator.add_buildroot``.
"""

from __future__ import annotations

import koji

from . import db
from .host_calls import Host
from .tasks import Task
from .values import apply_query_opts, convert_value


def _br_row(row: dict) -> dict:
    return {
        'id': row['id'],
        'br_type': koji.BR_TYPES['STANDARD'],
        'cg_id': None,
        'cg_name': None,
        'cg_version': None,
        'container_arch': row['container_arch'],
        'arch': row['container_arch'],
        'container_type': 'chroot',
        'host_os': None,
        'host_arch': None,
        'extra': None,
        'state': row['state'],
        'task_id': row['task_id'],
        'host_id': row['host_id'],
        'host_name': row['host_name'],
        'repo_id': row['repo_id'],
        'repo_state': None,
        'tag_id': None,
        'tag_name': row['tag_name'],
        'create_event_id': None,
        'create_event_time': db.ts_text(row['create_time']),
        'create_ts': row['create_time'],
        'retire_event_id': None,
        'retire_event_time': db.ts_text(row['retire_time']),
        'retire_ts': row['retire_time'],
        'repo_create_event_id': None,
        'repo_create_event_time': None,
    }


def _match(value, wanted) -> bool:
    if isinstance(wanted, (list, tuple)):
        return value in wanted
    return value == wanted


def listBuildroots(ctx, hostID=None, tagID=None, state=None, rpmID=None,
                   archiveID=None, taskID=None, buildrootID=None,
                   repoID=None, queryOpts=None):
    """Buildroot rows filtered by host, state, task, id or repo."""
    rows = db.fetch_all(ctx.conn, 'SELECT buildroot.*, host.name AS'
                        ' host_name FROM buildroot LEFT JOIN host'
                        ' ON buildroot.host_id = host.id ORDER BY buildroot.id')
    result = []
    for row in rows:
        checks = ((hostID, row['host_id']), (state, row['state']),
                  (taskID, row['task_id']), (buildrootID, row['id']),
                  (repoID, row['repo_id']))
        if all(w is None or _match(v, w) for w, v in checks):
            if tagID is None and rpmID is None and archiveID is None:
                result.append(_br_row(row))
    return apply_query_opts(result, queryOpts)


def getBuildroot(ctx, buildrootID, strict=False):
    """One buildroot row, or None (GenericError when strict)."""
    buildrootID = convert_value(buildrootID, cast=int)
    rows = listBuildroots(ctx, buildrootID=buildrootID)
    if not rows:
        if strict:
            raise koji.GenericError('No such buildroot: %r' % buildrootID)
        return None
    return rows[0]


def setBuildRootState(ctx, brootid, state, task_id=None):
    """Move a buildroot of the caller to another state."""
    host = Host(ctx)
    host.verify()
    if task_id is not None:
        Task(ctx, task_id).assertHost(host.id)
    row = db.fetch_one(ctx.conn, 'SELECT * FROM buildroot WHERE id = ?',
                       (brootid,))
    if not row:
        raise koji.GenericError('No such buildroot: %r' % brootid)
    if row['host_id'] != host.id:
        raise koji.ActionNotAllowed('Host %s not owner of buildroot %s'
                                    % (host.id, brootid))
    if task_id is not None and row['task_id'] != task_id:
        raise koji.ActionNotAllowed('Task %s does not have lock on buildroot'
                                    ' %s' % (task_id, brootid))
    if isinstance(state, str):
        state = koji.BR_STATES[state]
    if state == koji.BR_STATES['INIT']:
        raise koji.GenericError('Cannot change buildroot state to INIT')
    if koji.BR_STATES[row['state']] == 'EXPIRED':
        raise koji.GenericError('buildroot %i is EXPIRED' % brootid)
    retire = db.now() if state == koji.BR_STATES['EXPIRED'] else None
    ctx.conn.execute('UPDATE buildroot SET state = ?, retire_time = ?'
                     ' WHERE id = ?', (state, retire, brootid))


EXPORTS = {
    'listBuildroots': listBuildroots,
    'getBuildroot': getBuildroot,
    'host.setBuildRootState': setBuildRootState,
}
