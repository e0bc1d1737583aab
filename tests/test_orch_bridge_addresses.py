"""OrchClient's URL and source address, checked before any packet is sent."""

from __future__ import annotations

import pytest

from orch_bridge import OrchClient, OrchError
from orch_bridge.addresses import parse_url
from tests.doubles.fixtures_orch import make_client, orch_sim

__all__ = ("make_client", "orch_sim")  # fixtures, used by name


def test_a_source_address_this_host_lacks_is_not_retried(orch_sim, make_client):
    # bind() fails locally before any packet; the URL stays the loopback simulator
    client = make_client(source_address="10.255.255.1", retries=3)
    with pytest.raises(OrchError) as caught:
        client.health()
    assert caught.value.attempts == 1
    assert caught.value.message == ("cannot send from 10.255.255.1: not an address of this "
                                    "host (Cannot assign requested address)")
    assert orch_sim.request_count() == 0


@pytest.mark.parametrize("source, url", [
    ("::1", "http://127.0.0.1:9"), ("127.0.0.1", "http://[::1]:9")])
def test_a_source_address_of_the_other_family_is_refused_up_front(source, url):
    with pytest.raises(ValueError, match="cannot send from %s to orch at " % source):
        OrchClient(url, source_address=source)


@pytest.mark.parametrize("url", ["http://h:65536", "https://h:-1", "http://h:x"])
def test_a_port_out_of_range_is_refused_naming_the_url(url):
    with pytest.raises(ValueError) as caught:
        OrchClient(url)
    assert str(caught.value).startswith("bad orch URL %r: port " % url)


@pytest.mark.parametrize("url, problem", [
    ("http://h x:5000", "'h x' is not a host name or IP address"),
    ("http://h<x>/", "'h<x>' is not a host name or IP address"),
    ("https://[::1]", None), ("http://orch.koji.box:5000/base/", None),
])
def test_parse_url_checks_the_host(url, problem):
    if problem is None:
        assert parse_url(url).display == url.rstrip("/")
        return
    with pytest.raises(ValueError) as caught:
        parse_url(url)
    assert str(caught.value) == "bad orch URL %r: %s" % (url, problem)
