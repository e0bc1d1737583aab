"""Fault injection for the orch simulator, and serving API requests under it.

:class:`FaultInjection` is mixed into :class:`OrchSimulator`, which sets
up the state used here and provides ``_open_listener`` and
``_close_listener``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .replies import Reply, content_disposition

logger = logging.getLogger("orch_sim")

if TYPE_CHECKING:
    from .api import OrchApi
    from .server import Handler

FAULT_KINDS = ("down", "hang", "slow", "http5xx", "malformed", "hostile_filename",
               "drop_reply")


class FaultInjection:
    """The fault methods of :class:`OrchSimulator`."""

    _api: OrchApi
    _fault_lock: threading.Lock
    _faults: Dict[str, Dict[str, Any]]
    _down: bool
    _timer: Optional[threading.Timer]
    _wake: threading.Event
    _requests: List[Dict[str, Any]]

    def set_fault(self, kind: str, **params: Any) -> None:
        """Inject a fault until :meth:`clear_faults` (or ``count`` uses).

        Kinds and their parameters:

        * ``down`` (``seconds``: come back by itself after that long):
          close the listening socket; clearing rebinds the same port
        * ``hang`` (``seconds``, default 60): accept, never answer
        * ``slow`` (``seconds``, default 1): wait, then answer
        * ``http5xx`` (``status`` 500/502/503, default 503; ``body``: a
          raw non-JSON body instead of orch's error JSON): answer that
          instead of doing the work (any ``status`` works, so a test can
          also send an arbitrary 200 answer)
        * ``malformed``: JSON answers cut to invalid JSON, files cut short
        * ``hostile_filename`` (``name``, default ``../../etc/passwd``;
          ``star``: send it as ``filename*``; ``fallback``: plain name)
        * ``drop_reply``: do the work, then reset the connection

        Every kind but ``down`` takes ``count``: how many requests it
        affects (default: all while set; 1 for ``drop_reply``).

        :param kind: one of :data:`FAULT_KINDS`
        :param params: the kind's parameters
        :raises ValueError: on an unknown kind
        """
        if kind not in FAULT_KINDS:
            raise ValueError("fault kind must be one of %s" % ", ".join(FAULT_KINDS))
        if kind == "down":
            self._go_down(params.get("seconds"))
            return
        params.setdefault("count", 1 if kind == "drop_reply" else None)
        with self._fault_lock:
            self._faults[kind] = dict(params)

    def _go_down(self, seconds: Optional[float]) -> None:
        with self._fault_lock:
            self._down = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if seconds is not None:
                self._timer = threading.Timer(float(seconds), self._come_back)
                self._timer.daemon = True
                self._timer.start()
        self._close_listener()

    def _come_back(self) -> None:
        with self._fault_lock:
            was_down, self._down = self._down, False
        if was_down:
            self._open_listener()

    def clear_faults(self) -> None:
        """Remove every fault, wake hung requests and listen again if down."""
        with self._fault_lock:
            self._faults.clear()
            self._wake.set()
            self._wake = threading.Event()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._come_back()

    def faults(self) -> Dict[str, Dict[str, Any]]:
        """The active faults and their parameters.

        :returns: kind -> parameters (``down`` included while down)
        """
        with self._fault_lock:
            active = {kind: dict(params) for kind, params in self._faults.items()}
            if self._down:
                active["down"] = {}
        return active

    def _take(self, kind: str) -> Optional[Dict[str, Any]]:
        """The fault's parameters if active, using up one ``count``."""
        with self._fault_lock:
            params = self._faults.get(kind)
            if params is None:
                return None
            if params.get("count") is not None:
                params["count"] -= 1
                if params["count"] <= 0:
                    del self._faults[kind]
            return dict(params)

    def _failure(self, params: Dict[str, Any]) -> Reply:
        status = int(params.get("status", 503))
        if params.get("body") is not None:
            return Reply(status, str(params["body"]).encode(), "text/html; charset=utf-8")
        return self._api.error(status, "INTERNAL_ERROR",
                               "Simulated server failure (HTTP %d)" % status)

    def _note_refused(self, handler: Handler, path: str, why: str) -> None:
        """Record an API request SPNEGO turned away (status 401)."""
        logger.info("orch-sim: %s %s from %s refused: %s", handler.command, path,
                    handler.client_address[0], why)
        with self._fault_lock:
            self._requests.append({"time": time.time(), "method": handler.command,
                                   "path": path, "ip": handler.client_address[0],
                                   "port": handler.client_address[1], "status": 401,
                                   "fault": None, "principal": None, "refused": why})

    def _serve_api(self, handler: Handler, path: str) -> None:
        """Answer one API request, applying the active faults."""
        entry: Dict[str, Any] = {"time": time.time(), "method": handler.command,
                                 "path": path, "ip": handler.client_address[0],
                                 "port": handler.client_address[1], "status": None,
                                 "fault": None, "principal": handler.principal}
        with self._fault_lock:
            self._requests.append(entry)
            wake = self._wake

        hang = self._take("hang")
        if hang is not None:
            entry["fault"] = "hang"
            wake.wait(float(hang.get("seconds", 60)))
            handler.close_connection = True
            return

        slow = self._take("slow")
        if slow is not None:
            entry["fault"] = "slow"
            wake.wait(float(slow.get("seconds", 1)))

        failure = self._take("http5xx")
        if failure is not None:
            entry["fault"] = "http5xx"
            reply = self._failure(failure)
        else:
            reply = self._api.route(handler.command, path, entry["ip"])

        disposition = None
        if reply.attachment is not None and reply.status == 200 and "/resource/" in path:
            hostile = self._take("hostile_filename")
            if hostile is not None:
                entry["fault"] = "hostile_filename"
                disposition = content_disposition(
                    str(hostile.get("name", "../../etc/passwd")), bool(hostile.get("star")),
                    hostile.get("fallback"))

        if self._take("drop_reply") is not None:
            entry["fault"] = "drop_reply"
            handler.reset()
            return

        cut = self._take("malformed") is not None
        if cut:
            entry["fault"] = "malformed"
        entry["status"] = reply.status
        handler.send(reply, cut=cut, disposition=disposition)
