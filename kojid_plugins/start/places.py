"""The files and directories the variables name, checked before orch or the hub is asked.

:func:`read_environment <.environment.read_environment>` checks each
variable's form; this module checks what the values point at on this
machine: ``KOJID_PLUGINS_CONFDIR`` is a directory, ``KOJID_COMMAND``'s
first word is an executable file (found through ``PATH`` when it names no
directory) and ``KOJID_CONF`` can be written in its directory.  A mistake
raises :class:`ConfigProblem` (exit 78) with one line naming the variable.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Mapping, Optional

from .environment import WorkerEnv
from .errors import ConfigProblem

__all__ = ("check_places", "find_command")


def find_command(word: str, search_path: str) -> str:
    """The executable ``word`` runs: itself when it has a ``/``, else found on the path.

    :param word: the command's first word
    :param search_path: ``PATH``
    :returns: the executable's path
    :raises ConfigProblem: naming ``KOJID_COMMAND`` and what is wrong
    """
    if "/" not in word:
        found = shutil.which(word, path=search_path)
        if found is None:
            raise ConfigProblem("KOJID_COMMAND: %r is not an executable on PATH (%s)"
                                % (word, search_path))
        return found
    if not os.path.exists(word):
        raise ConfigProblem("KOJID_COMMAND: %s does not exist" % word)
    if not os.path.isfile(word):
        raise ConfigProblem("KOJID_COMMAND: %s is not a file" % word)
    if not os.access(word, os.X_OK):
        raise ConfigProblem("KOJID_COMMAND: %s is not executable" % word)
    return word


def _confdir(path: str) -> None:
    if not os.path.exists(path):
        raise ConfigProblem("KOJID_PLUGINS_CONFDIR: directory %s does not exist" % path)
    if not os.path.isdir(path):
        raise ConfigProblem("KOJID_PLUGINS_CONFDIR: %s is not a directory" % path)


def _writable_dir(variable: str, path: str) -> None:
    """A file can be made beside ``path`` (tried: root passes every access check)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        raise ConfigProblem("%s: cannot write %s: directory %s does not exist"
                            % (variable, path, directory))
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".koji-worker-probe-"):
            pass
    except OSError as error:
        raise ConfigProblem("%s: cannot write %s: %s" % (
            variable, path, error.strerror or error)) from None


def check_places(env: WorkerEnv, environ: Optional[Mapping[str, str]] = None) -> None:
    """Check the plugins' directory, kojid's executable and where kojid.conf goes.

    :param env: the checked variables
    :param environ: the environment whose ``PATH`` finds kojid (default ``os.environ``)
    :raises ConfigProblem: naming the first variable at fault
    """
    environ = os.environ if environ is None else environ
    _confdir(env["KOJID_PLUGINS_CONFDIR"])
    find_command(env["KOJID_COMMAND"][0], environ.get("PATH", os.defpath))
    _writable_dir("KOJID_CONF", env["KOJID_CONF"])
