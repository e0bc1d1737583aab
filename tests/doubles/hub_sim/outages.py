"""Hub outages on cue: the hub goes down when a given call arrives.

A real hub that dies (its host, httpd or the WSGI process) answers
nothing: the call in flight gets its connection cut without a reply,
and further connections are refused until it is back.  kojid's
``koji.ClientSession`` then retries the call (``max_retries``,
``retry_interval``).  :class:`OutagePlan` arms such an outage for the
next call of one method (``host.openTask`` for "down at take",
``host.closeTask`` for "down at close"); the cut call is not run, as a
hub that died before handling it would not have run it.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, List, Optional

import koji.xmlrpcplus

logger = logging.getLogger('hub_sim.outages')


class OutagePlan:
    """Armed outages of one simulator.

    :param stop: stops listening (the simulator's ``stop``)
    :param start: listens again on the same port
    """

    def __init__(self, stop: Callable[[], None], start: Callable[[], None]):
        self._stop = stop
        self._start = start
        self._lock = threading.Lock()
        self._armed: List[dict] = []
        self._timer: Optional[threading.Timer] = None
        self.cut_calls: List[str] = []

    def arm(self, method: str, seconds: float) -> None:
        """Go down for ``seconds`` when the next ``method`` call arrives."""
        if seconds <= 0:
            raise ValueError('an outage lasts more than 0 seconds, not %r'
                             % seconds)
        with self._lock:
            self._armed.append({'method': method, 'seconds': float(seconds)})

    def down_for(self, seconds: float) -> None:
        """Go down now, and come back after ``seconds``."""
        self._stop()
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(float(seconds), self._back)
            self._timer.daemon = True
            self._timer.start()
        logger.info('hub down for %.1f s', seconds)

    def _back(self) -> None:
        with self._lock:
            self._timer = None
        self._start()
        logger.info('hub back up')

    def clear(self, come_back: bool = True) -> None:
        """Disarm everything; a hub that is down comes back now, unless
        ``come_back`` is false (the simulator is being stopped)."""
        with self._lock:
            self._armed.clear()
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            if come_back:
                self._start()

    def should_cut(self, body: bytes) -> bool:
        """Whether this request arrives as the hub dies (then it goes down).

        :param body: the XML-RPC request body
        """
        with self._lock:
            if not self._armed:
                return False
        try:
            _params, method = koji.xmlrpcplus.loads(body)
        except Exception:
            return False
        with self._lock:
            match = next((a for a in self._armed if a['method'] == method), None)
            if match is None:
                return False
            self._armed.remove(match)
            self.cut_calls.append(method)
        logger.info('hub dies as %s arrives', method)
        # the listener is closed before the call is cut, so the client's
        # immediate retry meets a refused connection, as with a dead hub
        self.down_for(match['seconds'])
        return True
