"""Scaled worker keytabs, as Boxed Koji's orch makes them, in a test realm.

orch (``services/orch/app/common/resource_manager.py``) turns a checkout
of a ``worker`` resource into a per-container identity:

1. instance name: the container's compose service (label
   ``io.podman.compose.service``, else the resource's name) and its scale
   index, ``<service>-<index>`` (index 0 when the container has none);
2. principal ``worker/<instance>@REALM``, created with ``addprinc
   -randkey`` if the KDC lacks it (orch runs kadmin; here kadmin.local);
3. the keytab, exported once (``ktadd``) and kept in orch's keytab
   directory as ``<url-quoted principal>.keytab``; later checkouts serve
   the same file;
4. the koji host ``worker/<instance>``: orch's manage-koji-host.sh logs in
   to the hub with its own keytab and runs ``koji call getUser PRINCIPAL``,
   then ``koji add-host HOST ARCH --krb-principal PRINCIPAL`` when the hub
   knows no such user.  Here the stock ``koji`` CLI does the same, as
   ``orch/orch@REALM`` (a hub user with the ``host`` permission).

A failure in any step fails the checkout (orch: 500 "Failed to create
resource") and nothing stays checked out.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict
from urllib.parse import quote_plus

logger = logging.getLogger("orch_sim")

#: the principal orch logs in to the hub as
ORCH_PRINCIPAL = "orch/orch"


class ProvisionError(Exception):
    """A worker identity could not be made; the message names the step."""


def koji_cli() -> str:
    """The ``koji`` script installed beside the running interpreter."""
    return os.path.join(os.path.dirname(sys.executable), "koji")


class WorkerKeytabs:
    """Makes worker principals, keytabs and koji hosts for the simulator.

    :param realm: a started :class:`tests.doubles.kdc.Realm`
    :param hub: the :class:`~tests.doubles.hub_sim.HubSimulator` to
        register hosts on (it must accept Kerberos: ``kerberos=realm``)
    :param workdir: orch's data directory (keytabs, its CLI config)
    :param arches: the arches ``add-host`` gives new hosts
    """

    def __init__(self, realm: Any, hub: Any, workdir: Path, arches: str = "x86_64") -> None:
        if not getattr(hub, "serverca", None):
            raise ProvisionError("the hub at %s does not accept Kerberos logins; "
                                 "start it with kerberos=realm" % hub.url)
        self.realm = realm
        self.hub_url = hub.url
        self.arches = arches
        self.workdir = Path(workdir)
        self.keytab_dir = self.workdir / "keytabs"
        self.keytab_dir.mkdir(parents=True, exist_ok=True)
        keytab = self.workdir / "orch.keytab"
        self.orch_principal = realm.add_principal(ORCH_PRINCIPAL, keytab_path=keytab)
        hub.add_user("orch", None, perms=("host",), krb_principal=self.orch_principal)
        self.cli_conf = self.workdir / "koji.conf"
        self.cli_conf.write_text(
            "[koji]\nserver = %s\nserverca = %s\nauthtype = kerberos\n"
            "principal = %s\nkeytab = %s\n"
            % (hub.url, hub.serverca, self.orch_principal, keytab))

    @staticmethod
    def instance_name(resource_name: str, container: Dict[str, Any]) -> str:
        """``<service>-<scale index>`` of a container for a worker resource."""
        service = container.get("service") or resource_name
        index = container.get("scale_index")
        return "%s-%d" % (service, index if index is not None else 0)

    def provision(self, resource_name: str, container: Dict[str, Any]) -> bytes:
        """Principal, keytab and koji host for ``container``; the keytab bytes."""
        host = "worker/" + self.instance_name(resource_name, container)
        principal = self.realm.principal(host)
        try:
            if not self.realm.has_principal(principal):
                self.realm.add_principal(principal)
            keytab = self.keytab_dir / ("%s.keytab" % quote_plus(principal))
            if not keytab.exists():
                self.realm.export_keytab(principal, keytab)
        except Exception as error:
            raise ProvisionError("kadmin failed for %s: %s" % (principal, error)) from error
        self.register_host(host, principal)
        logger.info("orch-sim: worker keytab %s for container %s (host %s)",
                     principal, container.get("name"), host)
        return keytab.read_bytes()

    def register_host(self, host: str, principal: str) -> None:
        """``koji add-host`` unless the hub knows the principal already."""
        found = self._koji("call", "--json-output", "getUser", principal)
        if found.strip() != "null":
            logger.info("orch-sim: koji host for %s exists already", principal)
            return
        self._koji("add-host", host, self.arches, "--krb-principal", principal)
        logger.info("orch-sim: koji host %s added for %s", host, principal)

    def _koji(self, *args: str) -> str:
        env = self.realm.subprocess_env(
            HOME=str(self.workdir), KRB5CCNAME="FILE:%s" % (self.workdir / "orch-cc"))
        proc = subprocess.run([koji_cli(), "-c", str(self.cli_conf), *args], env=env,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise ProvisionError("koji %s failed: %s" % (
                " ".join(args), (proc.stderr or proc.stdout).strip()))
        return proc.stdout
