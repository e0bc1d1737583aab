"""Typed, strict reading of ``/etc/kojid/plugins/NAME.conf``.

Each plugin declares its settings as :class:`Section` schemas of
:class:`Key` entries.  :func:`load` reads the file with
``koji.read_config_files`` (koji's own convention), fills defaults, parses
every value, and refuses unknown sections, unknown keys and malformed
values with a :class:`ConfigError` naming the file, section and key.  The
schemas double as the documentation the README is checked against.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from typing import Any, Callable, Dict, List, Optional, Sequence

import koji

from .context import plugin_conf_dir

__all__ = ("ConfigError", "Key", "Section", "load", "conf_path", "as_int", "as_whole",
           "as_float", "as_positive", "as_count", "as_bool", "as_words", "as_text", "as_path",
           "as_uuid", "as_uuids", "as_url", "as_ip")


class ConfigError(koji.GenericError):
    """A plugin's configuration is unusable; the text says where and why."""


def as_text(value: str) -> str:
    return value.strip()


def as_int(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError("%r is not a whole number" % value) from None


def as_float(value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise ValueError("%r is not a number" % value) from None
    if not math.isfinite(number) or number < 0:
        raise ValueError("%r is not a finite number of at least 0" % value)
    return number


def as_positive(value: str) -> float:
    number = as_float(value)
    if number <= 0:
        raise ValueError("%r must be more than 0" % value)
    return number


def as_count(value: str) -> int:
    number = as_int(value)
    if number < 0:
        raise ValueError("%r is negative" % value)
    return number


def as_whole(value: str) -> int:
    """A whole number of at least 1 (a limit of 0 or less means nothing)."""
    number = as_int(value)
    if number < 1:
        raise ValueError("%r must be a whole number of at least 1" % value)
    return number


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")


def as_uuid(value: str) -> str:
    text = value.strip()
    if text and not _UUID.match(text):
        raise ValueError("%r is not a UUID" % value)
    return text


def as_uuids(value: str) -> List[str]:
    return [as_uuid(word) for word in as_words(value)]


def as_url(value: str) -> str:
    text = value.strip()
    if text and not re.match(r"^https?://[^/\s]+", text):
        raise ValueError("%r is not an http:// or https:// URL" % value)
    return text


def as_ip(value: str) -> str:
    text = value.strip()
    if text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueError("%r is not an IP address" % value) from None
    return text


_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}


def as_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ValueError("%r is not a boolean (use yes or no)" % value)


def as_words(value: str) -> List[str]:
    return value.replace(",", " ").split()


def as_path(value: str) -> str:
    path = value.strip()
    if path and not os.path.isabs(path):
        raise ValueError("%r is not an absolute path" % value)
    return os.path.normpath(path) if path else path


class Key:
    """One setting: its parser, default and meaning.

    :param name: the key as written in the file
    :param parse: turns the raw text into the value; raises ValueError
    :param default: the raw default text (parsed like a written value),
        or ``None`` for "unset"
    :param doc: one sentence for the README and the sample file
    """

    def __init__(self, name: str, parse: Callable[[str], Any],
                 default: Optional[str], doc: str) -> None:
        self.name = name
        self.parse = parse
        self.default = default
        self.doc = doc


class Section:
    """A section schema; ``prefix`` sections repeat (``[resource:NAME]``)."""

    def __init__(self, name: str, keys: Sequence[Key], doc: str,
                 prefix: bool = False, required: Sequence[str] = ()) -> None:
        self.name = name
        self.keys = {key.name: key for key in keys}
        self.doc = doc
        self.prefix = prefix
        self.required = tuple(required)

    def matches(self, section: str) -> bool:
        if self.prefix:
            return section.startswith(self.name + ":") and len(section) > len(self.name) + 1
        return section == self.name


def conf_path(plugin: str) -> str:
    """``<plugin conf dir>/<plugin>.conf``."""
    return os.path.join(plugin_conf_dir(), plugin + ".conf")


def _read(path: str) -> Any:
    try:
        return koji.read_config_files([path], raw=True)
    except Exception as error:
        raise ConfigError("bad config: %s: %s" % (path, error)) from None


def _parse_section(path: str, name: str, raw: Dict[str, str],
                   schema: Section) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for key in raw:
        if key not in schema.keys:
            known = ", ".join(sorted(schema.keys))
            raise ConfigError("bad config: %s [%s]: unknown key %r (known: %s)"
                              % (path, name, key, known))
    for key in schema.required:
        if not raw.get(key, "").strip():
            raise ConfigError("bad config: %s [%s]: %s is required" % (path, name, key))
    for key in schema.keys.values():
        text = raw.get(key.name, key.default)
        if text is None:
            values[key.name] = None
            continue
        try:
            values[key.name] = key.parse(text)
        except ValueError as error:
            raise ConfigError("bad config: %s [%s] %s: %s"
                              % (path, name, key.name, error)) from None
    return values


def load(plugin: str, schemas: Sequence[Section],
         path: Optional[str] = None) -> Dict[str, Dict[str, Any]]:
    """Read and check one plugin's configuration file.

    A missing file means "all defaults".  The result maps each section
    name found (plus every non-repeating schema section, with defaults) to
    its parsed values.

    :raises ConfigError: naming the file, section and key at fault
    """
    path = path or conf_path(plugin)
    parser = _read(path) if os.path.exists(path) else None
    found = parser.sections() if parser else []
    result: Dict[str, Dict[str, Any]] = {}

    for name in found:
        schema = next((s for s in schemas if s.matches(name)), None)
        if schema is None:
            known = ", ".join(s.name + (":NAME" if s.prefix else "") for s in schemas)
            raise ConfigError("bad config: %s: unknown section [%s] (known: %s)"
                              % (path, name, known))
        result[name] = _parse_section(path, name, dict(parser.items(name)), schema)

    for schema in schemas:
        if not schema.prefix and schema.name not in result:
            result[schema.name] = _parse_section(path, schema.name, {}, schema)
    return result
