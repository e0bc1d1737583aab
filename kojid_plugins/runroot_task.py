"""A ``runroot`` task handler whose build root is a podman container.

A drop-in for koji's own runroot builder plugin: the same method name and
parameters, so the stock hub plugin and the stock ``koji runroot`` CLI
drive it unchanged.  The build root is recorded on the hub as kojid
records its own (``host.newBuildRoot``, state changes, package list); the
container sees the tag's repo as files through the read-only topdir
mount; the command's whole output becomes ``runroot.log``.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Dict, List, Optional

import koji
import koji.tasks
import koji.util

from . import runtime
from .config import ConfigError
from .containers import LABEL_BUILDROOT, LABEL_KEEP, LABEL_TASK, PodmanError

__all__ = ("RunRootTask",)

#: where the run script and its files are mounted inside the container
INSIDE = "/koji-runroot"


def _plugin() -> Any:
    plugin = runtime.get_manager().get_plugin("container_buildroot")
    if plugin is None:
        raise koji.GenericError("container_buildroot is not loaded in this kojid")
    return plugin


def run_script(packages: List[str], repo_url: Optional[str]) -> str:
    """The shell script that prepares the build root, then runs the command."""
    lines = ["#!/bin/sh", "set -e"]
    if repo_url:
        lines += ["mkdir -p /etc/yum.repos.d",
                  "cat > /etc/yum.repos.d/koji-runroot.repo <<'EOF'",
                  "[koji-runroot]", "name=koji build tag repo", "baseurl=%s" % repo_url,
                  "gpgcheck=0", "EOF"]
    if packages:
        quoted = " ".join(shlex.quote(p) for p in packages)
        lines += ["echo '+ installing %s'" % quoted.replace("'", ""),
                  "dnf -y -q --disablerepo='*' --enablerepo=koji-runroot install %s" % quoted]
    lines += ["rpm -qa --qf '%%{NAME}\\t%%{VERSION}\\t%%{RELEASE}\\t%%{EPOCHNUM}\\t%%{ARCH}\\n'"
              " > %s/rpms.tsv 2>/dev/null || true" % INSIDE,
              'exec "$@"']
    return "\n".join(lines) + "\n"


def command_name(command: Any) -> str:
    """What results name the command by, as stock runroot does: the base name
    of its first word that is not a ``VAR=value`` setting."""
    words = command.split() if isinstance(command, str) else [str(w) for w in command]
    words = [w for w in words if "=" not in w]
    return os.path.basename(words[0]) if words else "(none)"


def read_rpms(path: str) -> List[Dict[str, Any]]:
    """The build root's package list, in the shape ``setBuildRootList`` takes."""
    rpms = []
    try:
        with open(path) as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                if len(fields) == 5:
                    name, version, release, epoch, arch = fields
                    rpms.append({"name": name, "version": version, "release": release,
                                 "epoch": int(epoch) if epoch.isdigit() and epoch != "0"
                                 else None, "arch": arch})
    except OSError:
        pass
    return rpms


