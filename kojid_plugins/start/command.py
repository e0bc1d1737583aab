"""Start this worker: identity from orch, kojid.conf, kojid; drain on SIGTERM.

``koji-worker start`` is the worker container's entrypoint.  In order:
check every variable, the files and directories they name, the plugins
and their configuration, and a first
rendering of kojid.conf (a mistake stops it here, before orch or the hub
is asked anything); install orch's CA certificate when a URL is https;
check the worker keytab out of orch and read its principal; wait until
the hub knows the host; write kojid.conf; run kojid and wait.  When it
stops (SIGTERM drain, or kojid exiting) every lease the journal still
lists and the worker keytab are released in parallel before it exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from typing import Dict, List, Optional

from orch_bridge import OrchClient

from ..context import CONF_DIR_ENV
from ..drain import DRAIN_FILE_ENV
from ..orch_settings import read_settings
from . import plugins as plugin_checks
from .ca import install_ca
from .environment import WorkerEnv, read_environment
from .errors import StartError, Stopped
from .kerberos import install_krb5_conf
from .places import check_places
from .identity import Identity, check_out_identity, give_back
from .registration import wait_for_host
from .releases import Lease, journal_leases, release_all, remove_file
from .render import placeholder_values, render, write_conf
from .supervise import Supervisor

__all__ = ("add_arguments", "run")

logger = logging.getLogger("koji_worker.start")

PREFIX = "koji-worker start"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Settings come from the environment (see 'Worker image' in the "
                     "README); there are no options.")


def _setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(
        "%(asctime)s " + PREFIX + ": %(levelname)s %(message)s"))
    for name in ("koji_worker", "orch_bridge"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


class Plan:
    """What the checks decided: plugins, paths, the journal."""

    def __init__(self, env: WorkerEnv) -> None:
        self.env = env
        self.plugins = plugin_checks.plugin_list(env["KOJI_WORKER_PLUGINS"])
        self.pluginpath = plugin_checks.pluginpath()
        os.environ[CONF_DIR_ENV] = env["KOJID_PLUGINS_CONFDIR"]
        plugin_checks.check_plugins(self.plugins, self.pluginpath,
                                    env["KOJID_PLUGINS_CONFDIR"])
        self.journal_dir: Optional[str] = None
        if "orch_resources" in self.plugins:
            self.journal_dir = read_settings().orch["journal_dir"]

    def conf_text(self, principal: str, serverca: str) -> str:
        values = placeholder_values(self.env, principal, self.plugins, self.pluginpath,
                                    serverca)
        text, _items = render(self.env["KOJID_CONF_TEMPLATE"], values, self.env.options)
        return text

    def kojid_argv(self) -> List[str]:
        return (list(self.env["KOJID_COMMAND"]) + ["-c", self.env["KOJID_CONF"], "--fg"]
                + list(self.env["BUILDER_ARGS"]))

    def kojid_environ(self) -> Dict[str, str]:
        environ = dict(os.environ)
        environ[DRAIN_FILE_ENV] = self.env.drain_file
        environ[CONF_DIR_ENV] = self.env["KOJID_PLUGINS_CONFDIR"]
        install_krb5_conf(self.env, environ)
        return environ


def _prepare(plan: Plan, client: OrchClient) -> Identity:
    """CA, keytab, hub registration, kojid.conf; the keytab is given back on failure."""
    env = plan.env
    # a stand-in principal: template and option mistakes stop us before orch is asked
    plan.conf_text("worker/check@" + env["KRB5_REALM"], env["KOJI_WORKER_CA_FILE"])
    serverca = install_ca(env, client)
    hub_ca = serverca if env["KOJI_HUB_URL"].startswith("https://") else ""
    identity = check_out_identity(env, client)
    try:
        host = wait_for_host(env["KOJI_HUB_URL"], identity.principal,
                             env["KOJI_WORKER_REGISTER_TIMEOUT"],
                             {"serverca": hub_ca} if hub_ca else None)
        write_conf(env["KOJID_CONF"], plan.conf_text(identity.principal, hub_ca))
    except StartError as error:
        give_back(env, identity.uuid, identity.keytab)
        raise StartError("%s; the worker keytab was given back to orch" % error,
                         error.status) from None
    logger.info("wrote %s for host %s (plugins: %s)", env["KOJID_CONF"], host,
                " ".join(plan.plugins))
    return identity


def _state_dir(env: WorkerEnv) -> None:
    try:
        os.makedirs(env["KOJI_WORKER_STATE_DIR"], mode=0o700, exist_ok=True)
    except OSError as error:
        raise StartError("KOJI_WORKER_STATE_DIR: cannot create %s: %s"
                         % (env["KOJI_WORKER_STATE_DIR"], error.strerror or error)) from None
    remove_file(env.drain_file)


def _serve(plan: Plan, identity: Identity) -> int:
    """Run kojid to its end, then give everything back."""
    env = plan.env
    try:
        supervisor = Supervisor(plan.kojid_argv(), plan.kojid_environ(), env,
                                plan.journal_dir)
        supervisor.start()
    except StartError:
        give_back(env, identity.uuid, identity.keytab)
        raise
    except OSError as error:
        give_back(env, identity.uuid, identity.keytab)
        raise StartError("KOJID_COMMAND: cannot run %s: %s"
                         % (plan.kojid_argv()[0], error.strerror or error)) from None
    outcome = supervisor.run()
    leases = journal_leases(plan.journal_dir) + [Lease(identity.uuid, "worker keytab")]
    results = release_all(leases, env["ORCH_SERVICE_URL"], env["ORCH_SOURCE_ADDRESS"],
                          outcome.release_deadline, plan.journal_dir)
    remove_file(identity.keytab)
    remove_file(env.drain_file)
    given_back = all(r in ("released", "not held") for r in results.values())
    logger.info("%s: kojid exited with status %d; %d of %d release(s) done",
                "drained" if outcome.drained else "stopped", outcome.status,
                sum(r in ("released", "not held") for r in results.values()), len(results))
    if outcome.drained:
        return 0 if outcome.status == 0 and given_back else 1
    return outcome.status if outcome.status > 0 else 1


def _stop_before_kojid(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    """The subcommand: 0 after a clean drain, else the failure's status."""
    _setup_logging()
    # until kojid runs, a stop signal ends the start-up (the keytab is given back)
    signal.signal(signal.SIGTERM, _stop_before_kojid)
    signal.signal(signal.SIGINT, _stop_before_kojid)
    try:
        env = read_environment()
        check_places(env)
        plan = Plan(env)
        _state_dir(env)
        client = OrchClient(env["ORCH_SERVICE_URL"], timeout=10.0, retries=3,
                            source_address=env["ORCH_SOURCE_ADDRESS"] or None)
        with client:
            identity = _prepare(plan, client)
        return _serve(plan, identity)
    except StartError as error:
        sys.stderr.write("%s: %s\n" % (PREFIX, error))
        return error.status
