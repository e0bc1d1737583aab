"""``koji-worker start`` as a process, with the kojid runner as its kojid.

:class:`StartedWorker` lays out a worker's files in its own directory,
builds the environment the container would get (hub, orch, realm,
paths), runs ``python -m kojid_plugins.cli start`` with
``KOJID_COMMAND`` naming the kojid runner, and offers waits on its log
and a stop that behaves like a container runtime's (SIGTERM, then
SIGKILL after the stop timeout).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional

from tests.doubles.worker import wait_until

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "etc" / "koji-worker" / "kojid.conf.in"


class StartedWorker:
    """One ``koji-worker start`` process and its files.

    :param base: a directory of its own
    :param env: the variables for the command (see :meth:`environment`)
    :param confs: plugin name -> text of its ``NAME.conf``
    """

    def __init__(self, base: Path, env: Dict[str, str],
                 confs: Optional[Dict[str, str]] = None) -> None:
        self.base = Path(base)
        self.env = dict(env)
        self.confs = dict(confs or {})
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.base / "start.log"

    @staticmethod
    def environment(base: Path, hub_url: str, orch_url: str, realm: str, keytab_uuid: str,
                    source: str) -> Dict[str, str]:
        """The container's variables, every path inside ``base``."""
        base = Path(base)
        return {
            "KOJI_HUB_URL": hub_url, "KOJI_TOP_URL": "http://127.0.0.1:9/kojifiles",
            "KOJI_TOP_DIR": str(base / "topdir"), "ORCH_SERVICE_URL": orch_url,
            "ORCH_SOURCE_ADDRESS": source, "KRB5_REALM": realm,
            "KOJI_WORKER_KEYTAB": keytab_uuid, "BUILDER_MAX_JOBS": "3",
            "BUILDER_ARGS": "--force-lock",
            "KOJI_WORKER_REGISTER_TIMEOUT": "30",
            "KOJID_COMMAND": "%s -m tests.doubles.kojid_runner" % sys.executable,
            "KOJID_CONF": str(base / "etc" / "kojid.conf"),
            "KOJID_CONF_TEMPLATE": str(TEMPLATE),
            "KOJID_KEYTAB": str(base / "etc" / "kojid.keytab"),
            "KOJI_WORKER_CA_FILE": str(base / "etc" / "orch-ca.pem"),
            "KOJI_WORKER_STATE_DIR": str(base / "state"),
            "KOJID_PLUGINS_CONFDIR": str(base / "plugins"),
            "KOJID_OPT_SLEEPTIME": "1", "KOJID_OPT_MINSPACE": "1",
            "KOJID_OPT_WORKDIR": str(base / "work"), "KOJID_OPT_MOCKDIR": str(base / "mock"),
            "KOJID_OPT_CCACHE": str(base / "krb5cc"), "KOJID_OPT_LOG_LEVEL": "INFO",
        }

    def write(self) -> None:
        for sub in ("etc", "state", "plugins", "topdir", "work", "mock"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        for plugin, text in self.confs.items():
            (self.base / "plugins" / (plugin + ".conf")).write_text(text)

    def start(self) -> "StartedWorker":
        self.write()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
               "PYTHONUNBUFFERED": "1", "HOME": str(self.base)}
        env.update(self.env)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "kojid_plugins.cli", "start"],
                                     cwd=str(ROOT), env=env, stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop_like_runtime(self, timeout: float = 10.0) -> Optional[int]:
        """SIGTERM, then SIGKILL after ``timeout`` as podman stop does.

        :returns: the exit status, or ``None`` when it had to be killed
        """
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            return None

    def descendants(self) -> list:
        """Pids of every process below this one (kojid, its task children)."""
        parents: Dict[int, int] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name, "rb") as stat:
                        parents[int(name)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
        found, frontier = [], [self.proc.pid] if self.proc else []
        while frontier:
            pid = frontier.pop()
            kids = [child for child, parent in parents.items() if parent == pid]
            found.extend(kids)
            frontier.extend(kids)
        return found

    def kill_all(self) -> None:
        """SIGKILL this process and everything below it (test teardown)."""
        below = self.descendants()
        if self.running():
            self.proc.kill()
            self.proc.wait(10)
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 60.0) -> str:
        regex = re.compile(pattern)

        def found() -> bool:
            if regex.search(self.log()):
                return True
            if not self.running():
                raise AssertionError("koji-worker start exited (%s) before %r:\n%s" % (
                    self.proc.returncode, pattern, self.log()[-4000:]))
            return False

        wait_until(found, timeout, what="%r in %s" % (pattern, self.log_path))
        return self.log()
