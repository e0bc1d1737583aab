"""The runroot hub plugin's call: runroot(tagInfo, arch, command, ...).

Behaves as koji's ``plugins/hub/runroot_hub.py``: the caller needs the
``runroot`` permission (or admin); the task goes to the ``runroot``
channel unless another is given, at priority 15, with the parsed arch
and the arguments encoded by koji.encode_args.  For ``noarch`` the tag
must list arches, and if it cannot build for every arch of the known
hosts, the task gets a random arch the tag shares with the enabled hosts
of the channel.  As on a real hub, the ``runroot`` channel must exist:
``HubSimulator.add_host(..., channels=(..., 'runroot'))`` creates it.
"""

from __future__ import annotations

import random

import koji

from . import db, hosts, tags
from .tasks import make_task

PRIORITY = 15
DEFAULT_CHANNEL = 'runroot'


def get_all_arches(ctx) -> list[str]:
    """Canonical arches of all hosts (kojihub.get_all_arches)."""
    result = {}
    for (arches,) in ctx.conn.execute('SELECT arches FROM host_config'
                                      ' ORDER BY host_id'):
        for arch in (arches or '').split():
            result[koji.canonArch(arch)] = 1
    return list(result)


def get_channel_arches(ctx, channel) -> dict:
    """Canonical arches of the enabled hosts of a channel."""
    chan = hosts.get_channel(ctx, channel, strict=True)
    rows = db.fetch_all(ctx.conn, 'SELECT host_config.arches AS arches'
                        ' FROM host_config JOIN host_channels'
                        ' ON host_config.host_id = host_channels.host_id'
                        ' WHERE host_channels.channel_id = ?'
                        ' AND host_config.enabled = 1', (chan['id'],))
    result = {}
    for row in rows:
        for arch in (row['arches'] or '').split():
            result[koji.canonArch(arch)] = 1
    return result


def runroot(ctx, tagInfo, arch, command, channel=None, **opts):
    """Create a runroot task; its id."""
    ctx.session.assertPerm('runroot')
    arch = koji.parse_arches(arch, strict=True, allow_none=False)
    if not isinstance(command, (str, list)):
        raise koji.GenericError("Invalid type for value '%s': %s"
                                % (command, type(command)))
    taskopts = {'priority': PRIORITY, 'arch': arch,
                'channel': channel or DEFAULT_CHANNEL}
    tag = tags.get_tag(ctx, tagInfo, strict=True)
    if arch == 'noarch':
        if not tag['arches']:
            raise koji.GenericError('no arches defined for tag %s'
                                    % tag['name'])
        tagarches = tag['arches'].split()
        if set(get_all_arches(ctx)) - set(tagarches):
            chanarches = get_channel_arches(ctx, taskopts['channel'])
            choices = [x for x in tagarches if x in chanarches]
            if not choices:
                raise koji.GenericError(
                    'no common arches for tag/channel: %s/%s'
                    % (tagInfo, taskopts['channel']))
            taskopts['arch'] = koji.canonArch(random.choice(choices))
    args = koji.encode_args(tagInfo, arch, command, **opts)
    return make_task(ctx, 'runroot', args, **taskopts)


EXPORTS = {
    'runroot': runroot,
}
