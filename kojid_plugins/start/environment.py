"""The variables ``koji-worker start`` reads, each checked before anything runs.

:data:`VARIABLES` is the table (name, default, meaning, parser); the
README's "Worker image" table is checked against it.  Besides those,
every ``KOJID_OPT_<NAME>`` variable sets kojid option ``<name>`` (for
instance ``KOJID_OPT_SLEEPTIME=5``), checked with stock kojid's rules.
A missing or malformed variable raises :class:`ConfigProblem` with one
line naming it.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import uuid as uuidlib
from urllib.parse import urlsplit
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional

from .. import kojid_options
from ..config import as_ip
from .errors import ConfigProblem

__all__ = ("Variable", "VARIABLES", "OPTION_PREFIX", "WorkerEnv", "read_environment")

#: ``KOJID_OPT_<NAME>=value`` sets kojid option ``<name>``
OPTION_PREFIX = "KOJID_OPT_"

_REALM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _port(text: str, port: str) -> None:
    if not port:
        raise ValueError("%r has an empty port" % text)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("%r: port %s is not in 1-65535" % (text, port))


def _url(text: str) -> str:
    if not re.match(r"^https?://[^/\s]+\S*$", text):
        raise ValueError("%r is not an http:// or https:// URL" % text)
    netloc = urlsplit(text).netloc.rpartition("@")[2]
    host, port = re.match(r"^(\[[^\]]*\]|[^:]*)(?::(.*))?$", netloc).groups()
    if not host.strip("[]"):
        raise ValueError("%r has no host name" % text)
    if port is not None:
        _port(text, port)
    return text


def _urls(text: str) -> str:
    words = text.split()
    if not words:
        raise ValueError("no URL given")
    return " ".join(_url(word) for word in words)


def _path(text: str) -> str:
    if not os.path.isabs(text):
        raise ValueError("%r is not an absolute path" % text)
    return os.path.normpath(text)


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ValueError("%r is not a whole number" % text) from None
    if number < 1:
        raise ValueError("%r is less than 1" % text)
    return number


def _seconds(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ValueError("%r is not a number of seconds" % text) from None
    if not number >= 0 or number == float("inf"):
        raise ValueError("%r is not a number of seconds" % text)
    return number


def _uuid(text: str) -> str:
    try:
        uuidlib.UUID(text)
    except ValueError:
        raise ValueError("%r is not an orch resource UUID" % text) from None
    if len(text) != 36:
        raise ValueError("%r is not an orch resource UUID" % text)
    return text.lower()


def _realm(text: str) -> str:
    if not _REALM.match(text):
        raise ValueError("%r is not a Kerberos realm name" % text)
    return text


def _hostport(text: str) -> str:
    if text and not re.match(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*)(:[0-9]+)?$",
                             text):
        raise ValueError("%r is not a host or host:port" % text)
    if re.search(r":[0-9]+$", text):
        _port(text, text.rsplit(":", 1)[1])
    return text


def _words(text: str) -> List[str]:
    try:
        return shlex.split(text)
    except ValueError as error:
        raise ValueError("cannot split %r into words: %s" % (text, error)) from None


def _plugin_names(text: str) -> List[str]:
    names = text.replace(",", " ").split()
    for name in names:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
            raise ValueError("%r is not a plugin module name" % name)
    return names


def _pattern(text: str) -> str:
    if "@" not in text:
        raise ValueError("%r has no @REALM" % text)
    return text


class Variable(NamedTuple):
    """One environment variable: its default (``None``: required) and meaning."""

    name: str
    default: Optional[str]
    meaning: str
    parse: Callable[[str], Any]


VARIABLES = (
    Variable("KOJI_HUB_URL", None, "the hub's URL (kojid `server`)", _url),
    Variable("KOJI_TOP_URL", None, "URL(s) of the shared topdir (kojid `topurl`)", _urls),
    Variable("KOJI_TOP_DIR", "/mnt/koji", "the shared topdir (kojid `topdir`)", _path),
    Variable("ORCH_SERVICE_URL", None, "orch's URL", _url),
    Variable("ORCH_SOURCE_ADDRESS", "", "local IP to call orch from (orch knows callers "
             "by address)", as_ip),
    Variable("KRB5_REALM", None, "the Kerberos realm of the worker's principal", _realm),
    Variable("KRB5_KDC", "", "host[:port] of the KDC; set: a krb5.conf for KRB5_REALM is "
             "written (for a network without DNS records for it)", _hostport),
    Variable("KOJI_WORKER_KEYTAB", None, "orch resource UUID of the worker keytab", _uuid),
    Variable("KOJI_WORKER_PRINCIPAL", "worker/*@$KRB5_REALM",
             "the principal the keytab must hold (shell pattern)", _pattern),
    Variable("BUILDER_MAX_JOBS", "10", "most tasks at once (kojid `maxjobs`)", _positive_int),
    Variable("KOJI_WORKER_PLUGINS", "orch_resources worker_health",
             "kojid plugins to enable (`worker_drain` is always added)", _plugin_names),
    Variable("BUILDER_ARGS", "--force-lock --verbose",
             "extra kojid command-line arguments (shell words)",
             _words),
    Variable("KOJI_WORKER_REGISTER_TIMEOUT", "120",
             "seconds to wait until the hub knows the host", _seconds),
    Variable("KOJI_WORKER_DRAIN_GRACE", "4",
             "on SIGTERM, seconds running tasks get to finish", _seconds),
    Variable("KOJI_WORKER_STOP_TIMEOUT", "10",
             "the runtime's stop timeout: the drain and releases end within it", _seconds),
    Variable("KOJID_COMMAND", "/usr/sbin/kojid", "the kojid to run (shell words)", _words),
    Variable("KOJID_CONF", "/etc/kojid/kojid.conf", "where kojid.conf is written", _path),
    Variable("KOJID_CONF_TEMPLATE", "/etc/koji-worker/kojid.conf.in",
             "the kojid.conf template", _path),
    Variable("KOJID_KEYTAB", "/etc/kojid/kojid.keytab",
             "where the worker keytab is written (0600)", _path),
    Variable("KOJI_WORKER_CA_FILE", "/etc/kojid/orch-ca.pem",
             "where orch's CA certificate is written when a URL is https", _path),
    Variable("KOJI_WORKER_STATE_DIR", "/var/lib/kojid-plugins",
             "the drain flag file and kojid's exit record live here", _path),
    Variable("KOJID_PLUGINS_CONFDIR", "/etc/kojid/plugins",
             "the plugins' `NAME.conf` files (checked before kojid starts)", _path),
)

#: seconds of the stop timeout kept for the releases after kojid is gone
RELEASE_RESERVE = 3.0
#: seconds task processes get between SIGINT and SIGKILL once the grace is over
TASK_KILL_WAIT = 1.0
#: seconds kept at least for kojid's own shutdown (free tasks, shutdown hooks)
KOJID_SHUTDOWN = 1.0


class WorkerEnv:
    """Every checked value, by variable name, plus the kojid options.

    :param values: variable name -> parsed value
    :param options: kojid option -> (text, the variable that set it)
    """

    def __init__(self, values: Dict[str, Any], options: Dict[str, tuple]) -> None:
        self.values = values
        self.options = options

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def uses_https(self) -> bool:
        return any(self.values[name].startswith("https://")
                   for name in ("KOJI_HUB_URL", "ORCH_SERVICE_URL"))

    @property
    def drain_file(self) -> str:
        return os.path.join(self.values["KOJI_WORKER_STATE_DIR"], "draining")


def _value(variable: Variable, environ: Mapping[str, str], found: Dict[str, Any]) -> Any:
    text = environ.get(variable.name)
    if text is None or not text.strip():
        if variable.default is None:
            raise ConfigProblem("%s is not set: %s" % (variable.name, variable.meaning))
        text = variable.default.replace("$KRB5_REALM", found.get("KRB5_REALM", ""))
    text = text.strip()
    if "\n" in text or "\r" in text:
        raise ConfigProblem("%s: a value on one line is needed" % variable.name)
    try:
        return variable.parse(text)
    except ValueError as error:
        raise ConfigProblem("%s: %s" % (variable.name, error)) from None


def _kojid_options(environ: Mapping[str, str]) -> Dict[str, tuple]:
    options = {}
    for name in sorted(environ):
        if not name.startswith(OPTION_PREFIX):
            continue
        option = name[len(OPTION_PREFIX):].lower()
        text = environ[name].strip()
        if "\n" in text or "\r" in text:
            raise ConfigProblem("%s: a value on one line is needed" % name)
        if option in ("plugin", "plugins"):
            raise ConfigProblem("%s: set KOJI_WORKER_PLUGINS instead" % name)
        try:
            kojid_options.parse({option: text})
        except kojid_options.KojidConfigError as error:
            raise ConfigProblem("%s: %s" % (name, error)) from None
        options[option] = (text, name)
    return options


def _check_timing(values: Dict[str, Any]) -> None:
    stop, grace = values["KOJI_WORKER_STOP_TIMEOUT"], values["KOJI_WORKER_DRAIN_GRACE"]
    needed = TASK_KILL_WAIT + KOJID_SHUTDOWN + RELEASE_RESERVE
    if stop < needed:
        raise ConfigProblem("KOJI_WORKER_STOP_TIMEOUT: %g s leaves no time to stop kojid "
                            "and release (at least %g)" % (stop, needed))
    if grace + needed > stop:
        raise ConfigProblem("KOJI_WORKER_DRAIN_GRACE: %g s plus %g s for stopping tasks, "
                            "kojid's shutdown and releases exceeds KOJI_WORKER_STOP_TIMEOUT "
                            "(%g s)" % (grace, needed, stop))


def read_environment(environ: Optional[Mapping[str, str]] = None) -> WorkerEnv:
    """Check every variable.

    :param environ: the environment (default ``os.environ``)
    :returns: the checked values
    :raises ConfigProblem: naming the first variable that is missing or
        malformed
    """
    environ = os.environ if environ is None else environ
    values: Dict[str, Any] = {}
    for variable in VARIABLES:
        values[variable.name] = _value(variable, environ, values)
    if not values["KOJID_COMMAND"]:
        raise ConfigProblem("KOJID_COMMAND: no command given")
    if not fnmatch.fnmatchcase(values["KRB5_REALM"],
                               values["KOJI_WORKER_PRINCIPAL"].rsplit("@", 1)[1]):
        raise ConfigProblem("KOJI_WORKER_PRINCIPAL: %r is not in realm KRB5_REALM=%s"
                            % (values["KOJI_WORKER_PRINCIPAL"], values["KRB5_REALM"]))
    _check_timing(values)
    return WorkerEnv(values, _kojid_options(environ))
