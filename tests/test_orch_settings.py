"""orch_resources.conf: defaults, rules, and errors that name file, section and key."""

from __future__ import annotations

import textwrap

import pytest

from kojid_plugins.config import ConfigError
from kojid_plugins.orch_settings import read_settings

U1 = "11111111-2222-4333-8444-555555555555"
U2 = "11111111-2222-4333-8444-666666666666"

GOOD = """
[orch]
url = http://127.0.0.1:9
timeout = 2.5
journal_dir = /var/tmp/j

[resource:signing]
uuid = 11111111-1111-1111-1111-111111111111

[resource:slots]
pool = aaaaaaaa-0000-0000-0000-000000000001 aaaaaaaa-0000-0000-0000-000000000002

[lease:builds]
methods = build*
arches = x86_64
resources = slots signing

[lease:all]
methods = *
resources = slots
"""


def write(tmp_path, text):
    path = tmp_path / "orch_resources.conf"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_rules_select_resources_by_method_and_arch(tmp_path):
    settings = read_settings(write(tmp_path, GOOD))
    assert settings.orch["timeout"] == 2.5
    assert settings.orch["retries"] == 3
    names = [s.name for s in settings.needs("buildArch", "x86_64", None)]
    assert names == ["slots", "signing"]
    assert [s.name for s in settings.needs("buildArch", "aarch64", None)] == ["slots"]
    assert settings.resources["slots"].pool is True


def test_pool_candidates_rotate_by_task_id(tmp_path):
    spec = read_settings(write(tmp_path, GOOD)).resources["slots"]
    assert spec.candidates(2)[0] == spec.uuids[0]
    assert spec.candidates(3)[0] == spec.uuids[1]
    assert sorted(spec.candidates(3)) == sorted(spec.uuids)


def test_missing_file_means_no_leases(tmp_path):
    settings = read_settings(str(tmp_path / "absent.conf"))
    assert settings.rules == []
    assert settings.needs("build", "x86_64", None) == []


@pytest.mark.parametrize("text, message", [
    ("[orch]\ntimout = 3\n", "[orch]: unknown key 'timout'"),
    ("[orch]\ntimeout = soon\n", "[orch] timeout: 'soon' is not a number"),
    ("[orch]\nretries = 2.5\n", "[orch] retries: '2.5' is not a whole number"),
    ("[orch]\njournal_dir = relative/dir\n", "[orch] journal_dir: 'relative/dir' is not"),
    ("[orcg]\n", "unknown section [orcg]"),
    ("[resource:x]\nuuid = %s\npool = %s\n" % (U1, U2),
     "[resource:x]: give exactly one of uuid or pool"),
    ("[resource:x]\nuuid = 1234\n", "[resource:x] uuid: '1234' is not a UUID"),
    ("[resource:x]\npool = %s 42\n" % U1, "[resource:x] pool: '42' is not a UUID"),
    ("[orch]\ntimeout = 0\n", "[orch] timeout: '0' must be more than 0"),
    ("[orch]\nbackoff = nan\n", "[orch] backoff: 'nan' is not a finite number"),
    ("[orch]\nretries = -1\n", "[orch] retries: '-1' is negative"),
    ("[orch]\nurl = ftp://h\n", "[orch] url: 'ftp://h' is not an http:// or https:// URL"),
    ("[orch]\nsource_address = localhost\n",
     "[orch] source_address: 'localhost' is not an IP address"),
    ("[orch]\nurl = http://h\n[resource:x]\nuuid = %s\n[lease:l]\nmethods = *\n" % U1 +
     "resources = y\n", "[lease:l] resources: no [resource:y] section"),
    ("[lease:l]\nmethods = *\n", "[lease:l]: resources is required"),
])
def test_bad_config_names_file_section_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_settings(path)
    assert message in str(info.value)
    assert str(info.value).startswith("bad config: " + path)


def test_rules_without_any_orch_url_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("ORCH_SERVICE_URL", raising=False)
    text = "[resource:x]\nuuid = %s\n[lease:l]\nmethods = *\nresources = x\n" % U1
    with pytest.raises(ConfigError, match=r"\[orch\] url: empty and ORCH_SERVICE_URL"):
        read_settings(write(tmp_path, text))
    monkeypatch.setenv("ORCH_SERVICE_URL", "http://127.0.0.1:9")
    assert read_settings(write(tmp_path, text)).url == "http://127.0.0.1:9"


def test_one_uuid_in_two_resources_is_refused_naming_both(tmp_path):
    path = write(tmp_path, """
        [orch]
        url = http://127.0.0.1:9
        [resource:signing]
        uuid = %s
        [resource:slots]
        pool = %s %s
        """ % (U1, U2, U1.upper()))
    with pytest.raises(ConfigError) as caught:
        read_settings(str(path))
    assert str(caught.value) == (
        "bad config: %s [resource:slots]: UUID %s is also in [resource:signing]; one UUID "
        "belongs to one resource" % (path, U1.upper()))


def test_two_resources_behind_one_task_variable_are_refused(tmp_path):
    path = write(tmp_path, """
        [orch]
        url = http://127.0.0.1:9
        [resource:build-slot]
        uuid = %s
        [resource:build_slot]
        uuid = %s
        """ % (U1, U2))
    with pytest.raises(ConfigError, match=r"\[resource:build_slot\]: its task variable "
                                          r"KOJID_RESOURCE_BUILD_SLOT is also "
                                          r"\[resource:build-slot\]'s; rename one"):
        read_settings(str(path))
