"""A worker for tests and the demo: the kojid runner with our plugins.

:class:`Worker` writes a kojid.conf and the plugins' ``NAME.conf`` files
into its own directory, starts ``python -m tests.doubles.kojid_runner``
as a subprocess (so forks, signals and exit codes are real), and offers
waits on its log.  Everything stays under the given base directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional

from kojid_plugins import dropins

ROOT = Path(__file__).resolve().parents[2]
EXTRA_PLUGINS = ROOT / "tests" / "plugins"


def wait_until(predicate: Callable[[], object], timeout: float = 30.0,
               interval: float = 0.1, what: str = "condition") -> object:
    """Poll ``predicate`` until it is truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(interval)


class Worker:
    """One kojid runner process and its files.

    :param base: a directory of its own
    :param hub_url: the hub simulator's URL
    :param name: the host's user name on the hub
    :param password: its password
    :param plugins: plugin names for ``plugins =``
    :param confs: plugin name -> text of its ``NAME.conf``
    :param kojid: extra ``[kojid]`` options
    :param env: extra environment
    :param keytab: log in with this keytab (GSSAPI, as kojid does with
        ``keytab``/``krb_principal``) instead of the password
    :param principal: the keytab's principal (``krb_principal``)
    :param serverca: CA file for an https hub (kojid's ``serverca``)

    With a keytab, kojid.conf gets ``keytab``, ``krb_principal``,
    ``serverca`` and a ``ccache`` of the worker's own, and no user or
    password; pass the realm's variables in ``env`` (``Realm.env``).
    """

    def __init__(self, base: Path, hub_url: str, name: str, password: Optional[str] = None,
                 plugins: Iterable[str] = ("orch_resources",),
                 confs: Optional[Dict[str, str]] = None,
                 kojid: Optional[Dict[str, str]] = None,
                 env: Optional[Dict[str, str]] = None,
                 keytab: Optional[str] = None, principal: Optional[str] = None,
                 serverca: Optional[str] = None) -> None:
        if keytab is None and password is None:
            raise ValueError("worker %s needs a password or a keytab" % name)
        if keytab is not None and not principal:
            raise ValueError("worker %s: a keytab login needs its principal" % name)
        self.base = Path(base)
        self.name = name
        self.hub_url = hub_url
        self.password = password
        self.keytab = keytab
        self.principal = principal
        self.serverca = serverca
        self.plugins = list(plugins)
        self.confs = dict(confs or {})
        self.kojid = dict(kojid or {})
        self.env = dict(env or {})
        self.proc: Optional[subprocess.Popen] = None
        self.log_path = self.base / "kojid.log"
        self.conf_dir = self.base / "plugins"
        self.topdir = self.base / "topdir"

    # -- files -----------------------------------------------------------------

    def kojid_conf(self) -> str:
        options = {
            "server": self.hub_url,
            "topurl": "http://127.0.0.1:9/kojifiles",
            "topdir": str(self.topdir),
            "workdir": str(self.base / "work"),
            "mockdir": str(self.base / "mock"),
            "sleeptime": "1",
            "maxjobs": "5",
            "minspace": "1",
            "pluginpath": "%s:%s" % (dropins.path(), EXTRA_PLUGINS),
            "log_level": "INFO",
        }
        options.update(self._credentials())
        if self.plugins:
            options["plugins"] = " ".join(self.plugins)
        options.update(self.kojid)
        lines = ["[kojid]"] + ["%s = %s" % item for item in options.items()]
        return "\n".join(lines) + "\n"

    def _credentials(self) -> Dict[str, str]:
        """The login keys of kojid.conf: user/password, or a keytab."""
        if self.keytab is None:
            creds = {"user": self.name, "password": str(self.password)}
        else:
            creds = {"keytab": str(self.keytab), "krb_principal": str(self.principal),
                     "ccache": str(self.base / "krb5cc")}
        if self.serverca:
            creds["serverca"] = str(self.serverca)
        return creds

    def write(self) -> Path:
        for sub in ("work", "mock", "topdir", "plugins"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        conf = self.base / "kojid.conf"
        conf.write_text(self.kojid_conf())
        for plugin, text in self.confs.items():
            (self.conf_dir / (plugin + ".conf")).write_text(text)
        return conf

    # -- the process -------------------------------------------------------------

    def start(self, *args: str) -> "Worker":
        conf = self.write()
        env = dict(os.environ)
        env.update({"KOJID_PLUGINS_CONFDIR": str(self.conf_dir),
                    "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
        env.update(self.env)
        log = open(self.log_path, "ab")
        # --fg --force-lock: as koji's own kojid.service starts kojid
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.doubles.kojid_runner", "-c", str(conf), "--fg",
             "--force-lock", *args], cwd=str(ROOT), env=env, stdout=log,
            stderr=subprocess.STDOUT)
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as a container runtime stops kojid; the exit status."""
        if not self.running():
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL kojid alone; its task children live on, as they would."""
        if self.running():
            self.proc.kill()
            self.proc.wait(10)

    def children(self) -> list:
        """Pids of kojid's task children (each leads its own process group)."""
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/stat" % name, "rb") as stat:
                        ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if self.proc is not None and ppid == self.proc.pid:
                    found.append(int(name))
        return found

    def kill_all(self) -> None:
        """SIGKILL kojid and every task child it has (test teardown)."""
        children = self.children()
        self.kill()
        for pid in children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass

    def wait(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    # -- its log -------------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern: str, timeout: float = 30.0, count: int = 1) -> str:
        """Wait until ``pattern`` (a regex) appears ``count`` times in the log."""
        regex = re.compile(pattern)

        def found() -> bool:
            if not self.running() and len(regex.findall(self.log())) < count:
                raise AssertionError("worker %s exited (%s) before %r appeared:\n%s" % (
                    self.name, self.proc.returncode, pattern, self.log()[-3000:]))
            return len(regex.findall(self.log())) >= count

        wait_until(found, timeout, what="%r in the log of %s" % (pattern, self.name))
        return self.log()
