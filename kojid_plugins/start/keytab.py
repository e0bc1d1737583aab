"""The worker's principal, chosen from the keytab orch handed out.

A keytab may hold several principals, in any order and once per
encryption type and key version, so the worker's own is chosen by
matching names against what is expected, never by position.  The file
is read by :mod:`orch_bridge.keytab`, which keeps no key bytes.
"""

from __future__ import annotations

import fnmatch
from typing import List

from orch_bridge.keytab import KeytabFormatError, keytab_principals

from .errors import StartError

__all__ = ("KeytabError", "principals", "expected_principal")


class KeytabError(StartError):
    """The file is not a keytab, or not the keytab this worker expects."""


def principals(path: str) -> List[str]:
    """The distinct principals of a keytab, sorted by name.

    :raises KeytabError: when the file is not a keytab or holds no key
    :raises OSError: when it cannot be read
    """
    try:
        names = sorted(set(keytab_principals(path)))
    except KeytabFormatError as error:
        raise KeytabError("%s is not a keytab file (%s)" % (path, error)) from None
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
