"""Standard buildroots: listBuildroots, getBuildroot and the host calls
host.newBuildRoot and host.setBuildRootState.

A buildroot made by host.newBuildRoot takes its tag from its repo, as
the hub's query joins them; rows added with ``HubSimulator.add_buildroot``
(which need no repo) keep the tag name they were given.  The calling
host must own the buildroot (and, with ``task_id``, hold that task open
and be the buildroot's task), as kojihub's BuildRoot checks.  The rpm
lists live in :mod:`.buildroot_rpms`.
"""

from __future__ import annotations

import koji

from . import db, events
from .host_calls import Host
from .tasks import Task
from .values import apply_query_opts, convert_value

BR_SQL = (
    'SELECT buildroot.*, host.name AS host_name, repo.state AS repo_state,'
    ' repo.create_event AS repo_create_event, tag.id AS tag_id,'
    ' COALESCE(buildroot.tag_name, tag.name) AS tag_label,'
    ' repo_ev.time AS repo_create_time FROM buildroot'
    ' LEFT JOIN host ON buildroot.host_id = host.id'
    ' LEFT JOIN repo ON buildroot.repo_id = repo.id'
    ' LEFT JOIN tag ON repo.tag_id = tag.id'
    ' LEFT JOIN events AS repo_ev ON repo.create_event = repo_ev.id')


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
        'repo_state': row['repo_state'],
        'tag_id': row['tag_id'],
        'tag_name': row['tag_label'],
        'create_event_id': row['create_event'],
        'create_event_time': db.ts_text(row['create_time']),
        'create_ts': row['create_time'],
        'retire_event_id': row['retire_event'],
        'retire_event_time': db.ts_text(row['retire_time']),
        'retire_ts': row['retire_time'],
        'repo_create_event_id': row['repo_create_event'],
        'repo_create_event_time': db.ts_text(row['repo_create_time']),
    }


def _match(value, wanted) -> bool:
    if isinstance(wanted, (list, tuple)):
        return value in wanted
    return value == wanted


def _listed_in(conn, sql, value) -> set:
    return {r[0] for r in conn.execute(sql, (value,))}


def listBuildroots(ctx, hostID=None, tagID=None, state=None, rpmID=None,
                   archiveID=None, taskID=None, buildrootID=None,
                   repoID=None, queryOpts=None):
    """Buildroot rows filtered like the hub's query_buildroots."""
    if archiveID is not None:
        # the simulator keeps no archives
        return apply_query_opts([], queryOpts)
    with_rpm = None
    if rpmID is not None:
        with_rpm = _listed_in(ctx.conn, 'SELECT buildroot_id FROM'
                              ' buildroot_listing WHERE rpm_id = ?', rpmID)
    rows = db.fetch_all(ctx.conn, BR_SQL + ' ORDER BY buildroot.id')
    result = []
    for row in rows:
        checks = ((hostID, row['host_id']), (state, row['state']),
                  (taskID, row['task_id']), (buildrootID, row['id']),
                  (repoID or None, row['repo_id']), (tagID, row['tag_id']))
        if with_rpm is not None and row['id'] not in with_rpm:
            continue
        if all(w is None or _match(v, w) for w, v in checks):
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


class BuildRoot:
    """One standard buildroot row (kojihub's BuildRoot)."""

    def __init__(self, ctx, id):
        id = convert_value(id, cast=int)
        row = db.fetch_one(ctx.conn, 'SELECT * FROM buildroot WHERE id = ?',
                           (id,))
        if row is None:
            raise koji.GenericError('no buildroot with ID: %i' % id)
        self.ctx = ctx
        self.id = id
        self.data = row

    def assertHost(self, host_id) -> None:
        if self.data['host_id'] != host_id:
            raise koji.ActionNotAllowed('Host %s not owner of buildroot %s'
                                        % (host_id, self.id))

    def assertTask(self, task_id) -> None:
        if self.data['task_id'] != task_id:
            raise koji.ActionNotAllowed('Task %s does not have lock on'
                                        ' buildroot %s' % (task_id, self.id))

    def setState(self, state) -> None:
        if isinstance(state, str):
            state = koji.BR_STATES[state]
        if state == koji.BR_STATES['INIT']:
            raise koji.GenericError('Cannot change buildroot state to INIT')
        if koji.BR_STATES[self.data['state']] == 'EXPIRED':
            # expiring an expired buildroot is quietly ignored
            if koji.BR_STATES[state] == 'EXPIRED':
                return
            raise koji.GenericError('buildroot %i is EXPIRED' % self.id)
        conn = self.ctx.conn
        if koji.BR_STATES[state] == 'EXPIRED':
            event_id = events.new_event(conn)
            conn.execute('UPDATE buildroot SET state = ?, retire_event = ?,'
                         ' retire_time = ? WHERE id = ?',
                         (state, event_id, events.event_time(conn, event_id),
                          self.id))
        else:
            conn.execute('UPDATE buildroot SET state = ? WHERE id = ?',
                         (state, self.id))
        self.data['state'] = state


def host_buildroot(ctx, brootid, task_id=None) -> BuildRoot:
    """The caller's buildroot, checked as the hub's host calls do."""
    host = Host(ctx)
    host.verify()
    if task_id is not None:
        Task(ctx, task_id).assertHost(host.id)
    broot = BuildRoot(ctx, brootid)
    broot.assertHost(host.id)
    if task_id is not None:
        broot.assertTask(task_id)
    return broot


def newBuildRoot(ctx, repo, arch, task_id=None):
    """Create an INIT buildroot of the caller on a repo; its id."""
    host = Host(ctx)
    host.verify()
    if task_id is not None:
        Task(ctx, task_id).assertHost(host.id)
    arch = koji.parse_arches(arch, strict=True, allow_none=True)
    repo = convert_value(repo, cast=int)
    if db.fetch_value(ctx.conn, 'SELECT id FROM repo WHERE id = ?',
                      (repo,)) is None:
        raise koji.GenericError('No such repo: %s' % repo)
    event_id = events.new_event(ctx.conn)
    cur = ctx.conn.execute(
        'INSERT INTO buildroot (host_id, task_id, state, repo_id,'
        ' container_arch, create_time, create_event)'
        ' VALUES (?, ?, ?, ?, ?, ?, ?)',
        (host.id, task_id, koji.BR_STATES['INIT'], repo, arch,
         events.event_time(ctx.conn, event_id), event_id))
    return cur.lastrowid


def setBuildRootState(ctx, brootid, state, task_id=None):
    """Move a buildroot of the caller to another state."""
    host_buildroot(ctx, brootid, task_id).setState(state)


EXPORTS = {
    'listBuildroots': listBuildroots,
    'getBuildroot': getBuildroot,
    'host.newBuildRoot': newBuildRoot,
    'host.setBuildRootState': setBuildRootState,
}
