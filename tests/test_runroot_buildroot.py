"""runroot build roots beyond the command: packages from the tag's repo,
``upload_logs``, the build-root hooks, the start-up self-check, and a
container that fails to start.

Real containers on the private podman service; the repo is a real rpm
repo (an rpm built in the test image, indexed with createrepo_c) in the
hub simulator's topdir, which the container reads through the read-only
topdir mount.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import koji
import pytest

from kojid_plugins.containers import BuildrootContainers, PodmanError
from tests.doubles.fixtures_podman import podman_client, podman_socket  # noqa: F401
from tests.doubles.fixtures_runroot import (  # noqa: F401
    TAG, conf, remove_test_containers, runroot, runroot_hub, start, task_containers)
from tests.doubles.worker import wait_until

SPEC = """\
Name: koji-hello
Version: 1.0
Release: 3
Summary: a package for runroot tests
License: MIT
BuildArch: noarch
%description
A file to find in the build root.
%install
mkdir -p %{buildroot}/usr/share/koji-hello
echo 'hello from an rpm' > %{buildroot}/usr/share/koji-hello/greeting
%files
/usr/share/koji-hello/greeting
"""


@pytest.fixture(scope="session")
def hello_rpm(tmp_path_factory, podman_socket, podman_client):  # noqa: F811
    """koji-hello-1.0-3.noarch.rpm, built with rpmbuild in the test image."""
    work = tmp_path_factory.mktemp("rpmbuild")
    (work / "hello.spec").write_text(SPEC)
    container = podman_client.containers.create(
        podman_socket.image, ["sh", "-c", "rpmbuild -bb --define '_topdir /tmp/rb' "
                              "/w/hello.spec && cp /tmp/rb/RPMS/noarch/*.rpm /w/"],
        mounts=[{"type": "bind", "source": str(work), "target": "/w"}],
        network_mode="none", labels={"koji.test": "rpmbuild"})
    try:
        container.start()
        assert container.wait() == 0, b"".join(container.logs()).decode()
    finally:
        container.remove(force=True)
    return work / "koji-hello-1.0-3.noarch.rpm"


def fill_repo(hub, tag, rpm):
    """Put ``rpm`` in the tag's current repo, as a real rpm repo."""
    session = koji.ClientSession(hub.url)
    repo = session.getRepo(tag)
    arch_dir = "%s/x86_64" % koji.PathInfo(hub.topdir).repo(repo["id"], tag)
    shutil.copy(str(rpm), arch_dir)
    shutil.rmtree("%s/repodata" % arch_dir)  # the simulator's placeholder index
    subprocess.run(["createrepo_c", "-q", arch_dir], check=True)
    return repo


def test_packages_are_installed_from_the_tags_repo(runroot_hub, make_worker, podman_socket,
                                                   hello_rpm, tmp_path):
    fill_repo(runroot_hub, TAG, hello_rpm)
    start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, "--package", "koji-hello", TAG, "x86_64",
                   "cat", "/usr/share/koji-hello/greeting")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello from an rpm" in done.stdout
    task_id = int(done.stdout.splitlines()[0])

    root = koji.ClientSession(runroot_hub.url).listBuildroots(taskID=task_id)[0]
    listed = [(r["name"], r["version"], r["release"])
              for r in runroot_hub.buildroot_rpms(root["id"])]
    assert ("koji-hello", "1.0", "3") in listed


def test_a_package_the_repo_lacks_fails_the_task_naming_it(runroot_hub, make_worker,
                                                            podman_socket, hello_rpm,
                                                            tmp_path):
    fill_repo(runroot_hub, TAG, hello_rpm)
    start(make_worker, podman_socket, tmp_path)
    done = runroot(runroot_hub, "--package", "no-such-package", TAG, "x86_64", "true")
    assert done.returncode == 1
    assert "no-such-package" in done.stdout
    task_id = int(done.stdout.splitlines()[0])
    assert koji.TASK_STATES[runroot_hub.task(task_id)["state"]] == "FAILED"


def wait_closed(hub, task_id, timeout=120):
    return wait_until(lambda: koji.TASK_STATES[hub.task(task_id)["state"]]
                      in ("CLOSED", "FAILED", "CANCELED") and hub.task(task_id),
                      timeout, what="task %d to end" % task_id)


