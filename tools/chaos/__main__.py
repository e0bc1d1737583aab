"""Command line: ``python -m tools.chaos [--long] [--seed N] ...``."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from . import load, report
from .runner import run_scenarios
from .scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]

#: mode -> (rounds of every scenario, task scale, pool-load tasks, one-worker tasks)
MODES = {"short": (1, 1, 60, 200), "long": (3, 2, 200, 1000)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true",
                        help="every scenario 3 times, full load figures (by hand)")
    parser.add_argument("--seed", type=int, default=7, help="the random seed (default 7)")
    parser.add_argument("--only", action="append", default=[], metavar="SCENARIO",
                        choices=sorted(SCENARIOS), help="run only this scenario (repeatable)")
    parser.add_argument("--no-load", action="store_true", help="skip the load runs")
    parser.add_argument("--report", default=str(ROOT / "docs" / "reliability.md"),
                        help="where to write the report")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run's directory (logs) and print its path")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    mode = "long" if args.long else "short"
    rounds, scale, pool_tasks, single_tasks = MODES[mode]
    command = _command(argv if argv is not None else sys.argv[1:])
    base = Path(tempfile.mkdtemp(prefix="koji-worker-chaos."))
    started = time.monotonic()
    try:
        figures = run_scenarios(base, args.seed, rounds, scale, args.only)
        if not args.no_load:
            figures["pool_load"] = load.pool_load(base / "load-pool", pool_tasks)
            figures["single_load"] = load.single_worker(base / "load-single", single_tasks)
        figures.update(mode=mode, seed=args.seed, command=command,
                       minutes=(time.monotonic() - started) / 60)
        text = report.render(figures)
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text)
        print(report.summary(figures))
        print("report: %s" % args.report)
        return 0 if report.all_passed(figures) else 1
    finally:
        if args.keep:
            print("run directory kept: %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)


def _command(argv: List[str]) -> str:
    return " ".join(["python -m tools.chaos"] + list(argv))


if __name__ == "__main__":
    sys.exit(main())
