"""koji-worker start: environment in, kojid.conf out, checked as stock kojid checks it.

The one-line errors are those of the real command, run as a process; the
rendered file is read back with the kojid runner's option reading
(kojid's optparse options over kojid.conf with kojid's rules).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kojid_plugins.start import environment
from kojid_plugins.start.environment import read_environment
from kojid_plugins.start.errors import EXIT_CONFIG, ConfigProblem
from kojid_plugins.start.render import placeholder_values, render
from tests.doubles import kojid_runner

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = str(ROOT / "etc" / "koji-worker" / "kojid.conf.in")
WORKER_UUID = "4d5e6f7a-8b9c-4d4e-9f5a-6b7c8d9eafb0"


def base_env(tmp_path, **extra):
    """Every variable start needs, its files in place: a conf per default plugin."""
    plugins = tmp_path / "plugins"
    plugins.mkdir(exist_ok=True)
    for name in ("orch_resources", "worker_health"):
        (plugins / (name + ".conf")).touch()
    env = {
        "KOJI_HUB_URL": "http://127.0.0.1:9/kojihub",
        "KOJI_TOP_URL": "http://127.0.0.1:9/kojifiles",
        "ORCH_SERVICE_URL": "http://127.0.0.1:9",
        "KRB5_REALM": "KOJI.BOX",
        "KOJI_WORKER_KEYTAB": WORKER_UUID,
        "KOJID_CONF_TEMPLATE": TEMPLATE,
        "KOJID_OPT_WORKDIR": str(tmp_path / "work"),
        "KOJID_PLUGINS_CONFDIR": str(tmp_path / "plugins"),
        "KOJI_WORKER_STATE_DIR": str(tmp_path / "state"),
        "KOJID_COMMAND": sys.executable,
        "KOJID_CONF": str(tmp_path / "kojid.conf"),
    }
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def run_start(env):
    """The real command; returns (status, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "kojid_plugins.cli", "start"],
                          env=dict(env, PATH="/usr/bin:/bin"), cwd=str(ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("name", ["KOJI_HUB_URL", "KOJI_TOP_URL", "ORCH_SERVICE_URL",
                                  "KRB5_REALM", "KOJI_WORKER_KEYTAB"])
def test_missing_variable_is_one_line_naming_it(tmp_path, name):
    status, err = run_start(base_env(tmp_path, **{name: None}))
    assert status == EXIT_CONFIG
    assert err.count("\n") == 1
    assert err.startswith("koji-worker start: %s is not set: " % name)


@pytest.mark.parametrize("name, value, says", [
    ("BUILDER_MAX_JOBS", "ten", "BUILDER_MAX_JOBS: 'ten' is not a whole number"),
    ("BUILDER_MAX_JOBS", "0", "BUILDER_MAX_JOBS: '0' is less than 1"),
    ("KOJI_HUB_URL", "ftp://hub/kojihub", "KOJI_HUB_URL: 'ftp://hub/kojihub' is not an"),
    ("KOJI_WORKER_KEYTAB", "koji-worker", "KOJI_WORKER_KEYTAB: 'koji-worker' is not an orch"),
    ("KOJI_TOP_DIR", "mnt/koji", "KOJI_TOP_DIR: 'mnt/koji' is not an absolute path"),
    ("KOJI_WORKER_DRAIN_GRACE", "6", "KOJI_WORKER_DRAIN_GRACE: 6 s plus 5 s for stopping tasks"),
    ("KOJI_WORKER_PRINCIPAL", "worker/*@OTHER.REALM", "KOJI_WORKER_PRINCIPAL: 'worker/*@"),
    ("BUILDER_ARGS", "--verbose 'unclosed", "BUILDER_ARGS: cannot split"),
    ("KOJID_OPT_SLEEPTIME", "soon",
     "KOJID_OPT_SLEEPTIME: value for sleeptime option must be a valid integer"),
    ("KOJID_OPT_OFFLINE_RETRY", "maybe", "KOJID_OPT_OFFLINE_RETRY: value for offline_retry"),
    ("KOJID_OPT_SLEEPTME", "5", "KOJID_OPT_SLEEPTME: unknown config option: sleeptme"),
    ("KOJID_OPT_SERVER", "http://x/kojihub", "KOJID_OPT_SERVER: the template already sets "
     "'server' (from KOJI_HUB_URL)"),
    ("KOJID_OPT_PLUGINS", "runroot", "KOJID_OPT_PLUGINS: set KOJI_WORKER_PLUGINS instead"),
    ("KOJI_WORKER_PLUGINS", "no_such_plugin", "KOJI_WORKER_PLUGINS: no plugin "
     "'no_such_plugin' on kojid's pluginpath"),
    ("KOJID_CONF_TEMPLATE", "/nonexistent/kojid.conf.in", "KOJID_CONF_TEMPLATE: cannot "
     "read /nonexistent/kojid.conf.in"),
    ("KOJID_PLUGINS_CONFDIR", "/nonexistent/plugins",
     "KOJID_PLUGINS_CONFDIR: directory /nonexistent/plugins does not exist\n"),
    ("KOJID_PLUGINS_CONFDIR", "/etc/passwd",
     "KOJID_PLUGINS_CONFDIR: /etc/passwd is not a directory\n"),
    ("KOJID_COMMAND", "/nonexistent/kojid --fast",
     "KOJID_COMMAND: /nonexistent/kojid does not exist\n"),
    ("KOJID_COMMAND", "/etc/passwd", "KOJID_COMMAND: /etc/passwd is not executable\n"),
    ("KOJID_COMMAND", "/etc", "KOJID_COMMAND: /etc is not a file\n"),
    ("KOJID_COMMAND", "no-such-kojid -m x",
     "KOJID_COMMAND: 'no-such-kojid' is not an executable on PATH (/usr/bin:/bin)\n"),
    ("KOJID_CONF", "/nonexistent/kojid/kojid.conf", "KOJID_CONF: cannot write "
     "/nonexistent/kojid/kojid.conf: directory /nonexistent/kojid does not exist\n"),
    ("KOJID_CONF", "/etc/passwd/kojid.conf", "KOJID_CONF: cannot write "
     "/etc/passwd/kojid.conf: directory /etc/passwd does not exist\n"),
    ("KOJID_CONF", "/proc/kojid.conf", "KOJID_CONF: cannot write /proc/kojid.conf: "),
    ("KOJI_HUB_URL", "http://hub:99999/kojihub",
     "KOJI_HUB_URL: 'http://hub:99999/kojihub': port 99999 is not in 1-65535\n"),
    ("KOJI_HUB_URL", "https://[::1]:0/kojihub",
     "KOJI_HUB_URL: 'https://[::1]:0/kojihub': port 0 is not in 1-65535\n"),
    ("ORCH_SERVICE_URL", "http://orch:/", "ORCH_SERVICE_URL: 'http://orch:/' has an empty "
     "port\n"),
    ("KOJI_TOP_URL", "http://a/kojifiles http://b:70000/kojifiles",
     "KOJI_TOP_URL: 'http://b:70000/kojifiles': port 70000 is not in 1-65535\n"),
    ("KRB5_KDC", "kdc:88888", "KRB5_KDC: 'kdc:88888': port 88888 is not in 1-65535\n"),
])
def test_malformed_variable_is_one_line_naming_it(tmp_path, name, value, says):
    status, err = run_start(base_env(tmp_path, **{name: value}))
    assert status == EXIT_CONFIG, err
    assert err.count("\n") == 1, err
    assert err.startswith("koji-worker start: " + says), err


def test_bad_plugin_config_stops_before_kojid_naming_file_and_key(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "worker_health.conf").write_text("[health]\nmin_free_mb = lots\n")
    status, err = run_start(base_env(tmp_path))
    assert status == EXIT_CONFIG
    assert err.count("\n") == 1
    assert "worker_health.conf [health] min_free_mb" in err


@pytest.mark.parametrize("text, says", [
    ("min_free_mb = 5\n", "worker_health.conf line 1: no [section] header before "
     "'min_free_mb = 5'\n"),
    ("[health]\nmin_free_mb = 5\nmin_free_mb = 6\n",
     "worker_health.conf line 3: 'min_free_mb' given twice in [health]\n"),
    ("[health]\n  stray\n", "worker_health.conf line 2: not a key = value line: "
     "'  stray\\n'\n"),
])
def test_an_unparsable_plugin_conf_is_one_line_naming_file_and_line(tmp_path, text, says):
    env = base_env(tmp_path)
    (tmp_path / "plugins" / "worker_health.conf").write_text(text)
    status, err = run_start(env)
    assert status == EXIT_CONFIG, err
    assert err == "koji-worker start: KOJID_PLUGINS_CONFDIR: bad config: %s/%s" % (
        tmp_path / "plugins", says)


def test_plugins_without_their_conf_are_named_in_one_warning(tmp_path):
    # a template mistake stops start after the plugin checks, before orch is asked
    env = base_env(tmp_path, KOJID_OPT_SERVER="http://x/kojihub",
                   KOJI_WORKER_PLUGINS="orch_resources worker_health container_buildroot")
    (tmp_path / "plugins" / "orch_resources.conf").unlink()
    status, err = run_start(env)
    assert status == EXIT_CONFIG, err
    warning, error = err.splitlines()
    assert warning.endswith("koji-worker start: WARNING plugins on their defaults (no "
                            "NAME.conf in %s): orch_resources container_buildroot"
                            % (tmp_path / "plugins"))
    assert error.startswith("koji-worker start: KOJID_OPT_SERVER: ")


def test_a_kojid_command_found_on_path_passes_step_1(tmp_path):
    """"python3 -m ..." is looked up on PATH: start goes on to ask orch (port 9: refused)."""
    env = base_env(tmp_path, KOJID_COMMAND="python3 -m tests.doubles.kojid_runner")
    status, err = run_start(env)
    assert status == 1, err
    assert "KOJID_COMMAND" not in err
    assert "127.0.0.1:9" in err.splitlines()[-1]


def rendered(tmp_path, template=TEMPLATE, serverca="", **extra):
    env = read_environment(base_env(tmp_path, KOJID_CONF_TEMPLATE=template, **extra))
    values = placeholder_values(env, "worker/koji-worker-1@KOJI.BOX",
                                ["orch_resources", "worker_drain"], "/a:/b", serverca)
    return render(template, values, env.options)


def test_kojid_accepts_the_rendered_conf_and_reads_each_value(tmp_path):
    text, items = rendered(tmp_path, BUILDER_MAX_JOBS="3", KOJID_OPT_SLEEPTIME="2",
                           KOJID_OPT_MINSPACE="1")
    conf = tmp_path / "kojid.conf"
    conf.write_text(text)
    options = kojid_runner.get_options(["-c", str(conf), "--fg"])
    assert options.server == "http://127.0.0.1:9/kojihub"
    assert options.topurl == "http://127.0.0.1:9/kojifiles"
    assert options.topdir == "/mnt/koji"
    assert (options.maxjobs, options.sleeptime, options.minspace) == (3, 2, 1)
    assert options.krb_principal == "worker/koji-worker-1@KOJI.BOX"
    assert options.keytab == "/etc/kojid/kojid.keytab"
    assert options.plugin == ["orch_resources", "worker_drain"]
    assert options.pluginpath == "/a:/b"
    assert options.workdir == str(tmp_path / "work")
    assert "serverca" not in items  # left out when empty: kojid keeps its default
    assert options.serverca is None


def test_serverca_line_appears_when_a_ca_was_installed(tmp_path):
    _text, items = rendered(tmp_path, serverca="/etc/kojid/orch-ca.pem")
    assert items["serverca"] == "/etc/kojid/orch-ca.pem"


def test_template_with_a_key_kojid_does_not_know_is_refused(tmp_path):
    bad = tmp_path / "bad.conf.in"
    bad.write_text(open(TEMPLATE).read() + "builder_speed = fast\n")
    with pytest.raises(ConfigProblem, match="KOJID_CONF_TEMPLATE: kojid would refuse it: "
                       "unknown config option: builder_speed"):
        rendered(tmp_path, template=str(bad))


def test_template_with_another_section_is_refused(tmp_path):
    bad = tmp_path / "bad.conf.in"
    bad.write_text(open(TEMPLATE).read() + "[orch]\nurl = http://x\n")
    with pytest.raises(ConfigProblem, match="invalid section found in config file: orch"):
        rendered(tmp_path, template=str(bad))


def test_template_with_an_unknown_placeholder_is_refused(tmp_path):
    bad = tmp_path / "bad.conf.in"
    bad.write_text("[kojid]\nserver = ${HUB}\n")
    with pytest.raises(ConfigProblem, match=r"line 2: unknown placeholder \$\{HUB\}"):
        rendered(tmp_path, template=str(bad))


def test_template_without_server_is_refused(tmp_path):
    bad = tmp_path / "bad.conf.in"
    bad.write_text("[kojid]\ntopurl = ${KOJI_TOP_URL}\n")
    with pytest.raises(ConfigProblem, match="the server option is required"):
        rendered(tmp_path, template=str(bad))


def test_defaults_when_only_the_required_variables_are_set(tmp_path):
    env = read_environment(base_env(tmp_path, KOJID_COMMAND=None, KOJID_CONF=None))
    assert env["KOJI_TOP_DIR"] == "/mnt/koji"
    assert env["BUILDER_MAX_JOBS"] == 10
    assert env["KOJI_WORKER_PRINCIPAL"] == "worker/*@KOJI.BOX"
    assert env["KOJI_WORKER_PLUGINS"] == ["orch_resources", "worker_health"]
    assert env["BUILDER_ARGS"] == ["--force-lock", "--verbose"]
    assert env["KOJID_COMMAND"] == ["/usr/sbin/kojid"]
    assert env["KOJID_CONF"] == "/etc/kojid/kojid.conf"
    assert (env["KOJI_WORKER_DRAIN_GRACE"], env["KOJI_WORKER_STOP_TIMEOUT"]) == (4, 10)
    assert not env.uses_https


def test_readme_documents_every_variable():
    text = (ROOT / "README.md").read_text()
    part = text.split("## Worker image", 1)[1].split("\n## ", 1)[0]
    import re
    rows = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", part, re.M))
    assert rows == {v.name for v in environment.VARIABLES}
