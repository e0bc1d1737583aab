"""orch_bridge: a client for Boxed Koji's orch service (V2 API).

It checks resources (keytabs, certificates, keys) out of orch and back
in, with timeouts, bounded retries and typed errors, and writes checked
out files atomically with mode 0600.  It imports nothing from koji, so
plugins and the ``orch-bridge`` command line tool can both use it.
"""

from __future__ import annotations

import logging

from .client import CheckoutResult, OrchClient
from .credentials import CredentialProblem
from .errors import (OrchAuthError, OrchConflict, OrchError, OrchNotFound,
                     OrchProtocolError, OrchServerError, OrchUnavailable,
                     OrchValidationError, UnsafeResourceName)
from .spnego import Kerberos

__all__ = (
    "OrchClient",
    "CheckoutResult",
    "OrchError",
    "OrchValidationError",
    "OrchNotFound",
    "OrchConflict",
    "OrchServerError",
    "OrchUnavailable",
    "OrchProtocolError",
    "UnsafeResourceName",
    "OrchAuthError",
    "CredentialProblem",
    "Kerberos",
)

logging.getLogger("orch_bridge").addHandler(logging.NullHandler())