def test_upload_logs_are_read_from_the_build_root_and_uploaded(runroot_hub, make_worker,
                                                               podman_socket, tmp_path):
    start(make_worker, podman_socket, tmp_path)
    session = koji.ClientSession(runroot_hub.url, {"user": "admin", "password": "admin-pw"})
    session.login()
    task_id = session.runroot(TAG, "x86_64", "mkdir -p /tmp/out && echo built > "
                              "/tmp/out/result.txt && echo note > /root/notes.log && echo made",
                              upload_logs=["tmp/out/result.txt", "/root/notes.log"])
    wait_closed(runroot_hub, task_id)
    assert koji.TASK_STATES[runroot_hub.task(task_id)["state"]] == "CLOSED"
    outputs = session.listTaskOutput(task_id)
    assert sorted(outputs) == ["notes.log", "result.txt", "runroot.log"]
    assert session.downloadTaskOutput(task_id, "result.txt") == b"built\n"


def test_an_upload_log_missing_from_the_build_root_fails_the_task_naming_it(
        runroot_hub, make_worker, podman_socket, podman_client, tmp_path):
    worker = start(make_worker, podman_socket, tmp_path)
    session = koji.ClientSession(runroot_hub.url, {"user": "admin", "password": "admin-pw"})
    session.login()
    task_id = session.runroot(TAG, "x86_64", "true", upload_logs=["tmp/absent.log"])
    wait_closed(runroot_hub, task_id)
    assert koji.TASK_STATES[runroot_hub.task(task_id)["state"]] == "FAILED"
    assert "upload_logs: no file /tmp/absent.log in build root" in str(
        runroot_hub.task_result(task_id))
    assert task_containers(podman_client, task_id, worker) == []


def test_build_root_hooks_fire_around_the_container(runroot_hub, make_worker, podman_socket,
                                                    tmp_path):
    probe = tmp_path / "probe.jsonl"
    worker = make_worker(plugins=["container_buildroot", "buildroot_probe"],
                         confs={"container_buildroot": _conf(podman_socket, tmp_path)},
                         channels=("default", "runroot"), share_topdir=True,
                         env={"KOJID_BUILDROOT_PROBE": str(probe)})
    worker.wait_log(r"kojid_plugins active")
    done = runroot(runroot_hub, TAG, "x86_64", "true")
    assert done.returncode == 0, done.stderr
    task_id = int(done.stdout.splitlines()[0])

    seen = [json.loads(line) for line in probe.read_text().splitlines()]
    root = koji.ClientSession(runroot_hub.url).listBuildroots(taskID=task_id)[0]
    expected = {"task": task_id, "id": root["id"], "tag": TAG, "arch": "x86_64",
                "image": podman_socket.image}
    assert seen == [dict(expected, hook="created"), dict(expected, hook="destroyed")]


def _conf(podman_socket, tmp_path, default=None):  # noqa: F811
    text = conf(podman_socket, tmp_path)
    if default:
        text = text.replace("default = %s" % podman_socket.image, "default = %s" % default)
    return text


def test_a_failing_self_check_makes_the_worker_not_ready_with_the_error(
        runroot_hub, make_worker, podman_socket, tmp_path):
    worker = make_worker(plugins=["container_buildroot"], channels=("default", "runroot"),
                         share_topdir=True,
                         confs={"container_buildroot": _conf(
                             podman_socket, tmp_path, default="localhost/no-such-image:1")})
    worker.wait_log(r"build-root self-check failed, worker not ready: .*"
                    r"localhost/no-such-image:1")
    session = koji.ClientSession(runroot_hub.url)
    wait_until(lambda: session.getHost(worker.name)["ready"] is False, 30,
               what="the host to be not ready")
    task_id = runroot(runroot_hub, TAG, "x86_64", "true", wait=False).stdout.split()[0]
    # two more passes of kojid's loop with the task waiting: it is not taken
    passes = worker.log().count("Not ready for task")
    worker.wait_log("Not ready for task", count=passes + 2)
    assert koji.TASK_STATES[runroot_hub.task(int(task_id))["state"]] == "FREE"
    assert worker.running(), "a failing self-check must not stop kojid"


def test_a_container_that_fails_to_start_is_removed(podman_socket, podman_client):  # noqa
    containers = BuildrootContainers(podman_socket.url, "builder-selftest", timeout=30)
    made = containers.create(podman_socket.image, ["/no/such/program"],
                             {"koji.test": "start-failure"}, [],
                             {"cpus": 1, "memory_mb": 128, "pids": 100}, False)
    with pytest.raises(PodmanError, match="could not start container %s" % made.id[:12]):
        containers.run(made, "/dev/null")
    assert not podman_client.containers.exists(made.id)
