"""A small tmpfs of the runner's own, to make the journal's disk fail.

The runner runs as root (CI does), mounts a tmpfs of a few kB on a
directory inside its own world, and fills it (``ENOSPC``) or remounts it
read-only (``EROFS``): the kernel's own answers, no LD_PRELOAD.  Root
ignores directory permissions, so a chmod would not do.  The mount is
removed at the end of the scenario.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

__all__ = ("TmpfsMount",)


class TmpfsMount:
    """A tmpfs of ``size_kb`` mounted on ``path`` (created)."""

    def __init__(self, path: Path, size_kb: int = 64) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.filler = self.path / "filler"
        _run("mount", "-t", "tmpfs", "-o", "size=%dk,mode=0700" % size_kb, "chaos-journal",
             str(self.path))
        self.mounted = True

    def fill(self) -> None:
        """Write until the file system is full."""
        descriptor = os.open(str(self.filler), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(descriptor, b"\0" * 1024)
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
        finally:
            os.close(descriptor)

    def unfill(self) -> None:
        os.unlink(self.filler)

    def read_only(self, on: bool) -> None:
        _run("mount", "-o", "remount,%s" % ("ro" if on else "rw"), str(self.path))

    def remove(self) -> None:
        if self.mounted:
            _run("umount", "-l", str(self.path))
            self.mounted = False


def _run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), result.stderr.strip()))
