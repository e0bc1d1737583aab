"""A koji hub simulator: a test double speaking the hub's XML-RPC protocol.

It serves ``/kojihub`` on a loopback port with the sessions, host and
task calls, scheduler, uploads and faults that kojid's TaskManager and
the ``koji`` CLI use, plus flat tags, repos, buildroots and the runroot
hub plugin's call, keeping its state in an SQLite file so that several
processes (and a restarted simulator) see the same hub.

Python API: :class:`HubSimulator`.  Command line: ``python -m
tests.doubles.hub_sim --help``.
"""

from __future__ import annotations

from .context import HubOptions
from .simulator import HubSimulator

__all__ = ['HubSimulator', 'HubOptions']
