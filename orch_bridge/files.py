"""Safe file names and atomic, private file writes.

Files fetched from orch are secrets (keytabs, private keys).  They are
written under a temporary name in the target directory, created 0600
from the start, synced, renamed over the final name and the directory is
synced, so a reader sees either the old file or the whole new one.  A
file name that could land outside the target directory is refused
before anything touches the disk.
"""

from __future__ import annotations

import errno
import os
import tempfile
from typing import Iterable, Optional

from .errors import UnsafeResourceName

__all__ = ("name_problem", "safe_target", "ensure_directory", "write_atomic",
           "fsync_directory")

#: longest file name (in UTF-8 bytes) most file systems accept
MAX_NAME_BYTES = 255

_SEPARATORS = tuple(sep for sep in ("/", "\\", os.sep, os.altsep) if sep)


def name_problem(name: object) -> Optional[str]:
    """Say why ``name`` is not a safe plain file name, or ``None`` if it is.

    A safe name is a non-empty string with no path separator, no ``..``,
    no NUL or other control character, that is not absolute and fits in
    255 bytes.

    :param name: the candidate file name
    :returns: the broken rule, or ``None``
    """
    if not isinstance(name, str):
        return "not a string"
    if not name:
        return "empty"
    if "\x00" in name:
        return "contains NUL"
    if os.path.isabs(name) or name.startswith(_SEPARATORS):
        return "absolute path"
    if any(sep in name for sep in _SEPARATORS):
        return "contains a path separator"
    if ".." in name:
        return "contains '..'"
    if name == ".":
        return "names the directory itself"
    if any(not ch.isprintable() for ch in name):
        return "contains a control character"
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if size > MAX_NAME_BYTES:
        return "longer than %d bytes" % MAX_NAME_BYTES
    return None


def safe_target(directory: str, name: object, *, from_server: bool = True,
                uuid: Optional[str] = None, operation: Optional[str] = None) -> str:
    """Join ``directory`` and ``name`` after checking the result stays inside.

    :param directory: the directory the file must land in
    :param name: the file name, from orch or from the caller
    :param from_server: whether orch supplied ``name`` (for the message)
    :param uuid: the resource, for the message
    :param operation: the call, for the message
    :returns: the path of the file inside ``directory``
    :raises UnsafeResourceName: when ``name`` breaks a rule or the path
        would resolve outside ``directory``
    """
    why = name_problem(name)
    if why:
        raise UnsafeResourceName(name, why, from_server=from_server, uuid=uuid,
                                 operation=operation)
    base = os.path.realpath(directory)
    if os.path.dirname(os.path.realpath(os.path.join(base, str(name)))) != base:
        raise UnsafeResourceName(name, "resolves outside %s" % directory,
                                 from_server=from_server, uuid=uuid, operation=operation)
    return os.path.join(os.path.abspath(directory), str(name))


def ensure_directory(directory: str, mode: int = 0o700) -> None:
    """Create ``directory`` with ``mode`` if it does not exist.

    An existing directory is left as it is.

    :param directory: the directory to create
    :param mode: its permission bits (set exactly, whatever the umask)
    :raises NotADirectoryError: when it, or the nearest of its parents
        that exists, is not a directory (that one is the error's
        ``filename``)
    :raises OSError: when it cannot be created
    """
    if os.path.isdir(directory):
        return
    existing = os.path.abspath(directory)
    while not os.path.lexists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise NotADirectoryError(errno.ENOTDIR, "%s is not a directory" % existing, existing)
    os.makedirs(directory, mode=mode, exist_ok=True)
    os.chmod(directory, mode)


def fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(target: str, chunks: Iterable[bytes], mode: int = 0o600,
                 sync: bool = True) -> int:
    """Write ``chunks`` to ``target`` atomically.

    The temporary file is created 0600 in ``target``'s directory (so it
    is never readable by others, not even briefly) and changed to
    ``mode`` before the rename.  On any error, including one raised by
    ``chunks``, it is removed and ``target`` is left untouched.

    :param target: the final path; its directory must exist
    :param chunks: the content, as an iterable of byte strings
    :param mode: the final permission bits
    :param sync: flush the file and its directory to disk (power loss);
        without it the rename still survives any process's death
    :returns: the number of bytes written
    :raises OSError: when writing, syncing or renaming fails
    """
    if os.path.lexists(target) and (os.path.islink(target) or not os.path.isfile(target)):
        # never replace a device, a directory or a link (think /dev/null)
        raise IsADirectoryError(errno.EEXIST, "not a regular file, refusing to replace it",
                                target) if os.path.isdir(target) else \
            FileExistsError(errno.EEXIST, "not a regular file, refusing to replace it", target)
    directory = os.path.dirname(target) or "."
    fd, temp = tempfile.mkstemp(prefix=".orch-", suffix=".part", dir=directory)
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
                size += len(chunk)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            if sync:
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if sync:
        fsync_directory(directory)
    return size
