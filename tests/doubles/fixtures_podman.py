"""Pytest fixtures for tests against a real podman service.

Import them explicitly in a test module::

    from tests.doubles.fixtures_podman import (  # noqa: F401
        make_container, podman_client, podman_socket)

``podman_socket`` is the :class:`~tests.doubles.podman_env.PodmanEnv`
of a private service (``tools/podman-env.sh up``, once per session;
stopped at the end if the session started it).  It skips the test when
not run as root, which rootful podman needs.  ``podman_client`` is a
podman-py client on that socket; ``make_container`` creates containers
from the test image with no network and removes them after the test.
"""

from __future__ import annotations

import itertools
import os
from typing import Any, Callable, Iterator, List

import pytest
from podman import PodmanClient
from podman.errors import NotFound

from tests.doubles.podman_env import PodmanEnv, podman_env_down, podman_env_up

#: the label every container made by these fixtures carries
TEST_LABEL = "koji.test"

_names = itertools.count(1)


@pytest.fixture(scope="session")
def podman_socket() -> Iterator[PodmanEnv]:
    """The private podman service: socket URL, test image, config files."""
    if os.geteuid() != 0:
        pytest.skip("rootful podman needs root")

    yield podman_env_up()

    podman_env_down()


@pytest.fixture(scope="session")
def podman_client(podman_socket: PodmanEnv) -> Iterator[PodmanClient]:
    """A podman-py client on the private service."""
    client = PodmanClient(base_url=podman_socket.url)
    yield client
    client.close()


@pytest.fixture
def make_container(podman_socket: PodmanEnv, podman_client: PodmanClient
                   ) -> Iterator[Callable[..., Any]]:
    """``make_container(command, **options)``: a created container.

    The container runs the test image with ``network_mode="none"``
    unless *options* say otherwise, and carries the label
    ``koji.test=<pid>``.  After the test each one still there is killed
    (``stop(timeout=0)``: ``remove(force=True)`` alone would wait the
    10 s stop timeout on a shell that ignores SIGTERM) and removed.
    """
    made: List[Any] = []

    def make(command: List[str], **options: Any) -> Any:
        options.setdefault("network_mode", "none")
        labels = dict(options.pop("labels", {}))
        labels[TEST_LABEL] = str(os.getpid())
        name = "koji-test-%d-%d" % (os.getpid(), next(_names))
        container = podman_client.containers.create(
            podman_socket.image, command=command, name=name,
            labels=labels, **options)
        made.append(container)
        return container

    yield make

    for container in made:
        try:
            container.reload()
            if container.status == "running":
                container.stop(timeout=0)
            container.remove(force=True)
        except NotFound:
            pass
