"""A kojid plugin for tests only: a task that reports what it was given.

``leaseProbe(mode, seconds)`` sleeps, then reports the resources the
hooks handed it (``kojid_resources``, ``KOJID_RESOURCE_*``, each file's
mode and size) or ends as ``mode`` says: ``close``, ``generic`` (a
koji.GenericError), ``raise`` (a RuntimeError), ``refuse``
(koji.tasks.RefuseTask, where this koji has it).
"""

import os
import stat
import time

import koji
import koji.tasks


class LeaseProbeTask(koji.tasks.BaseTaskHandler):
    Methods = ["leaseProbe"]
    _taskWeight = 0.1

    def handler(self, mode="close", seconds=0):
        time.sleep(seconds)
        if mode == "generic":
            raise koji.GenericError("probe failed as asked")
        if mode == "raise":
            raise RuntimeError("probe raised as asked")
        if mode == "refuse":
            raise koji.tasks.RefuseTask("probe refused as asked")
        resources = getattr(self, "kojid_resources", {})
        files = {}
        for name, path in resources.items():
            info = os.stat(path)
            files[name] = {"mode": oct(stat.S_IMODE(info.st_mode)), "size": info.st_size}
        env = {k: v for k, v in os.environ.items() if k.startswith("KOJID_RESOURCE_")}
        return {"resources": resources, "files": files, "env": env, "pid": os.getpid()}
