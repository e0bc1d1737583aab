"""OrchClient against the orch simulator: errors, retries, holders, processes.

The files a checkout writes: test_orch_bridge_files.py; URL and source
address checks: test_orch_bridge_addresses.py.
"""

from __future__ import annotations

import json
import logging
import os

import pytest

from orch_bridge import (OrchClient, OrchConflict, OrchError, OrchNotFound,
                         OrchProtocolError, OrchServerError, OrchUnavailable,
                         OrchValidationError, UnsafeResourceName)
from tests.doubles.fixtures_orch import (CONTENT, KEY_UUID, MISSING_UUID, define_resources,
                                         make_client, orch_sim)
from tests.doubles.orch_sim import OrchSimulator

__all__ = ("make_client", "orch_sim")  # fixtures, used by name

RESOURCE = "/api/v2/resource/%s"


class SleepLog:
    """Stands in for the client's sleep: records delays, can run a hook."""

    def __init__(self, hook=None):
        self.delays = []
        self.hook = hook

    def __call__(self, delay):
        self.delays.append(delay)
        if self.hook is not None:
            self.hook(len(self.delays))


# -- errors -----------------------------------------------------------------------

def test_404_is_not_found_naming_uuid_and_reason(orch_sim, make_client, tmp_path):
    with pytest.raises(OrchNotFound) as caught:
        make_client(retries=3).checkout(MISSING_UUID, str(tmp_path / "d"))
    error = caught.value
    assert (error.status, error.code, error.uuid) == (404, "RESOURCE_NOT_FOUND", MISSING_UUID)
    assert MISSING_UUID in str(error) and "resource not found" in str(error)
    assert "404 RESOURCE_NOT_FOUND" in str(error)
    assert orch_sim.request_count("POST") == 1  # a 4xx is never retried
    assert not (tmp_path / "d").exists()


def test_409_is_conflict_also_for_the_holder_itself(orch_sim, make_client, tmp_path):
    client = make_client(retries=3)
    client.checkout(KEY_UUID, str(tmp_path))
    with pytest.raises(OrchConflict) as caught:
        client.checkout(KEY_UUID, str(tmp_path))
    error = caught.value
    assert str(error).startswith("orch refused checkout of %s: " % KEY_UUID)
    assert "already checked out" in str(error)
    assert "409 RESOURCE_ALREADY_CHECKED_OUT" in str(error)
    assert orch_sim.request_count("POST") == 2


def test_400_not_checked_out_on_release_by_a_non_holder(orch_sim, make_client, tmp_path):
    make_client(source_address="127.0.0.2").checkout(KEY_UUID, str(tmp_path))
    other = make_client(source_address="127.0.0.3", retries=3)
    with pytest.raises(OrchValidationError) as caught:
        other.release(KEY_UUID)
    error = caught.value
    assert error.not_checked_out and error.status == 400 and error.code == "VALIDATION_ERROR"
    assert KEY_UUID in str(error) and "not checked out to this container" in str(error)
    assert orch_sim.request_count("DELETE") == 1
    assert orch_sim.holder(KEY_UUID)["ip"] == "127.0.0.2"


def test_status_of_unknown_resource_is_not_found(orch_sim, make_client):
    with pytest.raises(OrchNotFound):
        make_client().status(MISSING_UUID)


def test_a_malformed_uuid_is_refused_locally(orch_sim, make_client):
    with pytest.raises(ValueError):
        make_client().release("../status/health")
    assert orch_sim.request_count() == 0


def test_500_is_server_error_with_orchs_message(orch_sim, make_client):
    orch_sim.set_fault("http5xx", status=500)
    with pytest.raises(OrchServerError) as caught:
        make_client().status(KEY_UUID)
    assert (caught.value.status, caught.value.code) == (500, "INTERNAL_ERROR")
    assert "Simulated server failure" in str(caught.value)
    assert KEY_UUID in str(caught.value)


def test_non_json_error_body_gives_typed_error_with_short_excerpt(orch_sim, make_client):
    page = "<html><body><h1>502 Bad Gateway</h1>\n\x1b[31m" + "x" * 5000 + "</body></html>"
    orch_sim.set_fault("http5xx", status=502, body=page)
    with pytest.raises(OrchServerError) as caught:
        make_client().health()
    error = caught.value
    assert error.status == 502 and error.code is None
    assert "non-JSON body" in error.message and "502 Bad Gateway" in error.message
    assert len(error.message) < 300
    assert "\x1b" not in str(error) and "\n" not in str(error)


