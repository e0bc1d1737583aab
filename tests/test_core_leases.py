"""orch leases around real koji tasks run by the real TaskManager.

Each test runs the kojid runner (stock ``koji.daemon.TaskManager`` in
kojid's loop) with the ``orch_resources`` drop-in against the hub and
orch simulators, and checks orch's own record of who held what.
"""

from __future__ import annotations

import os
import signal

import koji
import pytest

from orch_bridge import OrchClient
from tests.doubles.worker import wait_until

ONE = "0b1e0000-0000-4000-8000-000000000001"
POOL = ["9001%04d-0000-4000-8000-000000000000" % n for n in range(1, 3)]

CONF = """\
[orch]
url = {url}
timeout = 2
retries = 1
backoff = 0.05
release_retry = 1
journal_dir = {base}/leases
resource_dir = {base}/resources

[resource:key]
uuid = {one}

[resource:slot]
pool = {pool}

[lease:probe]
methods = {methods}
resources = {resources}
"""


def conf(orch, tmp_path, methods="leaseProbe sleep", resources="key"):
    return CONF.format(url=orch.url, base=tmp_path, one=ONE, pool=" ".join(POOL),
                       methods=methods, resources=resources)


@pytest.fixture
def resources(orch):
    orch.add_resource(ONE, "worker-key", content=b"KEYTAB-BYTES", type="principal")
    for n, uuid in enumerate(POOL):
        orch.add_resource(uuid, "slot-%d" % n, content=b"slot")
    return orch


def state(hub, task_id):
    return koji.TASK_STATES[hub.task(task_id)["state"]]


def wait_state(hub, task_id, *states, timeout=60):
    return wait_until(lambda: state(hub, task_id) in states and state(hub, task_id),
                      timeout, what="task %s to reach %s" % (task_id, states))


def held(orch):
    return sorted(h["uuid"] for h in orch.holders())


def journal_emptied(tmp_path, timeout=10):
    """Wait for the journal to empty: orch hears the release first, then
    the entry is forgotten, so orch's record may lead the journal."""
    wait_until(lambda: os.listdir(tmp_path / "leases") == [], timeout,
               what="the lease journal to empty")


def checkout_release_events(orch, uuid):
    return [e["action"] for e in orch.history() if e["uuid"] == uuid]


def start(make_worker, orch, tmp_path, **kwargs):
    worker = make_worker(confs={"orch_resources": conf(orch, tmp_path, **kwargs)},
                         plugins=["orch_resources", "lease_probe"])
    worker.wait_log(r"kojid_plugins active")
    return worker


def test_lease_is_held_while_the_handler_runs_and_released_after(
        hub, resources, make_worker, tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 2])

    wait_state(hub, task_id, "OPEN")
    wait_until(lambda: held(resources) == [ONE], 10, what="the key to be held")
    wait_state(hub, task_id, "CLOSED")
    wait_until(lambda: held(resources) == [], 10, what="the key to be released")
    journal_emptied(tmp_path)

    result = hub.task_result(task_id)
    path = result["resources"]["key"]
    assert path.endswith("/worker-key.keytab")
    assert result["files"]["key"] == {"mode": "0o600", "size": len(b"KEYTAB-BYTES")}
    assert result["env"] == {"KOJID_RESOURCE_KEY": path}
    assert not os.path.exists(path), "the file is removed with the lease"
    assert checkout_release_events(resources, ONE) == ["checkout", "release"]
    worker.stop()


@pytest.mark.parametrize("mode, final", [("generic", "FAILED"), ("raise", "FAILED")])
def test_lease_is_released_when_the_task_fails(hub, resources, make_worker, tmp_path,
                                               mode, final):
    start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", [mode, 0])
    wait_state(hub, task_id, final)
    wait_until(lambda: checkout_release_events(resources, ONE) == ["checkout", "release"],
               10, what="one checkout and one release")
    assert held(resources) == []


def test_stock_sleep_with_bad_arguments_fails_and_releases(hub, resources, make_worker,
                                                           tmp_path):
    start(make_worker, resources, tmp_path)
    task_id = hub.make_task("sleep", ["not-a-number"])
    wait_state(hub, task_id, "FAILED")
    wait_until(lambda: checkout_release_events(resources, ONE) == ["checkout", "release"],
               10, what="one checkout and one release")


@pytest.mark.skipif(not hasattr(koji.tasks, "RefuseTask"), reason="koji < 1.35 cannot refuse")
def test_lease_is_released_when_the_handler_refuses(hub, resources, make_worker, tmp_path):
    start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["refuse", 0])
    wait_until(lambda: any(r["task_id"] == task_id for r in hub.refusals()), 30,
               what="the hub to record the refusal")
    wait_until(lambda: checkout_release_events(resources, ONE)[:2] == ["checkout", "release"],
               10, what="the refused task's lease to be released")


