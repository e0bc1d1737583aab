"""Argument checks and result shaping shared by the exported calls.

``convert_value`` and ``name_or_id_clause`` raise the same
ParameterError faults as their kojihub namesakes; ``apply_query_opts``
gives the ``queryOpts`` (order, offset, limit, countOnly, asList) of the
hub's QueryProcessor for rows already read into dicts.
"""

from __future__ import annotations

import functools

import koji


def convert_value(value, cast=None, message=None,
                  exc_type=koji.ParameterError, none_allowed=False,
                  check_only=False):
    """Cast a value, raising ParameterError (or exc_type) when it fails."""
    if value is None:
        if not none_allowed:
            raise exc_type(message or 'Invalid type, expected type %s' % cast)
        return value
    default = "Invalid type for value '%s': %s, expected type %s" % (
        value, type(value), cast)
    if check_only:
        if not isinstance(value, cast):
            raise exc_type(message or default)
        return value
    try:
        return cast(value)
    except (ValueError, TypeError):
        raise exc_type(message or default)


def name_or_id_clause(table: str, info) -> tuple[str, object]:
    """SQL clause and value selecting a row by id (int) or name (str)."""
    if isinstance(info, dict):
        if 'id' in info:
            info = convert_value(info['id'], cast=int,
                                 message='Invalid name or id value: %s' % info)
        elif 'name' in info:
            info = info['name']
        else:
            raise koji.ParameterError('Invalid name or id value: %s' % info)
    if isinstance(info, bool):
        raise koji.ParameterError('Invalid name or id value: %s' % info)
    if isinstance(info, int):
        return '%s.id = ?' % table, info
    if isinstance(info, str):
        return '%s.name = ?' % table, info
    raise koji.ParameterError('Invalid name or id value: %s' % info)


def _compare(keys, left, right) -> int:
    for key, desc in keys:
        a, b = left.get(key), right.get(key)
        if a == b:
            continue
        # NULLs sort last ascending, like PostgreSQL
        if a is None:
            result = 1
        elif b is None:
            result = -1
        else:
            result = -1 if a < b else 1
        return -result if desc else result
    return 0


def apply_query_opts(rows: list, query_opts, fields=None):
    """Order, slice and shape rows as QueryProcessor's opts would."""
    query_opts = query_opts or {}
    if query_opts.get('countOnly'):
        return len(rows)

    order = query_opts.get('order')
    if order:
        keys = []
        for part in order.split(','):
            part = part.strip()
            desc = part.startswith('-')
            keys.append((part.lstrip('-'), desc))
        rows = sorted(rows, key=functools.cmp_to_key(
            lambda a, b: _compare(keys, a, b)))

    offset = query_opts.get('offset') or 0
    limit = query_opts.get('limit')
    rows = rows[offset:]
    if limit is not None:
        rows = rows[:limit]

    if query_opts.get('asList'):
        fields = fields or (list(rows[0]) if rows else [])
        return [[row[f] for f in fields] for row in rows]
    return rows
