"""container_buildroot.conf: values that cannot work are refused at start-up."""

from __future__ import annotations

import pytest

from kojid_plugins.config import ConfigError
from kojid_plugins.podman_settings import read_podman_settings


def write(tmp_path, body):
    path = tmp_path / "container_buildroot.conf"
    path.write_text("[images]\ndefault = localhost/root:1\nallowed = localhost/*\n" + body)
    return str(path)


@pytest.mark.parametrize("key, value", [("memory_mb", "0"), ("memory_mb", "-100"),
                                        ("pids", "0"), ("pids", "-5")])
def test_a_limit_below_one_names_the_file_section_and_key(tmp_path, key, value):
    path = write(tmp_path, "[limits]\n%s = %s\n" % (key, value))
    with pytest.raises(ConfigError) as caught:
        read_podman_settings(path)
    assert str(caught.value) == ("bad config: %s [limits] %s: %r must be a whole number "
                                 "of at least 1" % (path, key, value))


def test_limits_that_work_are_read(tmp_path):
    settings = read_podman_settings(write(tmp_path, "[limits]\nmemory_mb = 1\npids = 7\n"))
    assert (settings.limits["memory_mb"], settings.limits["pids"]) == (1, 7)


def test_a_default_image_the_allow_list_refuses_is_a_config_error(tmp_path):
    path = tmp_path / "container_buildroot.conf"
    path.write_text("[images]\ndefault = quay.example/root:1\nallowed = localhost/*\n")
    with pytest.raises(ConfigError, match=r"\[images\] default: quay.example/root:1 does "
                                          r"not match \[images\] allowed \(localhost/\*\)"):
        read_podman_settings(str(path))
