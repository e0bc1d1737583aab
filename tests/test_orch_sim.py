"""The orch simulator itself: orch's answers, state, faults, admin surface, CLI."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest

from tests.doubles.fixtures_orch import (CONTENT, FILE_UUID, KEY_UUID, MISSING_UUID,
                                         PRINCIPAL_UUID, WORKER_UUID, define_resources,
                                         orch_sim)
from tests.doubles.orch_sim import OrchSimulator, content_disposition

__all__ = ("orch_sim",)  # fixture, used by name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESOURCE = "/api/v2/resource/%s"


class Answer:
    """An HTTP answer: status, headers and body (parsed as JSON on demand)."""

    def __init__(self, response, body):
        self.status = response.status
        self.headers = response.headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())


def call(sim, method, path, ip="127.0.0.1", body=None, timeout=5.0):
    """One request from source address ``ip``."""
    conn = http.client.HTTPConnection(sim.host, sim.port, timeout=timeout,
                                      source_address=(ip, 0))
    try:
        payload = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=payload)
        response = conn.getresponse()
        return Answer(response, response.read())
    finally:
        conn.close()


def assert_orch_error(answer, status, code, message):
    assert answer.status == status
    assert answer.headers["Content-Type"] == "application/json"
    data = answer.json()
    assert set(data) == {"error", "request_id", "timestamp"}
    assert set(data["error"]) == {"code", "message", "details"}
    assert data["error"]["code"] == code
    assert data["error"]["message"] == message
    return data


# -- orch's answers -------------------------------------------------------------

def test_checkout_answers_the_file_as_an_attachment(orch_sim):
    answer = call(orch_sim, "POST", RESOURCE % KEY_UUID)
    assert answer.status == 200
    assert answer.body == CONTENT[KEY_UUID]
    assert answer.headers["Content-Disposition"] == "attachment; filename=hub.key"
    assert answer.headers["Content-Length"] == str(len(CONTENT[KEY_UUID]))
    assert answer.headers["Connection"] == "close"  # like gunicorn's sync workers


def test_principal_names_are_quoted_like_werkzeug(orch_sim):
    answer = call(orch_sim, "POST", RESOURCE % PRINCIPAL_UUID)
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="HTTP/koji-hub.koji.box@KOJI.BOX.keytab"')


def test_content_disposition_forms():
    assert content_disposition("a.key") == "attachment; filename=a.key"
    assert content_disposition('a "b".key') == 'attachment; filename="a \\"b\\".key"'
    assert content_disposition("r\u00e9sum\u00e9.txt") == (
        "attachment; filename=resume.txt; filename*=UTF-8''r%C3%A9sum%C3%A9.txt")
    assert content_disposition("../x", star=True, fallback="x") == (
        "attachment; filename=x; filename*=UTF-8''..%2Fx")


def test_checkout_again_by_the_same_container_is_409(orch_sim):
    assert call(orch_sim, "POST", RESOURCE % KEY_UUID).status == 200
    data = assert_orch_error(call(orch_sim, "POST", RESOURCE % KEY_UUID), 409,
                             "RESOURCE_ALREADY_CHECKED_OUT",
                             "Resource is already checked out to another container")
    assert data["error"]["details"] == {"uuid": KEY_UUID, "container_id": "unknown"}
    assert data["request_id"] is None and data["timestamp"] is None


def test_one_holder_per_uuid_under_concurrent_checkouts(orch_sim):
    results = []

    def grab(n):
        results.append(call(orch_sim, "POST", RESOURCE % FILE_UUID, ip="127.0.1.%d" % n).status)

    threads = [threading.Thread(target=grab, args=(n,)) for n in range(1, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200] + [409] * 9
    assert len(orch_sim.holders()) == 1
    assert orch_sim.max_concurrent([FILE_UUID]) == 1


def test_unknown_resource_is_404(orch_sim):
    data = assert_orch_error(call(orch_sim, "POST", RESOURCE % MISSING_UUID), 404,
                             "RESOURCE_NOT_FOUND", "resource not found")
    assert data["error"]["details"] == {"resource_type": "resource", "identifier": MISSING_UUID}
    assert_orch_error(call(orch_sim, "GET", RESOURCE % MISSING_UUID + "/status"), 404,
                      "RESOURCE_NOT_FOUND", "resource not found")


@pytest.mark.parametrize("method, suffix", [("POST", ""), ("DELETE", ""), ("GET", "/status"),
                                            ("GET", "/validate")])
def test_invalid_uuid_is_400(orch_sim, method, suffix):
    data = assert_orch_error(call(orch_sim, method, RESOURCE % "not-a-uuid" + suffix), 400,
                             "VALIDATION_ERROR", "Invalid UUID format")
    assert data["error"]["details"] == {"field": "uuid", "value": "not-a-uuid"}


def test_release_by_a_non_holder_is_400_and_recorded(orch_sim):
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    data = assert_orch_error(call(orch_sim, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.3"),
                             400, "VALIDATION_ERROR",
                             "Resource not checked out to this container")
    assert data["error"]["details"] == {"field": "resource", "value": KEY_UUID}
    assert [e["action"] for e in orch_sim.history()] == ["checkout", "release-refused"]
    answer = call(orch_sim, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.2")
    assert answer.status == 200
    assert answer.json() == {"message": "Resource released successfully", "uuid": KEY_UUID,
                             "released_at": None}


def test_unidentified_caller_is_500_container_client_error(tmp_path):
    sim = define_resources(OrchSimulator(str(tmp_path / "o.sqlite"),
                                         auto_register=False)).start()
    try:
        for method in ("POST", "DELETE"):
            data = assert_orch_error(call(sim, method, RESOURCE % KEY_UUID), 500,
                                     "CONTAINER_CLIENT_ERROR",
                                     "Container client operation failed: identification")
            assert data["error"]["details"]["details"] == "Unable to identify requesting container"
        sim.add_container("127.0.0.1", "koji-worker-1")
        assert call(sim, "POST", RESOURCE % KEY_UUID).status == 200
        assert sim.holders()[0]["container"] == "koji-worker-1"
    finally:
        sim.stop()


def test_wrong_method_and_unknown_path_answer_html(orch_sim):
    answer = call(orch_sim, "GET", RESOURCE % KEY_UUID)
    assert answer.status == 405 and "DELETE, OPTIONS, POST" == answer.headers["Allow"]
    assert answer.headers["Content-Type"].startswith("text/html")
    answer = call(orch_sim, "GET", "/api/v2/nothing")
    assert answer.status == 404 and b"<title>404 Not Found</title>" in answer.body


def test_status_shapes(orch_sim):
    free = call(orch_sim, "GET", RESOURCE % KEY_UUID + "/status").json()
    assert set(free) == {"status", "requested_at"}
    assert free["status"]["checked_out"] is False and "container_info" not in free["status"]
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    held = call(orch_sim, "GET", RESOURCE % KEY_UUID + "/status").json()["status"]
    assert held["checked_out"] is True and held["container_ip"] == "127.0.0.2"
    assert held["resource_type"] == "key" and held["actual_resource_name"] == "hub"
    assert held["container_running"] is True
    assert held["container_info"]["name"] == "ctr-127.0.0.2"
    assert held["container_info"]["id"] == held["container_id"]
    plain = call(orch_sim, "GET", "/api/v2/status/%s" % KEY_UUID).json()
    assert plain["container_ip"] == "127.0.0.2"
    assert call(orch_sim, "GET", "/api/v2/status/%s" % MISSING_UUID).json() == {
        "error": "Resource not found"}


def test_validate_answers(orch_sim):
    def validate(uuid, ip):
        return call(orch_sim, "GET", RESOURCE % uuid + "/validate", ip=ip).json()

    assert validate(KEY_UUID, "127.0.0.2") == {"can_access": True, "error": None,
                                              "validated_at": None}
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    assert validate(KEY_UUID, "127.0.0.2")["can_access"] is True
    assert validate(KEY_UUID, "127.0.0.3") == {
        "can_access": False, "error": "Resource checked out to another container",
        "validated_at": None}
    assert validate(MISSING_UUID, "127.0.0.2")["error"] == "Resource not found"
    orch_sim.set_container_running("127.0.0.2", False)
    assert validate(KEY_UUID, "127.0.0.3")["can_access"] is True  # the holder is dead


def test_service_and_ca_shapes(tmp_path):
    pem = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    sim = define_resources(OrchSimulator(str(tmp_path / "o.sqlite"), ca_pem=pem)).start()
    try:
        health = call(sim, "GET", "/api/v2/status/health").json()
        assert health == {"status": "healthy", "service": "orch-service", "version": "2.0.0",
                          "database": "connected", "container_client": "connected",
                          "mappings_loaded": 5, "containers_cleaned": 0}
        mappings = call(sim, "GET", "/api/v2/status/mappings").json()["mappings"]
        assert mappings[0] == {"uuid": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
                               "resource_type": "file", "actual_resource_name": "token.txt",
                               "description": None}
        cert = call(sim, "GET", "/api/v2/ca/certificate")
        assert cert.body == pem
        assert cert.headers["Content-Type"] == "application/x-x509-ca-cert"
        assert cert.headers["Content-Disposition"] == "attachment; filename=ca.crt"
        info = call(sim, "GET", "/api/v2/ca/info").json()
        assert info["ca_info"]["exists"] is True and "requested_at" in info
        status = call(sim, "GET", "/api/v2/ca/status").json()
        assert status["ca_exists"] is True and status["status"] == "available"
    finally:
        sim.stop()


# -- containers, state and history ------------------------------------------------

def test_stopped_container_is_swept_by_health_and_refused_release(orch_sim):
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    call(orch_sim, "POST", RESOURCE % WORKER_UUID, ip="127.0.0.3")
    orch_sim.set_container_running("127.0.0.2", False)

    assert_orch_error(call(orch_sim, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.2"), 500,
                      "CONTAINER_CLIENT_ERROR",
                      "Container client operation failed: identification")
    assert call(orch_sim, "POST", RESOURCE % FILE_UUID, ip="127.0.0.2").status == 500
    health = call(orch_sim, "GET", "/api/v2/status/health").json()
    assert health["containers_cleaned"] == 1
    assert [h["ip"] for h in orch_sim.holders()] == ["127.0.0.3"]
    assert orch_sim.sweep() == 0


def test_checkout_reclaims_from_a_stopped_holder(orch_sim):
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    orch_sim.set_container_running("127.0.0.2", False)
    assert call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.3").status == 200
    assert [(e["action"], e["ip"]) for e in orch_sim.history()] == [
        ("checkout", "127.0.0.2"), ("reclaim", "127.0.0.2"), ("checkout", "127.0.0.3")]
    assert orch_sim.max_concurrent([KEY_UUID]) == 1


def test_sweep_releases_stopped_containers(orch_sim):
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    call(orch_sim, "POST", RESOURCE % FILE_UUID, ip="127.0.0.2")
    orch_sim.set_container_running("127.0.0.2", False)
    assert orch_sim.sweep() == 2
    assert orch_sim.holders() == []
    assert [e["action"] for e in orch_sim.history()][-2:] == ["sweep", "sweep"]


def test_force_release(orch_sim):
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    assert orch_sim.force_release(KEY_UUID) is True
    assert orch_sim.force_release(KEY_UUID) is False
    assert call(orch_sim, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.2").status == 400
    actions = [e["action"] for e in orch_sim.history()]
    assert actions == ["checkout", "release-forced", "release-refused"]


def test_max_concurrent_over_a_pool(orch_sim):
    pool = [KEY_UUID, FILE_UUID, WORKER_UUID]
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    call(orch_sim, "POST", RESOURCE % FILE_UUID, ip="127.0.0.3")
    call(orch_sim, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.2")
    call(orch_sim, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.2")  # refused: changes nothing
    call(orch_sim, "POST", RESOURCE % WORKER_UUID, ip="127.0.0.2")
    call(orch_sim, "POST", RESOURCE % PRINCIPAL_UUID, ip="127.0.0.4")  # not in the pool
    assert orch_sim.max_concurrent(pool) == 2
    call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.5")
    assert orch_sim.max_concurrent(pool) == 3
    assert orch_sim.max_concurrent([MISSING_UUID]) == 0


def test_state_survives_a_restart(tmp_path):
    path = str(tmp_path / "o.sqlite")
    sim = define_resources(OrchSimulator(path)).start()
    assert sim.journal_mode == "wal"
    call(sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    sim.stop()

    again = OrchSimulator(path).start()
    try:
        assert [(h["uuid"], h["ip"]) for h in again.holders()] == [(KEY_UUID, "127.0.0.2")]
        assert call(again, "POST", RESOURCE % KEY_UUID, ip="127.0.0.3").status == 409
        assert call(again, "DELETE", RESOURCE % KEY_UUID, ip="127.0.0.2").status == 200
        assert [e["action"] for e in again.history()] == ["checkout", "release"]
    finally:
        again.stop()


def test_request_log_records_source_address_and_port(orch_sim):
    call(orch_sim, "GET", "/api/v2/status/health", ip="127.0.0.7")
    call(orch_sim, "GET", "/_sim/holders")
    seen = orch_sim.requests()
    assert len(seen) == 1  # /_sim/ requests are not counted
    assert seen[0]["ip"] == "127.0.0.7" and seen[0]["status"] == 200 and seen[0]["port"] > 0


def test_refuses_to_listen_off_loopback(tmp_path):
    with pytest.raises(ValueError):
        OrchSimulator(str(tmp_path / "o.sqlite"), host="0.0.0.0")


# -- faults -------------------------------------------------------------------------

def connect_refused(sim):
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((sim.host, sim.port), timeout=2).close()


def test_down_closes_the_listener_and_clear_rebinds_the_same_port(orch_sim):
    port = orch_sim.port
    orch_sim.set_fault("down")
    connect_refused(orch_sim)
    assert orch_sim.faults() == {"down": {}}
    orch_sim.clear_faults()
    assert orch_sim.port == port
    assert call(orch_sim, "GET", "/api/v2/status/health").status == 200


def test_down_for_a_while_comes_back_by_itself(orch_sim):
    orch_sim.set_fault("down", seconds=0.2)
    connect_refused(orch_sim)
    deadline = threading.Event()
    for _ in range(100):
        if "down" not in orch_sim.faults():
            break
        deadline.wait(0.05)
    assert call(orch_sim, "GET", "/api/v2/status/health").status == 200


def test_hang_answers_nothing_until_cleared(orch_sim):
    orch_sim.set_fault("hang", seconds=30)
    with pytest.raises(socket.timeout):
        call(orch_sim, "GET", "/api/v2/status/health", timeout=0.3)
    orch_sim.clear_faults()
    assert call(orch_sim, "GET", "/api/v2/status/health").status == 200
    assert [r["fault"] for r in orch_sim.requests()] == ["hang", None]


def test_slow_still_answers(orch_sim):
    orch_sim.set_fault("slow", seconds=0.1)
    assert call(orch_sim, "GET", "/api/v2/status/health").status == 200
    assert orch_sim.requests()[0]["fault"] == "slow"


def test_http5xx_for_the_next_n_requests(orch_sim):
    orch_sim.set_fault("http5xx", status=503, count=2)
    statuses = [call(orch_sim, "POST", RESOURCE % KEY_UUID).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert len(orch_sim.holders()) == 1  # the failed ones changed nothing


def test_http5xx_answers_an_orch_error_body(orch_sim):
    orch_sim.set_fault("http5xx", status=500)
    assert_orch_error(call(orch_sim, "GET", "/api/v2/status/health"), 500, "INTERNAL_ERROR",
                      "Simulated server failure (HTTP 500)")


def test_malformed_cuts_json_and_files(orch_sim):
    orch_sim.set_fault("malformed")
    answer = call(orch_sim, "GET", "/api/v2/status/health")
    assert answer.status == 200
    with pytest.raises(ValueError):
        answer.json()
    with pytest.raises(http.client.IncompleteRead):
        call(orch_sim, "POST", RESOURCE % KEY_UUID)


def test_hostile_filename_only_changes_the_header(orch_sim):
    orch_sim.set_fault("hostile_filename")
    answer = call(orch_sim, "POST", RESOURCE % KEY_UUID)
    assert answer.headers["Content-Disposition"] == 'attachment; filename="../../etc/passwd"'
    assert answer.body == CONTENT[KEY_UUID]


def test_drop_reply_does_the_work_then_resets(orch_sim):
    orch_sim.set_fault("drop_reply")
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2")
    assert [h["ip"] for h in orch_sim.holders()] == ["127.0.0.2"]
    assert call(orch_sim, "POST", RESOURCE % KEY_UUID, ip="127.0.0.2").status == 409
    assert orch_sim.faults() == {}


def test_unknown_fault_kind_is_refused(orch_sim):
    with pytest.raises(ValueError):
        orch_sim.set_fault("gremlins")


# -- the simulator-only admin surface ----------------------------------------------

def test_admin_surface(orch_sim):
    new_uuid = "6f7a8b9c-adbe-4f60-9b7c-8d9eafb0c1d2"
    added = call(orch_sim, "POST", "/_sim/resources",
                 body={"uuid": new_uuid, "name": "extra", "type": "cert", "content": "PEM"})
    assert new_uuid in [m["uuid"] for m in added.json()["mappings"]]
    assert call(orch_sim, "POST", RESOURCE % new_uuid, ip="127.0.0.2").body == b"PEM"

    assert call(orch_sim, "GET", "/_sim/holders").json()["holders"][0]["uuid"] == new_uuid
    assert call(orch_sim, "GET", "/_sim/history").json()["history"][0]["action"] == "checkout"
    assert len(call(orch_sim, "GET", "/_sim/requests").json()["requests"]) == 1

    faults = call(orch_sim, "POST", "/_sim/faults", body={"kind": "http5xx", "count": 1})
    assert faults.json() == {"faults": {"http5xx": {"count": 1}}}
    assert call(orch_sim, "GET", "/api/v2/status/health").status == 503
    call(orch_sim, "POST", "/_sim/faults", body={"kind": "slow", "seconds": 5})
    assert call(orch_sim, "DELETE", "/_sim/faults").json() == {"faults": {}}

    stopped = call(orch_sim, "POST", "/_sim/containers", body={"ip": "127.0.0.2",
                                                               "running": False})
    assert stopped.json()["container"]["running"] == 0
    assert call(orch_sim, "POST", "/_sim/sweep").json() == {"swept": 1}
    assert call(orch_sim, "POST", "/_sim/release", body={"uuid": new_uuid}).json() == {
        "released": False}
    assert call(orch_sim, "POST", "/_sim/faults", body={"nokind": 1}).status == 400
    assert call(orch_sim, "GET", "/_sim/nothing").status == 404


def test_admin_down_with_seconds_comes_back(orch_sim):
    assert call(orch_sim, "POST", "/_sim/faults", body={"kind": "down",
                                                        "seconds": 0.2}).status == 200
    waiter = threading.Event()
    for _ in range(100):
        if "down" not in orch_sim.faults():
            break
        waiter.wait(0.05)
    assert call(orch_sim, "GET", "/api/v2/status/health").status == 200


# -- the command line ---------------------------------------------------------------

def test_cli_prints_url_serves_resources_and_stops_on_sigterm(tmp_path):
    resources = tmp_path / "resources.json"
    resources.write_text(json.dumps([
        {"uuid": KEY_UUID, "name": "hub", "type": "key", "content": "KEY"},
        {"uuid": FILE_UUID, "name": "blob.bin", "content_b64": "AAEC"},
    ]))
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.orch_sim", "--db", str(tmp_path / "cli.sqlite"),
         "--port", "0", "--resources", str(resources)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(tmp_path))
    try:
        url = proc.stdout.readline().decode().strip()
        assert url.startswith("http://127.0.0.1:")
        host, port = url[len("http://"):].split(":")

        class Target:
            pass

        target = Target()
        target.host, target.port = host, int(port)
        assert call(target, "POST", RESOURCE % KEY_UUID).body == b"KEY"
        assert call(target, "POST", RESOURCE % FILE_UUID).body == b"\x00\x01\x02"
        hang = {"kind": "hang", "seconds": 60}
        assert call(target, "POST", "/_sim/faults", body=hang).status == 200
        with pytest.raises(socket.timeout):
            call(target, "GET", "/api/v2/status/health", timeout=0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0
