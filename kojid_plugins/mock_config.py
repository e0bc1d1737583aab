"""The ``kojid_mock_config`` hook, around ``koji.genMockConfig``.

kojid writes each build root's mock configuration with
``koji.genMockConfig``, looked up on the ``koji`` module at call time, so
wrapping that one function reaches every build root kojid makes (build,
buildArch, createrepo, image tasks...).  Plugins may change the options in
place and return extra lines, which are appended to the generated file.
"""

from __future__ import annotations

import logging
from typing import Any, List, Optional

import koji

from . import runtime

__all__ = ("install", "uninstall", "set_current_task", "current_task")

logger = logging.getLogger("koji.plugin.kojid_plugins")

_MARK = "_kojid_plugins_original"
_current: Optional[Any] = None


def set_current_task(task: Optional[Any]) -> None:
    """The task this process runs now (set by the wiring around ``runTask``)."""
    global _current
    _current = task


def current_task() -> Optional[Any]:
    return _current


def _extra_lines(tag: str, arch: str, opts: dict) -> List[str]:
    if not runtime.has_impls("kojid_mock_config"):
        return []
    results = runtime.get_manager().hook.kojid_mock_config(
        task=_current, tag=tag, arch=arch, opts=opts)
    lines: List[str] = []
    for result in results:
        lines.extend(str(line) for line in (result or []))
    return lines


def _wrap(original: Any) -> Any:
    def genMockConfig(name, arch, managed=False, repoid=None, tag_name=None, **opts):
        lines = _extra_lines(tag_name or name, arch, opts)
        text = original(name, arch, managed=managed, repoid=repoid, tag_name=tag_name,
                        **opts)
        if lines:
            logger.info("mock config %s: %d line(s) added by plugins", name, len(lines))
            text = "%s\n\n# added by kojid_plugins hooks\n%s\n" % (
                text.rstrip("\n"), "\n".join(lines))
        return text

    setattr(genMockConfig, _MARK, original)
    genMockConfig.__doc__ = original.__doc__
    return genMockConfig


def install() -> bool:
    """Wrap ``koji.genMockConfig`` once; True if done now."""
    if hasattr(koji.genMockConfig, _MARK):
        return False
    koji.genMockConfig = _wrap(koji.genMockConfig)
    return True


def uninstall() -> None:
    """Put the original back (for tests)."""
    original = getattr(koji.genMockConfig, _MARK, None)
    if original is not None:
        koji.genMockConfig = original
