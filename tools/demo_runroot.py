"""The runroot part of ``make demo``: the stock ``koji runroot`` CLI runs a
command in a podman build root through the worker.

The private podman service and the test image come from
``tools/podman-env.sh up`` (the first run builds the image, about two
minutes; later runs reuse it).  The build root has no network; the
tag's repo reaches it as files through the read-only topdir mount.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from podman import PodmanClient

from tests.doubles.podman_env import PodmanEnv

TAG = "demo-build"
COMMAND = ("echo \"hello from a podman build root\"; head -n1 /etc/os-release; "
           "echo \"network interfaces: $(cut -d: -f1 /proc/net/dev | tail -n +3 | xargs)\"")

def prepare_hub(hub: Any) -> None:
    """A build tag with a ready repo, and the runroot permission for admin."""
    hub.grant("admin", "runroot")
    hub.add_tag(TAG, arches="x86_64")
    hub.add_repo(TAG)


def leftovers(env: PodmanEnv, host: str) -> List[str]:
    """Containers of ``host`` still on the podman service."""
    with PodmanClient(base_url=env.url) as client:
        found = client.containers.list(all=True, filters={"label": "koji.host=" + host})
        return [c.id[:12] for c in found]


def run(hub_url: str, env: PodmanEnv, host: str, koji_cli: Callable[..., str],
        say: Callable[[str], None]) -> Dict[str, Any]:
    """Run the demo's runroot task; what the verdict needs to know."""
    say("\n== koji runroot %s x86_64 '%s'" % (TAG, COMMAND))
    say("   (stock CLI -> hub runroot call -> worker-1 -> podman container)")
    output = koji_cli(hub_url, "runroot", "--task-id", "--use-shell", TAG, "x86_64", COMMAND)
    lines = output.splitlines()
    for line in lines:
        say("  | " + line)
    left = leftovers(env, host)
    say("  containers of %s left on the podman service: %d" % (host, len(left)))
    return {"task_id": int(lines[0]) if lines and lines[0].isdigit() else None,
            "output": output, "leftovers": left}
