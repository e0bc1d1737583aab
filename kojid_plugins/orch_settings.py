"""Settings of the ``orch_resources`` plugin (``orch_resources.conf``).

``[orch]`` says how to reach the orch service and where to keep files;
each ``[resource:NAME]`` names one UUID or a pool of them; each
``[lease:LABEL]`` says which task methods (optionally narrowed by arch and
channel) need which resources.
"""

from __future__ import annotations

import fnmatch
import os
import re
from typing import Any, Dict, List, Optional, Sequence, Union

from orch_bridge.spnego import Kerberos

from .config import (ConfigError, Key, Section, as_bool, as_count, as_float, as_ip,
                     as_path, as_positive, as_text, as_url, as_uuid, as_uuids, as_words,
                     conf_path, load)

__all__ = ("SCHEMA", "Settings", "ResourceSpec", "LeaseRule", "read_settings")

PLUGIN = "orch_resources"

AUTH_KINDS = ("none", "gssapi")


def as_auth(value: str) -> str:
    word = value.strip().lower()
    if word not in AUTH_KINDS:
        raise ValueError("%r is not one of %s" % (value, ", ".join(AUTH_KINDS)))
    return word


def as_principal(value: str) -> str:
    text = value.strip()
    if text and (any(ch.isspace() for ch in text) or text.startswith("@")
                 or text.endswith(("@", "/"))):
        raise ValueError("%r is not a Kerberos principal (name/instance@REALM)" % value)
    return text


SCHEMA = (
    Section("orch", doc="how to reach the orch service", keys=(
        Key("url", as_url, "", "orch's base URL; empty means $ORCH_SERVICE_URL"),
        Key("timeout", as_positive, "10", "seconds to wait for each orch answer"),
        Key("health_timeout", as_positive, "3",
            "seconds the per-loop health call to orch may take (no retries)"),
        Key("retries", as_count, "3",
            "extra attempts after a connection error or 5xx (never after 4xx)"),
        Key("backoff", as_float, "0.5", "first retry delay in seconds; doubles, jittered"),
        Key("release_retry", as_float, "30",
            "seconds between attempts at a release orch did not answer"),
        Key("source_address", as_ip, "",
            "local IP to send from (orch knows callers by source address)"),
        Key("resource_dir", as_path, "/var/lib/kojid-plugins/resources",
            "where checked-out files are written, one 0700 directory per task"),
        Key("journal_dir", as_path, "/var/lib/kojid-plugins/leases",
            "the durable lease journal; must survive a kojid restart"),
        Key("journal_fsync", as_bool, "no",
            "flush each journal write to disk (survives power loss; ~0.6 ms a write)"),
        Key("auth", as_auth, "none",
            "none, or gssapi: Kerberos (SPNEGO) on every orch call"),
        Key("principal", as_principal, "",
            "gssapi: the client principal; empty means the one principal in the keytab"),
        Key("keytab", as_path, "",
            "gssapi: the client keytab; empty means $KRB5_CLIENT_KTNAME"),
        Key("ccache", as_text, "",
            "gssapi: the ticket cache (FILE:/path); empty keeps tickets in memory"),
        Key("service", as_principal, "",
            "gssapi: orch's principal (HTTP/host@REALM); empty means HTTP@<url host>"),
        Key("mutual", as_bool, "yes",
            "gssapi: orch must prove its identity in every answer"),
        Key("ca_file", as_path, "",
            "CA certificate(s) https calls to orch are verified against; empty: system store"),
    )),
    Section("resource", prefix=True, doc="one orch resource, or a pool of them", keys=(
        Key("uuid", as_uuid, "", "the orch resource UUID"),
        Key("pool", as_uuids, "", "several UUIDs; any free one will do"),
    )),
    Section("lease", prefix=True, doc="which tasks need which resources",
            required=("methods", "resources"), keys=(
        Key("methods", as_words, "", "task methods (shell patterns, * for all)"),
        Key("arches", as_words, "", "only tasks of these arches (empty: any)"),
        Key("channels", as_words, "", "only tasks in these channels (empty: any)"),
        Key("resources", as_words, "", "resource names, each from a [resource:NAME]"),
    )),
)


class ResourceSpec:
    """A named resource: one UUID, or a pool of UUIDs."""

    def __init__(self, name: str, uuids: Sequence[str], pool: bool) -> None:
        self.name = name
        self.uuids = list(uuids)
        self.pool = pool

    def candidates(self, task_id: int) -> List[str]:
        """The UUIDs to try, starting at a place that spreads tasks out."""
        if not self.pool:
            return list(self.uuids)
        start = task_id % len(self.uuids)
        return self.uuids[start:] + self.uuids[:start]


