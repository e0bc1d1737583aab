"""HTTP serving for the orch simulator: a threading server and its handler.

The handler reads a request and hands it to the simulator: ``/_sim/``
paths to its admin surface, everything else to the API with faults.
"""

from __future__ import annotations

import http.server
import logging
import socket
import struct
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from .admin import SIM
from .replies import Reply, content_disposition

if TYPE_CHECKING:
    from .simulator import OrchSimulator

logger = logging.getLogger("orch_sim")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: "OrchSimulator"

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("orch-sim: error serving %s", client_address, exc_info=True)


class Server6(Server):
    address_family = socket.AF_INET6


class Handler(http.server.BaseHTTPRequestHandler):
    """Reads a request and hands it to the simulator."""

    protocol_version = "HTTP/1.1"
    server_version = "gunicorn"
    sys_version = ""
    server: Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("orch-sim: %s " + format, self.client_address[0], *args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path = urlsplit(self.path).path
        sim = self.server.sim
        if path == SIM or path.startswith(SIM + "/"):
            self.send(sim._admin(self.command, path, body))
        else:
            sim._serve_api(self, path)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _handle

    def send(self, reply: Reply, cut: bool = False,
             disposition: Optional[str] = None) -> None:
        """Write ``reply``; ``cut`` sends half of the body (see ``malformed``)."""
        body = reply.body
        declared = len(body)
        if cut and reply.attachment is not None:
            body = body[:len(body) // 2]
        elif cut:
            body = body[:len(body) // 2] if len(body) > 1 else b"{"
            declared = len(body)
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.attachment is not None:
            self.send_header("Content-Disposition",
                             disposition or content_disposition(reply.attachment))
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(declared))
        if cut or not self.server.sim.keep_alive:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def reset(self) -> None:
        """Answer nothing and reset the connection (RST) when done."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self._reset = True

    def finish(self) -> None:
        super().finish()
        if getattr(self, "_reset", False):
            self.connection.close()
