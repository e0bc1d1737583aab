"""Repos of tags: repo_init for test setup, getRepo and repoInfo.

Rows carry the fields of kojihub's RepoQuery (``fields='**'``).  A repo
made by :func:`repo_init` lays out ``koji.pathinfo.repo(repo_id, tag)``
under the hub's topdir: ``repo.json`` and, per arch,
``<arch>/repodata/repomd.xml`` (an empty placeholder: no createrepo
runs).  ``begin_event`` is the create event (no tag history here) and
``end_event`` stays None.  Tests create repos with
``HubSimulator.add_repo``.
"""

from __future__ import annotations

import json
import os

import koji

from . import db, events, tags
from .values import convert_value

REPO_SQL = (
    'SELECT repo.*, tag.name AS tag_name, task.state AS task_state,'
    ' events.time AS create_ts FROM repo'
    ' JOIN tag ON repo.tag_id = tag.id'
    ' JOIN events ON repo.create_event = events.id'
    ' LEFT JOIN task ON repo.task_id = task.id')
REPO_OPTS = ('src', 'debuginfo', 'separate_src', 'maven')


def repo_row(row: dict) -> dict:
    """Shape a joined repo row like RepoQuery with fields='**'."""
    return {
        'id': row['id'],
        'tag_id': row['tag_id'],
        'tag_name': row['tag_name'],
        'creation_time': db.ts_text(row['creation_time']),
        'creation_ts': row['creation_time'],
        'state_time': db.ts_text(row['state_time']),
        'state_ts': row['state_time'],
        'create_event': row['create_event'],
        'create_ts': row['create_ts'],
        'begin_event': row['create_event'],
        'begin_ts': row['create_ts'],
        'end_event': None,
        'end_ts': None,
        'state': row['state'],
        'dist': bool(row['dist']),
        'opts': json.loads(row['opts']),
        'custom_opts': json.loads(row['custom_opts']),
        'task_id': row['task_id'],
        'task_state': row['task_state'],
    }


def repo_arches(taginfo, arches=None) -> list[str]:
    """Canonical arches a repo of the tag is made for (no src/noarch)."""
    if arches is None:
        arches = taginfo['arches'] or ''
    if isinstance(arches, str):
        arches = arches.split()
    result = []
    for arch in arches:
        arch = koji.canonArch(arch)
        if arch not in ('src', 'noarch') and arch not in result:
            result.append(arch)
    return result


def repo_init(ctx, tag, arches=None, state=koji.REPO_READY, task_id=None):
    """Insert a repo of a tag and lay out its directory; the repo id."""
    taginfo = tags.get_tag(ctx, tag, strict=True)
    if isinstance(state, str):
        state = koji.REPO_STATES[state]
    opts = dict.fromkeys(REPO_OPTS, False)
    tag_opts = taginfo['extra'].get('repo.opts') or {}
    opts.update((k, bool(v)) for k, v in tag_opts.items() if k in REPO_OPTS)
    event_id = events.new_event(ctx.conn)
    now = events.event_time(ctx.conn, event_id)
    cur = ctx.conn.execute(
        'INSERT INTO repo (tag_id, state, create_event, creation_time,'
        ' state_time, dist, task_id, opts, custom_opts)'
        ' VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)',
        (taginfo['id'], state, event_id, now, now, task_id, json.dumps(opts),
         json.dumps({})))
    repo_id = cur.lastrowid

    pathinfo = koji.PathInfo(topdir=ctx.opts.topdir)
    repodir = pathinfo.repo(repo_id, taginfo['name'])
    os.makedirs(repodir)
    info = {'id': repo_id, 'tag': taginfo['name'], 'tag_id': taginfo['id'],
            'task_id': task_id, 'event_id': event_id, 'opts': opts,
            'custom_opts': {}, 'with_src': opts['src'],
            'with_separate_src': opts['separate_src'],
            'with_debuginfo': opts['debuginfo']}
    with open(os.path.join(repodir, 'repo.json'), 'wt') as fo:
        json.dump(info, fo, indent=2)
    for arch in repo_arches(taginfo, arches):
        repodata = os.path.join(repodir, arch, 'repodata')
        koji.ensuredir(repodata)
        open(os.path.join(repodata, 'repomd.xml'), 'wb').close()
    return repo_id


def set_repo_state(ctx, repo_id, state) -> None:
    """Move a repo to another state (no transition checks)."""
    if isinstance(state, str):
        state = koji.REPO_STATES[state]
    cur = ctx.conn.execute('UPDATE repo SET state = ?, state_time = ?'
                           ' WHERE id = ?', (state, db.now(), repo_id))
    if not cur.rowcount:
        raise koji.GenericError('No such repo: %s' % repo_id)


def repo_info(ctx, repo_id, strict=False):
    """One repo row, or None (GenericError when strict)."""
    repo_id = convert_value(repo_id, cast=int, none_allowed=True)
    row = db.fetch_one(ctx.conn, REPO_SQL + ' WHERE repo.id = ?', (repo_id,))
    if row is None:
        if strict:
            raise koji.GenericError('query returned no rows')
        return None
    return repo_row(row)


def getRepo(ctx, tag, state=None, event=None, dist=False, min_event=None):
    """The newest repo of a tag in a state (READY by default), or None."""
    tag_id = tags.get_tag_id(ctx, tag, strict=True)
    state = convert_value(state, cast=int, none_allowed=True)
    event = convert_value(event, cast=int, none_allowed=True)
    min_event = convert_value(min_event, cast=int, none_allowed=True)
    dist = convert_value(dist, cast=bool)

    clauses = ['repo.tag_id = ?', 'repo.dist = ?']
    values = [tag_id, 1 if dist else 0]
    if event:
        clauses.append('repo.create_event <= ?')
        values.append(event)
    else:
        clauses.append('repo.state = ?')
        values.append(koji.REPO_READY if state is None else state)
    if min_event is not None:
        clauses.append('repo.create_event >= ?')
        values.append(min_event)
    row = db.fetch_one(ctx.conn, REPO_SQL + ' WHERE ' + ' AND '.join(clauses)
                       + ' ORDER BY repo.creation_time DESC, repo.id DESC'
                       ' LIMIT 1', values)
    return repo_row(row) if row else None


def repoInfo(ctx, repo_id, strict=False):
    """Exported repo_info."""
    return repo_info(ctx, repo_id, strict=strict)


EXPORTS = {
    'getRepo': getRepo,
    'repoInfo': repoInfo,
}