def test_canceled_task_child_is_killed_and_its_lease_released(hub, resources, make_worker,
                                                              tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 300])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")

    hub.cancel_task(task_id)
    worker.wait_log(r"Killing canceled task %d" % task_id)
    wait_until(lambda: held(resources) == [], 15, what="the canceled task's release")
    # SIGINT lets the child release it itself; if it could not, kojid would
    worker.wait_log(r"task %d \(leaseProbe\): released key %s \((killed|canceled)\)"
                    % (task_id, ONE))
    assert checkout_release_events(resources, ONE) == ["checkout", "release"]


def test_sigkilled_task_child_has_its_lease_released_by_kojid(hub, resources, make_worker,
                                                              tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 300])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")

    child = _journal_pid(tmp_path, task_id)
    os.kill(child, signal.SIGKILL)
    wait_until(lambda: held(resources) == [], 15, what="kojid to release the dead child's key")
    worker.wait_log(r"task %d \(leaseProbe\): released key %s \(killed\)" % (task_id, ONE))
    assert checkout_release_events(resources, ONE) == ["checkout", "release"]


def _journal_pid(tmp_path, task_id):
    import json

    name = "%d.%s.json" % (task_id, ONE)
    entry = json.loads((tmp_path / "leases" / name).read_text())
    return entry["pid"]


def test_restarted_kojid_releases_what_a_killed_one_left(hub, resources, make_worker,
                                                         tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 300])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")
    orphan = _journal_pid(tmp_path, task_id)

    worker.kill()
    assert held(resources) == [ONE], "a SIGKILLed kojid leaves its lease behind"
    worker.start()  # with --force-lock: the dead kojid's exclusive session is still open
    worker.wait_log(r"stopping orphaned task process %d" % orphan)
    worker.wait_log(r"released key %s \(kojid restarted\)" % ONE)
    wait_until(lambda: not os.path.exists("/proc/%d" % orphan)
               or open("/proc/%d/stat" % orphan).read().split()[2] == "Z",
               10, what="the orphaned child to be gone")
    # the hub hands the stale task back and the new kojid runs it again
    wait_state(hub, task_id, "OPEN", "ASSIGNED", "FREE")
    assert checkout_release_events(resources, ONE)[:2] == ["checkout", "release"]


def test_pool_falls_through_to_a_free_uuid_on_409(hub, resources, make_worker, tmp_path):
    other = OrchClient(resources.url, source_address="127.0.0.9")
    other.checkout(POOL[0], str(tmp_path / "other"))
    start(make_worker, resources, tmp_path, resources="slot")

    task_id = hub.make_task("leaseProbe", ["close", 0])
    wait_state(hub, task_id, "CLOSED")
    result = hub.task_result(task_id)
    assert result["resources"]["slot"].endswith("slot-1")
    # the task closes on the hub before its lease is released
    wait_until(lambda: checkout_release_events(resources, POOL[1]) == ["checkout", "release"],
               10, what="one checkout and one release of the free slot")
    assert [h["uuid"] for h in resources.holders()] == [POOL[0]]


def test_orch_outage_refuses_softly_and_keeps_nothing(hub, resources, make_worker, tmp_path):
    worker = start(make_worker, resources, tmp_path)
    resources.set_fault("down")
    task_id = hub.make_task("leaseProbe", ["close", 0])

    worker.wait_log(r"refusing task %d \(leaseProbe\): orch resource key" % task_id)
    wait_until(lambda: [r for r in hub.refusals() if r["task_id"] == task_id], 10,
               what="the refusal to reach the hub")
    refusals = [r for r in hub.refusals() if r["task_id"] == task_id]
    assert refusals and refusals[0]["soft"]
    assert state(hub, task_id) in ("FREE", "ASSIGNED")
    resources.clear_faults()
    # the blind release of the failed checkout is retried by kojid's loop
    wait_until(lambda: os.listdir(tmp_path / "leases") == [], 15,
               what="the journal to empty once orch is back")
    # the hub hands the task back once the refusal expires; now it runs
    wait_state(hub, task_id, "CLOSED")
    wait_until(lambda: held(resources) == [], 10, what="the lease to be released")


def test_lost_checkout_reply_ends_with_exactly_one_lease(hub, resources, make_worker,
                                                         tmp_path):
    worker = start(make_worker, resources, tmp_path)
    resources.set_fault("drop_reply", count=1)
    task_id = hub.make_task("leaseProbe", ["close", 0])

    wait_state(hub, task_id, "CLOSED")
    assert "held by this worker but by no live task" in worker.log()
    wait_until(lambda: len(checkout_release_events(resources, ONE)) >= 4, 10,
               what="the task's own release")  # it follows the close on the hub
    events = checkout_release_events(resources, ONE)
    assert events == ["checkout", "release", "checkout", "release"]
    assert held(resources) == []
    assert hub.task_result(task_id)["files"]["key"]["size"] == len(b"KEYTAB-BYTES")


