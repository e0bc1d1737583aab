"""A test double of Boxed Koji's orch service (V2 API) on loopback.

It answers the same paths with the same shapes, status codes and error
JSON as orch (``services/orch/app/v2``), from the standard library only:

* ``POST/DELETE /api/v2/resource/<uuid>``: checkout (the file, as an
  attachment) and release; ``GET .../<uuid>/status`` and ``.../validate``
* ``GET /api/v2/status/health`` (also sweeps stopped containers' leases),
  ``/api/v2/status/mappings`` and ``/api/v2/status/<uuid>``
* ``GET /api/v2/ca/certificate``, ``/ca/info``, ``/ca/status``

The caller is the "container" whose IP the request comes from.  A
registry maps IPs to containers; any loopback caller is registered as a
running container ``ctr-<ip>`` on first sight (unless disabled).  Like
orch, which lists only running containers, a stopped container cannot
be identified: its checkout and release get ``500 CONTAINER_CLIENT_ERROR``.
State (resources, containers, holders, history) lives in SQLite (WAL),
so a restarted simulator on the same file keeps its holders.

Faults can be injected (:meth:`OrchSimulator.set_fault`): ``down``,
``hang``, ``slow``, ``http5xx``, ``malformed``, ``hostile_filename`` and
``drop_reply``.

Simulator-only admin paths, for a demo driving it from another process,
live under ``/_sim/`` and are never faulted: ``POST/DELETE/GET
/_sim/faults``, ``GET /_sim/holders``, ``/_sim/history``,
``/_sim/requests``, ``POST /_sim/resources``, ``/_sim/containers``,
``/_sim/sweep`` and ``/_sim/release`` (a forced release).  Real orch has none of these.

Where it differs from orch on purpose: orch maps a checkout from
127.0.0.1 to its own host address (so such a caller could not release);
here every IP stands for itself.  orch gives each container its own
instance of a ``worker`` resource; here every UUID has one holder unless
:meth:`OrchSimulator.use_kerberos` is on, which makes worker keytabs as
orch does (per-container principal by scale index, kadmin, ``koji
add-host``) in a test realm (:mod:`.worker_keytabs`).

Run it standalone with::

    python -m tests.doubles.orch_sim --db FILE --port N [--resources JSON_FILE]

which prints its URL on the first line of stdout and serves until SIGTERM.

The package: :mod:`.store` (SQLite state), :mod:`.replies` and
:mod:`.api` (the V2 routes and orch's answers), :mod:`.server` (HTTP
serving), :mod:`.faults` (fault injection), :mod:`.admin` (``/_sim/``),
:mod:`.simulator` (:class:`OrchSimulator`) and :mod:`.cli`.
"""

from __future__ import annotations

from .admin import resource_from_json  # noqa: F401  (imported from here)
from .cli import main
from .faults import FAULT_KINDS
from .replies import content_disposition  # noqa: F401  (imported from here)
from .simulator import RESOURCE_TYPES, OrchSimulator

__all__ = ("OrchSimulator", "FAULT_KINDS", "RESOURCE_TYPES", "main")
