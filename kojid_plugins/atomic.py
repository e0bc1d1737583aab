"""Replace a file atomically: readers see the old content or the new, never half.

A thin front to :func:`orch_bridge.files.write_atomic`, which also
writes the files orch hands out, so both share one careful writer.
"""

from __future__ import annotations

from orch_bridge.files import fsync_directory as fsync_dir
from orch_bridge.files import write_atomic as _write_chunks

__all__ = ("write_atomic", "fsync_dir")


def write_atomic(path: str, data: bytes, mode: int = 0o600, sync: bool = False) -> None:
    """Write ``data`` beside ``path``, then rename it over.

    :param mode: the file's mode (the temporary file is 0600 until then)
    :param sync: flush the data and the directory to disk first (power loss)
    """
    _write_chunks(path, [data], mode=mode, sync=sync)
