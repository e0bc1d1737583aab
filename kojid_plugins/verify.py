"""Check from the hub's side that a deployed build worker can get tasks.

``koji-worker verify HOST`` asks the hub whether HOST exists, is enabled
and ready, has the expected arches and channels, and checked in within
``--max-age`` seconds.  It prints the host as ``koji list-hosts`` does,
its channels, then ``OK`` or one line per problem (``--json``: the
findings as one JSON object).

Connection settings are the koji CLI's: a profile from the koji
configuration files (``--profile``, ``-c FILE``), overridden by
``--server``, ``--user``, ``--password``, ``--authtype`` and
``--noauth``.  Every call is an anonymous read, so it logs in only when
``--user`` or ``--authtype`` is given or the profile sets ``force_auth``.

Exit status: 0 fine, 1 host problems, 2 usage or configuration error,
3 hub unreachable (or not answering as a koji hub).
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import sys
import time
import xmlrpc.client
from typing import Any, Dict, List, NamedTuple, Optional
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import koji
import requests
from koji_cli.lib import activate_session

__all__ = ("add_arguments", "run", "check_host", "Expected", "Problem")

PROG = "koji-worker verify"

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3

DEFAULT_PROFILE = "koji"
DEFAULT_MAX_AGE = 120.0
DEFAULT_TIMEOUT = 30.0
AUTHTYPES = ("noauth", "ssl", "password", "kerberos")

# what a missing profile stands for when --server is given on its own
BARE_PROFILE: Dict[str, Any] = {
    "server": None, "authtype": None, "cert": "", "serverca": "",
    "principal": None, "keytab": None, "force_auth": False,
    "anon_retry": False, "no_ssl_verify": False, "debug": False,
}

# errors meaning the hub could not be reached or did not speak XML-RPC
UNREACHABLE = (requests.exceptions.RequestException, xmlrpc.client.Error,
               ExpatError)


class VerifyError(Exception):
    """A reason to stop before judging the host, with its exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Expected(NamedTuple):
    """What the operator expects of the host."""

    arches: List[str]
    channels: List[str]
    max_age: float


