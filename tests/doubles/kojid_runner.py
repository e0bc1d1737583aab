"""kojid runner: a test double standing in for stock kojid's script.

Stock kojid (koji's ``builder/kojid``) is not on PyPI, but everything it
runs a task with is: ``koji.daemon.TaskManager``, ``koji.tasks`` and
``koji.plugin.PluginTracker``.  This runner does what kojid's script
does around them, in the same order:

1. read kojid.conf with kojid's rules (unknown key or section: quit);
2. log in to the hub (user/password, or a keytab with GSSAPI), take an
   exclusive session and check it with ``echo``;
3. build the TaskManager, register the handlers of ``koji.tasks``, then
   load each plugin of ``plugins =`` from ``pluginpath`` with
   ``PluginTracker`` and ``TaskManager.scanPlugin``;
4. loop: ``updateBuildroots`` (when no task was just taken),
   ``updateTasks``, ``getNextTask``, sleep ``sleeptime`` unless a task was
   taken; SIGTERM ends the loop, SIGUSR1 asks for a graceful restart
   (re-exec in the same process);
5. ``TaskManager.shutdown()``, log out, exit 1 after an expired session
   or authentication error, else 0.

It handles no build tasks of kojid's own (build, buildArch, ...): only
the handlers in ``koji.tasks`` and those plugins bring.  Nothing in
``kojid_plugins`` may import this module.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from optparse import OptionParser
from typing import Any, List, Optional

import koji
import koji.daemon
import koji.plugin
import koji.tasks
import koji.util

from kojid_plugins import kojid_options

logger = logging.getLogger("koji.build")


def _parser() -> OptionParser:
    parser = OptionParser(prog="kojid")
    parser.add_option("-c", "--config", dest="configFile", default="/etc/kojid/kojid.conf")
    parser.add_option("--user")
    parser.add_option("--password")
    parser.add_option("-f", "--fg", dest="daemon", action="store_false", default=True)
    parser.add_option("--force-lock", action="store_true", default=False)
    parser.add_option("-v", "--verbose", action="store_true", default=False)
    parser.add_option("-d", "--debug", action="store_true", default=False)
    parser.add_option("--debug-task", action="store_true", default=False)
    parser.add_option("--skip-main", action="store_true", default=False)
    for name in ("maxjobs", "minspace", "sleeptime"):
        parser.add_option("--" + name, type="int")
    for name in ("topdir", "topurl", "workdir", "pluginpath", "mockdir", "mockuser"):
        parser.add_option("--" + name)
    parser.add_option("--plugin", action="append")
    parser.add_option("-s", "--server")
    return parser


def quit_with(message: str, code: int = 1) -> None:
    logger.error("%s", message)
    sys.stderr.write(message + "\n")
    sys.exit(code)


def get_options(argv: List[str]) -> Any:
    """kojid's options: command line over kojid.conf over defaults."""
    parser = _parser()
    options, args = parser.parse_args(argv)
    if args:
        parser.error("incorrect number of arguments")

    config = koji.read_config_files(options.configFile, raw=True)
    sections = {name: dict(config.items(name)) for name in config.sections()}
    try:
        values = kojid_options.parse(sections.pop("kojid", {}))
        if sections:
            raise kojid_options.KojidConfigError(
                "invalid section found in config file: %s" % sorted(sections)[0])
    except kojid_options.KojidConfigError as error:
        quit_with(str(error))
    for name, value in values.items():
        if getattr(options, name, None) is None:
            setattr(options, name, value)

    if options.topdir:
        koji.BASEDIR = options.topdir
        koji.pathinfo.topdir = options.topdir
    koji.ensuredir(options.workdir)
    # the koji-builder package ships this; TaskManager's buildroot scan lists it
    koji.ensuredir("/etc/mock/koji")
    for required in ("server", "topurl"):
        if not getattr(options, required):
            parser.error("the %s option is required" % required)
    options.topurls = options.topurl.split()
    options.topurl = options.topurls[0]
    return options


def login(options: Any) -> Any:
    """An exclusive, checked hub session, as kojid makes it."""
    session = koji.ClientSession(options.server, koji.grab_session_options(options))
    try:
        if options.user:
            session.login()
        else:
            principal = options.krb_principal or options.host_principal_format % (
                os.uname()[1])
            session.gssapi_login(principal=principal, keytab=options.keytab,
                                 ccache=options.ccache)
    except koji.AuthError as error:
        quit_with("Error: Unable to log in: %s" % error)
    except Exception as error:  # connection refused, Kerberos failures
        quit_with("Error: Unable to log in to %s: %s" % (options.server, error))
    try:
        session.exclusiveSession(force=options.force_lock)
    except koji.AuthLockError:
        quit_with("Error: Unable to get lock. Trying using --force-lock")
    if session.echo("OK") != ["OK"]:
        quit_with("Error: incorrect server response")
    return session


def load_plugins(manager: Any, options: Any) -> None:
    if not options.plugin:
        return
    tracker = koji.plugin.PluginTracker(path=options.pluginpath.split(":"))
    for name in options.plugin:
        logger.info("Loading plugin: %s", name)
        manager.scanPlugin(tracker.load(name))


def main_loop(options: Any, session: Any) -> int:
    logger.info("Starting up")
    koji.util.setup_rlimits(options.__dict__, logger)
    manager = koji.daemon.TaskManager(options, session)
    manager.findHandlers(vars(koji.tasks))
    load_plugins(manager, options)

    def on_term(*_args: Any) -> None:
        raise SystemExit

    def on_usr1(*_args: Any) -> None:
        logger.warning("Initiating graceful restart")
        manager.restart_pending = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGUSR1, on_usr1)
    code = _loop(manager, options)
    logger.warning("Shutting down, please wait...")
    manager.shutdown()
    session.logout()
    return code


def _loop(manager: Any, options: Any) -> int:
    taken = False
    while True:
        try:
            if not taken:
                manager.updateBuildroots()
            manager.updateTasks()
            taken = manager.getNextTask()
        except (SystemExit, koji.tasks.ServerExit, KeyboardInterrupt):
            logger.warning("Exiting")
            return 0
        except koji.tasks.ServerRestart:
            logger.warning("Restarting")
            _reexec()
        except koji.AuthExpired:
            logger.error("Session expired")
            return 1
        except koji.RetryError:
            raise
        except koji.AuthError:
            logger.error("Authentication error")
            return 1
        except Exception:
            logger.error("%s", "".join(traceback.format_exception(*sys.exc_info())))
            taken = False
        try:
            if not taken:
                time.sleep(options.sleeptime)
        except (SystemExit, KeyboardInterrupt):
            logger.warning("Exiting")
            return 0


def _reexec() -> None:
    """Graceful restart: a new image in the same process, same pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", "tests.doubles.kojid_runner"] + sys.argv[1:]
    os.execv(sys.executable, argv)


def _setup_logging(options: Any) -> None:
    koji.add_stderr_logger("koji")
    level = logging.WARNING
    if options.log_level:
        level = getattr(logging, options.log_level, logging.WARNING)
    if options.verbose:
        level = logging.INFO
    if options.debug:
        level = logging.DEBUG
    logging.getLogger("koji").setLevel(level)


def main(argv: Optional[List[str]] = None) -> int:
    options = get_options(sys.argv[1:] if argv is None else argv)
    _setup_logging(options)
    session = login(options)
    if options.skip_main:
        return 0
    return main_loop(options, session)


if __name__ == "__main__":
    sys.exit(main())
