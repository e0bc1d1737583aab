"""A throwaway MIT Kerberos realm for tests, built on k5test's K5Realm.

    realm = Realm(tmp_path / "kdc").start()
    realm.add_principal("worker/builder-1", keytab_path=tmp_path / "w.keytab")
    subprocess.run(["kinit", "-k", "-t", keytab, principal], env=realm.env)
    realm.stop()

Everything (krb5.conf, kdc.conf, database, stash, logs) lives under
``base_dir``.  The KDC (``krb5kdc``, Debian's krb5-kdc package) listens on
127.0.0.1 only, on a free port picked at start; no kadmind runs: principals
are made with ``kadmin.local`` straight on the database.  krb5.conf turns
off DNS and reverse-DNS canonicalization, so a client asks for exactly the
service principal of the host name in its URL (``HTTP/localhost``).

Subprocesses get the realm through :attr:`Realm.env`.  Code in the test
process itself (the simulators accept GSSAPI in their server threads) reads
``os.environ``: :meth:`Realm.environ` is a context manager that sets
``KRB5_CONFIG``, ``KRB5_KDC_PROFILE``, ``KRB5RCACHEDIR`` and ``KRB5CCNAME``
(the realm's own ccache) there and puts the old values back on exit; the
``kdc`` fixture holds it for the test.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import subprocess
from pathlib import Path
from typing import Dict, Iterator, Optional, Union

from k5test import realm as k5realm

logger = logging.getLogger("tests.kdc")

#: the realm name tests use unless they ask for another
REALM_NAME = "KOJI.TEST"
#: host name of the acceptor principal the simulators serve under
SERVICE_HOST = "localhost"
#: variables :meth:`Realm.environ` sets in the test process
PROCESS_VARS = ("KRB5_CONFIG", "KRB5_KDC_PROFILE", "KRB5RCACHEDIR", "KRB5CCNAME")

PathLike = Union[str, "os.PathLike[str]"]

_LOOPBACK_KRB5 = {
    "libdefaults": {
        "dns_lookup_kdc": "false",
        "dns_lookup_realm": "false",
        "dns_canonicalize_hostname": "false",
        "rdns": "false",
    },
    "realms": {"$realm": {
        "kdc": "127.0.0.1:$port0",
        "admin_server": "127.0.0.1:$port1",
        "kpasswd_server": "127.0.0.1:$port2",
    }},
}

_LOOPBACK_KDC = {
    "realms": {"$realm": {
        # kdc_listen replaces the all-address kdc_ports of k5test
        "kdc_ports": None,
        "kdc_tcp_ports": None,
        "kdc_listen": "127.0.0.1:$port0",
        "kdc_tcp_listen": "127.0.0.1:$port0",
        "kadmind_listen": "127.0.0.1:$port1",
        "kpasswd_listen": "127.0.0.1:$port2",
    }},
}


class RealmError(Exception):
    """A realm operation failed; the message names it and the tool's output."""


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_portbase(tries: int = 50) -> int:
    """A base port with base..base+4 free on 127.0.0.1 (TCP and UDP)."""
    for _ in range(tries):
        base = random.randrange(20000, 60000, 10)
        if all(_port_free(base + n) for n in range(5)):
            return base
    raise RealmError("no free block of 5 loopback ports found for the KDC")


