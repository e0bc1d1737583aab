"""The kojid plugins the worker enables, found and their configuration checked.

kojid quits when a plugin named in ``plugins =`` is not on ``pluginpath``,
and this project's plugins stop kojid on a bad ``NAME.conf``.  Both are
checked here, before kojid starts, so the error names the variable or the
file and kojid never starts on them.  ``worker_drain`` is always enabled:
it keeps kojid from taking tasks once ``koji-worker start`` drains.

A plugin whose ``NAME.conf`` is absent runs on its defaults (for
``orch_resources``: no lease rule), which is right for some and a
mistake for others, so one warning line lists those plugins.
"""

from __future__ import annotations

import configparser
import logging
import os
from typing import Callable, Dict, List

from .. import dropins
from ..config import ConfigError
from ..health_settings import read_health_settings
from ..orch_settings import read_settings
from ..podman_settings import read_podman_settings
from .errors import ConfigProblem

__all__ = ("KOJI_PLUGIN_DIR", "DRAIN_PLUGIN", "plugin_list", "pluginpath", "check_plugins")

#: where the koji-builder package puts koji's own builder plugins
KOJI_PLUGIN_DIR = "/usr/lib/koji-builder-plugins"
DRAIN_PLUGIN = "worker_drain"

logger = logging.getLogger("koji_worker.start")

#: this project's plugins that read a ``NAME.conf``, and their readers
READERS: Dict[str, Callable[[str], object]] = {
    "orch_resources": read_settings,
    "worker_health": read_health_settings,
    "container_buildroot": read_podman_settings,
}


def plugin_list(names: List[str]) -> List[str]:
    """The names asked for, each once, with ``worker_drain`` added."""
    wanted: List[str] = []
    for name in list(names) + [DRAIN_PLUGIN]:
        if name not in wanted:
            wanted.append(name)
    return wanted


def pluginpath() -> str:
    """koji's plugin directory, then this package's drop-ins."""
    return "%s:%s" % (KOJI_PLUGIN_DIR, dropins.path())


def check_plugins(names: List[str], path: str, conf_dir: str) -> None:
    """Check every plugin is on ``path`` and its configuration is good.

    :param names: the plugins to enable
    :param path: kojid's ``pluginpath``
    :param conf_dir: where the plugins' ``NAME.conf`` files are
    :raises ConfigProblem: naming the plugin or the file at fault
    """
    directories = [d for d in path.split(":") if d]
    defaults = []
    for name in names:
        if not any(os.path.isfile(os.path.join(d, name + ".py")) for d in directories):
            raise ConfigProblem("KOJI_WORKER_PLUGINS: no plugin %r on kojid's pluginpath %s"
                                % (name, path))
        reader = READERS.get(name)
        if reader is None:
            continue
        conf = os.path.join(conf_dir, name + ".conf")
        if not os.path.exists(conf):
            defaults.append(name)
        try:
            reader(conf)
        except ConfigError as error:
            raise ConfigProblem("KOJID_PLUGINS_CONFDIR: %s" % _one_line(error, conf)) from None
    if defaults:
        logger.warning("plugins on their defaults (no NAME.conf in %s): %s",
                       conf_dir, " ".join(defaults))


def _parse_problem(parse: configparser.Error) -> str:
    """Where in the file and what, without configparser's repeated file name."""
    if isinstance(parse, configparser.MissingSectionHeaderError):
        return "line %d: no [section] header before %r" % (parse.lineno, parse.line.strip())
    if isinstance(parse, configparser.DuplicateOptionError):
        return "line %d: %r given twice in [%s]" % (parse.lineno, parse.option, parse.section)
    if isinstance(parse, configparser.DuplicateSectionError):
        return "line %d: section [%s] given twice" % (parse.lineno, parse.section)
    if isinstance(parse, configparser.ParsingError) and parse.errors:
        lineno, line = parse.errors[0]
        return "line %d: not a key = value line: %s" % (lineno, line)  # line is a repr
    return " ".join(parse.message.split())


def _one_line(error: ConfigError, path: str) -> str:
    """The reader's message on one line, naming the file."""
    parse = error.__context__
    if isinstance(parse, configparser.Error):
        return "bad config: %s %s" % (path, _parse_problem(parse))
    return " ".join(str(error).split())
