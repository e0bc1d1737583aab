"""The ``kojid_mock_config`` hook and container_buildroot's image-based mock roots.

kojid writes each build root's mock configuration with the real
``koji.genMockConfig``; these tests call it exactly as kojid's BuildRoot
does, with ``container_buildroot`` loaded, and read the generated file
back the way mock does (it is Python run with a ``config_opts`` dict).
"""

from __future__ import annotations

import logging

import koji
import pytest

from kojid_plugins import container_buildroot, runtime, wiring
from kojid_plugins.hookspec import hookimpl

IMAGE = "registry.example/fedora-buildroot:41"


def conf(tmp_path, mock="", tags=""):
    path = tmp_path / "container_buildroot.conf"
    path.write_text("[podman]\nselfcheck = no\n[images]\ndefault = %s\nallowed = "
                    "registry.example/*\n[mock]\n%s\n%s" % (IMAGE, mock, tags))
    return str(path)


@pytest.fixture(autouse=True)
def clean():
    runtime.reset()
    wiring.uninstall()
    yield
    wiring.uninstall()
    runtime.reset()


def kojid_mock_config(tag="f41-build", arch="x86_64", **extra_opts):
    """koji.genMockConfig as kojid's BuildRoot._writeMockConfig calls it."""
    opts = {"topdir": "/mnt/koji", "topurl": None, "mockdir": "/var/lib/mock",
            "buildroot_id": 7, "install_group": "build", "tag_macros": {},
            "tag_envvars": {}, "use_host_resolv": False}
    opts.update(extra_opts)
    text = koji.genMockConfig("%s-7-1" % tag, arch, managed=True, repoid=1,
                              tag_name=tag, **opts)
    config_opts = {"plugin_conf": {}, "macros": {}}
    exec(compile(text, "mock.cfg", "exec"), {"config_opts": config_opts})
    return text, config_opts


class Task:
    """What the hook gets as ``task``: a TaskContext's session, here a real one."""

    def __init__(self, session):
        self.session = session


def test_buildroot_mode_makes_mock_build_its_root_from_the_image(tmp_path):
    container_buildroot.install(conf(tmp_path, "mode = buildroot"))
    text, opts = kojid_mock_config()
    assert opts["use_buildroot_image"] is True
    assert opts["buildroot_image"] == IMAGE
    assert opts["root"] == "f41-build-7-1"  # stock content is all still there


def test_bootstrap_mode_sets_mocks_bootstrap_image(tmp_path):
    container_buildroot.install(conf(tmp_path, "mode = bootstrap\nimage_ready = yes"))
    _text, opts = kojid_mock_config()
    assert opts["use_bootstrap_image"] is True
    assert opts["bootstrap_image"] == IMAGE
    assert opts["use_bootstrap"] is True
    assert opts["bootstrap_image_ready"] is True
    assert "use_buildroot_image" not in opts


def test_off_leaves_the_generated_config_exactly_as_stock(tmp_path):
    stock, _ = kojid_mock_config()
    container_buildroot.install(conf(tmp_path, "mode = off"))
    wired, _ = kojid_mock_config()
    assert wired == stock
    assert koji.genMockConfig is not getattr(koji.genMockConfig, "_kojid_plugins_original")


def test_per_tag_mode_and_image(tmp_path):
    tags = "[tag:el9-build]\nmock = buildroot\nimage = registry.example/alma:9\n"
    container_buildroot.install(conf(tmp_path, "mode = off", tags))
    _text, other = kojid_mock_config("f41-build")
    _text, el9 = kojid_mock_config("el9-build")
    assert "use_buildroot_image" not in other
    assert el9["buildroot_image"] == "registry.example/alma:9"


def test_a_disallowed_image_leaves_mock_alone_and_says_why(tmp_path, caplog):
    tags = "[tag:f41-build]\nimage = quay.example/evil:1\n"
    container_buildroot.install(conf(tmp_path, "mode = buildroot", tags))
    with caplog.at_level(logging.ERROR, "koji.plugin.container_buildroot"):
        _text, opts = kojid_mock_config()
    assert "use_buildroot_image" not in opts
    assert "image quay.example/evil:1 is not allowed" in caplog.text


def test_the_tags_extra_chooses_mode_and_image_through_the_hub(hub, tmp_path):
    hub.add_tag("f41-build", arches="x86_64")
    hub.edit_tag("f41-build", extra={"container.mock": "bootstrap",
                                     "container.image": "registry.example/from-extra:1"})
    container_buildroot.install(conf(tmp_path, "mode = off"))
    from kojid_plugins import mock_config
    mock_config.set_current_task(Task(koji.ClientSession(hub.url)))
    try:
        _text, opts = kojid_mock_config()
    finally:
        mock_config.set_current_task(None)
    assert opts["bootstrap_image"] == "registry.example/from-extra:1"


def test_a_mode_word_that_is_not_one_is_a_config_error(tmp_path):
    from kojid_plugins.config import ConfigError
    with pytest.raises(ConfigError, match=r"\[mock\] mode: 'image' is not one of off"):
        container_buildroot.install(conf(tmp_path, "mode = image"))


def test_other_plugins_lines_and_option_changes_reach_the_file(tmp_path):
    class Macros:
        @hookimpl
        def kojid_mock_config(self, task, tag, arch, opts):
            opts["tag_macros"]["%dist"] = ".kp1"
            return ["config_opts['koji_plugins_seen'] = %r" % tag]

    runtime.register(Macros(), "macros")
    wiring.install()
    _text, opts = kojid_mock_config()
    assert opts["macros"]["%dist"] == ".kp1"
    assert opts["koji_plugins_seen"] == "f41-build"
