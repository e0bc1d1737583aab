"""Replace a file atomically: readers see the old content or the new, never half."""

from __future__ import annotations

import os
import tempfile

from orch_bridge.files import fsync_directory as fsync_dir

__all__ = ("write_atomic", "fsync_dir")


def write_atomic(path: str, data: bytes, mode: int = 0o600, sync: bool = False) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over.

    :param mode: the file's mode, set before any byte is written
    :param sync: flush the data and the directory to disk first (power loss)
    """
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fdatasync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if sync:
        fsync_dir(directory)

