"""A private podman service for tests, brought up by ``tools/podman-env.sh``.

:func:`podman_env_up` runs ``tools/podman-env.sh up`` once per process
and returns a :class:`PodmanEnv`: the service's socket URL, the test
image and the configuration files the script wrote.
:func:`podman_env_down` stops the service again, but only when this
process started it.

The state directory is ``$KOJI_PODMAN_STATE`` when set, else the
script's default (``/var/tmp/koji-worker-podman``).  The first ``up`` on
a machine installs podman and builds the image (about two minutes);
later ones take well under a second.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Dict, NamedTuple, Optional

#: the script this module drives
SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "podman-env.sh"

#: the longest a first ``up`` (apt-get, debootstrap, import) may take
UP_TIMEOUT = 900.0

class PodmanEnvError(RuntimeError):
    """``tools/podman-env.sh`` failed; the message holds its output."""


class PodmanEnv(NamedTuple):
    """What ``tools/podman-env.sh up`` reported."""

    #: the service socket, ``unix:///.../podman.sock``
    url: str
    #: the test image, ``localhost/koji-buildroot-test:latest``
    image: str
    #: the containers.conf the service runs with
    containers_conf: str
    #: the storage.conf the service runs with
    storage_conf: str
    #: the service's pid
    pid: int
    #: whether this ``up`` started the service (else it was running)
    started: bool

    def plugin_conf(self, timeout: float = 60, cpus: float = 1, memory_mb: int = 512,
                    pids: int = 512, sections: Optional[Dict[str, str]] = None) -> str:
        """A ``container_buildroot.conf`` for this service, its test image as the
        default (``localhost/*`` allowed), the limits given, then ``sections``
        (name -> body) as they are."""
        text = ("[podman]\nsocket = %s\ntimeout = %g\n\n[images]\ndefault = %s\n"
                "allowed = localhost/*\n\n[limits]\ncpus = %g\nmemory_mb = %d\npids = %d\n"
                % (self.url, timeout, self.image, cpus, memory_mb, pids))
        for section, body in (sections or {}).items():
            text += "\n[%s]\n%s\n" % (section, body)
        return text


_current: Optional[PodmanEnv] = None


def _run(command: str, state: Optional[str], timeout: float,
         cwd: Optional[str] = None) -> str:
    """Run the script with *command* (from *cwd*); return its stdout.

    :raises PodmanEnvError: when it exits non-zero or times out
    """
    args = [str(SCRIPT)]
    state = state or os.environ.get("KOJI_PODMAN_STATE")
    if state:
        args += ["--state", state]
    args.append(command)

    try:
        done = subprocess.run(args, capture_output=True, text=True, cwd=cwd,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PodmanEnvError("%s %s: no end after %.0f s"
                             % (SCRIPT.name, command, timeout)) from exc

    if done.returncode != 0:
        raise PodmanEnvError("%s %s exited %d:\n%s%s"
                             % (SCRIPT.name, command, done.returncode,
                                done.stdout, done.stderr))
    return done.stdout


def _parse(output: str) -> Dict[str, str]:
    """The ``KEY=VALUE`` lines of *output* as a dict."""
    values = {}
    for line in output.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def podman_env_up(state: Optional[str] = None) -> PodmanEnv:
    """Bring the service up once per process and describe it.

    :param state: the state directory, else ``$KOJI_PODMAN_STATE`` or the
        script's default
    :raises PodmanEnvError: when the script fails
    """
    global _current
    if _current is not None:
        return _current

    values = _parse(_run("up", state, UP_TIMEOUT))
    try:
        _current = PodmanEnv(
            url=values["PODMAN_SOCKET"],
            image=values["PODMAN_IMAGE"],
            containers_conf=values["CONTAINERS_CONF"],
            storage_conf=values["CONTAINERS_STORAGE_CONF"],
            pid=int(values["PODMAN_PID"]),
            started=values["PODMAN_STARTED"] == "yes")
    except (KeyError, ValueError) as exc:
        raise PodmanEnvError("unexpected output of %s up: %r"
                             % (SCRIPT.name, values)) from exc
    return _current


def podman_env_down(state: Optional[str] = None) -> None:
    """Stop the service if :func:`podman_env_up` started it here.

    :param state: the state directory given to :func:`podman_env_up`
    :raises PodmanEnvError: when the script fails
    """
    global _current
    env, _current = _current, None
    if env is not None and env.started:
        _run("down", state, 60.0)


def podman_service_stop(state: Optional[str] = None) -> None:
    """Stop the service (containers live on under conmon), as an upgrade or
    a crash would; :func:`podman_service_start` brings it back."""
    _run("down", state, 60.0)


def podman_service_start(state: Optional[str] = None, cwd: Optional[str] = None) -> None:
    """Start the service again after :func:`podman_service_stop`, with the
    script run from *cwd*.

    Whether the session stops it at its end is unchanged.
    """
    global _current
    values = _parse(_run("up", state, UP_TIMEOUT, cwd=cwd))
    if _current is not None:
        _current = _current._replace(pid=int(values["PODMAN_PID"]))
