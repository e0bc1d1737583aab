"""Which principals a keytab file holds, read without the Kerberos tools.

MIT's keytab file format (version 0x0502, also 0x0501) is a list of
length-prefixed entries, each naming a principal and carrying one key.
:func:`keytab_principals` reads only the names; key bytes are skipped and
never kept, so nothing read here can leak into a log or a message.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, List, Tuple

__all__ = ("KeytabFormatError", "keytab_principals", "read_principals")

#: the largest keytab this reader accepts (a keytab is a few hundred bytes)
MAX_SIZE = 1024 * 1024


class KeytabFormatError(ValueError):
    """The file is not a keytab this reader understands."""


def _take(data: bytes, offset: int, size: int) -> Tuple[bytes, int]:
    end = offset + size
    if size < 0 or end > len(data):
        raise KeytabFormatError("truncated entry")
    return data[offset:end], end


def _counted(data: bytes, offset: int, order: str) -> Tuple[bytes, int]:
    raw, offset = _take(data, offset, 2)
    (length,) = struct.unpack(order + "H", raw)
    return _take(data, offset, length)


def _entry_principal(entry: bytes, version: int) -> str:
    order = ">" if version == 2 else "="
    raw, offset = _take(entry, 0, 2)
    (count,) = struct.unpack(order + "H", raw)
    if version == 1:
        count -= 1  # version 1 counted the realm among the components
    realm, offset = _counted(entry, offset, order)
    parts = []
    for _index in range(count):
        part, offset = _counted(entry, offset, order)
        parts.append(part.decode("utf-8", "replace"))
    return "%s@%s" % ("/".join(parts), realm.decode("utf-8", "replace"))


def read_principals(handle: BinaryIO) -> List[str]:
    """The distinct principals in an open keytab, in file order.

    :param handle: the keytab, opened for binary reading
    :returns: ``name@REALM`` strings, each once
    :raises KeytabFormatError: when it is not a keytab
    """
    data = handle.read(MAX_SIZE + 1)
    if len(data) > MAX_SIZE:
        raise KeytabFormatError("larger than %d bytes" % MAX_SIZE)
    if len(data) < 2 or data[0] != 5 or data[1] not in (1, 2):
        raise KeytabFormatError("no keytab header (0x0501 or 0x0502)")
    version = data[1]
    order = ">" if version == 2 else "="
    found: List[str] = []
    offset = 2
    while offset + 4 <= len(data):
        (size,) = struct.unpack(order + "i", data[offset:offset + 4])
        offset += 4
        if size == 0:
            break
        entry, offset = _take(data, offset, abs(size))
        if size < 0:
            continue  # a hole left by a removed entry
        name = _entry_principal(entry, version)
        if name not in found:
            found.append(name)
    return found


def keytab_principals(path: str) -> List[str]:
    """The distinct principals in the keytab at ``path``.

    :param path: the keytab file
    :returns: ``name@REALM`` strings, each once, in file order
    :raises OSError: when it cannot be opened or read
    :raises KeytabFormatError: when it is not a keytab
    """
    with open(path, "rb") as handle:
        return read_principals(handle)
