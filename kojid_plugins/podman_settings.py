"""Settings of the ``container_buildroot`` plugin (``container_buildroot.conf``).

``[podman]`` says where the podman service listens; ``[images]`` which
image a build tag gets and which images may be used at all; ``[limits]``
and ``[network]`` what a build-root container may use; ``[mounts]``
where extra mounts may come from; ``[tag:NAME]`` overrides per tag.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any, Dict, Optional

from .config import (ConfigError, Key, Section, as_bool, as_positive, as_whole,
                     as_text, as_words, conf_path, load)

__all__ = ("SCHEMA", "PodmanSettings", "read_podman_settings")

PLUGIN = "container_buildroot"

#: what mock may take from an image: nothing, its bootstrap, or the build root
MOCK_MODES = ("off", "bootstrap", "buildroot")


def as_mock_mode(value: str) -> str:
    """A :data:`MOCK_MODES` word, or empty (inherit ``[mock] mode``)."""
    word = value.strip().lower()
    if word and word not in MOCK_MODES:
        raise ValueError("%r is not one of %s" % (value, ", ".join(MOCK_MODES)))
    return word

SCHEMA = (
    Section("podman", doc="the podman service", keys=(
        Key("socket", as_text, "unix:///run/podman/podman.sock",
            "the podman service's socket URL"),
        Key("timeout", as_positive, "60", "seconds to wait for each podman API answer"),
        Key("selfcheck", as_bool, "yes",
            "run one trivial container at kojid start; not ready if it fails"),
    )),
    Section("images", doc="which image a build root gets", keys=(
        Key("default", as_text, "", "the image when neither the tag nor [tag:NAME] names one"),
        Key("allowed", as_words, "",
            "image name patterns that may be used (shell patterns; empty: none)"),
    )),
    Section("limits", doc="what a build-root container may use", keys=(
        Key("cpus", as_positive, "2", "CPUs (fractions allowed)"),
        Key("memory_mb", as_whole, "4096", "memory limit in MB"),
        Key("pids", as_whole, "4096", "most processes at once"),
    )),
    Section("network", doc="the build root's network", keys=(
        Key("enabled", as_bool, "no",
            "give build roots the host's network (repos then also come over topurl)"),
    )),
    Section("mounts", doc="extra mounts a runroot task may ask for", keys=(
        Key("safe_roots", as_words, "", "absolute paths below which extra mounts may lie"),
    )),
    Section("mock", doc="image-based mock roots for stock build tasks", keys=(
        Key("mode", as_mock_mode, "off",
            "off, bootstrap (mock's bootstrap from the tag's image) or buildroot "
            "(mock's build root from it; mock 6 or later)"),
        Key("image_ready", as_bool, "no",
            "the bootstrap image already has dnf: mock installs nothing into it"),
    )),
    Section("tag", prefix=True, doc="per build tag", keys=(
        Key("image", as_text, "", "the image for this tag (the tag's extra container.image wins)"),
        Key("mock", as_mock_mode, "", "[mock] mode for this tag (the tag's extra "
            "container.mock wins)"),
    )),
)


class PodmanSettings:
    """Everything ``container_buildroot.conf`` says, checked."""

    def __init__(self, sections: Dict[str, Dict[str, Any]], path: str) -> None:
        self.podman = sections["podman"]
        self.images = sections["images"]
        self.limits = sections["limits"]
        self.mock = sections["mock"]
        self.network = sections["network"]["enabled"]
        self.safe_roots = [os.path.normpath(r) for r in sections["mounts"]["safe_roots"]]
        self.tags = {name.split(":", 1)[1]: values for name, values in sections.items()
                     if name.startswith("tag:")}
        self.path = path

    @property
    def socket(self) -> str:
        return os.environ.get("KOJID_PODMAN_SOCKET") or self.podman["socket"]

    def image_for(self, tag: str, extra: Optional[Dict[str, Any]]) -> str:
        """The tag's extra ``container.image``, else ``[tag:NAME]``, else the default."""
        image = (extra or {}).get("container.image") or \
            self.tags.get(tag, {}).get("image") or self.images["default"]
        if not image:
            raise ConfigError("no container image for tag %s: set the tag's extra "
                              "container.image, or image in %s [tag:%s] or [images] default"
                              % (tag, self.path, tag))
        return image

    def mock_mode(self, tag: str, extra: Optional[Dict[str, Any]]) -> str:
        """The tag's extra ``container.mock``, else ``[tag:NAME] mock``, else
        ``[mock] mode``.

        :raises ConfigError: when the tag's extra names no known mode
        """
        mode = str((extra or {}).get("container.mock") or "").strip().lower() or \
            self.tags.get(tag, {}).get("mock") or self.mock["mode"]
        if mode not in MOCK_MODES:
            raise ConfigError("tag %s: extra container.mock %r is not one of %s"
                              % (tag, mode, ", ".join(MOCK_MODES)))
        return mode

    def allowed(self, image: str) -> bool:
        return any(fnmatch.fnmatchcase(image, p) for p in self.images["allowed"])

    def mount_is_safe(self, path: str) -> bool:
        path = os.path.normpath(path)
        return os.path.isabs(path) and any(
            path == root or path.startswith(root.rstrip("/") + "/") for root in self.safe_roots)


def read_podman_settings(path: Optional[str] = None) -> PodmanSettings:
    """Load ``container_buildroot.conf``.

    :raises ConfigError: naming the file, section and key at fault
    """
    path = path or conf_path(PLUGIN)
    sections = load(PLUGIN, SCHEMA, path)
    for root in sections["mounts"]["safe_roots"]:
        if not os.path.isabs(root):
            raise ConfigError("bad config: %s [mounts] safe_roots: %r is not absolute"
                              % (path, root))
    settings = PodmanSettings(sections, path)
    default = settings.images["default"]
    if default and not settings.allowed(default):
        raise ConfigError("bad config: %s [images] default: %s does not match [images] "
                          "allowed (%s)" % (path, default,
                                            " ".join(settings.images["allowed"]) or "empty"))
    return settings