def test_unidentified_caller_is_a_500_container_error(tmp_path):
    sim = define_resources(OrchSimulator(str(tmp_path / "o.sqlite"),
                                         auto_register=False)).start()
    try:
        with OrchClient(sim.url, retries=0) as client:
            with pytest.raises(OrchServerError) as caught:
                client.checkout(KEY_UUID, str(tmp_path / "d"))
    finally:
        sim.stop()
    assert caught.value.caller_not_identified
    assert caught.value.code == "CONTAINER_CLIENT_ERROR"


def test_request_id_is_carried_when_orch_sends_one(tmp_path):
    sim = define_resources(OrchSimulator(str(tmp_path / "o.sqlite"),
                                         request_ids=True)).start()
    try:
        with OrchClient(sim.url, retries=0) as client:
            with pytest.raises(OrchNotFound) as caught:
                client.status(MISSING_UUID)
    finally:
        sim.stop()
    assert caught.value.request_id
    assert "request %s" % caught.value.request_id in str(caught.value)


def test_orch_sends_null_request_ids_by_default(orch_sim, make_client):
    with pytest.raises(OrchNotFound) as caught:
        make_client().status(MISSING_UUID)
    assert caught.value.request_id is None
    assert "request" not in str(caught.value)


def test_credentials_in_the_url_never_reach_messages(orch_sim, make_client):
    orch_sim.set_fault("down")
    url = orch_sim.url.replace("http://", "http://user:s3cret@")
    with pytest.raises(OrchUnavailable) as caught:
        make_client(url=url).health()
    assert "s3cret" not in str(caught.value)
    assert orch_sim.url in str(caught.value)


# -- retries --------------------------------------------------------------------

def test_5xx_is_retried_and_counted_at_orch(orch_sim, make_client, caplog):
    caplog.set_level(logging.WARNING, logger="orch_bridge")
    orch_sim.set_fault("http5xx", status=503, count=2)
    client = make_client(retries=3)
    client._sleep = SleepLog()

    assert client.health()["status"] == "healthy"

    assert orch_sim.request_count("GET", "/api/v2/status/health") == 3
    assert [r["status"] for r in orch_sim.requests()] == [503, 503, 200]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "GET /api/v2/status/health: attempt 1 of 4 failed" in warnings[0]
    assert "503" in warnings[0]


def test_5xx_retries_are_bounded(orch_sim, make_client):
    orch_sim.set_fault("http5xx", status=500)
    client = make_client(retries=2)
    client._sleep = SleepLog()
    with pytest.raises(OrchServerError) as caught:
        client.validate(KEY_UUID)
    assert orch_sim.request_count() == 3
    assert len(client._sleep.delays) == 2
    assert caught.value.attempts == 3 and "after 3 attempts" in str(caught.value)


def test_checkout_post_is_retried_after_a_5xx(orch_sim, make_client, tmp_path):
    orch_sim.set_fault("http5xx", status=502, count=1)
    client = make_client(retries=2)
    client._sleep = SleepLog()
    result = client.checkout(KEY_UUID, str(tmp_path / "d"))
    assert orch_sim.request_count("POST") == 2
    assert os.listdir(str(tmp_path / "d")) == [result.name]


@pytest.mark.parametrize("call", ["checkout-missing", "double-checkout", "foreign-release"])
def test_4xx_is_never_retried(orch_sim, make_client, tmp_path, call):
    client = make_client(retries=5, source_address="127.0.0.4")
    client._sleep = SleepLog()
    if call == "double-checkout":
        make_client(source_address="127.0.0.5").checkout(KEY_UUID, str(tmp_path / "x"))
    before = orch_sim.request_count()
    with pytest.raises((OrchNotFound, OrchConflict, OrchValidationError)):
        if call == "checkout-missing":
            client.checkout(MISSING_UUID, str(tmp_path))
        elif call == "double-checkout":
            client.checkout(KEY_UUID, str(tmp_path))
        else:
            client.release(KEY_UUID)
    assert orch_sim.request_count() - before == 1
    assert client._sleep.delays == []


