"""The ``orch-bridge`` command: orch's V2 API from a shell.

It replaces Boxed Koji's ``orch.sh`` (curl) client::

    orch-bridge [--url URL] [--timeout S] [--retries N] [--json]
                [--ca-file FILE] [--gssapi [--principal P] [--keytab KT]
                [--ccache CC] [--service SPN] [--no-mutual]] SUBCOMMAND

Subcommands: ``checkout UUID [FILE]``, ``release UUID``, ``status UUID``,
``validate UUID``, ``health``, ``mappings``, ``ca-cert [FILE]``,
``ca-info`` and ``ca-status``.  JSON answers are printed indented.  On
failure it prints exactly one line on stderr and exits 1 (orch or file
error), 2 (usage error) or 130 (interrupted).  A checkout orch granted
whose file cannot be written is released again.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import sys
from typing import Any, Callable, Dict, List, Optional

from .ca import install_ca
from .client import UUID_PATTERN, OrchClient
from .credentials import CredentialProblem
from .errors import OrchError, printable
from .spnego import Kerberos

__all__ = ("main",)

PROG = "orch-bridge"
URL_ENV = "ORCH_SERVICE_URL"

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A command line the tool cannot run."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that reports errors as :class:`UsageError`."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)


def _uuid(text: str) -> str:
    if not UUID_PATTERN.match(text):
        raise argparse.ArgumentTypeError("not a UUID: %s" % printable(repr(text), 80))
    return text


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError("not a positive, finite number of seconds: %r"
                                         % text)
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError("not a whole number: %r" % text)
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line parser.

    :returns: a parser whose errors raise :class:`UsageError`
    """
    parser = _Parser(prog=PROG, description="Talk to the orch service's V2 API.")
    parser.add_argument("--url", help="orch's base URL (default: $%s)" % URL_ENV)
    parser.add_argument("--timeout", type=_positive, default=10.0,
                        help="seconds to wait to connect and for each answer (default 10)")
    parser.add_argument("--retries", type=_count, default=3,
                        help="retries on connection errors and 5xx answers (default 3)")
    parser.add_argument("--source-address", metavar="IP",
                        help="local address to send from (orch identifies callers by IP)")
    parser.add_argument("--json", action="store_true",
                        help="print results as JSON, also for checkout and ca-cert FILE")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log retries and progress on stderr")
    tls = parser.add_argument_group("TLS and Kerberos")
    tls.add_argument("--ca-file", metavar="FILE",
                     help="verify https against these CA certificates (default: the "
                          "system trust store; verification is never off)")
    tls.add_argument("--gssapi", action="store_true",
                     help="authenticate with Kerberos (SPNEGO)")
    tls.add_argument("--principal", help="--gssapi: the client principal "
                     "(default: the one principal in the keytab)")
    tls.add_argument("--keytab", help="--gssapi: the client keytab "
                     "(default: $KRB5_CLIENT_KTNAME, else the tickets in the ccache)")
    tls.add_argument("--ccache", help="--gssapi: the ticket cache (default: in memory "
                     "with a keytab, else the default cache)")
    tls.add_argument("--service", metavar="SPN", help="--gssapi: orch's principal, "
                     "HTTP/host@REALM (default: HTTP@<URL host>)")
    tls.add_argument("--no-mutual", action="store_true",
                     help="--gssapi: do not require orch to prove its identity")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND",
                                     parser_class=_Parser)
    commands.required = True

    sub = commands.add_parser("checkout", help="check a resource out and write its file")
    sub.add_argument("uuid", type=_uuid, metavar="UUID")
    sub.add_argument("file", nargs="?", metavar="FILE",
                     help="where to write it (default: orch's name, current directory)")
    for name, text in (("release", "give a resource back"),
                       ("status", "show a resource's checkout status"),
                       ("validate", "show whether this container may use a resource")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("uuid", type=_uuid, metavar="UUID")
    commands.add_parser("health", help="show orch's health")
    commands.add_parser("mappings", help="list every resource orch knows")
    sub = commands.add_parser("ca-cert", help="get orch's CA certificate (PEM)")
    sub.add_argument("file", nargs="?", metavar="FILE",
                     help="check it is a CA and write it here, mode 0644 "
                          "(default: print it)")
    commands.add_parser("ca-info", help="show orch's CA certificate information")
    commands.add_parser("ca-status", help="show whether orch's CA exists")
    return parser


def _split_target(target: Optional[str]) -> Any:
    """A FILE argument as (directory, name or None for orch's name)."""
    if target is None:
        return os.getcwd(), None
    if os.path.isdir(target) or target.endswith(os.sep):
        return target, None
    return os.path.dirname(target) or ".", os.path.basename(target)


class Failed(Exception):
    """A failure already put into its one line (exit 1)."""


def file_problem(error: OSError, target: Optional[str] = None) -> str:
    """``cannot write TARGET: what is wrong``, naming the path at fault.

    :param error: the failure
    :param target: the file or directory the command was writing
    """
    name = str(error.filename) if error.filename else None
    detail = error.strerror or str(error)
    if error.errno == errno.ENOTDIR and name and name not in detail:
        detail = "%s is not a directory" % name
    elif name and name != target and name not in detail:
        detail = "%s: %s" % (name, detail)
    where = target or name
    return "cannot write %s: %s" % (where, detail) if where else "cannot write: %s" % detail


def _give_back(client: OrchClient, uuid: str, problem: str) -> Failed:
    """A checkout orch granted whose file was not written: release it."""
    try:
        client.release(uuid)
    except OrchError as error:
        return Failed("%s; %s stays checked out on orch, release failed (%s): run %s "
                      "release %s" % (problem, uuid, error.reason, PROG, uuid))
    return Failed("%s; released %s on orch again" % (problem, uuid))


def _checkout(client: OrchClient, args: argparse.Namespace) -> Any:
    directory, name = _split_target(args.file)
    try:
        result = client.checkout(args.uuid, directory, filename=name)
    except (OrchError, OSError) as error:
        if getattr(error, "lease_held", None) != args.uuid:
            raise
        if isinstance(error, OrchError):
            problem = error.reason
        else:
            problem = file_problem(error, args.file or directory)
        raise _give_back(client, args.uuid, problem) from None
    if args.json:
        return result._asdict()
    return result.path


def _ca_cert(client: OrchClient, args: argparse.Namespace) -> Any:
    if args.file is None:
        return client.ca_certificate()
    directory, name = _split_target(args.file)
    target = os.path.join(directory, name or "ca.crt")
    found = install_ca(client, target)
    if args.json:
        return {"path": target, "subjects": [c.subject for c in found]}
    return target


_ACTIONS: Dict[str, Callable[[OrchClient, argparse.Namespace], Any]] = {
    "checkout": _checkout,
    "release": lambda client, args: client.release(args.uuid),
    "status": lambda client, args: client.status(args.uuid),
    "validate": lambda client, args: client.validate(args.uuid),
    "health": lambda client, args: client.health(),
    "mappings": lambda client, args: client.mappings(),
    "ca-cert": _ca_cert,
    "ca-info": lambda client, args: client.ca_info(),
    "ca-status": lambda client, args: client.ca_status(),
}


def _emit(result: Any) -> None:
    if isinstance(result, bytes):
        sys.stdout.buffer.write(result)
        sys.stdout.buffer.flush()
    elif isinstance(result, (dict, list)):
        print(json.dumps(result, indent=2))
    else:
        print(result)
    sys.stdout.flush()


def _fail(what: str, text: str, code: int) -> int:
    head = "%s: %s: " % (PROG, what) if what else "%s: " % PROG
    sys.stderr.write(head + printable(text, 400) + "\n")
    sys.stderr.flush()
    return code


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line tool.

    :param argv: the arguments (default: ``sys.argv[1:]``)
    :returns: the exit status: 0 on success, 1 when orch or the file
        system failed, 2 on a usage error, 130 when interrupted
    """
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail("", "%s (see %s --help)" % (exc, PROG), EXIT_USAGE)

    what = args.command
    if getattr(args, "uuid", None):
        what = "%s %s" % (what, args.uuid)
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        return _fail(what, "no orch URL: pass --url or set %s" % URL_ENV, EXIT_USAGE)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format=PROG + ": %(message)s")

    kerberos = None
    if args.gssapi:
        kerberos = Kerberos(principal=args.principal, keytab=args.keytab,
                            ccache=args.ccache, service=args.service,
                            mutual=not args.no_mutual)
    elif args.principal or args.keytab or args.ccache or args.service or args.no_mutual:
        return _fail(what, "--principal, --keytab, --ccache, --service and --no-mutual "
                     "need --gssapi", EXIT_USAGE)
    try:
        client = OrchClient(url, timeout=args.timeout, retries=args.retries,
                            source_address=args.source_address, kerberos=kerberos,
                            verify=args.ca_file or True)
    except ValueError as exc:
        return _fail(what, str(exc), EXIT_USAGE)

    try:
        with client:
            _emit(_ACTIONS[args.command](client, args))
    except OrchError as exc:
        return _fail(what, exc.reason, EXIT_FAILED)
    except (CredentialProblem, Failed) as exc:
        return _fail(what, str(exc), EXIT_FAILED)
    except OSError as exc:
        return _fail(what, file_problem(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return _fail(what, "interrupted", EXIT_INTERRUPTED)
    except Exception as exc:  # the one-line promise holds for surprises too
        return _fail(what, "unexpected %s: %s" % (type(exc).__name__, exc), EXIT_FAILED)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
