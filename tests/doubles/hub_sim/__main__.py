"""Command line: serve a simulated hub until SIGTERM or SIGINT.

    python -m tests.doubles.hub_sim --db FILE --topdir DIR --port N \\
        [--admin USER:PASS] [--host NAME:PASS[:ARCH,ARCH]]...

The first line on stdout is the hub URL.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from .context import HubOptions
from .simulator import HubSimulator

TIMEOUT_OPTIONS = ('ready_timeout', 'assign_timeout', 'soft_refusal_timeout',
                   'host_timeout', 'run_interval')


def _pair(text: str, what: str) -> list:
    parts = text.split(':')
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError('%s must look like NAME:PASS' % what)
    return parts


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m tests.doubles.hub_sim',
                                     description=__doc__.splitlines()[0])
    parser.add_argument('--db', required=True, help='SQLite state file')
    parser.add_argument('--topdir', required=True,
                        help='koji topdir (uploads go to TOPDIR/work)')
    parser.add_argument('--port', type=int, default=0,
                        help='port to listen on (0: pick a free one)')
    parser.add_argument('--listen', default='127.0.0.1',
                        help='loopback address to listen on')
    parser.add_argument('--admin', action='append', default=[],
                        metavar='USER:PASS', help='add an admin user')
    parser.add_argument('--host', action='append', default=[],
                        metavar='NAME:PASS[:ARCHES]',
                        help='add a builder host (arches comma-separated)')
    for name in TIMEOUT_OPTIONS:
        default = HubOptions.__dataclass_fields__[name].default
        parser.add_argument('--' + name.replace('_', '-'), type=float,
                            default=default, help='default %(default)s s')
    parser.add_argument('-v', '--verbose', action='store_true')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else
                        logging.WARNING, stream=sys.stderr)
    options = {name: getattr(args, name) for name in TIMEOUT_OPTIONS}
    sim = HubSimulator(args.db, args.topdir, host=args.listen,
                       port=args.port, **options)

    for text in args.admin:
        user, password = _pair(text, '--admin')[:2]
        sim.add_user(user, password, perms=('admin',))
    for text in args.host:
        parts = _pair(text, '--host')
        arches = parts[2].replace(',', ' ') if len(parts) > 2 else 'x86_64'
        sim.add_host(parts[0], arches=arches, password=parts[1])

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sim.start()
    print(sim.url, flush=True)
    while not stop.wait(0.2):
        pass
    sim.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
