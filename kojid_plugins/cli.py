"""The ``koji-worker`` command: tools an operator runs for a build worker.

    koji-worker SUBCOMMAND [options]

This module only dispatches.  :data:`SUBCOMMANDS` maps each subcommand
name to a module that exposes ``add_arguments(parser)`` (fill in an
:class:`argparse.ArgumentParser`) and ``run(args) -> int`` (do the work,
return the exit status); the first line of the module's docstring is the
subcommand's help.  Adding a subcommand is adding a row.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, List, Optional

__all__ = ("SUBCOMMANDS", "build_parser", "main")

PROG = "koji-worker"

EXIT_INTERRUPTED = 130

#: subcommand name -> module with ``add_arguments(parser)`` and ``run(args)``
SUBCOMMANDS: Dict[str, str] = {
    "verify": "kojid_plugins.verify",
    "health": "kojid_plugins.health_cli",
    "start": "kojid_plugins.start.command",
}


def _summary(module) -> str:
    lines = (module.__doc__ or "").strip().splitlines()
    return lines[0] if lines else ""


def build_parser() -> argparse.ArgumentParser:
    """The ``koji-worker`` parser with one subparser per subcommand.

    :returns: a parser whose namespace carries ``run``, the chosen
        subcommand's entry point
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Check and run a Koji build worker.")
    commands = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    commands.required = True

    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        summary = _summary(module)
        sub = commands.add_parser(name, help=summary, description=summary)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run ``koji-worker``.

    :param argv: the arguments (default: ``sys.argv[1:]``)
    :returns: the subcommand's exit status (2 on a usage error)
    """
    args = build_parser().parse_args(argv)

    try:
        return args.run(args)
    except KeyboardInterrupt:
        sys.stderr.write("%s %s: interrupted\n" % (PROG, args.command))
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
