"""Command line: serve an orch simulator until SIGTERM or SIGINT.

    python -m tests.doubles.orch_sim --db FILE --port N [--resources JSON_FILE]

The first line on stdout is the simulator's URL.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from typing import List, Optional

from .admin import resource_from_json
from .simulator import OrchSimulator


def main(argv: Optional[List[str]] = None) -> int:
    """Serve a simulator until SIGTERM or SIGINT.

    :param argv: the arguments (default: ``sys.argv[1:]``)
    :returns: the exit status
    """
    parser = argparse.ArgumentParser(prog="python -m tests.doubles.orch_sim",
                                     description="Simulate orch's V2 API on loopback.")
    parser.add_argument("--db", required=True, help="SQLite state file")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free one)")
    parser.add_argument("--resources", metavar="JSON_FILE",
                        help="a JSON list of resources to define")
    parser.add_argument("--ca-pem", metavar="FILE", help="CA certificate to serve")
    parser.add_argument("--no-auto-register", action="store_true",
                        help="do not register unknown loopback callers as containers")
    parser.add_argument("--request-ids", action="store_true",
                        help="put request ids in error bodies")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

    ca_pem = None
    if args.ca_pem:
        with open(args.ca_pem, "rb") as handle:
            ca_pem = handle.read()
    sim = OrchSimulator(args.db, args.host, args.port, ca_pem=ca_pem,
                        auto_register=not args.no_auto_register,
                        request_ids=args.request_ids)
    if args.resources:
        with open(args.resources, encoding="utf-8") as handle:
            for item in json.load(handle):
                sim.add_resource(**resource_from_json(item))

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    sim.start()
    print(sim.url, flush=True)
    while not stopping.wait(0.5):
        pass
    sim.stop()
    return 0
