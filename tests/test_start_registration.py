"""koji-worker start waits until the hub knows the worker's principal as a host.

Against the hub simulator's real XML-RPC (anonymous getUser/getHost).
"""

from __future__ import annotations

import socket
import threading

import pytest

from kojid_plugins.start.registration import RegistrationError, wait_for_host

PRINCIPAL = "worker/koji-worker-1@KOJI.BOX"


def test_a_registered_host_is_found_by_its_principal(hub):
    hub.add_host("worker/koji-worker-1", krb_principal=PRINCIPAL)
    assert wait_for_host(hub.url, PRINCIPAL, 5) == "worker/koji-worker-1"


def test_it_waits_for_a_registration_that_comes_late(hub):
    timer = threading.Timer(1.5, hub.add_host, ("worker/koji-worker-1",),
                            {"krb_principal": PRINCIPAL})
    timer.start()
    try:
        assert wait_for_host(hub.url, PRINCIPAL, 30) == "worker/koji-worker-1"
    finally:
        timer.cancel()


def test_a_plain_user_is_an_error_naming_the_fix(hub):
    hub.add_user("worker/koji-worker-1", None, krb_principal=PRINCIPAL)
    with pytest.raises(RegistrationError) as caught:
        wait_for_host(hub.url, PRINCIPAL, 30)
    text = str(caught.value)
    assert "knows %s as a plain user" % PRINCIPAL in text
    assert "koji add-host --force worker/koji-worker-1 ARCH" in text


def test_an_unknown_principal_times_out_saying_so_in_one_sentence(hub):
    with pytest.raises(RegistrationError) as caught:
        wait_for_host(hub.url, PRINCIPAL, 1)
    # command.py appends "; the worker keytab was given back to orch"
    assert str(caught.value) == (
        "the hub %s still does not know %s as a host after 1 s (orch registers it at "
        "checkout: see orch's log and 'koji list-hosts')" % (hub.url, PRINCIPAL))


def test_an_unreachable_hub_times_out_naming_url_and_cause(hub):
    url = hub.url
    hub.stop()
    with pytest.raises(RegistrationError) as caught:
        wait_for_host(url, PRINCIPAL, 1)
    assert str(caught.value) == "the hub %s did not answer within 1 s: connection refused" % url


def test_a_hub_that_never_answers_times_out_saying_so():
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = "http://127.0.0.1:%d/kojihub" % silent.getsockname()[1]
        with pytest.raises(RegistrationError) as caught:
            wait_for_host(url, PRINCIPAL, 1)
    assert str(caught.value) == "the hub %s did not answer within 1 s: timed out" % url
