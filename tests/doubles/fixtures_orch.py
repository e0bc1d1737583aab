"""Shared pytest fixtures for the orch_bridge and orch simulator tests.

Import them explicitly in a test module::

    from tests.doubles.fixtures_orch import orch_sim, make_client  # noqa: F401

``orch_sim`` is a started :class:`OrchSimulator` (its state in the
test's ``tmp_path``) with the resources below defined; ``make_client``
builds :class:`OrchClient` objects against it and closes them afterwards.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from orch_bridge import OrchClient
from tests.doubles.orch_sim import OrchSimulator

#: a plain file resource, served as ``token.txt``
FILE_UUID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
#: a private key, served as ``hub.key``
KEY_UUID = "1a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d"
#: a certificate, served as ``hub.crt``
CERT_UUID = "2b3c4d5e-6f7a-4b2c-9d3e-4f5a6b7c8d9e"
#: a principal keytab whose orch name holds a '/', like real principals
PRINCIPAL_UUID = "3c4d5e6f-7a8b-4c3d-8e4f-5a6b7c8d9eaf"
#: a worker keytab, served as ``koji-worker.keytab``
WORKER_UUID = "4d5e6f7a-8b9c-4d4e-9f5a-6b7c8d9eafb0"
#: a well-formed UUID orch does not know
MISSING_UUID = "5e6f7a8b-9cad-4e5f-8a6b-7c8d9eafb0c1"

CONTENT = {
    FILE_UUID: b"file-bytes\n",
    KEY_UUID: b"-----BEGIN PRIVATE KEY-----\nsimulated\n-----END PRIVATE KEY-----\n",
    CERT_UUID: b"-----BEGIN CERTIFICATE-----\nsimulated\n-----END CERTIFICATE-----\n",
    PRINCIPAL_UUID: b"\x05\x02keytab-bytes",
    WORKER_UUID: b"\x05\x02worker-keytab",
}


def define_resources(sim: OrchSimulator) -> OrchSimulator:
    """Define the standard test resources on ``sim``.

    :param sim: the simulator
    :returns: the simulator
    """
    sim.add_resource(FILE_UUID, "token.txt", CONTENT[FILE_UUID], type="file")
    sim.add_resource(KEY_UUID, "hub", CONTENT[KEY_UUID], type="key")
    sim.add_resource(CERT_UUID, "hub", CONTENT[CERT_UUID], type="cert")
    sim.add_resource(PRINCIPAL_UUID, "HTTP/koji-hub.koji.box@KOJI.BOX",
                     CONTENT[PRINCIPAL_UUID], type="principal")
    sim.add_resource(WORKER_UUID, "koji-worker", CONTENT[WORKER_UUID], type="worker")
    return sim


@pytest.fixture
def orch_sim(tmp_path: Any) -> Iterator[OrchSimulator]:
    """A started simulator with the standard resources."""
    sim = define_resources(OrchSimulator(str(tmp_path / "orch-sim.sqlite"))).start()
    yield sim
    sim.stop()


@pytest.fixture
def make_client(orch_sim: OrchSimulator) -> Iterator[Callable[..., OrchClient]]:
    """``make_client(**kwargs)``: an ``OrchClient`` for ``orch_sim``.

    Defaults: ``timeout=5``, ``retries=0``, ``backoff=0``; pass ``url`` to
    point it elsewhere.
    """
    clients: List[OrchClient] = []

    def make(**kwargs: Any) -> OrchClient:
        kwargs.setdefault("timeout", 5.0)
        kwargs.setdefault("retries", 0)
        kwargs.setdefault("backoff", 0.0)
        client = OrchClient(kwargs.pop("url", orch_sim.url), **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
