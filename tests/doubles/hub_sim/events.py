"""Events: the hub's numbered points in time, and getLastEvent.

The real hub records an event for nearly every write (``get_event()``).
The simulator records one only where a row keeps an event id: a new
repo (``create_event``) and a buildroot's creation and retirement.
"""

from __future__ import annotations

import koji

from . import db


def new_event(conn) -> int:
    """Record an event now; its id."""
    cur = conn.execute('INSERT INTO events (time) VALUES (?)', (db.now(),))
    return cur.lastrowid


def event_time(conn, event_id) -> float | None:
    """Epoch time of an event, or None."""
    if event_id is None:
        return None
    return db.fetch_value(conn, 'SELECT time FROM events WHERE id = ?',
                          (event_id,))


def getLastEvent(ctx, before=None, strict=True):
    """{'id', 'ts'} of the latest event (before a time if given)."""
    sql = 'SELECT id, time AS ts FROM events'
    values = ()
    if before is not None:
        if isinstance(before, bool) or not isinstance(before, (int, float)):
            raise koji.GenericError('Invalid type for before: %s'
                                    % type(before))
        sql += ' WHERE time < ?'
        values = (before,)
    row = db.fetch_one(ctx.conn, sql + ' ORDER BY id DESC LIMIT 1', values)
    if row is None and strict:
        raise koji.GenericError('query returned no rows')
    return row


EXPORTS = {
    'getLastEvent': getLastEvent,
}
