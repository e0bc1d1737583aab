"""``make demo``: one worker, real koji tasks, orch leases around each.

Starts the hub and orch simulators on loopback, a worker (the kojid
runner with the ``orch_resources`` and ``worker_health`` plugins),
submits tasks with the real ``koji`` CLI (``sleep``, ``fork``, and a
``sleep`` that fails), shows which leases each task acquired and
released, runs a command in a podman build root with the stock
``koji runroot`` CLI (:mod:`tools.demo_runroot`), shows the worker with
the real ``koji list-hosts``, stops orch for a moment to show the worker
go not ready and come back, runs ``koji-worker verify`` and
``koji-worker health``, stops the worker and checks that orch holds
nothing and no container is left.  Everything lives in a temporary
directory, removed at the end (``--keep`` keeps it).  Exit status 0
means every check passed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import koji

from tests.doubles.hub_sim import HubSimulator
from tests.doubles.orch_sim import OrchSimulator
from tests.doubles.podman_env import PodmanEnv, podman_env_down, podman_env_up
from tests.doubles.worker import Worker, wait_until
from tools import demo_runroot

SLOTS = ["5a1e0000-0000-4000-8000-00000000000%d" % n for n in (1, 2)]
SIGNING = "5e7e0000-0000-4000-8000-000000000001"

PLUGIN_CONF = """\
[orch]
url = {orch}
timeout = 5
journal_dir = {base}/leases
resource_dir = {base}/resources

[resource:build-slot]
pool = {slots}

[resource:signing-key]
uuid = {signing}

[lease:every-task]
methods = *
resources = build-slot

[lease:sleepers-sign]
methods = sleep
resources = signing-key
"""

HEALTH_CONF = """\
[health]
status_file = {base}/status.json
pid_file = {base}/kojid.pid
min_free_mb = 64
"""

KOJI_CONF = str(Path(__file__).with_name("koji-demo.conf"))

TASKS = [("sleep", "[2]"), ("fork", "[2, 1]"), ("sleep", "['not-a-number']")]


def say(text: str = "") -> None:
    print(text, flush=True)


def koji_cli(hub_url: str, *args: str) -> str:
    """Run the real koji CLI as the demo's admin; its standard output."""
    command = [str(Path(sys.executable).with_name("koji")), "-c", KOJI_CONF, "-p", "demo",
               "--server", hub_url, "--authtype", "password", "--user", "admin",
               "--password", "demo-admin", *args]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit("koji %s failed: %s" % (" ".join(args), done.stderr.strip()))
    return done.stdout


def submit(hub_url: str) -> List[int]:
    ids = []
    for method, args in TASKS:
        out = koji_cli(hub_url, "call", "--python", "makeTask", repr(method), args)
        ids.append(int(out.strip()))
        say("  submitted task %s: %s %s" % (ids[-1], method, args))
    return ids


def lease_lines(log: str, task_id: int) -> List[str]:
    pattern = re.compile(r"(refusing task %d \(|task %d \([^)]*\): (acquired|released|"
                         r"checkout of|release of|orch no longer)).*" % (task_id, task_id))
    return [m.group(0) for m in pattern.finditer(log)]


def run(base: Path) -> int:
    say("== starting the private podman service (tools/podman-env.sh up)")
    podman = podman_env_up()
    say("  podman %s, build-root image %s" % (podman.url, podman.image))

    say("\n== starting the hub and orch simulators on loopback")
    # a soft refusal keeps a task from its host for 5 s here (real hub: 900 s)
    hub = HubSimulator(str(base / "hub.sqlite"), str(base / "topdir"),
                       soft_refusal_timeout=5.0).start()
    orch = OrchSimulator(str(base / "orch.sqlite")).start()
    hub.add_user("admin", "demo-admin", perms=("admin",))
    hub.add_host("worker-1", password="demo-worker", arches="x86_64",
                 channels=("default", "runroot"))
    demo_runroot.prepare_hub(hub)
    for uuid in SLOTS:
        orch.add_resource(uuid, "build-slot-%s" % uuid[-1], content=b"slot token\n")
    orch.add_resource(SIGNING, "signing", content=b"-----BEGIN KEY-----\n", type="key")
    say("  hub  %s\n  orch %s" % (hub.url, orch.url))

    conf = PLUGIN_CONF.format(orch=orch.url, base=base, slots=" ".join(SLOTS),
                              signing=SIGNING)
    worker = Worker(base / "worker-1", hub.url, "worker-1", "demo-worker",
                    plugins=["orch_resources", "worker_health", "container_buildroot"],
                    confs={"orch_resources": conf,
                           "worker_health": HEALTH_CONF.format(base=base / "worker-1"),
                           "container_buildroot": podman.plugin_conf()},
                    kojid={"topdir": hub.topdir})  # shared, as /mnt/koji is
    try:
        return _drive(hub, orch, worker, podman)
    finally:
        if worker.running():
            worker.stop()
        orch.stop()
        hub.stop()
        podman_env_down()