class Realm:
    """One MIT realm with its KDC; see the module docstring.

    :param base_dir: a directory of its own (created if missing)
    :param name: the realm name
    """

    def __init__(self, base_dir: PathLike, name: str = REALM_NAME) -> None:
        self.base_dir = Path(base_dir)
        self.name = name
        self._k5: Optional[k5realm.K5Realm] = None

    # -- life ------------------------------------------------------------------

    def start(self) -> "Realm":
        """Create the database, the acceptor keytab, and start the KDC."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        k5 = k5realm.K5Realm(realm=self.name, portbase=free_portbase(),
                             existing=str(self.base_dir), get_creds=False)
        if k5.provider != "mit":
            raise RealmError("the test realm needs MIT Kerberos, found %s" % k5.provider)
        # existing= keeps k5test from making a temporary directory and from
        # deleting base_dir at stop; the set-up steps run here instead
        k5.env["KRB5CCNAME"] = "FILE:%s" % (self.base_dir / "ccache")
        k5._create_conf(k5realm._cfg_merge(k5._krb5_conf, _LOOPBACK_KRB5),
                        str(self.base_dir / "krb5.conf"))
        k5._create_conf(k5realm._cfg_merge(k5._kdc_conf, _LOOPBACK_KDC),
                        str(self.base_dir / "kdc.conf"))
        k5._create_acl()
        k5._create_dictfile()
        self._k5 = k5
        self._guard(k5.create_kdb, "create the realm database")
        self.add_principal(self.service_principal, keytab_path=self.service_keytab)
        self.start_kdc()
        logger.info("realm %s: KDC on 127.0.0.1:%d, files in %s",
                    self.name, self.kdc_port, self.base_dir)
        return self

    def stop(self) -> None:
        """Stop the KDC (by its pid); the files stay in base_dir."""
        if self._k5 is not None:
            if self.kdc_running:
                self.stop_kdc()
            self._k5 = None

    def stop_kdc(self) -> None:
        """Stop the KDC only (a "KDC is down" test); the realm stays usable."""
        self._started().stop_kdc()
        logger.info("realm %s: KDC stopped", self.name)

    def start_kdc(self) -> None:
        """(Re)start the KDC on the realm's port."""
        self._guard(self._started().start_kdc, "start krb5kdc")

    @property
    def kdc_running(self) -> bool:
        return self._k5 is not None and self._k5._kdc_proc is not None

    @property
    def kdc_pid(self) -> Optional[int]:
        return self._k5._kdc_proc.pid if self.kdc_running else None

    @property
    def kdc_port(self) -> int:
        return self._started().portbase

    # -- what clients need -------------------------------------------------------

    @property
    def env(self) -> Dict[str, str]:
        """Variables for a subprocess using this realm (a fresh copy each time).

        KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME (the realm's own ccache;
        give concurrent clients one each), KRB5_KTNAME, KRB5_CLIENT_KTNAME,
        KRB5RCACHEDIR.
        """
        return dict(self._started().env)

    def subprocess_env(self, **overrides: str) -> Dict[str, str]:
        """``os.environ`` with :attr:`env` and ``overrides`` on top."""
        env = dict(os.environ)
        env.update(self.env)
        env.update(overrides)
        return env

    @contextlib.contextmanager
    def environ(self) -> Iterator["Realm"]:
        """Point this process's Kerberos library at the realm, then restore."""
        saved = {var: os.environ.get(var) for var in PROCESS_VARS}
        env = self.env
        os.environ.update({var: env[var] for var in PROCESS_VARS})
        try:
            yield self
        finally:
            for var, value in saved.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value

    @property
    def service_principal(self) -> str:
        """``HTTP/localhost@REALM``: the simulators' acceptor principal."""
        return "HTTP/%s@%s" % (SERVICE_HOST, self.name)

    @property
    def service_keytab(self) -> str:
        """Path of the acceptor keytab holding :attr:`service_principal`."""
        return str(self.base_dir / "http.keytab")

    def principal(self, name: str) -> str:
        """``name`` with ``@REALM`` added when it has no realm."""
        if not name or name.startswith("@") or name.endswith("@"):
            raise RealmError("not a principal name: %r" % name)
        return name if "@" in name else "%s@%s" % (name, self.name)

    # -- principals ----------------------------------------------------------------

    def kadmin_local(self, *args: str) -> str:
        """Run one ``kadmin.local`` query (its words as ``args``); its output."""
        if not args:
            raise RealmError("kadmin_local needs a query")
        k5 = self._started()
        proc = subprocess.run([k5.kadmin_local, "-q", " ".join(args)], env=k5.env,
                              capture_output=True, text=True, timeout=60)
        # kadmin.local exits 0 even when the query fails; errors go to stderr
        if proc.returncode != 0 or _kadmin_failed(proc.stderr):
            raise RealmError("kadmin.local %s failed: %s" % (
                " ".join(args), (proc.stderr or proc.stdout).strip()))
        return proc.stdout

    def add_principal(self, principal: str, keytab_path: Optional[PathLike] = None) -> str:
        """Create ``principal`` with a random key; optionally export a keytab.

        :param principal: with or without ``@REALM``
        :param keytab_path: where ``kadmin.local ktadd`` writes its keys
            (mode 0600); the principal's key is not changed again after
        :returns: the full principal name
        """
        full = self.principal(principal)
        self.kadmin_local("addprinc", "-randkey", full)
        logger.info("realm %s: principal %s created", self.name, full)
        if keytab_path is not None:
            self.export_keytab(full, keytab_path)
        return full

    def export_keytab(self, principal: str, keytab_path: PathLike) -> str:
        """Write the current keys of ``principal`` to a 0600 keytab file."""
        full = self.principal(principal)
        path = Path(keytab_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # -norandkey: exporting twice gives the same keys, older keytabs stay valid
        self.kadmin_local("ktadd", "-k", str(path), "-norandkey", full)
        os.chmod(str(path), 0o600)
        logger.info("realm %s: keytab for %s written to %s", self.name, full, path)
        return str(path)

    def has_principal(self, principal: str) -> bool:
        """Whether the database holds ``principal``."""
        try:
            self.kadmin_local("getprinc", self.principal(principal))
        except RealmError as error:
            if "does not exist" in str(error):
                return False
            raise
        return True

    # -- helpers ---------------------------------------------------------------------

    def _started(self) -> k5realm.K5Realm:
        if self._k5 is None:
            raise RealmError("realm %s is not started" % self.name)
        return self._k5

    def _guard(self, func, what: str) -> None:
        try:
            func()
        except Exception as error:  # k5test raises bare Exception
            log = self.base_dir / "kdc.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RealmError("realm %s: could not %s: %s\n%s"
                             % (self.name, what, error, tail)) from error

    def __enter__(self) -> "Realm":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _kadmin_failed(stderr: str) -> bool:
    """kadmin.local prints a warning on stderr for a missing policy; not an error."""
    lines = [line for line in stderr.splitlines()
             if line.strip() and "no policy specified" not in line.lower()
             and not line.startswith("Authenticating as principal")]
    return bool(lines)