def test_connection_refused_is_retried_then_unavailable(orch_sim, make_client):
    orch_sim.set_fault("down")
    client = make_client(retries=2)
    client._sleep = SleepLog()
    with pytest.raises(OrchUnavailable) as caught:
        client.health()
    assert len(client._sleep.delays) == 2
    assert caught.value.status is None
    assert "refused the connection" in str(caught.value)
    assert "GET /api/v2/status/health" in str(caught.value)
    assert "after 3 attempts" in str(caught.value)


def test_connection_refused_then_orch_returns(orch_sim, make_client):
    orch_sim.set_fault("down")
    client = make_client(retries=3)
    client._sleep = SleepLog(hook=lambda n: orch_sim.clear_faults())
    assert client.health()["status"] == "healthy"
    assert len(client._sleep.delays) == 1
    assert orch_sim.request_count() == 1


def test_backoff_is_jittered_exponential_and_capped(orch_sim, make_client):
    orch_sim.set_fault("http5xx", status=503)
    client = make_client(retries=6, backoff=0.1, backoff_max=0.25)
    client._sleep = SleepLog()
    with pytest.raises(OrchServerError):
        client.health()
    assert len(client._sleep.delays) == 6
    for attempt, delay in enumerate(client._sleep.delays):
        assert 0.0 <= delay <= min(0.25, 0.1 * 2 ** attempt)


def test_hang_times_out_as_unavailable(orch_sim, make_client):
    orch_sim.set_fault("hang", seconds=30)
    with pytest.raises(OrchUnavailable) as caught:
        make_client(timeout=0.5).status(KEY_UUID)
    assert "did not answer within 0.5s" in str(caught.value)
    assert caught.value.path == RESOURCE % KEY_UUID + "/status"


def test_slow_answer_within_the_timeout_is_fine(orch_sim, make_client):
    orch_sim.set_fault("slow", seconds=0.2)
    assert make_client(timeout=5).validate(KEY_UUID)["can_access"] is True


def test_malformed_json_answer_is_a_protocol_error(orch_sim, make_client):
    orch_sim.set_fault("malformed")
    with pytest.raises(OrchProtocolError) as caught:
        make_client(retries=3).status(KEY_UUID)
    assert "not JSON" in str(caught.value)
    assert orch_sim.request_count() == 1


def test_malformed_file_answer_writes_nothing(orch_sim, make_client, tmp_path):
    orch_sim.set_fault("malformed")
    with pytest.raises(OrchProtocolError) as caught:
        make_client().checkout(KEY_UUID, str(tmp_path / "d"))
    assert "cut short" in str(caught.value)
    assert os.listdir(str(tmp_path / "d")) == []


def test_malformed_error_answer_still_maps_by_status(orch_sim, make_client, tmp_path):
    orch_sim.set_fault("malformed")
    with pytest.raises(OrchNotFound) as caught:
        make_client().checkout(MISSING_UUID, str(tmp_path))
    assert "non-JSON body" in caught.value.message


def test_a_body_missing_required_fields_is_a_protocol_error(orch_sim, make_client):
    orch_sim.set_fault("http5xx", status=200, body="{\"status\": 1}")
    with pytest.raises(OrchProtocolError) as caught:
        make_client().health()
    assert "'status'" in str(caught.value)


# -- containers and holders -------------------------------------------------------

def test_source_address_makes_two_different_holders(orch_sim, make_client, tmp_path):
    first = make_client(source_address="127.0.0.2")
    second = make_client(source_address="127.0.0.3")
    first.checkout(KEY_UUID, str(tmp_path / "first"))

    with pytest.raises(OrchConflict):
        second.checkout(KEY_UUID, str(tmp_path / "second"))

    assert [(h["uuid"], h["ip"]) for h in orch_sim.holders()] == [(KEY_UUID, "127.0.0.2")]
    assert first.validate(KEY_UUID)["can_access"] is True
    refused = second.validate(KEY_UUID)
    assert refused["can_access"] is False and "another container" in refused["error"]
    assert first.status(KEY_UUID)["container_ip"] == "127.0.0.2"
    assert not (tmp_path / "second").exists()


def test_lost_checkout_reply_then_retry_gets_409_yet_access_is_ours(orch_sim, make_client,
                                                                    tmp_path):
    orch_sim.set_fault("drop_reply", count=1)
    client = make_client(retries=2, source_address="127.0.0.6")
    client._sleep = SleepLog()
    with pytest.raises(OrchConflict):
        client.checkout(KEY_UUID, str(tmp_path / "d"))
    assert orch_sim.request_count("POST") == 2
    assert [r["fault"] for r in orch_sim.requests()] == ["drop_reply", None]
    assert client.validate(KEY_UUID)["can_access"] is True
    assert [e["action"] for e in orch_sim.history()] == ["checkout"]
    assert orch_sim.holder(KEY_UUID)["ip"] == "127.0.0.6"