class RunRootTask(koji.tasks.BaseTaskHandler):
    """Run a command in a podman build root of a tag's repo."""

    Methods = ["runroot"]
    _taskWeight = 2.0

    def handler(self, root, arch, command, keep=False, packages=[], mounts=[],
                repo_id=None, skip_setarch=False, weight=None, upload_logs=None,
                new_chroot=None):
        plugin = _plugin()
        if weight is not None:
            self.session.host.setTaskWeight(self.id, max(weight, 0.5))

        # what to run, where: the tag, its repo, the image, the mounts
        config = self.session.getBuildConfig(root)
        br_arch = self._arch(arch, config)
        repo = self._repo(root, repo_id)
        image = self._image(plugin, config)
        extra_mounts = self._mounts(plugin, mounts)

        # the build root on the hub, then the container
        br_id = self.session.host.newBuildRoot(repo["id"], br_arch, task_id=self.id)
        buildroot = {"id": br_id, "tag": config["name"], "arch": br_arch, "image": image,
                     "repo_id": repo["id"]}
        runtime.get_manager().hook.kojid_buildroot_created(task=self._context(),
                                                           buildroot=buildroot)
        try:
            return self._run(plugin, buildroot, repo, command, packages, extra_mounts, keep,
                             upload_logs or [])
        finally:
            self.session.host.setBuildRootState(br_id, koji.BR_STATES["EXPIRED"])
            runtime.get_manager().hook.kojid_buildroot_destroyed(task=self._context(),
                                                                 buildroot=buildroot)

    # -- the steps ---------------------------------------------------------------

    def _arch(self, arch: str, config: Dict[str, Any]) -> str:
        """``noarch`` means: the tag's first arch this host builds (as stock)."""
        if arch != "noarch":
            return arch
        host_arches = self.session.host.getHost().get("arches")
        if not host_arches:
            raise koji.BuildError("No arch list for this host")
        tag_arches = config.get("arches")
        if not tag_arches:
            raise koji.BuildError("No arch list for tag: %s" % config["name"])
        mine = set(koji.canonArch(a) for a in host_arches.split())
        for candidate in tag_arches.split():
            if koji.canonArch(candidate) in mine:
                return koji.canonArch(candidate)
        raise koji.BuildError("host does not match tag arches: %s (%s)"
                              % (config["name"], tag_arches))

    def _repo(self, root: str, repo_id: Optional[int]) -> Dict[str, Any]:
        if repo_id:
            repo = self.session.repoInfo(repo_id, strict=True)
            if repo["tag_name"] != root:
                raise koji.BuildError("build tag (%s) does not match repo tag (%s)"
                                      % (root, repo["tag_name"]))
            if repo["state"] not in (koji.REPO_STATES["READY"], koji.REPO_STATES["EXPIRED"]):
                raise koji.BuildError("repos in the %s state may not be used by runroot"
                                      % koji.REPO_STATES[repo["state"]])
            return repo
        repo = self.session.getRepo(root)
        if not repo:
            raise koji.BuildError("no ready repo for tag %s (regenerate it, or give "
                                  "--repo-id)" % root)
        return repo

    def _image(self, plugin: Any, config: Dict[str, Any]) -> str:
        try:
            image = plugin.settings.image_for(config["name"], config.get("extra"))
        except ConfigError as error:
            raise koji.GenericError(str(error)) from None
        if not plugin.settings.allowed(image):
            raise koji.GenericError("image %s is not allowed by %s [images] allowed"
                                    % (image, plugin.settings.path))
        return image

    def _mounts(self, plugin: Any, mounts: List[str]) -> List[Dict[str, Any]]:
        found = []
        for path in mounts or []:
            if not plugin.settings.mount_is_safe(path):
                raise koji.GenericError("read-write mount point is not safe: %s" % path)
            if not os.path.isdir(path):
                raise koji.GenericError("No such directory or mount: %s" % path)
            found.append({"type": "bind", "source": path, "target": path,
                          "read_only": False})
        return found

    def _repo_url(self, repo: Dict[str, Any], arch: str, network: bool) -> str:
        pathinfo = koji.PathInfo(self.options.topurl if network else self.options.topdir)
        base = pathinfo.repo(repo["id"], repo["tag_name"])
        return ("%s/%s" % (base, arch)) if network else "file://%s/%s" % (base, arch)

    def _run(self, plugin: Any, buildroot: Dict[str, Any], repo: Dict[str, Any],
             command: Any, packages: List[str], mounts: List[Dict[str, Any]],
             keep: bool, upload_logs: List[str]) -> str:
        settings = plugin.settings
        work = self.workdir
        koji.ensuredir(work)
        with open(os.path.join(work, "run.sh"), "w") as script:
            script.write(run_script(packages, self._repo_url(repo, buildroot["arch"],
                                                             settings.network)))
        argv = command if isinstance(command, list) else ["/bin/sh", "-c", command]
        mounts = [{"type": "bind", "source": self.options.topdir,
                   "target": self.options.topdir, "read_only": True},
                  {"type": "bind", "source": work, "target": INSIDE, "read_only": False}]\
            + mounts
        labels = {LABEL_TASK: str(self.id), LABEL_BUILDROOT: str(buildroot["id"])}
        if keep:
            labels[LABEL_KEEP] = "1"
        container = plugin.containers.create(
            buildroot["image"], ["/bin/sh", INSIDE + "/run.sh"] + [str(a) for a in argv],
            labels, mounts, settings.limits, settings.network)
        try:
            self.session.host.setBuildRootState(buildroot["id"], koji.BR_STATES["BUILDING"])
            log = os.path.join(work, "runroot.log")
            status = plugin.containers.run(container, log)
            # the list is known once the root ran; the hub takes updates while BUILDING
            self.session.host.updateBuildRootList(buildroot["id"],
                                                  read_rpms(os.path.join(work, "rpms.tsv")))
            self.uploadFile(log)
            self._upload_logs(plugin, container, upload_logs)
        finally:
            if not keep:
                plugin.containers.remove(container)
        name = command_name(command)
        if status != 0:
            raise koji.BuildrootError(koji.util.parseStatus(status << 8, name))
        return "%s completed successfully" % name

    def _upload_logs(self, plugin: Any, container: Any, paths: List[str]) -> None:
        """Upload the files ``upload_logs`` names, read from the stopped container."""
        if not paths:
            return
        outdir = os.path.join(self.workdir, "upload_logs")
        koji.ensuredir(outdir)
        for path in paths:
            inside = "/" + path.lstrip("/")  # stock takes them relative to the root
            try:
                local = plugin.containers.copy_out(container, inside, outdir)
            except PodmanError as error:
                raise koji.GenericError("upload_logs: %s" % error) from None
            self.uploadFile(local)

    def _context(self) -> Any:
        """The task as the hooks know it (made by kojid_plugins.wiring)."""
        return getattr(self, "kojid_task", None)
