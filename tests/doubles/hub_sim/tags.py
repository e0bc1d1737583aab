"""Tags: getTag, getBuildConfig, listTags and editTag2.

Tags are flat: no inheritance, no history (``event`` is accepted and
echoed as ``query_event``, but the current data is answered), no
packages or builds.  ``tag_extra`` rows keep JSON values; a NULL value
is a blocked key, as in the hub.  Tests create tags with
``HubSimulator.add_tag``.
"""

from __future__ import annotations

import fnmatch
import json

import koji

from . import db
from .values import apply_query_opts, convert_value, name_or_id_clause

TAG_SQL = (
    'SELECT tag.id AS id, tag.name AS name, tag.perm_id AS perm_id,'
    ' permissions.name AS perm, tag.arches AS arches, tag.locked AS locked,'
    ' tag.maven_support AS maven_support,'
    ' tag.maven_include_all AS maven_include_all'
    ' FROM tag LEFT JOIN permissions ON tag.perm_id = permissions.id')
BOOL_FIELDS = ('locked', 'maven_support', 'maven_include_all')


def _tag_row(row: dict) -> dict:
    for field in BOOL_FIELDS:
        row[field] = bool(row[field])
    return row


def get_tag_extra(conn, tag_id, blocked=False) -> dict:
    """Extra of one tag: {key: value}, or {key: [blocked, value]}."""
    rows = db.fetch_all(conn, 'SELECT key, value FROM tag_extra'
                        ' WHERE tag_id = ? ORDER BY key', (tag_id,))
    result = {}
    for row in rows:
        is_blocked = row['value'] is None
        value = None if is_blocked else json.loads(row['value'])
        if blocked:
            result[row['key']] = [is_blocked, value]
        elif not is_blocked:
            result[row['key']] = value
    return result


def get_tag(ctx, tagInfo, strict=False, event=None, blocked=False):
    """Tag row with its extra, by id, name or {'id'|'name'}."""
    clause, value = name_or_id_clause('tag', tagInfo)
    row = db.fetch_one(ctx.conn, TAG_SQL + ' WHERE ' + clause, (value,))
    if row is None:
        if strict:
            raise koji.GenericError('No such tagInfo: %r' % (tagInfo,))
        return None
    info = _tag_row(row)
    info['extra'] = get_tag_extra(ctx.conn, info['id'], blocked=blocked)
    if event is not None:
        info['query_event'] = event
    return info


def get_tag_id(ctx, info, strict=False):
    """Tag id by name or id (lookup_name); GenericError when strict."""
    clause, value = name_or_id_clause('tag', info)
    tag_id = db.fetch_value(ctx.conn, 'SELECT id FROM tag WHERE ' + clause,
                            (value,))
    if tag_id is None and strict:
        raise koji.GenericError('No such entry in table tag: %s' % (info,))
    return tag_id


def create_tag(ctx, name, arches=None, perm=None, locked=False, extra=None):
    """Insert a tag and its extra (no access check); its id."""
    if not isinstance(name, str):
        raise koji.GenericError('Name should be string')
    arches = koji.parse_arches(arches, strict=True, allow_none=True)
    if get_tag(ctx, name):
        raise koji.GenericError("A tag with the name '%s' already exists"
                                % name)
    perm_id = _perm_id(ctx, perm) if perm is not None else None
    cur = ctx.conn.execute('INSERT INTO tag (name, arches, perm_id, locked)'
                           ' VALUES (?, ?, ?, ?)',
                           (name, arches, perm_id, 1 if locked else 0))
    tag_id = cur.lastrowid
    for key, value in (extra or {}).items():
        _set_extra(ctx.conn, tag_id, key, json.dumps(value))
    return tag_id


def _perm_id(ctx, perm) -> int:
    clause, value = name_or_id_clause('permissions', perm)
    perm_id = db.fetch_value(ctx.conn, 'SELECT id FROM permissions WHERE '
                             + clause, (value,))
    if perm_id is None:
        raise koji.GenericError('No such entry in table permissions: %s'
                                % (perm,))
    return perm_id


def _set_extra(conn, tag_id, key, json_value) -> None:
    conn.execute('INSERT INTO tag_extra (tag_id, key, value) VALUES (?, ?, ?)'
                 ' ON CONFLICT (tag_id, key) DO UPDATE SET value ='
                 ' excluded.value', (tag_id, key, json_value))


def getTag(ctx, tagInfo, strict=False, event=None, blocked=False):
    """Exported get_tag."""
    return get_tag(ctx, tagInfo, strict=strict, event=event, blocked=blocked)


