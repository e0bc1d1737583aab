"""A kojid plugin for tests only: records the build-root hooks it sees.

Each ``kojid_buildroot_created`` / ``kojid_buildroot_destroyed`` call
appends one JSON line to ``$KOJID_BUILDROOT_PROBE`` (task id, hook,
buildroot id, tag, arch, image), written by the task process itself.
"""

import json
import os


def _register():
    from kojid_plugins import wiring
    from kojid_plugins.hookspec import hookimpl

    class BuildrootProbe:
        def _note(self, hook, task, buildroot):
            line = {"hook": hook, "task": task.id if task else None,
                    "id": buildroot.get("id"), "tag": buildroot.get("tag"),
                    "arch": buildroot.get("arch"), "image": buildroot.get("image")}
            with open(os.environ["KOJID_BUILDROOT_PROBE"], "a") as out:
                out.write(json.dumps(line) + "\n")

        @hookimpl
        def kojid_buildroot_created(self, task, buildroot):
            self._note("created", task, buildroot)

        @hookimpl
        def kojid_buildroot_destroyed(self, task, buildroot):
            self._note("destroyed", task, buildroot)

    wiring.activate(BuildrootProbe(), "buildroot_probe")


_register()
del _register
