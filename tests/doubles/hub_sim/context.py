"""Per-call context and the simulator's tunables.

A :class:`CallContext` is what ``kojihub``'s thread-local ``context`` holds
for one request: the database connection, the caller's session, the
method name and the hub options.  Every exported call receives it as its
first argument.
"""

from __future__ import annotations

import dataclasses
import sqlite3


@dataclasses.dataclass
class HubOptions:
    """Hub settings the simulator honours (names follow hub.conf)."""

    topdir: str
    # scheduler (MaxJobs, CapacityOvercommit, ReadyTimeout, AssignTimeout,
    # SoftRefusalTimeout, HostTimeout, RunInterval); RunInterval defaults
    # to 0 so that every host check-in may run the scheduler
    max_jobs: int = 15
    capacity_overcommit: float = 5.0
    ready_timeout: float = 180.0
    assign_timeout: float = 300.0
    soft_refusal_timeout: float = 900.0
    host_timeout: float = 900.0
    run_interval: float = 0.0
    # LoginCreatesUser: an unknown Kerberos principal becomes a new user
    login_creates_user: bool = True


class CallContext:
    """State of one XML-RPC request."""

    def __init__(self, conn: sqlite3.Connection, opts: HubOptions,
                 session=None, method: str | None = None,
                 remote_ip: str = '127.0.0.1', remote_user: str | None = None):
        self.conn = conn
        self.opts = opts
        self.session = session
        self.method = method
        self.remote_ip = remote_ip
        # REMOTE_USER: the principal mod_auth_gssapi verified (ssllogin only)
        self.remote_user = remote_user

    def workdir(self) -> str:
        """``koji.pathinfo.work()`` for this hub's topdir."""
        return '%s/work' % self.opts.topdir.rstrip('/')
