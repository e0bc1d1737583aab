"""The worker's credentials for orch, checked before orch is asked.

:func:`credential_problem` looks at what ``orch_resources.conf`` points
to: the keytab (there, readable, holding the principal) when ``auth =
gssapi``, and the CA file (there, a CA certificate) when orch's URL is
https and ``ca_file`` is set.  The ``orch`` health check runs it first,
so a worker with broken credentials reports one reason, naming the file
and what to check, and is not ready until it is fixed.  Live failures
(KDC down, clock skew, an untrusted server certificate) surface from the
orch call itself as :class:`orch_bridge.OrchAuthError`.
"""

from __future__ import annotations

from typing import Any, Optional

from orch_bridge.ca import check_ca_file
from orch_bridge.credentials import CredentialProblem

__all__ = ("credential_problem",)


def credential_problem(settings: Any, kerberos: Any) -> Optional[CredentialProblem]:
    """What is wrong with the configured credentials, or ``None``.

    :param settings: the plugin's :class:`~kojid_plugins.orch_settings.Settings`
    :param kerberos: its :class:`~orch_bridge.Kerberos`, or ``None``
    :returns: the first problem found
    """
    try:
        if kerberos is not None:
            kerberos.preflight()
        ca_file = settings.orch["ca_file"]
        if ca_file and settings.url.startswith("https:"):
            check_ca_file(ca_file)
    except CredentialProblem as problem:
        return problem
    return None
