"""HTTP serving for the orch simulator: a threading server and its handler.

The handler reads a request and hands it to the simulator: ``/_sim/``
paths to its admin surface, everything else to the API with faults.
"""

from __future__ import annotations

import http.server
import logging
import socket
import ssl
import struct
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from .admin import SIM
from .replies import Reply, content_disposition, html_reply

if TYPE_CHECKING:
    from .simulator import OrchSimulator

logger = logging.getLogger("orch_sim")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sim: "OrchSimulator"
    #: set for https: every accepted connection is wrapped with it
    ssl_context: Optional[ssl.SSLContext] = None

    def get_request(self) -> Any:
        sock, address = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True,
                                                do_handshake_on_connect=False)
        return sock, address

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

    def setup(self) -> None:
        super().setup()
        #: the SPNEGO answer header for an authenticated request
        self.negotiate: Optional[str] = None
        #: the Kerberos principal of the caller, when SPNEGO is required
        self.principal: Optional[str] = None
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

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
        elif self._authenticated(sim, path):
            sim._serve_api(self, path)

    def _authenticated(self, sim: "OrchSimulator", path: str) -> bool:
        """SPNEGO as mod_auth_gssapi in front of orch would do it, if required."""
        acceptor = sim.spnego
        if acceptor is None:
            return True
        try:
            self.principal, self.negotiate = acceptor.accept(
                self.headers.get("Authorization"))
        except Exception as why:  # the acceptor's Refused, with its reason
            sim._note_refused(self, path, str(why))
            self.send(html_reply(401, "Unauthorized", "This server could not verify that "
                                 "you are authorized to access the document requested.",
                                 {"WWW-Authenticate": "Negotiate"}))
            return False
        return True

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
        if self.negotiate and self.server.sim.spnego_mutual:
            # mod_auth_gssapi sends its mutual token on every answer, errors too
            self.send_header("WWW-Authenticate", self.negotiate)
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
