"""A podman service restarted under running build roots.

Containers run under conmon, not under the service: a restart of the
service (an upgrade, a crash) must neither fail the build nor leave a
container behind.  These tests stop and start the private test service
itself while real runroot tasks run.
"""

from __future__ import annotations

import threading
import time

import koji

from tests.doubles.fixtures_podman import podman_client, podman_socket  # noqa: F401
from tests.doubles.fixtures_runroot import (  # noqa: F401
    TAG, remove_test_containers, runroot, runroot_hub, running, start, task_containers)
from tests.doubles.podman_env import podman_service_start, podman_service_stop
from tests.doubles.worker import wait_until


def state(hub, task_id):
    return koji.TASK_STATES[hub.task(task_id)["state"]]


def test_a_service_restart_mid_task_does_not_fail_the_build(runroot_hub, make_worker,
                                                            podman_socket, podman_client,
                                                            tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, "--use-shell", TAG, "x86_64",
                   "echo before; sleep 8; echo after", wait=False)
    task_id = int(done.stdout.split()[0])
    wait_until(lambda: running(podman_client, task_id, worker), 60, what="a running container")

    podman_service_stop()
    try:
        worker.wait_log(r"podman service at \S+ stopped answering while container \w+ runs")
        time.sleep(2)
    finally:
        podman_service_start()

    wait_until(lambda: state(runroot_hub, task_id) in ("CLOSED", "FAILED"), 60,
               what="the task to end")
    assert state(runroot_hub, task_id) == "CLOSED", runroot_hub.task_result(task_id)
    log = koji.ClientSession(runroot_hub.url).downloadTaskOutput(task_id, "runroot.log")
    assert log == b"before\nafter\n"
    assert task_containers(podman_client, task_id, worker) == []


def test_containers_a_down_service_kept_are_removed_once_it_is_back(
        runroot_hub, make_worker, podman_socket, podman_client, tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, TAG, "x86_64", "sleep", "300", wait=False)
    task_id = int(done.stdout.split()[0])
    wait_until(lambda: running(podman_client, task_id, worker), 60, what="a running container")

    podman_service_stop()
    try:
        runroot_hub.cancel_task(task_id)
        worker.wait_log(r"task %d: could not remove its containers \(canceled\), will retry"
                        % task_id)
    finally:
        podman_service_start()

    worker.wait_log(r"task %d: its containers are removed now" % task_id)
    assert task_containers(podman_client, task_id, worker) == []
    assert worker.running()


def test_the_wait_gives_up_when_the_service_stays_away(podman_socket, podman_client):
    from kojid_plugins.containers import BuildrootContainers, PodmanError

    containers = BuildrootContainers(podman_socket.url, "builder-restart-test", timeout=3)
    made = containers.create(podman_socket.image, ["sleep", "30"], {"koji.test": "restart"},
                             [], {"cpus": 1, "memory_mb": 128, "pids": 100}, False)
    stopper = threading.Timer(1.0, podman_service_stop)
    stopper.start()
    try:
        try:
            containers.run(made, "/dev/null")
        except PodmanError as error:
            message = str(error)
        else:
            message = ""
    finally:
        stopper.join()
        podman_service_start()
        made.remove(force=True)
    assert "did not answer for" in message and made.id[:12] in message


def test_a_service_started_from_a_directory_later_removed_still_starts_containers(
        podman_socket, podman_client, tmp_path):
    """The service must not keep its starter's directory: once a test checkout
    (or any caller's directory) is removed, runc could not start containers."""
    from kojid_plugins.containers import BuildrootContainers

    starter = tmp_path / "checkout"
    starter.mkdir()
    podman_service_stop()
    try:
        podman_service_start(cwd=str(starter))
    finally:
        starter.rmdir()
    containers = BuildrootContainers(podman_socket.url, "builder-cwd-test", timeout=30)
    made = containers.create(podman_socket.image, ["true"], {"koji.test": "cwd"}, [],
                             {"cpus": 1, "memory_mb": 128, "pids": 100}, False)
    try:
        assert containers.run(made, "/dev/null") == 0
    finally:
        containers.remove(made)
