"""runroot in podman build roots, driven by the stock ``koji runroot`` CLI.

A worker (the kojid runner with ``container_buildroot``) takes runroot
tasks the real CLI makes on the hub simulator, and runs them in real
containers from a locally built image on a private podman service.
"""

from __future__ import annotations

import os
import signal
import subprocess

import koji

from tests.doubles.fixtures_podman import podman_client, podman_socket  # noqa: F401
from tests.doubles.fixtures_runroot import (  # noqa: F401
    TAG, remove_test_containers, runroot, runroot_hub, running, start, task_containers)
from tests.doubles.worker import wait_until


def test_stock_cli_runs_a_command_in_a_container_and_prints_its_output(
        runroot_hub, make_worker, podman_socket, podman_client, tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, TAG, "x86_64", "echo", "hello from the build root")
    assert done.returncode == 0, done.stderr
    task_id = int(done.stdout.splitlines()[0])
    assert "hello from the build root" in done.stdout
    assert koji.TASK_STATES[runroot_hub.task(task_id)["state"]] == "CLOSED"
    assert task_containers(podman_client, task_id, worker) == []
    roots = koji.ClientSession(runroot_hub.url).listBuildroots(taskID=task_id)
    assert [koji.BR_STATES[r["state"]] for r in roots] == ["EXPIRED"]


def test_failing_command_fails_the_task_with_its_status(runroot_hub, make_worker,
                                                        podman_socket, tmp_path):
    start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, "--use-shell", TAG, "x86_64", "echo before; exit 3")
    assert done.returncode == 1
    task_id = int(done.stdout.splitlines()[0])
    assert "before" in done.stdout
    info = runroot_hub.task(task_id)
    assert koji.TASK_STATES[info["state"]] == "FAILED"
    assert "exited with status 3" in str(runroot_hub.task_result(task_id))


def test_shell_string_runs_in_the_container_not_on_the_host(runroot_hub, make_worker,
                                                            podman_socket, tmp_path):
    start(make_worker, podman_socket, tmp_path)
    marker = tmp_path / "host-marker"
    command = "echo one && echo two | tr o 0; touch %s; cat /proc/net/dev" % marker
    done = runroot(runroot_hub, "--use-shell", TAG, "x86_64", command)
    assert done.returncode == 0, done.stderr
    assert "one\ntw0\n" in done.stdout
    assert not marker.exists(), "the command ran on the host"
    interfaces = [line.split(":")[0].strip() for line in done.stdout.splitlines()
                  if ":" in line and "|" not in line]
    assert interfaces == ["lo"], "a build root has no network but loopback"


def test_every_line_is_in_the_log_even_when_the_command_exits_at_once(
        runroot_hub, make_worker, podman_socket, tmp_path):
    start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, TAG, "x86_64", "seq", "1", "30000")
    assert done.returncode == 0, done.stderr
    numbers = [line for line in done.stdout.splitlines()[1:] if line.isdigit()]
    assert numbers[-1] == "30000" and len(numbers) == 30000


def test_limits_are_applied_to_the_container(runroot_hub, make_worker, podman_socket,
                                             podman_client, tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, TAG, "x86_64", "sleep", "30", wait=False)
    task_id = int(done.stdout.splitlines()[0])
    found = wait_until(lambda: task_containers(podman_client, task_id, worker), 60,
                       what="the task's container")
    host = found[0].inspect()["HostConfig"]
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["PidsLimit"] == 300
    assert host["CpuQuota"] == 50000 and host["CpuPeriod"] == 100000
    assert host["NetworkMode"] == "none"
    runroot_hub.cancel_task(task_id)


def test_cancel_mid_run_removes_the_container(runroot_hub, make_worker, podman_socket,
                                              podman_client, tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, TAG, "x86_64", "sleep", "300", wait=False)
    task_id = int(done.stdout.splitlines()[0])
    wait_until(lambda: running(podman_client, task_id, worker), 60, what="a running container")
    runroot_hub.cancel_task(task_id)
    worker.wait_log(r"Killing canceled task %d" % task_id)
    wait_until(lambda: task_containers(podman_client, task_id, worker) == [], 15,
               what="the canceled task's container to be removed")


def test_restarted_worker_removes_containers_a_killed_one_left(
        runroot_hub, make_worker, podman_socket, podman_client, tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, TAG, "x86_64", "sleep", "300", wait=False)
    task_id = int(done.stdout.splitlines()[0])
    wait_until(lambda: running(podman_client, task_id, worker), 60, what="a running container")
    children = subprocess.run(["pgrep", "-P", str(worker.pid)],
                              capture_output=True, text=True).stdout.split()
    worker.kill()
    for pid in children:
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except OSError:
            pass
    assert task_containers(podman_client, task_id, worker), "the container outlives kojid"
    worker.start()
    worker.wait_log(r"removing build-root container \w+ left by a previous kojid")
    wait_until(lambda: task_containers(podman_client, task_id, worker) == [], 15,
               what="the leftover container to be gone")


def test_disallowed_image_is_refused_with_a_clear_error(runroot_hub, make_worker,
                                                        podman_socket, tmp_path):
    start(make_worker, podman_socket, tmp_path, {"tag:f-other": "image = quay.example/evil:1"})
    runroot_hub.add_tag("f-other", arches="x86_64")
    runroot_hub.add_repo("f-other")
    done = runroot(runroot_hub, "f-other", "x86_64", "true")
    assert done.returncode == 1
    task_id = int(done.stdout.splitlines()[0])
    result = str(runroot_hub.task_result(task_id))
    assert "image quay.example/evil:1 is not allowed by" in result


def test_the_tags_extra_container_image_wins_over_the_config(runroot_hub, make_worker,
                                                             podman_socket, tmp_path):
    start(make_worker, podman_socket, tmp_path)
    runroot_hub.edit_tag(TAG, extra={"container.image": "quay.example/from-extra:2"})
    done = runroot(runroot_hub, TAG, "x86_64", "true")
    assert done.returncode == 1
    task_id = int(done.stdout.splitlines()[0])
    assert "image quay.example/from-extra:2 is not allowed" in str(
        runroot_hub.task_result(task_id))