def test_two_tasks_wanting_one_uuid_never_hold_it_twice(hub, resources, make_worker,
                                                        tmp_path):
    worker = start(make_worker, resources, tmp_path)
    first = hub.make_task("leaseProbe", ["close", 4])
    wait_until(lambda: held(resources) == [ONE], 30, what="the first task's lease")
    second = hub.make_task("leaseProbe", ["close", 0])

    worker.wait_log(r"refusing task %d .*held by task %d on this worker" % (second, first))
    wait_state(hub, first, "CLOSED")
    wait_state(hub, second, "CLOSED", timeout=60)
    assert resources.max_concurrent([ONE]) == 1


def test_release_answered_not_checked_out_is_logged_once_and_not_retried(
        hub, resources, make_worker, tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 3])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")

    resources.force_release(ONE)
    wait_state(hub, task_id, "CLOSED")
    worker.wait_log(r"orch no longer holds key %s" % ONE)
    journal_emptied(tmp_path)
    attempts = [e for e in resources.history() if e["uuid"] == ONE and
                e["action"].startswith("release")]
    assert len(attempts) == 2  # the forced one, and ours (refused), no retry
    assert worker.log().count("orch no longer holds key %s" % ONE) == 1


def test_kojid_shutdown_releases_running_tasks_leases(hub, resources, make_worker, tmp_path):
    worker = start(make_worker, resources, tmp_path)
    hub.make_task("leaseProbe", ["close", 300])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")

    assert worker.stop() == 0
    assert held(resources) == []
    assert os.listdir(tmp_path / "leases") == []


def test_graceful_restart_carries_the_journal_into_the_new_kojid(hub, resources, make_worker,
                                                                 tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 3])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")

    resources.set_fault("down")  # the task's own release will fail
    os.kill(worker.pid, signal.SIGUSR1)
    wait_state(hub, task_id, "CLOSED")
    worker.wait_log(r"kojid_plugins active in kojid pid %d" % worker.pid, count=2)
    assert held(resources) == [ONE], "orch was down: the lease is still held"
    assert len(os.listdir(tmp_path / "leases")) == 1

    resources.clear_faults()
    wait_until(lambda: held(resources) == [], 15, what="the new kojid to release it")
    journal_emptied(tmp_path)
    assert worker.running() and worker.stop() == 0


def test_reassigned_task_child_is_killed_and_its_lease_released(hub, resources, make_worker,
                                                                tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 300])
    wait_until(lambda: held(resources) == [ONE], 30, what="the key to be held")

    hub.add_host("elsewhere", password="pw", arches="x86_64")
    admin = koji.ClientSession(hub.url, {"user": "admin", "password": "admin-pw"})
    admin.login()
    assert admin.assignTask(task_id, "elsewhere", force=True)
    worker.wait_log(r"Killing reassigned task %d" % task_id)
    wait_until(lambda: held(resources) == [], 15, what="the reassigned task's release")
    assert checkout_release_events(resources, ONE) == ["checkout", "release"]


def test_a_bad_plugin_config_stops_kojid_naming_file_section_and_key(hub, orch, make_worker,
                                                                     tmp_path):
    text = "[orch]\nurl = %s\ntimout = 3\n" % orch.url
    worker = make_worker(confs={"orch_resources": text})
    assert worker.wait(30) != 0
    path = worker.conf_dir / "orch_resources.conf"
    assert "bad config: %s [orch]: unknown key 'timout'" % path in worker.log()
    assert hub.call_log(method="host.getTasks", user=worker.name) == []


def test_the_log_never_holds_a_resource_file_content(hub, resources, make_worker, tmp_path):
    worker = start(make_worker, resources, tmp_path)
    task_id = hub.make_task("leaseProbe", ["close", 0])
    wait_state(hub, task_id, "CLOSED")
    worker.wait_log(r"task %d \(leaseProbe\): released key" % task_id)
    assert "KEYTAB-BYTES" not in worker.log()


def test_an_unexpected_leasing_error_refuses_instead_of_running_unleased(
        hub, resources, make_worker, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    text = conf(resources, tmp_path).replace(
        "resource_dir = %s/resources" % tmp_path, "resource_dir = %s/res" % blocker)
    worker = make_worker(confs={"orch_resources": text},
                         plugins=["orch_resources", "lease_probe"])
    task_id = hub.make_task("leaseProbe", ["close", 0])

    worker.wait_log(r"refusing task %d \(leaseProbe\): orch_resources could not lease"
                    % task_id)
    wait_until(lambda: [r for r in hub.refusals() if r["task_id"] == task_id], 10,
               what="the refusal to reach the hub")
    assert state(hub, task_id) != "CLOSED"
    # the refusal reaches the hub before the refused task's checkout is given back
    wait_until(lambda: held(resources) == [], 10, what="nothing held")