class LeaseRule:
    """One ``[lease:LABEL]``: which tasks it covers, what they need."""

    def __init__(self, label: str, values: Dict[str, Any],
                 resources: List[ResourceSpec]) -> None:
        self.label = label
        self.methods = values["methods"]
        self.arches = values["arches"]
        self.channels = values["channels"]
        self.resources = resources

    def covers(self, method: str, arch: Optional[str], channel: Optional[str]) -> bool:
        if not any(fnmatch.fnmatchcase(method, p) for p in self.methods):
            return False
        if self.arches and arch not in self.arches:
            return False
        return not self.channels or channel in self.channels


class Settings:
    """Everything ``orch_resources.conf`` says, checked."""

    def __init__(self, orch: Dict[str, Any], resources: Dict[str, ResourceSpec],
                 rules: List[LeaseRule], path: str) -> None:
        self.orch = orch
        self.resources = resources
        self.rules = rules
        self.path = path

    @property
    def url(self) -> str:
        return self.orch["url"] or os.environ.get("ORCH_SERVICE_URL", "")

    def kerberos(self) -> Optional[Kerberos]:
        """The SPNEGO settings for orch calls, or ``None`` when ``auth = none``."""
        orch = self.orch
        if orch["auth"] != "gssapi":
            return None
        return Kerberos(principal=orch["principal"], keytab=orch["keytab"],
                        ccache=orch["ccache"], service=orch["service"], mutual=orch["mutual"])

    @property
    def verify(self) -> Union[bool, str]:
        """What https calls to orch verify against: the CA file, else the system store."""
        return self.orch["ca_file"] or True

    def needs(self, method: str, arch: Optional[str],
              channel: Optional[str]) -> List[ResourceSpec]:
        """The resources a task needs, each once, in config order."""
        wanted: Dict[str, ResourceSpec] = {}
        for rule in self.rules:
            if rule.covers(method, arch, channel):
                for spec in rule.resources:
                    wanted.setdefault(spec.name, spec)
        return list(wanted.values())

    @property
    def uses_channels(self) -> bool:
        return any(rule.channels for rule in self.rules)


def resource_env_name(name: str) -> str:
    """The variable a task sees a resource's file path in: ``KOJID_RESOURCE_<NAME>``,
    upper-cased, with every character but letters and digits turned into ``_``."""
    return "KOJID_RESOURCE_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _check_distinct(path: str, resources: Dict[str, ResourceSpec]) -> None:
    """No UUID in two resources (a task taking both would conflict with itself
    on orch), and no two resources behind one variable name."""
    owners: Dict[str, str] = {}
    variables: Dict[str, str] = {}
    for name, spec in resources.items():
        for uuid in spec.uuids:
            other = owners.setdefault(uuid.lower(), name)
            if other != name:
                raise ConfigError("bad config: %s [resource:%s]: UUID %s is also in "
                                  "[resource:%s]; one UUID belongs to one resource"
                                  % (path, name, uuid, other))
        variable = resource_env_name(name)
        other = variables.setdefault(variable, name)
        if other != name:
            raise ConfigError("bad config: %s [resource:%s]: its task variable %s is also "
                              "[resource:%s]'s; rename one" % (path, name, variable, other))


def _resource(path: str, section: str, values: Dict[str, Any]) -> ResourceSpec:
    name = section.split(":", 1)[1]
    uuid, pool = values["uuid"], values["pool"]
    if bool(uuid) == bool(pool):
        raise ConfigError("bad config: %s [%s]: give exactly one of uuid or pool"
                          % (path, section))
    if pool and len(set(pool)) != len(pool):
        raise ConfigError("bad config: %s [%s] pool: a UUID is listed twice"
                          % (path, section))
    return ResourceSpec(name, pool or [uuid], bool(pool))


def _check_auth(path: str, orch: Dict[str, Any]) -> None:
    """Kerberos keys only with ``auth = gssapi``, so none is silently ignored."""
    if orch["auth"] == "gssapi":
        return
    for key in ("principal", "keytab", "ccache", "service"):
        if orch[key]:
            raise ConfigError("bad config: %s [orch] %s: set only with auth = gssapi"
                              % (path, key))


def read_settings(path: Optional[str] = None) -> Settings:
    """Load ``orch_resources.conf``.

    :raises ConfigError: naming the file, section and key at fault
    """
    path = path or conf_path(PLUGIN)
    sections = load(PLUGIN, SCHEMA, path)
    resources = {}
    for section, values in sections.items():
        if section.startswith("resource:"):
            spec = _resource(path, section, values)
            resources[spec.name] = spec
    _check_distinct(path, resources)

    rules = []
    for section, values in sections.items():
        if not section.startswith("lease:"):
            continue
        specs = []
        for name in values["resources"]:
            if name not in resources:
                raise ConfigError("bad config: %s [%s] resources: no [resource:%s] section"
                                  % (path, section, name))
            specs.append(resources[name])
        rules.append(LeaseRule(section.split(":", 1)[1], values, specs))

    settings = Settings(sections["orch"], resources, rules, path)
    _check_auth(path, settings.orch)
    if rules and not settings.url:
        raise ConfigError("bad config: %s [orch] url: empty and ORCH_SERVICE_URL is not set"
                          % path)
    return settings
