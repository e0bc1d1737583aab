"""Run kojid, forward signals to it, and drain it on SIGTERM within the stop timeout.

``koji-worker start`` stays the container's main process so that it can
give the worker keytab back after kojid is gone.  kojid runs as its
child, in its own session (a terminal's Ctrl-C reaches only this
process).  SIGUSR1 (kojid's graceful restart) is passed on.  SIGTERM or
SIGINT starts the drain, timed from the signal (``t0``):

1. the drain flag file appears, so ``worker_drain`` votes "not ready" and
   kojid takes no new task;
2. running tasks get ``KOJI_WORKER_DRAIN_GRACE`` seconds to finish
   (kojid's task children are watched);
3. task processes still running get SIGINT (as kojid sends first, so
   mock can clean up), all at once, then SIGKILL after ``TASK_KILL_WAIT``:
   stock kojid would do this one task after the other, waiting 3 s or
   more each, which does not fit in a stop timeout;
4. kojid gets SIGTERM: it finds its task children gone, frees those tasks
   on the hub and runs its shutdown hooks (which release leases);
5. at ``t0 + KOJI_WORKER_STOP_TIMEOUT - RELEASE_RESERVE`` whatever is
   left of kojid is killed, so that the releases, done by the caller in
   parallel, still fit in the stop timeout.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from typing import Dict, List, NamedTuple, Optional

from ..lease_journal import LeaseJournal, process_alive
from .environment import RELEASE_RESERVE, TASK_KILL_WAIT, WorkerEnv

__all__ = ("Outcome", "Supervisor", "children_of", "running", "stop_tasks")

logger = logging.getLogger("koji_worker.start")

#: seconds between two looks at kojid
TICK = 0.1
#: margin kept at the very end of the stop timeout for this process to exit
EXIT_MARGIN = 0.5


class Outcome(NamedTuple):
    """How kojid ended.

    :param status: kojid's exit status (negative: killed by that signal)
    :param drained: whether a SIGTERM or SIGINT asked this worker to stop
    :param release_deadline: :func:`time.monotonic` time the releases must
        be done by
    """

    status: int
    drained: bool
    release_deadline: float


def children_of(pid: int) -> List[int]:
    """The pids whose parent is ``pid`` (kojid's task children)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name, "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(name))
    return found


def _signal_group(pid: int, signum: int) -> None:
    """Signal a task child's process group (kojid makes each its own), else the child."""
    for target in (os.killpg, os.kill):
        try:
            target(pid, signum)
            return
        except OSError:
            continue


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting for kojid to reap it."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False


def stop_tasks(pids: List[int], wait: float) -> None:
    """SIGINT every task process group at once; SIGKILL what still runs after ``wait``."""
    for pid in pids:
        logger.warning("stopping task process %d (SIGINT)", pid)
        _signal_group(pid, signal.SIGINT)
    until = time.monotonic() + wait
    while any(running(pid) for pid in pids) and time.monotonic() < until:
        time.sleep(TICK / 2)
    for pid in pids:
        if running(pid):
            logger.warning("task process %d ignored SIGINT; killing it", pid)
            _signal_group(pid, signal.SIGKILL)


class Supervisor:
    """kojid as a child process, and the drain.

    :param argv: kojid's command line
    :param environ: kojid's environment
    :param env: the checked settings (grace, stop timeout, drain flag)
    :param journal_dir: the lease journal, whose task pids are stopped if
        kojid leaves them behind
    """

    def __init__(self, argv: List[str], environ: Dict[str, str], env: WorkerEnv,
                 journal_dir: Optional[str] = None) -> None:
        self.argv = argv
        self.environ = environ
        self.env = env
        self.journal_dir = journal_dir
        self.proc: Optional[subprocess.Popen] = None
        self.stop_asked: Optional[float] = None

    # -- signals ---------------------------------------------------------------

    def _on_stop(self, signum: int, _frame: object) -> None:
        if self.stop_asked is None:
            self.stop_asked = time.monotonic()
            logger.warning("got %s: draining kojid (grace %g s, stop timeout %g s)",
                           signal.Signals(signum).name, self.env["KOJI_WORKER_DRAIN_GRACE"],
                           self.env["KOJI_WORKER_STOP_TIMEOUT"])

    def _forward(self, signum: int, _frame: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            logger.info("passing %s on to kojid (pid %d)", signal.Signals(signum).name,
                        self.proc.pid)
            self.proc.send_signal(signum)

    def _install_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGUSR1, self._forward)
        signal.signal(signal.SIGHUP, self._forward)

    # -- kojid -----------------------------------------------------------------

    def start(self) -> int:
        """Start kojid; its pid."""
        self._install_handlers()
        self.proc = subprocess.Popen(self.argv, env=self.environ, start_new_session=True)
        logger.info("started kojid (pid %d): %s", self.proc.pid, " ".join(self.argv))
        return self.proc.pid

    def _wait_exit(self, until: float) -> Optional[int]:
        assert self.proc is not None
        while True:
            status = self.proc.poll()
            if status is not None or time.monotonic() >= until:
                return status
            time.sleep(TICK)

    def _leftover_tasks(self) -> List[int]:
        if not self.journal_dir:
            return []
        return sorted({e["pid"] for e in LeaseJournal(self.journal_dir).entries()
                       if process_alive(e["pid"], e.get("pid_start"))})

    def _kill_everything(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is None:
            logger.error("kojid (pid %d) did not stop in time; killing it", self.proc.pid)
            self.proc.kill()
            self.proc.wait()
        for pid in self._leftover_tasks():
            logger.warning("killing task process %d that kojid left running", pid)
            _signal_group(pid, signal.SIGKILL)

    def _drain(self) -> Outcome:
        assert self.proc is not None and self.stop_asked is not None
        t0 = self.stop_asked
        stop = self.env["KOJI_WORKER_STOP_TIMEOUT"]
        kill_at = t0 + stop - RELEASE_RESERVE
        with open(self.env.drain_file, "w", encoding="utf-8") as flag:
            flag.write("draining since pid %d got a stop signal\n" % os.getpid())

        grace_end = t0 + self.env["KOJI_WORKER_DRAIN_GRACE"]
        while self.proc.poll() is None and time.monotonic() < grace_end:
            if not any(running(pid) for pid in children_of(self.proc.pid)):
                break
            time.sleep(TICK)
        if self.proc.poll() is None:
            tasks = [pid for pid in children_of(self.proc.pid) if running(pid)]
            if tasks:
                logger.warning("grace over: %d task process(es) still running", len(tasks))
                stop_tasks(tasks, TASK_KILL_WAIT)
            logger.warning("stopping kojid (pid %d)", self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
        self._wait_exit(kill_at)
        self._kill_everything()
        return Outcome(self.proc.returncode, True, t0 + stop - EXIT_MARGIN)

    def run(self) -> Outcome:
        """Wait for kojid to end, draining it if asked; then stop what it left.

        :returns: how kojid ended and by when the releases must be done
        """
        assert self.proc is not None
        while self.stop_asked is None:
            status = self.proc.poll()
            if status is not None:
                logger.error("kojid (pid %d) exited by itself with status %d",
                             self.proc.pid, status)
                self._kill_everything()
                return Outcome(status, False, time.monotonic() + RELEASE_RESERVE)
            time.sleep(TICK)
        return self._drain()
