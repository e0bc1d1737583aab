"""Reading principals from keytab files made by MIT's ktutil, checked against klist -k."""

from __future__ import annotations

import re
import struct
import subprocess

import pytest

from kojid_plugins.start.keytab import KeytabError, expected_principal, principals


def make_keytab(path, entries):
    """Write a keytab with ktutil: ``entries`` is a list of (principal, kvno, enctype)."""
    script = []
    for principal, kvno, enctype in entries:
        script.append("addent -password -p %s -k %d -e %s" % (principal, kvno, enctype))
        script.append("not-a-real-secret")
    script += ["wkt %s" % path, "quit"]
    subprocess.run(["ktutil"], input="\n".join(script) + "\n", text=True, check=True,
                   stdout=subprocess.DEVNULL)
    return str(path)


def klist_principals(path):
    out = subprocess.run(["klist", "-k", path], text=True, check=True,
                         stdout=subprocess.PIPE).stdout
    return sorted({m.group(1) for m in re.finditer(r"^\s*\d+\s+(\S+)", out, re.M)})


AES256, AES128 = "aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96"


def test_several_principals_any_order_match_klist(tmp_path):
    path = make_keytab(tmp_path / "w.keytab", [
        ("worker/koji-worker-2@KOJI.BOX", 3, AES256),
        ("host/builder.koji.box@KOJI.BOX", 1, AES256),
        ("worker/koji-worker-2@KOJI.BOX", 3, AES128),
        ("HTTP/koji-hub.koji.box@KOJI.BOX", 7, AES128),
    ])
    assert principals(path) == klist_principals(path)


def test_expected_principal_is_chosen_by_name_not_position(tmp_path):
    # the worker's principal is neither first nor last
    path = make_keytab(tmp_path / "w.keytab", [
        ("host/other@KOJI.BOX", 1, AES256),
        ("worker/koji-worker-1@KOJI.BOX", 2, AES256),
        ("HTTP/web@KOJI.BOX", 1, AES256),
    ])
    assert expected_principal(path, "worker/*@KOJI.BOX") == "worker/koji-worker-1@KOJI.BOX"


def test_mismatch_names_what_was_found_and_what_was_expected(tmp_path):
    path = make_keytab(tmp_path / "w.keytab", [("compile/b1@KOJI.BOX", 1, AES256)])
    with pytest.raises(KeytabError) as caught:
        expected_principal(path, "worker/*@KOJI.BOX")
    assert str(caught.value) == ("the worker keytab holds compile/b1@KOJI.BOX, "
                                 "not the expected worker/*@KOJI.BOX")


def test_realm_is_matched_case_sensitively(tmp_path):
    path = make_keytab(tmp_path / "w.keytab", [("worker/w-1@koji.box", 1, AES256)])
    with pytest.raises(KeytabError):
        expected_principal(path, "worker/*@KOJI.BOX")


def test_two_matching_principals_are_refused(tmp_path):
    path = make_keytab(tmp_path / "w.keytab", [("worker/a@KOJI.BOX", 1, AES256),
                                                ("worker/b@KOJI.BOX", 1, AES256)])
    with pytest.raises(KeytabError, match="several principals matching worker/"):
        expected_principal(path, "worker/*@KOJI.BOX")


def test_holes_left_by_deleted_entries_are_skipped(tmp_path):
    path = make_keytab(tmp_path / "w.keytab", [("worker/w-1@KOJI.BOX", 1, AES256)])
    data = open(path, "rb").read()
    hole = struct.pack(">i", -12) + b"\0" * 12
    holed = tmp_path / "holed.keytab"
    holed.write_bytes(data[:2] + hole + data[2:])
    assert principals(str(holed)) == ["worker/w-1@KOJI.BOX"] == klist_principals(str(holed))


@pytest.mark.parametrize("content, why", [
    (b"", "not a keytab file"),
    (b"\x05\x02worker-keytab", "not a keytab file \\(truncated entry\\)"),
    (b"-----BEGIN CERTIFICATE-----\n", "not a keytab file"),
    (b"\x05\x02", "holds no key"),
])
def test_not_a_keytab_is_a_clear_error(tmp_path, content, why):
    path = tmp_path / "bad.keytab"
    path.write_bytes(content)
    with pytest.raises(KeytabError, match=why):
        principals(str(path))
