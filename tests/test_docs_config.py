"""Every plugin setting the code knows is documented, and only those.

The README's configuration tables and the samples in ``etc/`` are
checked against the schemas the plugins parse their files with.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kojid_plugins import health_settings, orch_settings, podman_settings
from kojid_plugins.config import load

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = {"orch_resources": orch_settings.SCHEMA,
           "worker_health": health_settings.SCHEMA,
           "container_buildroot": podman_settings.SCHEMA}


def section_label(section):
    return "[%s:%s]" % (section.name, "LABEL" if section.name == "lease" else "NAME") \
        if section.prefix else "[%s]" % section.name


def readme_rows(plugin):
    text = (ROOT / "README.md").read_text()
    part = text.split("### `%s.conf`" % plugin, 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^\| `(\[[^`]+\])` \| `([a-z_]+)` \|", part, re.M))


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_readme_documents_exactly_the_keys_the_code_reads(plugin):
    wanted = {(section_label(s), key) for s in PLUGINS[plugin] for key in s.keys}
    assert readme_rows(plugin) == wanted


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_sample_config_mentions_every_key(plugin):
    sample = (ROOT / "etc" / "kojid" / "plugins" / (plugin + ".conf")).read_text()
    for section in PLUGINS[plugin]:
        for key in section.keys:
            assert re.search(r"^;\s*%s\s*=" % key, sample, re.M), (section.name, key)


@pytest.mark.parametrize("plugin", sorted(PLUGINS))
def test_sample_config_parses_when_uncommented(plugin, tmp_path):
    sample = (ROOT / "etc" / "kojid" / "plugins" / (plugin + ".conf")).read_text()
    live = re.sub(r"^;(\[|[a-z_]+ =)", r"\1", sample, flags=re.M)
    path = tmp_path / (plugin + ".conf")
    path.write_text(live)
    sections = load(plugin, PLUGINS[plugin], str(path))
    assert sections
