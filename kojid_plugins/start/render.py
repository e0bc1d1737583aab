"""kojid.conf from the template in ``etc/koji-worker/``, checked as kojid checks it.

The template is plain kojid.conf text with ``${NAME}`` placeholders (see
:data:`PLACEHOLDERS`; comment lines are left alone).  A ``key = value`` line whose value comes out
empty is dropped so kojid keeps its default; ``KOJID_OPT_<NAME>``
variables are added after the template's lines.  The result is parsed
and every ``[kojid]`` value is checked with :mod:`kojid_plugins.kojid_options`
(stock kojid's table and rules), so kojid never quits over a file this
command wrote; an error names the variable that supplied the value.
"""

from __future__ import annotations

import configparser
import re
from typing import Dict, List, Mapping, Tuple

from .. import kojid_options
from ..atomic import write_atomic
from .environment import WorkerEnv
from .errors import ConfigProblem

__all__ = ("PLACEHOLDERS", "placeholder_values", "render", "write_conf")

#: placeholder -> the variable whose value (or what it led to) fills it
PLACEHOLDERS = {
    "KOJI_HUB_URL": "KOJI_HUB_URL",
    "KOJI_TOP_URL": "KOJI_TOP_URL",
    "KOJI_TOP_DIR": "KOJI_TOP_DIR",
    "BUILDER_MAX_JOBS": "BUILDER_MAX_JOBS",
    "KOJID_KEYTAB": "KOJID_KEYTAB",
    "PRINCIPAL": "KOJI_WORKER_PRINCIPAL",
    "SERVERCA": "KOJI_WORKER_CA_FILE",
    "PLUGINS": "KOJI_WORKER_PLUGINS",
    "PLUGINPATH": "KOJI_WORKER_PLUGINS",
}

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_OPTION_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*[=:](.*)$")


def placeholder_values(env: WorkerEnv, principal: str, plugins: List[str],
                       pluginpath: str, serverca: str) -> Dict[str, str]:
    """What each placeholder stands for, as text."""
    return {
        "KOJI_HUB_URL": env["KOJI_HUB_URL"], "KOJI_TOP_URL": env["KOJI_TOP_URL"],
        "KOJI_TOP_DIR": env["KOJI_TOP_DIR"], "BUILDER_MAX_JOBS": str(env["BUILDER_MAX_JOBS"]),
        "KOJID_KEYTAB": env["KOJID_KEYTAB"], "PRINCIPAL": principal,
        "SERVERCA": serverca, "PLUGINS": " ".join(plugins), "PLUGINPATH": pluginpath,
    }


def _substitute(template: str, path: str, values: Mapping[str, str]
                ) -> Tuple[List[str], Dict[str, str]]:
    """The rendered lines, and for each option the variable behind it."""
    lines, origin = [], {}
    for number, line in enumerate(template.splitlines(), 1):
        if line.lstrip().startswith((";", "#")):
            lines.append(line)  # comments are left as they are
            continue
        names = _PLACEHOLDER.findall(line)
        for name in names:
            if name not in values:
                raise ConfigProblem("KOJID_CONF_TEMPLATE: %s line %d: unknown placeholder "
                                    "${%s} (known: %s)" % (path, number, name,
                                                           ", ".join(sorted(values))))
        text = _PLACEHOLDER.sub(lambda match: values[match.group(1)], line)
        option = _OPTION_LINE.match(text)
        if option and names:
            if not option.group(2).strip():
                continue
            origin[option.group(1).lower()] = PLACEHOLDERS[names[0]]
        lines.append(text)
    return lines, origin


def _add_options(lines: List[str], origin: Dict[str, str],
                 options: Mapping[str, tuple]) -> None:
    present = {m.group(1).lower() for m in map(_OPTION_LINE.match, lines) if m}
    for option, (text, variable) in options.items():
        if option in present:
            raise ConfigProblem("%s: the template already sets %r%s" % (
                variable, option, " (from %s)" % origin[option] if option in origin else ""))
        lines.append("%s = %s" % (option, text))
        origin[option] = variable


def _check(text: str, path: str, origin: Mapping[str, str]) -> Dict[str, str]:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=path)
    except configparser.Error as error:
        message = " ".join(str(error).split())
        raise ConfigProblem("KOJID_CONF_TEMPLATE: %s" % message) from None
    sections = {name: dict(parser.items(name)) for name in parser.sections()}
    for option, value in sections.get("kojid", {}).items():
        try:
            kojid_options.parse({option: value})
        except kojid_options.KojidConfigError as error:
            blame = origin.get(option, "KOJID_CONF_TEMPLATE")
            raise ConfigProblem("%s: kojid would refuse it: %s" % (blame, error)) from None
    try:
        kojid_options.check(sections)
    except kojid_options.KojidConfigError as error:
        raise ConfigProblem("KOJID_CONF_TEMPLATE: %s: kojid would refuse the result: %s"
                            % (path, error)) from None
    return sections.get("kojid", {})


def render(template_path: str, values: Mapping[str, str],
           options: Mapping[str, tuple]) -> Tuple[str, Dict[str, str]]:
    """Render and check kojid.conf.

    :param template_path: the template file
    :param values: placeholder -> text (see :func:`placeholder_values`)
    :param options: extra kojid options -> (text, variable)
    :returns: the file's text and its ``[kojid]`` items
    :raises ConfigProblem: naming the variable (or the template) at fault
    """
    try:
        with open(template_path, encoding="utf-8") as handle:
            template = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigProblem("KOJID_CONF_TEMPLATE: cannot read %s: %s"
                            % (template_path, getattr(error, "strerror", None) or error)
                            ) from None
    lines, origin = _substitute(template, template_path, values)
    _add_options(lines, origin, options)
    text = "\n".join(lines) + "\n"
    return text, _check(text, template_path, origin)


def write_conf(path: str, text: str) -> None:
    """Write kojid.conf atomically, readable by its owner and group only."""
    try:
        write_atomic(path, text.encode("utf-8"), mode=0o640)
    except OSError as error:
        raise ConfigProblem("KOJID_CONF: cannot write %s: %s"
                            % (path, error.strerror or error)) from None
