"""Shared fixtures: the hub and orch simulators, and workers against them."""

from __future__ import annotations

import itertools
import os

import pytest

from tests.doubles.fixtures_kdc import kdc, kerberos_hub  # noqa: F401
from tests.doubles.hub_sim import HubSimulator
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.worker import Worker

ADMIN = ("admin", "admin-pw")

_names = itertools.count(1)


@pytest.fixture
def hub(tmp_path):
    # a soft refusal keeps a task from its host for 3 s here (hub default: 900 s)
    sim = HubSimulator(str(tmp_path / "hub.sqlite"), str(tmp_path / "topdir"),
                       soft_refusal_timeout=3.0).start()
    sim.add_user(ADMIN[0], ADMIN[1], perms=("admin",))
    yield sim
    sim.stop()


@pytest.fixture
def orch(tmp_path):
    sim = OrchSimulator(str(tmp_path / "orch.sqlite")).start()
    yield sim
    sim.stop()


@pytest.fixture
def make_worker(tmp_path, hub):
    """``make_worker(confs=..., plugins=..., kojid=...)``: a started worker."""
    workers = []

    def make(name=None, start=True, **kwargs):
        # unique across test sessions: containers are labelled with it
        name = name or "builder-%d-%d" % (os.getpid(), next(_names))
        hub.add_host(name, password=name + "-pw", arches=kwargs.pop("arches", "x86_64"),
                     channels=kwargs.pop("channels", ("default",)))
        worker = Worker(tmp_path / name, hub.url, name, name + "-pw", **kwargs)
        workers.append(worker)
        if start:
            worker.start()
        return worker

    yield make
    for worker in workers:
        if worker.running():
            worker.kill_all()