def getBuildConfig(ctx, tag, event=None):
    """The tag with its build configuration (flat: nothing inherited)."""
    info = get_tag(ctx, tag, strict=True, event=event, blocked=True)
    info['config_inheritance'] = {'extra': {}, 'arches': None}
    for key, (is_blocked, value) in list(info['extra'].items()):
        if is_blocked:
            del info['extra'][key]
        else:
            info['extra'][key] = value
    return info


def listTags(ctx, build=None, package=None, perms=True, queryOpts=None,
             pattern=None):
    """Tag rows: id, name, arches, locked, maven flags (and perm)."""
    if build is not None and package is not None:
        raise koji.GenericError('only one of build and package may be'
                                ' specified')
    # the simulator has no builds or packages
    if build is not None:
        raise koji.GenericError('No such build: %s' % build)
    if package is not None:
        raise koji.GenericError('No such package: %s' % package)
    rows = [_tag_row(r) for r in db.fetch_all(ctx.conn, TAG_SQL
                                              + ' ORDER BY tag.id')]
    if pattern is not None:
        pattern = pattern.lower()
        rows = [r for r in rows
                if fnmatch.fnmatchcase(r['name'].lower(), pattern)]
    if not perms:
        for row in rows:
            del row['perm_id'], row['perm']
    return apply_query_opts(rows, queryOpts)


def edit_tag(ctx, tagInfo, **kwargs) -> None:
    """Change name, arches, perm, locked and extra of a tag."""
    if 'maven_support' in kwargs or 'maven_include_all' in kwargs:
        raise koji.GenericError('Maven support not enabled')
    for key in ('remove_extra', 'block_extra'):
        if kwargs.get(key):
            convert_value(kwargs[key], cast=list, none_allowed=True,
                          check_only=True)
    tag = get_tag(ctx, tagInfo, strict=True)
    conn = ctx.conn
    if 'perm' in kwargs and 'perm_id' not in kwargs:
        kwargs['perm_id'] = kwargs['perm']
    if kwargs.get('perm_id') is not None:
        kwargs['perm_id'] = _perm_id(ctx, kwargs['perm_id'])

    name = kwargs.get('name')
    if name and tag['name'] != name:
        if not isinstance(name, str):
            raise koji.GenericError('Name should be string')
        other = get_tag_id(ctx, name)
        if other is not None:
            raise koji.GenericError('Name %s already taken by tag %s'
                                    % (name, other))
        conn.execute('UPDATE tag SET name = ? WHERE id = ?',
                     (name, tag['id']))

    arches = kwargs.get('arches')
    if arches and tag['arches'] != arches:
        kwargs['arches'] = koji.parse_arches(arches, strict=True,
                                             allow_none=True)
    for key in ('perm_id', 'arches', 'locked'):
        if key in kwargs and tag[key] != kwargs[key]:
            value = kwargs[key]
            if key == 'locked':
                value = 1 if value else 0
            conn.execute('UPDATE tag SET %s = ? WHERE id = ?' % key,
                         (value, tag['id']))
    _edit_extra(conn, tag, kwargs)


def _edit_extra(conn, tag, kwargs) -> None:
    if 'extra' in kwargs:
        removed = (set(kwargs.get('block_extra') or [])
                   | set(kwargs.get('remove_extra') or []))
        conflicts = removed.intersection(set(kwargs['extra']))
        if conflicts:
            raise koji.GenericError("Can not both add/update and remove"
                                    " tag-extra: '%s'" % conflicts.pop())
        for key, value in kwargs['extra'].items():
            if key not in tag['extra'] or tag['extra'][key] != value:
                _set_extra(conn, tag['id'], key, json.dumps(value))
    for key in kwargs.get('block_extra') or []:
        _set_extra(conn, tag['id'], key, None)
    if 'remove_extra' in kwargs:
        missing = [k for k in kwargs['remove_extra'] if k not in tag['extra']]
        if missing:
            raise koji.GenericError("Tag: %s doesn't have extra: %s"
                                    % (tag['name'], ', '.join(missing)))
        for key in kwargs['remove_extra']:
            conn.execute('DELETE FROM tag_extra WHERE tag_id = ? AND key = ?',
                         (tag['id'], key))


def editTag2(ctx, tagInfo, **kwargs):
    """Edit a tag (needs the tag permission)."""
    ctx.session.assertPerm('tag')
    edit_tag(ctx, tagInfo, **kwargs)


EXPORTS = {
    'getTag': getTag,
    'getBuildConfig': getBuildConfig,
    'listTags': listTags,
    'editTag2': editTag2,
}
