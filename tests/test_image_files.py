"""The image's files agree with the code: Dockerfile, compose.yaml, the template.

The image itself cannot be built here (no registry serves a base image);
hadolint and shellcheck run in make lint.  These checks keep the paths and
names the files share with ``koji-worker start`` in step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from kojid_plugins.start import environment

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
DEFAULTS = {v.name: v.default for v in environment.VARIABLES}


def instruction(name):
    joined = DOCKERFILE.replace("\\\n", " ")
    found = re.findall(r"^%s\s+(.*)$" % name, joined, re.M)
    assert len(found) == 1, (name, found)
    return found[0]


def test_entrypoint_and_healthcheck_are_the_commands():
    assert json.loads(instruction("ENTRYPOINT")) == ["koji-worker", "start"]
    assert instruction("HEALTHCHECK").split("CMD", 1)[1].strip() == \
        '["koji-worker", "health"]'


def test_kojid_runs_as_a_non_root_user():
    user = instruction("USER").split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert "--uid %s" % user in DOCKERFILE


def test_the_template_lands_where_the_command_looks():
    assert "COPY etc/koji-worker/kojid.conf.in %s" % DEFAULTS["KOJID_CONF_TEMPLATE"] \
        in DOCKERFILE
    assert "KOJID_PLUGINS_CONFDIR=%s" % DEFAULTS["KOJID_PLUGINS_CONFDIR"] in DOCKERFILE
    state = DEFAULTS["KOJI_WORKER_STATE_DIR"]
    assert "KRB5_CONFIG=%s/krb5.conf:" % state in DOCKERFILE


def test_no_secret_is_copied_into_the_image():
    copied = " ".join(re.findall(r"^COPY\s+(.*)$", DOCKERFILE, re.M))
    assert not re.search(r"keytab|\.key\b|\.pem\b|password", copied, re.I)


def compose_config():
    out = subprocess.run([str(Path(sys.executable).parent / "podman-compose"), "-f",
                          str(ROOT / "compose.yaml"), "--profile", "workers", "config"],
                         cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, check=True).stdout
    return out


def test_compose_worker_is_in_the_workers_profile_with_known_variables():
    config = yaml.safe_load(compose_config())
    worker = config["services"]["koji-worker"]
    assert worker["profiles"] == ["workers"]
    assert worker["healthcheck"]["test"] == ["CMD", "koji-worker", "health"]
    assert set(worker["environment"]) <= set(DEFAULTS)
    # the runtime's stop timeout is the one the drain is planned for
    assert worker["stop_grace_period"] == "%ss" % worker["environment"][
        "KOJI_WORKER_STOP_TIMEOUT"]
    assert "koji_storage:/mnt/koji" in worker["volumes"]
