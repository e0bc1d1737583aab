"""The Makefile's worker targets find podman-compose and start the workers by default.

Real make runs the targets; podman-compose is a stand-in script that prints
the arguments it got, so no container is touched.  ``PATH`` is only the
system's (no podman-compose there), as after ``make demo`` or ``make test``,
which put podman-compose in the venv alone.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PATH = "/usr/bin:/bin"
BASE = "-f compose.yaml -p koji-worker"


def fake_compose(directory: Path, name: str = "podman-compose") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / name
    script.write_text("#!/bin/sh\necho \"%s $*\"\n" % name)
    script.chmod(0o755)
    return script


def make(target, *assignments, path=SYSTEM_PATH):
    proc = subprocess.run(["make", "-s", "-C", str(ROOT), target] + list(assignments),
                          env=dict(os.environ, PATH=path), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("target, args", [
    ("status", "--profile workers ps"),
    ("logs-worker", "--profile workers logs -f koji-worker"),
    ("shell-worker", "--profile workers exec --index 1 koji-worker /bin/bash"),
    ("down", "--profile workers down"),
    ("up", "--profile workers up -d --scale koji-worker=1"),
])
def test_without_podman_compose_on_path_the_venvs_is_used(tmp_path, target, args):
    fake_compose(tmp_path / "venv" / "bin")
    status, out, err = make(target, "VENV=%s" % (tmp_path / "venv"))
    assert (status, err) == (0, "")
    assert out == "podman-compose %s %s\n" % (BASE, args)


def test_podman_compose_on_path_comes_first(tmp_path):
    fake_compose(tmp_path / "venv" / "bin")
    on_path = fake_compose(tmp_path / "bin")
    on_path.write_text("#!/bin/sh\necho \"from PATH $*\"\n")
    status, out, _err = make("status", "VENV=%s" % (tmp_path / "venv"),
                             path="%s:%s" % (tmp_path / "bin", SYSTEM_PATH))
    assert status == 0
    assert out == "from PATH %s --profile workers ps\n" % BASE


def test_compose_can_still_be_set(tmp_path):
    other = fake_compose(tmp_path / "elsewhere", "my-compose")
    status, out, _err = make("up", "COMPOSE=%s" % other, "WORKERS=3",
                             "VENV=%s" % (tmp_path / "none"))
    assert status == 0
    assert out == "my-compose %s --profile workers up -d --scale koji-worker=3\n" % BASE


def test_no_compose_anywhere_is_one_line_saying_how_to_get_one(tmp_path):
    status, _out, err = make("status", "VENV=%s" % (tmp_path / "none"))
    assert status != 0
    assert err.splitlines()[0] == (
        "podman-compose not found: '%s/none/bin/podman-compose' is not a command; install "
        "podman-compose on PATH, run 'make venv', or set COMPOSE=..." % tmp_path)


def test_up_with_another_profile_says_it_started_no_worker(tmp_path):
    fake_compose(tmp_path / "venv" / "bin")
    status, out, err = make("up", "PROFILE=", "VENV=%s" % (tmp_path / "venv"))
    assert status == 0
    assert out == "podman-compose %s up -d\n" % BASE
    assert err == ("make up: started no koji-worker: it is in profile workers, and "
                   "PROFILE=''; run 'make up PROFILE=workers'\n")
