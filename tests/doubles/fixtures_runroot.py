"""Runroot test helpers: a hub with a runroot tag, workers with
``container_buildroot``, and the stock ``koji runroot`` CLI.

Import the fixtures explicitly in a test module::

    from tests.doubles.fixtures_runroot import (  # noqa: F401
        remove_test_containers, runroot_hub)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KOJI = str(Path(sys.executable).with_name("koji"))
TAG = "f-build"


@pytest.fixture
def runroot_hub(hub):
    hub.grant("admin", "runroot")
    hub.add_tag(TAG, arches="x86_64")
    hub.add_repo(TAG)
    return hub


def conf(podman_socket, tmp_path, extra=None):
    sections = {"mounts": "safe_roots = %s" % (tmp_path / "safe")}
    sections.update(extra or {})
    return podman_socket.plugin_conf(timeout=30, cpus=0.5, memory_mb=256, pids=300,
                                     sections=sections)


def start(make_worker, podman_socket, tmp_path, extra=None):
    worker = make_worker(plugins=["container_buildroot"],
                         confs={"container_buildroot": conf(podman_socket, tmp_path, extra)},
                         channels=("default", "runroot"), share_topdir=True)
    worker.wait_log(r"kojid_plugins active")
    return worker


def runroot(hub, *args, wait=True):
    profile = Path(hub.topdir).parent / "koji-runroot.conf"
    profile.write_text("[t]\nserver = %s\nauthtype = password\ntopurl = file://%s\n"
                       % (hub.url, hub.topdir))
    command = [KOJI, "-c", str(profile), "-p", "t", "--user", "admin", "--password",
               "admin-pw", "runroot", "--task-id"]
    if not wait:
        command.append("--nowait")
    return subprocess.run(command + list(args), capture_output=True, text=True,
                          timeout=300)


def task_containers(client, task_id, worker):
    found = client.containers.list(all=True, filters={"label": "koji.host=" + worker.name})
    return [c for c in found if c.labels.get("koji.task_id") == str(task_id)]


@pytest.fixture(autouse=True)
def remove_test_containers(podman_client):
    """Whatever a failed test leaves running is removed after it."""
    yield
    for container in podman_client.containers.list(all=True):
        if container.labels.get("koji.host", "").startswith("builder-%d-" % os.getpid()):
            container.reload()
            if container.status == "running":
                container.stop(timeout=0)
            container.remove()


def running(client, task_id, worker):
    found = task_containers(client, task_id, worker)
    for container in found:
        container.reload()  # list() answers carry State as a bare string
    return [c for c in found if c.status == "running"]