def _drive(hub: HubSimulator, orch: OrchSimulator, worker: Worker,
           podman: PodmanEnv) -> int:
    say("\n== starting worker-1: kojid runner + orch_resources, worker_health, "
        "container_buildroot")
    worker.start()
    worker.wait_log(r"kojid_plugins active in kojid pid")

    say("\n== submitting real koji tasks with the koji CLI")
    ids = submit(hub.url)
    states = _wait_done(hub, ids)

    say("\n== what each task leased")
    log = worker.log()
    for task_id, (method, args) in zip(ids, TASKS):
        say("task %s  %s %s  -> %s" % (task_id, method, args, states[task_id]))
        for line in lease_lines(log, task_id):
            say("    " + line)

    runroot = demo_runroot.run(hub.url, podman, worker.name, koji_cli, say)
    problems = _runroot_problems(hub, worker, runroot)

    say("\n== koji list-hosts (the real CLI, against the hub)")
    say(koji_cli(hub.url, "list-hosts").rstrip())

    readiness = _orch_outage(hub, orch, worker)
    verified = _verify_and_health(hub, worker)

    say("\n== stopping worker-1 (SIGTERM)")
    code = worker.stop()
    held = orch.holders()
    say("  kojid exit status %s; leases still held in orch: %d" % (code, len(held)))
    return _verdict(ids, states, worker.log(), held, code, problems + readiness + verified)


def _runroot_problems(hub: HubSimulator, worker: Worker, runroot: dict) -> List[str]:
    problems = []
    task_id = runroot["task_id"]
    if "hello from a podman build root" not in runroot["output"]:
        problems.append("runroot output lacks the command's line")
    if task_id is None or koji.TASK_STATES[hub.task(task_id)["state"]] != "CLOSED":
        problems.append("runroot task %s did not close" % task_id)
    if runroot["leftovers"]:
        problems.append("containers left behind: %s" % " ".join(runroot["leftovers"]))
    if task_id is None:
        return problems
    try:
        wait_until(lambda: any(" released " in line
                               for line in lease_lines(worker.log(), task_id)),
                   15, what="the runroot task's lease to be released")
    except AssertionError as error:
        problems.append(str(error))
    say("  leases of runroot task %s:" % task_id)
    for line in lease_lines(worker.log(), task_id):
        say("    " + line)
    return problems


def _ready_flag(hub_url: str) -> str:
    for line in koji_cli(hub_url, "list-hosts").splitlines():
        if line.startswith("worker-1 "):
            return line.split()[2]
    return "?"


def _orch_outage(hub: HubSimulator, orch: OrchSimulator, worker: Worker) -> List[str]:
    """Stop orch for a moment: the worker goes not ready, then ready again."""
    say("\n== orch stops for a moment")
    orch.set_fault("down")
    problems = []
    try:
        wait_until(lambda: _ready_flag(hub.url) == "N", 30, what="worker-1 not ready")
        say("  koji list-hosts: worker-1 Rdy N")
        for found in re.findall(r"health check orch failing.*", worker.log()):
            say("    " + found)
    except AssertionError as error:
        problems.append(str(error))
    orch.clear_faults()
    say("== orch is back")
    try:
        wait_until(lambda: _ready_flag(hub.url) == "Y", 30, what="worker-1 ready again")
        say("  koji list-hosts: worker-1 Rdy Y")
    except AssertionError as error:
        problems.append(str(error))
    return problems


def _verify_and_health(hub: HubSimulator, worker: Worker) -> List[str]:
    tool = [sys.executable, "-m", "kojid_plugins.cli"]
    say("\n== koji-worker verify worker-1 --arch x86_64 --channel default")
    verify = subprocess.run(tool + ["verify", "--server", hub.url, "--noauth", "worker-1",
                                    "--arch", "x86_64", "--channel", "default"],
                            capture_output=True, text=True)
    say((verify.stdout + verify.stderr).rstrip())
    say("\n== koji-worker health")
    health = subprocess.run(tool + ["health", "--conf-dir", str(worker.conf_dir)],
                            capture_output=True, text=True)
    say((health.stdout + health.stderr).rstrip())
    problems = []
    if verify.returncode:
        problems.append("koji-worker verify exited %d" % verify.returncode)
    if health.returncode:
        problems.append("koji-worker health exited %d" % health.returncode)
    return problems


def _wait_done(hub: HubSimulator, ids: List[int]) -> Dict[int, str]:
    def states() -> Dict[int, str]:
        return {i: koji.TASK_STATES[hub.task(i)["state"]] for i in ids}

    wait_until(lambda: all(s in ("CLOSED", "FAILED") for s in states().values()),
               timeout=120, what="the demo tasks to finish")
    return states()


def _verdict(ids: List[int], states: Dict[int, str], log: str, held: list,
             code: int, problems: List[str]) -> int:
    expected = ["CLOSED", "CLOSED", "FAILED"]
    for task_id, want in zip(ids, expected):
        if states[task_id] != want:
            problems.append("task %s ended %s, expected %s" % (task_id, states[task_id], want))
        lines = lease_lines(log, task_id)
        acquired = sum(" acquired " in line for line in lines)
        released = sum(" released " in line for line in lines)
        if acquired == 0 or acquired != released:
            problems.append("task %s: %d acquired, %d released" % (task_id, acquired, released))
    if held:
        problems.append("orch still holds %r" % held)
    if code != 0:
        problems.append("kojid exited with %s" % code)
    say("\n== verdict")
    for problem in problems:
        say("  FAIL: " + problem)
    say("  all checks passed" if not problems else "  %d check(s) failed" % len(problems))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="koji-worker-demo."))
    started = time.monotonic()
    try:
        code = run(base)
    finally:
        if args.keep:
            say("work directory kept: %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    say("demo finished in %.1f s" % (time.monotonic() - started))
    return code


if __name__ == "__main__":
    sys.exit(main())
