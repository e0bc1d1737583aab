"""The principals in a keytab file, and the one this worker expects.

A keytab (MIT's ``FILE:`` format, versions 0x501 and 0x502) is a list of
entries, each a principal, a key version and a key.  The same principal
appears once per encryption type and key version, and a keytab may hold
several principals in any order, so the worker's principal is chosen by
matching names against what is expected, never by position.
"""

from __future__ import annotations

import fnmatch
import struct
from typing import List, NamedTuple, Tuple

from .errors import StartError

__all__ = ("KeytabEntry", "KeytabError", "read_entries", "principals", "expected_principal")


class KeytabError(StartError):
    """The file is not a keytab, or not the keytab this worker expects."""


class KeytabEntry(NamedTuple):
    """One key: its principal, key version number and encryption type number."""

    principal: str
    kvno: int
    enctype: int


class _Reader:
    """Read big- or little-endian fields from one entry's bytes."""

    def __init__(self, data: bytes, order: str, path: str) -> None:
        self.data, self.order, self.path, self.at = data, order, path, 0

    def take(self, size: int) -> bytes:
        if self.at + size > len(self.data):
            raise KeytabError("%s: a keytab entry is cut short" % self.path)
        chunk = self.data[self.at:self.at + size]
        self.at += size
        return chunk

    def number(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        return struct.unpack(self.order + fmt, self.take(size))[0]

    def counted(self) -> bytes:
        return self.take(self.number("H"))

    def text(self) -> str:
        raw = self.counted()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KeytabError("%s: a principal name is not UTF-8" % self.path) from None


def _entry(data: bytes, order: str, version: int, path: str) -> KeytabEntry:
    reader = _Reader(data, order, path)
    count = reader.number("H")
    if version == 1:
        count -= 1  # version 1 counted the realm among the components
    realm = reader.text()
    components = [reader.text() for _ in range(count)]
    if version == 2:
        reader.number("I")  # name type
    reader.number("I")  # timestamp
    kvno = reader.number("B")
    enctype = reader.number("H")
    reader.counted()  # the key itself
    if len(data) - reader.at >= 4:
        kvno = reader.number("I") or kvno  # 32-bit kvno, when present and non-zero
    if not components or not realm:
        raise KeytabError("%s: an entry has an empty principal name" % path)
    return KeytabEntry("%s@%s" % ("/".join(components), realm), kvno, enctype)


def _header(data: bytes, path: str) -> Tuple[str, int]:
    if len(data) < 2 or data[0] != 5 or data[1] not in (1, 2):
        raise KeytabError("%s is not a keytab file (no 0x0501/0x0502 header)" % path)
    version = data[1]
    return (">" if version == 2 else "=", version)


def read_entries(path: str) -> List[KeytabEntry]:
    """Every live entry of a keytab file, in file order.

    :param path: the keytab file
    :returns: its entries (holes left by deleted entries are skipped)
    :raises KeytabError: when the file is not a well-formed keytab
    :raises OSError: when it cannot be read
    """
    with open(path, "rb") as handle:
        data = handle.read()
    order, version = _header(data, path)
    entries, at = [], 2
    while at + 4 <= len(data):
        size = struct.unpack(order + "i", data[at:at + 4])[0]
        at += 4
        if size == 0:
            break
        if size < 0:
            at += -size
            continue
        if at + size > len(data):
            raise KeytabError("%s: the last keytab entry is cut short" % path)
        entries.append(_entry(data[at:at + size], order, version, path))
        at += size
    return entries


def principals(path: str) -> List[str]:
    """The distinct principals of a keytab, sorted by name.

    :raises KeytabError: when the file is not a keytab or holds no key
    """
    names = sorted({entry.principal for entry in read_entries(path)})
    if not names:
        raise KeytabError("%s holds no key" % path)
    return names


def expected_principal(path: str, pattern: str) -> str:
    """The one principal of the keytab that matches ``pattern``.

    :param path: the keytab file
    :param pattern: what the principal must be (a shell pattern such as
        ``worker/*@KOJI.BOX``; matched case-sensitively, as Kerberos does)
    :returns: the matching principal
    :raises KeytabError: naming what was expected and what was found when
        no principal, or more than one, matches
    """
    found = principals(path)
    matching = [name for name in found if fnmatch.fnmatchcase(name, pattern)]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        raise KeytabError("the worker keytab holds %s, not the expected %s"
                          % (", ".join(found), pattern))
    raise KeytabError("the worker keytab holds several principals matching %s: %s"
                      % (pattern, ", ".join(matching)))
