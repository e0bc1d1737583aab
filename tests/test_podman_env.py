"""Podman build-root groundwork: real containers through podman-py.

Each test drives the private service of ``tools/podman-env.sh`` over
its socket.  Containers run with no network; none is ever started on
podman's default bridge.
"""

from __future__ import annotations

import re
from typing import Dict, List

from tests.doubles.fixtures_podman import (  # noqa: F401
    make_container, podman_client, podman_socket)

#: half a CPU, in the unit of docker's ``nano_cpus``
HALF_CPU = 500_000_000

#: the CFS period the CPU limits below are expressed in, microseconds
CPU_PERIOD = 100_000

MIB = 1024 * 1024


def cpu_options(nano_cpus: int) -> Dict[str, int]:
    """podman-py options limiting a container to *nano_cpus*.

    podman-py drops its ``nano_cpus`` keyword without a word (see
    :func:`test_podman_py_drops_nano_cpus`); a CFS quota over a period
    is the same limit, and podman reports it back as ``NanoCpus``.
    """
    return {"cpu_period": CPU_PERIOD,
            "cpu_quota": nano_cpus * CPU_PERIOD // 1_000_000_000}


def run_to_end(container) -> int:
    """Start *container*, wait for it to exit; return its exit code."""
    container.start()
    return container.wait()


def output(container, stdout: bool = True, stderr: bool = False) -> str:
    """The logs of a container that has exited, as text."""
    return b"".join(container.logs(stdout=stdout, stderr=stderr)).decode()


def interfaces(proc_net_dev: str) -> List[str]:
    """The interface names in the text of ``/proc/net/dev``."""
    return [line.split(":")[0].strip()
            for line in proc_net_dev.splitlines()[2:] if ":" in line]


def test_exit_code_and_logs_are_read_after_exit(podman_socket,
                                                 podman_client):
    container = podman_client.containers.create(
        podman_socket.image, command=["sh", "-c", "echo hello; exit 3"],
        network_mode="none", labels={"koji.test": "exit"})
    try:
        assert run_to_end(container) == 3

        container.reload()
        assert container.status == "exited"
        assert container.attrs["State"]["ExitCode"] == 3
        assert output(container) == "hello\n"
    finally:
        container.remove(force=True)

    assert not podman_client.containers.exists(container.id)


def test_resource_limits_are_read_back(make_container):
    container = make_container(["true"], mem_limit="64m", pids_limit=100,
                               **cpu_options(HALF_CPU))

    host_config = container.inspect()["HostConfig"]

    assert host_config["Memory"] == 64 * MIB
    assert host_config["PidsLimit"] == 100
    assert host_config["NanoCpus"] == HALF_CPU
    assert host_config["CpuQuota"] == 50_000
    assert host_config["CpuPeriod"] == CPU_PERIOD


def test_resource_limits_apply_inside(make_container):
    script = ("cd /sys/fs/cgroup;"
              " cat memory/memory.limit_in_bytes 2>/dev/null"
              " || cat memory.max;"
              " cat pids/pids.max 2>/dev/null || cat pids.max;"
              " cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us 2>/dev/null"
              " || cat cpu.max")
    container = make_container(["sh", "-c", script], mem_limit="64m",
                               pids_limit=100, **cpu_options(HALF_CPU))

    assert run_to_end(container) == 0

    # the same words from cgroup v1 files and from v2's memory.max,
    # pids.max and cpu.max ("50000 100000")
    assert output(container).split() == [
        str(64 * MIB), "100", "50000", str(CPU_PERIOD)]


def test_podman_py_drops_nano_cpus(make_container):
    # podman-py ignores nano_cpus: product code must use cpu_options()
    container = make_container(["true"], nano_cpus=HALF_CPU)

    host_config = container.inspect()["HostConfig"]

    assert host_config["NanoCpus"] == 0
    assert host_config["CpuQuota"] == 0


def test_containers_are_found_by_label(make_container, podman_client):
    wanted = make_container(["true"], labels={"koji.task_id": "42"})
    other = make_container(["true"], labels={"koji.task_id": "43"})
    unlabelled = make_container(["true"])
    run_to_end(wanted)

    found = podman_client.containers.list(
        all=True, filters={"label": "koji.task_id=42"})

    ids = [c.id for c in found]
    assert wanted.id in ids
    assert other.id not in ids
    assert unlabelled.id not in ids
    assert all(c.labels.get("koji.task_id") == "42" for c in found)


def test_no_network_container_has_only_loopback(make_container):
    container = make_container(["cat", "/proc/net/dev"],
                               network_mode="none")

    assert run_to_end(container) == 0

    assert interfaces(output(container)) == ["lo"]
    assert container.inspect()["HostConfig"]["NetworkMode"] == "none"


def test_configured_default_network_is_none(podman_socket, podman_client):
    # created but never started: a wrong default must not reach a bridge
    container = podman_client.containers.create(
        podman_socket.image, command=["true"],
        labels={"koji.test": "netns"})
    try:
        assert container.inspect()["HostConfig"]["NetworkMode"] == "none"
    finally:
        container.remove(force=True)


def test_read_only_bind_mount_cannot_be_written(make_container, tmp_path):
    (tmp_path / "hello").write_text("from host\n")
    mount = {"type": "bind", "source": str(tmp_path), "target": "/data"}
    script = "cat /data/hello; touch /data/new"
    writable = make_container(["sh", "-c", script], mounts=[mount])
    read_only = make_container(["sh", "-c", script],
                               mounts=[dict(mount, read_only=True)])

    assert run_to_end(writable) == 0
    assert (tmp_path / "new").exists()
    (tmp_path / "new").unlink()

    assert run_to_end(read_only) != 0
    assert output(read_only) == "from host\n"
    assert "Read-only file system" in output(read_only, False, True)
    assert not (tmp_path / "new").exists()


def test_configured_ulimits_apply(podman_socket, make_container):
    with open(podman_socket.containers_conf) as conf:
        wanted = dict(re.findall(r'"(nofile|nproc)=(\d+):\d+"', conf.read()))
    container = make_container(["cat", "/proc/self/limits"])

    assert run_to_end(container) == 0

    limits = {}
    for line in output(container).splitlines():
        if line.startswith("Max open files"):
            limits["nofile"] = line.split()[3:5]
        elif line.startswith("Max processes"):
            limits["nproc"] = line.split()[2:4]
    assert sorted(wanted) == ["nofile", "nproc"]
    assert limits == {key: [value, value] for key, value in wanted.items()}

