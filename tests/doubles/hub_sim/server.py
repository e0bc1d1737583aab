"""HTTP front of the simulator: a loopback ThreadingHTTPServer at /kojihub.

POSTs with ``Content-Type: application/octet-stream`` are rawUpload
chunks, every other POST is an XML-RPC call.  Like the hub's WSGI app,
other verbs get 405, unreadable bodies 400, and every answer carries the
``Koji-Version`` header.  Connections are closed after each answer
(HTTP/1.0), so stopping the server really refuses further calls.

With an SSL context the server speaks https (the TLS handshake runs in
the request's thread).  With a SPNEGO :class:`~.spnego.Acceptor`,
``/kojihub/ssllogin`` is guarded as mod_auth_gssapi guards it on a real
hub: no verified Negotiate token, 401; a verified one passes its
principal to the call as REMOTE_USER.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import koji

from .dispatch import BadRequest, Dispatcher
from .spnego import Refused

logger = logging.getLogger('hub_sim.server')
HUB_PATHS = ('/kojihub', '/kojihub/ssllogin')
LOGIN_PATH = '/kojihub/ssllogin'


def check_loopback(address: str) -> None:
    """Refuse to listen anywhere but on 127.0.0.0/8."""
    loopback = ipaddress.ip_network('127.0.0.0/8')
    if ipaddress.ip_address(address) not in loopback:
        raise ValueError('hub simulator listens on loopback only, not %s'
                         % address)


class HubHTTPServer(ThreadingHTTPServer):
    """Threaded server holding the dispatcher its handlers use."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, dispatcher: Dispatcher, ssl_context=None,
                 acceptor=None, outages=None):
        check_loopback(address[0])
        self.dispatcher = dispatcher
        self.ssl_context = ssl_context
        self.acceptor = acceptor
        self.outages = outages
        super().__init__(address, HubRequestHandler)

    def get_request(self):
        sock, address = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address):
        logger.debug('request from %s failed', client_address, exc_info=True)


class HubRequestHandler(BaseHTTPRequestHandler):
    """One HTTP request to the simulated hub."""

    server_version = 'hub_sim'
    timeout = 60

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()

    def log_message(self, format, *args):
        logger.debug('%s - %s', self.address_string(), format % args)

    def _reply(self, status: int, body: str, ctype: str, extra=()) -> None:
        data = body.encode('utf-8')
        self.send_response(status)
        self.send_header('Koji-Version', koji.__version__)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _not_allowed(self) -> None:
        self._reply(405, 'Method Not Allowed\nThis is an XML-RPC server.'
                    ' Only POST requests are accepted.\n', 'text/plain',
                    extra=[('Allow', 'POST')])

    do_GET = _not_allowed
    do_PUT = _not_allowed
    do_HEAD = _not_allowed

    def do_POST(self) -> None:
        path, _sep, query = self.path.partition('?')
        if path.rstrip('/') not in HUB_PATHS:
            self._reply(404, 'Not Found\n', 'text/plain')
            return

        length = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(length) if length else b''
        outages = self.server.outages
        if outages is not None and outages.should_cut(body):
            # the hub died with this call in flight: no answer at all
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        dispatcher = self.server.dispatcher
        remote_ip = self.client_address[0]
        remote_user, extra = None, []
        if path.rstrip('/') == LOGIN_PATH and self.server.acceptor:
            try:
                remote_user, answer = self.server.acceptor.accept(
                    self.headers.get('Authorization'))
            except Refused as e:
                logger.info('ssllogin from %s refused: %s', remote_ip, e)
                self._reply(401, 'Unauthorized\n', 'text/plain',
                            extra=[('WWW-Authenticate', 'Negotiate')])
                return
            extra.append(('WWW-Authenticate', answer))
        try:
            if self.headers.get('Content-Type') == 'application/octet-stream':
                text = dispatcher.handle_upload(self.headers, query, body,
                                                remote_ip)
            else:
                text = dispatcher.handle_rpc(self.headers, query, body,
                                             remote_ip,
                                             remote_user=remote_user)
        except BadRequest as e:
            self._reply(400, '%s\n' % e, 'text/plain')
            return
        self._reply(200, text, 'text/xml', extra=extra)


class ServerThread:
    """Runs a HubHTTPServer in a daemon thread; can stop and restart."""

    def __init__(self, dispatcher: Dispatcher, host: str, port: int,
                 ssl_context=None, acceptor=None, outages=None):
        self.dispatcher = dispatcher
        self.outages = outages
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.acceptor = acceptor
        self._server = None
        self._thread = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = HubHTTPServer((self.host, self.port), self.dispatcher,
                                     self.ssl_context, self.acceptor, self.outages)
        # remember the port picked for port 0 so a restart reuses it
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name='hub-sim-%d' % self.port,
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
        self._thread = None
