"""OrchClient checkouts against the orch simulator: the files they write,
and what is left held when a write fails after orch granted the checkout."""

from __future__ import annotations

import os
import stat

import pytest

from orch_bridge import CheckoutResult, OrchConflict, UnsafeResourceName
from orch_bridge.client import filename_from_disposition
from orch_bridge.files import name_problem
from tests.doubles.fixtures_orch import (CERT_UUID, CONTENT, FILE_UUID, KEY_UUID,
                                         PRINCIPAL_UUID, WORKER_UUID, make_client, orch_sim)

__all__ = ("make_client", "orch_sim")  # fixtures, used by name


def files_under(root):
    """Every file below ``root`` except the simulator's database."""
    found = []
    for base, _dirs, names in os.walk(str(root)):
        found.extend(os.path.join(base, n) for n in names if ".sqlite" not in n)
    return sorted(found)


# -- checkout writes files safely ---------------------------------------------------

def test_checkout_writes_the_file_0600_under_orchs_name(orch_sim, make_client, tmp_path):
    target = tmp_path / "leases" / "task-1"
    old_umask = os.umask(0)
    try:
        result = make_client().checkout(KEY_UUID, str(target))
    finally:
        os.umask(old_umask)

    assert isinstance(result, CheckoutResult)
    assert result == (KEY_UUID, str(target / "hub.key"), "hub.key")
    assert (target / "hub.key").read_bytes() == CONTENT[KEY_UUID]
    assert stat.S_IMODE(os.stat(result.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o700
    assert os.listdir(str(target)) == ["hub.key"]  # no temporary file left


@pytest.mark.parametrize("uuid, name", [(CERT_UUID, "hub.crt"), (FILE_UUID, "token.txt"),
                                        (WORKER_UUID, "koji-worker.keytab")])
def test_checkout_names_files_by_resource_type(orch_sim, make_client, tmp_path, uuid, name):
    result = make_client().checkout(uuid, str(tmp_path))
    assert result.name == name
    assert (tmp_path / name).read_bytes() == CONTENT[uuid]


def test_checkout_replaces_an_existing_file_by_rename(orch_sim, make_client, tmp_path):
    old = tmp_path / "hub.key"
    old.write_bytes(b"stale")
    os.chmod(str(old), 0o644)
    old_inode = os.stat(str(old)).st_ino

    make_client().checkout(KEY_UUID, str(tmp_path))

    assert old.read_bytes() == CONTENT[KEY_UUID]
    assert stat.S_IMODE(os.stat(str(old)).st_mode) == 0o600
    assert os.stat(str(old)).st_ino != old_inode
    assert sorted(os.listdir(str(tmp_path))) == ["hub.key", "orch-sim.sqlite",
                                                 "orch-sim.sqlite-shm", "orch-sim.sqlite-wal"]


def test_filename_argument_overrides_orchs_name(orch_sim, make_client, tmp_path):
    result = make_client().checkout(PRINCIPAL_UUID, str(tmp_path / "d"), filename="hub.keytab")
    assert result.path == str(tmp_path / "d" / "hub.keytab")
    assert (tmp_path / "d" / "hub.keytab").read_bytes() == CONTENT[PRINCIPAL_UUID]


def test_utf8_filename_star_form_is_used(orch_sim, make_client, tmp_path):
    orch_sim.set_fault("hostile_filename", name="r\u00e9sum\u00e9.txt")
    result = make_client().checkout(FILE_UUID, str(tmp_path / "d"))
    assert result.name == "r\u00e9sum\u00e9.txt"
    assert os.listdir(str(tmp_path / "d")) == ["r\u00e9sum\u00e9.txt"]


def test_principal_name_with_a_slash_is_refused_and_nothing_written(orch_sim, make_client,
                                                                    tmp_path):
    before = files_under(tmp_path)
    with pytest.raises(UnsafeResourceName) as caught:
        make_client().checkout(PRINCIPAL_UUID, str(tmp_path / "new"))
    assert "path separator" in str(caught.value)
    assert "pass a file name" in str(caught.value)
    assert PRINCIPAL_UUID in str(caught.value)
    assert not (tmp_path / "new").exists()
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("params", [
    {"name": "../../etc/passwd"},
    {"name": "/etc/passwd"},
    {"name": ".."},
    {"name": "sub/hub.key"},
    {"name": "..\\..\\hub.key"},
    {"name": ""},
    {"name": "../../etc/passwd", "star": True, "fallback": "passwd"},
])
def test_hostile_filename_is_refused_and_nothing_written_anywhere(orch_sim, make_client,
                                                                  tmp_path, params):
    orch_sim.set_fault("hostile_filename", **params)
    before = files_under(tmp_path)
    with pytest.raises(UnsafeResourceName) as caught:
        make_client().checkout(KEY_UUID, str(tmp_path / "a" / "b"))
    assert caught.value.from_server
    assert "nothing was written" in str(caught.value)
    assert files_under(tmp_path) == before
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("name", ["../x", "/abs", "a/b", "..", "", "a\x00b"])
def test_unsafe_filename_argument_is_refused_before_asking_orch(orch_sim, make_client,
                                                                tmp_path, name):
    with pytest.raises(UnsafeResourceName) as caught:
        make_client().checkout(KEY_UUID, str(tmp_path), filename=name)
    assert not caught.value.from_server
    assert orch_sim.request_count() == 0
    assert orch_sim.holders() == []


@pytest.mark.parametrize("name, problem", [
    ("hub.key", None), ("r\u00e9sum\u00e9.txt", None), ("", "empty"),
    ("a\x00b", "contains NUL"), ("a/b", "contains a path separator"),
    ("/etc/passwd", "absolute path"), ("..", "contains '..'"), ("a..b", "contains '..'"),
    (".", "names the directory itself"), ("a\nb", "contains a control character"),
    ("x" * 256, "longer than 255 bytes"), (None, "not a string"),
])
def test_name_problem(name, problem):
    assert name_problem(name) == problem


@pytest.mark.parametrize("header, name", [
    ("attachment; filename=hub.key", "hub.key"),
    ('attachment; filename="a b;c.key"', "a b;c.key"),
    ('attachment; filename="q\\"uote"', 'q"uote'),
    ("attachment; filename=x; filename*=UTF-8''r%C3%A9sum%C3%A9.txt", "r\u00e9sum\u00e9.txt"),
    ("attachment; FILENAME*=utf-8''..%2F..%2Fetc%2Fpasswd", "../../etc/passwd"),
    ("attachment", None),
])
def test_filename_from_disposition(header, name):
    assert filename_from_disposition(header) == name


# -- a write that fails after orch granted the checkout ------------------------------

def test_a_file_write_that_fails_after_the_grant_names_the_blocker_and_keeps_the_lease(
        orch_sim, make_client, tmp_path):
    # orch_resources journals the lease and releases it itself: the library keeps it
    blocker = tmp_path / "f1"
    blocker.write_bytes(b"")
    with pytest.raises(NotADirectoryError) as caught:
        make_client().checkout(KEY_UUID, str(blocker / "deeper" / "still"))
    assert caught.value.filename == str(blocker)
    assert caught.value.strerror == "%s is not a directory" % blocker
    assert caught.value.lease_held == KEY_UUID
    assert [h["uuid"] for h in orch_sim.holders()] == [KEY_UUID]


def test_an_error_before_the_grant_carries_no_lease(orch_sim, make_client, tmp_path):
    make_client(source_address="127.0.0.2").checkout(KEY_UUID, str(tmp_path / "a"))
    with pytest.raises(OrchConflict) as caught:
        make_client().checkout(KEY_UUID, str(tmp_path / "b"))
    assert not hasattr(caught.value, "lease_held")
