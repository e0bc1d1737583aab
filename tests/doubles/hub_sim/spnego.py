"""SPNEGO (HTTP Negotiate) acceptor: what mod_auth_gssapi does for the hub.

A request to ``/kojihub/ssllogin`` without ``Authorization: Negotiate``
gets 401 with ``WWW-Authenticate: Negotiate``; the client (requests-gssapi
inside koji's ``gssapi_login``) sends its token, which is accepted here with
the acceptor keytab (any principal in it, as ``GssapiCredStore keytab:``
allows).  A verified token yields the client principal (``REMOTE_USER``,
full ``name@REALM`` as with ``GssapiLocalName Off``) and the server's
mutual-authentication token for the 200 answer; a bad one another 401.
"""

from __future__ import annotations

import base64
import binascii
import logging

import gssapi

logger = logging.getLogger('hub_sim.spnego')

SCHEME = 'Negotiate'


class Refused(Exception):
    """The request is not authenticated; the message says why (for logs)."""


class Acceptor:
    """Verifies Negotiate tokens with one keytab.

    :param keytab: path of the acceptor keytab (``HTTP/host@REALM`` keys)
    """

    def __init__(self, keytab: str):
        self.keytab = str(keytab)

    def accept(self, authorization):
        """(principal, answer header value) for an ``Authorization`` value.

        :raises Refused: no Negotiate token, or one that does not verify
        """
        token = _token_of(authorization)
        try:
            creds = gssapi.Credentials(usage='accept',
                                       store={'keytab': self.keytab})
            context = gssapi.SecurityContext(creds=creds, usage='accept')
            answer = context.step(token)
            # python-gssapi may hold a step's error until the next access
            complete = context.complete
            principal = str(context.initiator_name) if complete else None
        except gssapi.exceptions.GSSError as error:
            raise Refused('GSSAPI rejected the token: %s' % error)
        if not complete:
            raise Refused('the GSSAPI exchange needs more than one step')
        header = SCHEME
        if answer:
            header += ' ' + base64.b64encode(answer).decode('ascii')
        logger.info('SPNEGO: %s authenticated', principal)
        return principal, header


def _token_of(authorization) -> bytes:
    if not authorization:
        raise Refused('no Authorization header')
    scheme, _sep, value = authorization.strip().partition(' ')
    if scheme.lower() != SCHEME.lower() or not value.strip():
        raise Refused('Authorization is not a Negotiate token')
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused('the Negotiate token is not base64')
