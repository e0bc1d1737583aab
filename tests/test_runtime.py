"""The plugin manager: entry points, error isolation, idempotent registration."""

from __future__ import annotations

import logging
import sys
import textwrap

import pluggy
import pytest

from kojid_plugins import hookimpl, runtime
from kojid_plugins.hookspec import TaskRefused


@pytest.fixture(autouse=True)
def fresh_manager():
    runtime.reset()
    yield
    runtime.reset()


class Broken:
    @hookimpl
    def kojid_ready_vote(self, worker):
        raise RuntimeError("boom")


class Voter:
    @hookimpl
    def kojid_ready_vote(self, worker):
        return "disk is full"


class Refuser:
    @hookimpl
    def kojid_task_prepare(self, task):
        raise TaskRefused("no slot")


def test_raising_implementation_is_logged_with_its_name_and_skipped(caplog):
    runtime.register(Voter(), "voter")
    runtime.register(Broken(), "broken")
    with caplog.at_level(logging.ERROR, logger="koji.plugin.kojid_plugins"):
        votes = runtime.get_manager().hook.kojid_ready_vote(worker=None)
    assert votes == ["disk is full"]
    assert "plugin broken failed in kojid_ready_vote" in caplog.text
    assert runtime.FAILURES == {"broken": {"kojid_ready_vote": 1}}


def test_task_refusal_passes_through_the_guard():
    runtime.register(Refuser(), "refuser")
    with pytest.raises(TaskRefused, match="no slot"):
        runtime.get_manager().hook.kojid_task_prepare(task=None)
    assert runtime.FAILURES == {}


def test_registering_a_name_twice_is_a_no_op():
    assert runtime.register(Voter(), "voter") is True
    assert runtime.register(Voter(), "voter") is False
    assert runtime.get_manager().hook.kojid_ready_vote(worker=None) == ["disk is full"]


def test_unknown_hook_name_is_rejected():
    class Typo:
        @hookimpl
        def kojid_task_prepair(self, task):
            pass

    with pytest.raises(pluggy.PluginValidationError):
        runtime.register(Typo(), "typo")


def test_has_impls_reflects_registration():
    runtime.get_manager()
    assert not runtime.has_impls("kojid_task_prepare")
    runtime.register(Refuser(), "refuser")
    assert runtime.has_impls("kojid_task_prepare")


def test_entry_point_group_loads_third_party_plugins(tmp_path, monkeypatch):
    (tmp_path / "thirdparty_votes.py").write_text(textwrap.dedent("""
        from kojid_plugins import hookimpl

        @hookimpl
        def kojid_ready_vote(worker):
            return "third party says no"

        @hookimpl
        def kojid_host_data(worker):
            raise ValueError("bad plugin")
    """))
    info = tmp_path / "thirdparty_votes-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-votes\n"
                                   "Version: 1.0\n")
    (info / "entry_points.txt").write_text("[kojid_plugins]\nvotes = thirdparty_votes\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "thirdparty_votes", raising=False)

    hook = runtime.get_manager().hook
    assert hook.kojid_ready_vote(worker=None) == ["third party says no"]
    assert hook.kojid_host_data(worker=None) == []
    assert runtime.FAILURES == {"votes": {"kojid_host_data": 1}}