class Problem(NamedTuple):
    """One failed check: its name and the line printed for it."""

    check: str
    message: str


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(
            "not a positive number of seconds: %r" % text)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options and arguments of ``koji-worker verify``.

    :param parser: the subcommand's parser
    """
    hub = parser.add_argument_group("hub connection (as the koji CLI)")
    hub.add_argument("-p", "--profile",
                     help="koji configuration profile (default: koji)")
    hub.add_argument("-c", "--config", metavar="FILE",
                     help="read the profile from FILE")
    hub.add_argument("-s", "--server", metavar="URL",
                     help="the hub's XML-RPC URL (overrides the profile)")
    hub.add_argument("--noauth", action="store_true",
                     help="never log in (reads are anonymous anyway)")
    hub.add_argument("--user", help="log in as this user")
    hub.add_argument("--password", help="the user's password")
    hub.add_argument("--authtype", choices=AUTHTYPES,
                     help="log in this way")
    hub.add_argument("--timeout", type=_seconds, default=DEFAULT_TIMEOUT,
                     metavar="SECONDS",
                     help="wait this long for each hub answer (default 30)")

    parser.add_argument("host", metavar="HOST", help="the host's name")
    want = parser.add_argument_group("expectations")
    want.add_argument("--arch", action="append", default=[], metavar="ARCH",
                      help="an arch the host must have (repeatable)")
    want.add_argument("--channel", action="append", default=[],
                      metavar="CHANNEL",
                      help="a channel the host must be in (repeatable)")
    want.add_argument("--max-age", type=_seconds, default=DEFAULT_MAX_AGE,
                      metavar="SECONDS",
                      help="the host must have updated this recently"
                      " (default 120)")
    parser.add_argument("--json", action="store_true",
                        help="print the findings as JSON")


def _words(values: List[str]) -> List[str]:
    """Arguments split at commas and spaces, first occurrence kept."""
    words: List[str] = []
    for value in values:
        for word in re.split(r"[\s,]+", value):
            if word and word not in words:
                words.append(word)
    return words


def _read_profile(args: argparse.Namespace) -> Dict[str, Any]:
    explicit = args.profile is not None or args.config is not None
    profile = args.profile or DEFAULT_PROFILE

    try:
        return koji.read_config(profile, user_config=args.config)
    except (koji.ConfigurationError, configparser.Error) as exc:
        if explicit or not args.server:
            raise VerifyError("koji configuration: %s" % _one_line(exc),
                              EXIT_USAGE)
    return dict(BARE_PROFILE)


def connection_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The koji profile's settings with the command line's on top.

    :param args: the parsed command line
    :returns: a profile dict, as :func:`koji.read_config` gives, plus
        ``user``, ``password`` and ``noauth``
    :raises VerifyError: on a configuration or usage error
    """
    if args.password is not None and args.user is None:
        raise VerifyError("--password needs --user", EXIT_USAGE)
    options = _read_profile(args)

    for name in ("server", "user", "password", "authtype"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value
    options["noauth"] = bool(args.noauth
                             or options.get("authtype") == "noauth")
    if (args.user is not None and not options.get("password")
            and options.get("authtype") in (None, "password") and not options["noauth"]):
        raise VerifyError("--user needs --password", EXIT_USAGE)
    options["timeout"] = args.timeout

    try:
        parts = urlsplit(options.get("server") or "")
        parts.port  # raises on a port out of range
    except ValueError:
        raise VerifyError("not a hub URL: %r" % options.get("server"), EXIT_USAGE) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise VerifyError("not a hub URL: %r" % options.get("server"),
                          EXIT_USAGE)
    return options


def _wants_login(options: Dict[str, Any], args: argparse.Namespace) -> bool:
    if options["noauth"]:
        return False
    return bool(args.user or args.authtype or options.get("force_auth"))


def open_session(options: Dict[str, Any],
                 login: bool) -> koji.ClientSession:
    """A session to the hub, logged in as the koji CLI would if asked.

    :param options: from :func:`connection_options`
    :param login: authenticate (otherwise the session stays anonymous)
    :returns: the session
    :raises VerifyError: when logging in fails (exit status 2)
    """
    server = options["server"]
    session = koji.ClientSession(server, koji.grab_session_options(options))
    if not login:
        return session

    try:
        activate_session(session, dict(options, noauth=False))
    except SystemExit:
        raise VerifyError("could not log in to the hub at %s" % server,
                          EXIT_USAGE) from None
    except koji.GenericError as exc:
        raise VerifyError("could not log in to the hub at %s: %s"
                          % (server, _one_line(exc)), EXIT_USAGE) from None
    return session


def _close(session: koji.ClientSession) -> None:
    try:
        session.logout()
    except UNREACHABLE + (koji.GenericError,):
        pass


def query_hub(session: koji.ClientSession,
              name: str) -> Optional[Dict[str, Any]]:
    """What the hub knows of a host.

    :param session: a session to the hub
    :param name: the host's name
    :returns: None if the hub has no such host, else a dict with ``host``
        (the getHost row), ``channels`` (listChannels rows) and
        ``last_update`` (getLastHostUpdate as a timestamp, or None)
    """
    host = session.getHost(name)
    if not host:
        return None

    channels = session.listChannels(hostID=host["id"])
    last_update = session.getLastHostUpdate(host["id"], ts=True)
    return {"host": host, "channels": channels, "last_update": last_update}


def _arches(host: Dict[str, Any]) -> List[str]:
    return [a for a in re.split(r"[\s,]+", host.get("arches") or "") if a]


def _channel_names(channels: List[Dict[str, Any]]) -> List[str]:
    """Channel names, disabled ones marked ``*`` as koji list-hosts does."""
    names = []
    for channel in channels:
        mark = "*" if channel.get("enabled") is False else ""
        names.append(mark + channel["name"])
    return names


def check_host(found: Dict[str, Any], expected: Expected,
               now: float) -> List[Problem]:
    """Every way the host falls short of what is expected.

    :param found: from :func:`query_hub`
    :param expected: the operator's expectations
    :param now: the current time (epoch seconds)
    :returns: the problems, in the order they are printed
    """
    host = found["host"]
    name = host["name"]
    problems = []

    if not host["enabled"]:
        problems.append(Problem("enabled", (
            "%s: disabled, expected enabled (enable it with"
            " 'koji enable-host %s')" % (name, name))))

    if not host["ready"]:
        problems.append(Problem("ready", (
            "%s: not ready (the hub last saw ready=False; run"
            " 'koji-worker health --json' on the worker)" % name)))

    have = _arches(host)
    missing = [a for a in expected.arches if a not in have]
    if missing:
        problems.append(Problem("arches", "%s: arches are '%s', expected %s"
                                % (name, host.get("arches") or "",
                                   " ".join(missing))))

    problems.extend(_channel_problems(name, found["channels"], expected))
    problems.extend(_update_problems(name, found["last_update"], expected,
                                     now))
    return problems


def _channel_problems(name: str, channels: List[Dict[str, Any]],
                      expected: Expected) -> List[Problem]:
    by_name = {c["name"]: c for c in channels}
    listed = " ".join(_channel_names(channels)) or "none"
    problems = []

    for wanted in expected.channels:
        channel = by_name.get(wanted)
        if channel is None:
            problems.append(Problem("channels", (
                "%s: not in channel '%s' (its channels: %s; add it with"
                " 'koji add-host-to-channel %s %s')"
                % (name, wanted, listed, name, wanted))))
        elif channel.get("enabled") is False:
            problems.append(Problem("channels", (
                "%s: channel '%s' is disabled, expected enabled (enable it"
                " with 'koji enable-channel %s')" % (name, wanted, wanted))))
    return problems


def _update_problems(name: str, last_update: Optional[float],
                     expected: Expected, now: float) -> List[Problem]:
    max_age = "%g" % expected.max_age
    if last_update is None:
        return [Problem("update", (
            "%s: never updated, expected an update within --max-age %s"
            " (is kojid running and logged in as %s?)"
            % (name, max_age, name)))]

    age = max(0.0, now - last_update)
    if age > expected.max_age:
        return [Problem("update", "%s: last update %d s ago, more than"
                        " --max-age %s" % (name, age, max_age))]
    return []


def _yes_no(value: Any) -> str:
    return "Y" if value else "N"


def format_host(found: Dict[str, Any]) -> List[str]:
    """The host as a ``koji list-hosts`` header and row, and its channels.

    :param found: from :func:`query_hub`
    :returns: the lines to print
    """
    host = found["host"]
    width = max(len(host["name"]), len("Hostname"))
    update_ts = host.get("update_ts", found["last_update"])
    update = koji.formatTimeLong(update_ts) if update_ts is not None else "-"

    header = "%-*s Enb Rdy Load/Cap  %-16s %s" % (
        width, "Hostname", "Arches", "Last Update")
    row = "%-*s %-3s %-3s %4.1f/%-4.1f %-16s %s" % (
        width, host["name"], _yes_no(host["enabled"]),
        _yes_no(host["ready"]), host.get("task_load") or 0.0,
        host.get("capacity") or 0.0, ",".join(_arches(host)), update)
    channels = " ".join(_channel_names(found["channels"])) or "(none)"
    return [header, "-" * len(header), row, "Channels: %s" % channels]


def _findings_json(url: str, name: str, found: Optional[Dict[str, Any]],
                   expected: Expected, problems: List[Problem],
                   now: float) -> Dict[str, Any]:
    result: Dict[str, Any] = {
        "hub": url, "host": name, "ok": not problems,
        "found": found is not None,
        "expected": expected._asdict(),
        "problems": [p._asdict() for p in problems],
    }
    if found is None:
        return result

    host = found["host"]
    last = found["last_update"]
    result.update({
        "id": host["id"], "enabled": bool(host["enabled"]),
        "ready": bool(host["ready"]), "arches": _arches(host),
        "task_load": host.get("task_load"), "capacity": host.get("capacity"),
        "channels": [{"name": c["name"], "enabled": c.get("enabled")}
                     for c in found["channels"]],
        "last_update": last,
        "age": None if last is None else max(0.0, now - last),
    })
    return result


def _one_line(exc: Any) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def _reason(exc: Exception) -> str:
    """A short reason for a failed connection (no urllib3 wrappers)."""
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    match = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", str(exc))
    if match:
        return match.group(1).strip()
    return _one_line(exc)


def _fail(args: argparse.Namespace, url: Optional[str], message: str,
          code: int) -> int:
    if args.json:
        print(json.dumps({"hub": url, "host": args.host, "ok": False,
                          "error": message, "exit_code": code}, indent=2))
    sys.stderr.write("%s: %s\n" % (PROG, message))
    sys.stderr.flush()
    return code


def _inspect(args: argparse.Namespace,
             options: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    session = open_session(options, _wants_login(options, args))
    try:
        return query_hub(session, args.host)
    finally:
        _close(session)


def run(args: argparse.Namespace) -> int:
    """Run ``koji-worker verify``.

    :param args: the parsed command line (see :func:`add_arguments`)
    :returns: 0 fine, 1 host problems, 2 usage or configuration error,
        3 hub unreachable
    """
    expected = Expected(_words(args.arch), _words(args.channel),
                        args.max_age)
    url = args.server

    try:
        options = connection_options(args)
        url = options["server"]
        found = _inspect(args, options)
    except VerifyError as exc:
        return _fail(args, url, str(exc), exc.code)
    except UNREACHABLE as exc:
        return _fail(args, url, "cannot reach the hub at %s: %s"
                     % (url, _reason(exc)), EXIT_UNREACHABLE)
    except koji.GenericError as exc:
        return _fail(args, url, "the hub at %s failed: %s"
                     % (url, _one_line(exc)), EXIT_UNREACHABLE)

    now = time.time()
    if found is None:
        problems = [Problem("exists", (
            "no host named '%s' on the hub at %s (add it with"
            " 'koji add-host %s ARCH...')" % (args.host, url, args.host)))]
    else:
        problems = check_host(found, expected, now)

    if args.json:
        print(json.dumps(_findings_json(url, args.host, found, expected,
                                        problems, now), indent=2))
    else:
        lines = format_host(found) if found is not None else []
        lines += [p.message for p in problems] or ["OK"]
        print("\n".join(lines))
    return EXIT_PROBLEMS if problems else EXIT_OK