def test_drop_reply_without_retries_is_unavailable(orch_sim, make_client, tmp_path):
    orch_sim.set_fault("drop_reply")
    with pytest.raises(OrchUnavailable) as caught:
        make_client().checkout(KEY_UUID, str(tmp_path))
    assert "dropped the connection" in str(caught.value)


def test_release_by_a_stopped_container_is_refused(orch_sim, make_client, tmp_path):
    holder = make_client(source_address="127.0.0.2", retries=1)
    holder._sleep = SleepLog()
    holder.checkout(KEY_UUID, str(tmp_path))
    orch_sim.set_container_running("127.0.0.2", False)

    with pytest.raises(OrchServerError) as caught:
        holder.release(KEY_UUID)
    assert caught.value.caller_not_identified
    assert orch_sim.holder(KEY_UUID) is not None

    assert make_client(source_address="127.0.0.3").health()["containers_cleaned"] == 1
    assert orch_sim.holders() == []
    make_client(source_address="127.0.0.3").checkout(KEY_UUID, str(tmp_path / "next"))


def test_release_returns_orchs_answer(orch_sim, make_client, tmp_path):
    client = make_client()
    client.checkout(KEY_UUID, str(tmp_path))
    answer = client.release(KEY_UUID)
    assert answer["uuid"] == KEY_UUID and "released" in answer["message"]
    assert client.status(KEY_UUID)["checked_out"] is False


def test_service_and_ca_calls(orch_sim, make_client):
    client = make_client()
    assert client.health()["service"] == "orch-service"
    assert {m["uuid"] for m in client.mappings()["mappings"]} == set(CONTENT)
    assert client.ca_certificate().startswith(b"-----BEGIN CERTIFICATE-----")
    assert client.ca_info()["exists"] is True
    assert client.ca_status()["status"] == "available"


def test_ca_certificate_that_is_not_pem_is_refused(orch_sim, make_client):
    orch_sim.set_fault("http5xx", status=200, body="<html>captive portal</html>")
    with pytest.raises(OrchProtocolError):
        make_client().ca_certificate()


# -- sessions and processes -------------------------------------------------------

def test_one_session_per_process_reused_across_calls(orch_sim, make_client):
    client = make_client()
    client.health()
    session = client.session
    client.mappings()
    assert client.session is session
    client.close()
    assert client.session is not session


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_gets_its_own_session_and_leaves_the_parents_pool(tmp_path):
    sim = define_resources(OrchSimulator(str(tmp_path / "ka.sqlite"), keep_alive=True)).start()
    client = OrchClient(sim.url, retries=0)
    try:
        client.health()
        parent_session = client.session
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, never return into pytest
            code = 1
            try:
                os.close(reader)
                mine = client.session
                answer = client.health()
                report = {"differs": mine is not parent_session,
                          "kept": client.session is mine,
                          "healthy": answer["status"] == "healthy"}
                os.write(writer, json.dumps(report).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(writer)
        _pid, status = os.waitpid(pid, 0)
        with os.fdopen(reader, "rb") as pipe:
            report = json.loads(pipe.read().decode() or "{}")
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        assert report == {"differs": True, "kept": True, "healthy": True}

        assert client.health()["status"] == "healthy"
        assert client.session is parent_session
        ports = [r["port"] for r in sim.requests()]
        assert len(ports) == 3
        assert ports[0] == ports[2]  # the parent's pooled connection still serves it
        assert ports[1] != ports[0]  # the child never touched it
    finally:
        client.close()
        sim.stop()


def test_bad_constructor_arguments():
    with pytest.raises(ValueError):
        OrchClient("ftp://orch")
    with pytest.raises(ValueError):
        OrchClient("http://127.0.0.1:1", source_address="not-an-ip")
    with pytest.raises(ValueError):
        OrchClient("http://127.0.0.1:1", timeout=0)


def test_every_error_is_an_orch_error():
    for kind in (OrchValidationError, OrchNotFound, OrchConflict, OrchServerError,
                 OrchUnavailable, OrchProtocolError):
        assert issubclass(kind, OrchError)
    assert issubclass(UnsafeResourceName, OrchError)
