"""A certificate authority made in the test, with the ``openssl`` command.

    ca = TestCA(tmp_path / "ca").create()
    cert, key = ca.server_cert("hub", hosts=("localhost", "127.0.0.1"))
    session = koji.ClientSession(url, {"serverca": ca.cert})

koji's ``gssapi_login`` always switches the hub URL to https, so a hub that
accepts Kerberos must speak TLS; clients verify it against :attr:`TestCA.cert`.
Keys are 2048-bit RSA, certificates valid for a day; private keys are 0600.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from pathlib import Path
from typing import Iterable, Tuple, Union

PathLike = Union[str, "os.PathLike[str]"]


class CAError(Exception):
    """openssl failed; the message holds its command and output."""


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise CAError("openssl %s failed: %s" % (args[0], proc.stderr.strip()))


def _san(hosts: Iterable[str]) -> str:
    entries = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            entries.append("IP:%s" % host)
        except ValueError:
            entries.append("DNS:%s" % host)
    return ",".join(entries)


class TestCA:
    """A CA key and self-signed CA certificate under ``base_dir``."""

    __test__ = False  # not a pytest test class

    def __init__(self, base_dir: PathLike) -> None:
        self.base_dir = Path(base_dir)
        self.cert = str(self.base_dir / "ca.crt")
        self.key = str(self.base_dir / "ca.key")

    def create(self) -> "TestCA":
        """Make the CA key and certificate (once; a second call keeps them)."""
        if os.path.exists(self.cert):
            return self
        self.base_dir.mkdir(parents=True, exist_ok=True)
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                 "-subj", "/CN=koji-worker test CA", "-keyout", self.key,
                 "-out", self.cert, "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        os.chmod(self.key, 0o600)
        return self

    def server_cert(self, name: str, hosts: Iterable[str] = ("localhost", "127.0.0.1")
                    ) -> Tuple[str, str]:
        """A server certificate for ``hosts`` signed by this CA: (cert, key)."""
        hosts = list(hosts)
        if not hosts:
            raise CAError("a server certificate needs at least one host name")
        self.create()
        cert = str(self.base_dir / ("%s.crt" % name))
        key = str(self.base_dir / ("%s.key" % name))
        csr = str(self.base_dir / ("%s.csr" % name))
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj",
                 "/CN=%s" % hosts[0], "-keyout", key, "-out", csr)
        os.chmod(key, 0o600)
        ext = self.base_dir / ("%s.ext" % name)
        ext.write_text("subjectAltName=%s\nextendedKeyUsage=serverAuth\n"
                       "basicConstraints=CA:FALSE\n" % _san(hosts))
        _openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                 "-CAcreateserial", "-days", "1", "-out", cert, "-extfile", str(ext))
        return cert, key
