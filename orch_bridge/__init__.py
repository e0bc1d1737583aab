"""orch_bridge: a client for Boxed Koji's orch service (V2 API).

It checks resources (keytabs, certificates, keys) out of orch and back
in, with timeouts, bounded retries and typed errors, and writes checked
out files atomically with mode 0600.  It imports nothing from koji, so
plugins and the ``orch-bridge`` command line tool can both use it.
"""

from __future__ import annotations

import logging

from .client import CheckoutResult, OrchClient
from .errors import (OrchConflict, OrchError, OrchNotFound, OrchProtocolError,
                     OrchServerError, OrchUnavailable, OrchValidationError,
                     UnsafeResourceName)

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
)

logging.getLogger("orch_bridge").addHandler(logging.NullHandler())
