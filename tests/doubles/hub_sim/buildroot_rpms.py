"""The rpms installed in buildroots: host.setBuildRootList,
host.updateBuildRootList and listRPMs(componentBuildrootID=...).

The simulator has no builds, so an rpm it has not seen yet (by name,
epoch, version, release, arch and external ``location``) is recorded in
``rpminfo`` on first use instead of failing with "No such rpm", and gets
an id that later lists reuse.  As in the hub, the initial list is set
while the buildroot is INIT and updates (which skip rpms already listed)
while it is BUILDING.
"""

from __future__ import annotations

import koji

from . import db
from .buildroots import host_buildroot
from .values import apply_query_opts, convert_value

NEVRA = ('name', 'version', 'release', 'arch')


def _find_rpm(conn, data) -> int | None:
    return db.fetch_value(
        conn, 'SELECT id FROM rpminfo WHERE name = ? AND version = ? AND'
        ' release = ? AND arch = ? AND epoch IS ? AND location IS ?'
        ' ORDER BY id', (data['name'], data['version'], data['release'],
                         data['arch'], data.get('epoch'),
                         data.get('location')))


def rpm_id(conn, an_rpm) -> int:
    """Id of an rpm dict of a buildroot list, recording a new one."""
    if not isinstance(an_rpm, dict):
        raise koji.GenericError('Invalid type for rpminfo: %r' % type(an_rpm))
    if an_rpm.get('id') is not None:
        known = db.fetch_value(conn, 'SELECT id FROM rpminfo WHERE id = ?',
                               (an_rpm['id'],))
        if known is not None:
            return known
    if any(an_rpm.get(k) is None for k in NEVRA):
        raise koji.GenericError('No such rpm: %r' % (an_rpm,))
    found = _find_rpm(conn, an_rpm)
    if found is not None:
        return found
    payloadhash = an_rpm.get('payloadhash') or an_rpm.get('sigmd5')
    cur = conn.execute(
        'INSERT INTO rpminfo (name, version, release, epoch, arch,'
        ' payloadhash, size, buildtime, location)'
        ' VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        (an_rpm['name'], an_rpm['version'], an_rpm['release'],
         an_rpm.get('epoch'), an_rpm['arch'], payloadhash, an_rpm.get('size'),
         an_rpm.get('buildtime'), an_rpm.get('location')))
    return cur.lastrowid


def _listed(conn, brootid) -> set:
    rows = conn.execute('SELECT rpm_id FROM buildroot_listing'
                        ' WHERE buildroot_id = ?', (brootid,))
    return {r[0] for r in rows}


def _set_list(broot, rpmlist, update) -> None:
    wanted = 'BUILDING' if update else 'INIT'
    if broot.data['state'] != koji.BR_STATES[wanted]:
        raise koji.GenericError('buildroot %(id)s in wrong state %(state)s'
                                % broot.data)
    conn = broot.ctx.conn
    current = _listed(conn, broot.id) if update else set()
    ids = []
    for an_rpm in rpmlist:
        rid = rpm_id(conn, an_rpm)
        if update and rid in current:
            continue
        ids.append(rid)
    for rid in sorted(ids):
        conn.execute('INSERT INTO buildroot_listing (buildroot_id, rpm_id,'
                     ' is_update) VALUES (?, ?, ?)',
                     (broot.id, rid, 1 if update else 0))


def setBuildRootList(ctx, brootid, rpmlist, task_id=None):
    """Record the rpms of a new (INIT) buildroot of the caller."""
    _set_list(host_buildroot(ctx, brootid, task_id), rpmlist, update=False)


def updateBuildRootList(ctx, brootid, rpmlist, task_id=None):
    """Add the rpms installed later into a BUILDING buildroot."""
    _set_list(host_buildroot(ctx, brootid, task_id), rpmlist, update=True)


def _rpm_row(row: dict) -> dict:
    return {
        'id': row['id'],
        'name': row['name'],
        'version': row['version'],
        'release': row['release'],
        'nvr': '%(name)s-%(version)s-%(release)s' % row,
        'arch': row['arch'],
        'epoch': row['epoch'],
        'draft': False,
        'payloadhash': row['payloadhash'],
        'size': row['size'],
        'buildtime': row['buildtime'],
        'build_id': None,
        'buildroot_id': None,
        'external_repo_id': None,
        'external_repo_name': row['location'],
        'metadata_only': False,
        'extra': None,
    }


def listRPMs(ctx, buildID=None, buildrootID=None, imageID=None,
             componentBuildrootID=None, hostID=None, arches=None,
             queryOpts=None, draft=None):
    """Rpms installed in a buildroot (componentBuildrootID); the
    simulator builds no rpms, so the other filters match nothing."""
    if arches is not None and not isinstance(arches, (list, tuple, str)):
        raise koji.GenericError('Invalid type for "arches" parameter: %s'
                                % type(arches))
    if (buildID, buildrootID, imageID, hostID) != (None,) * 4 \
            or draft is True:
        return apply_query_opts([], queryOpts)
    sql = 'SELECT rpminfo.* FROM rpminfo'
    values = []
    if componentBuildrootID is not None:
        sql = ('SELECT rpminfo.*, buildroot_listing.buildroot_id AS'
               ' component_buildroot_id, buildroot_listing.is_update AS'
               ' is_update FROM rpminfo JOIN buildroot_listing'
               ' ON rpminfo.id = buildroot_listing.rpm_id'
               ' WHERE buildroot_listing.buildroot_id = ?')
        values.append(convert_value(componentBuildrootID, cast=int))
    result = []
    for row in db.fetch_all(ctx.conn, sql + ' ORDER BY rpminfo.id', values):
        if isinstance(arches, str) and row['arch'] != arches:
            continue
        if isinstance(arches, (list, tuple)) and row['arch'] not in arches:
            continue
        info = _rpm_row(row)
        if componentBuildrootID is not None:
            info['component_buildroot_id'] = row['component_buildroot_id']
            info['is_update'] = bool(row['is_update'])
        result.append(info)
    return apply_query_opts(result, queryOpts)


EXPORTS = {
    'host.setBuildRootList': setBuildRootList,
    'host.updateBuildRootList': updateBuildRootList,
    'listRPMs': listRPMs,
}
