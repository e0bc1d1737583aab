"""Setup and inspection helpers for tags, repos and buildroot contents.

A mixin of :class:`~.admin.AdminHelpers` (so of ``HubSimulator``): each
helper runs in its own transaction through ``self._run``, without any
permission check.
"""

from __future__ import annotations

import koji

from . import buildroot_rpms, repos, tags


class TagAdmin:
    """add_tag, edit_tag, add_repo, set_repo_state, buildroot_rpms."""

    def add_tag(self, name, arches='x86_64', extra=None, perm=None,
                locked=False) -> int:
        """Create a (flat) tag; returns its id."""
        if isinstance(arches, (list, tuple)):
            arches = ' '.join(arches)

        def run(ctx):
            return tags.create_tag(ctx, name, arches=arches, perm=perm,
                                   locked=locked, extra=extra)
        return self._run(run)

    def get_tag(self, tag) -> dict | None:
        """The getTag row of a tag, or None."""
        return self._run(lambda ctx: tags.get_tag(ctx, tag))

    def edit_tag(self, tag, **changes) -> None:
        """Change a tag as editTag2 does (extra=, remove_extra=, ...)."""
        self._run(lambda ctx: tags.edit_tag(ctx, tag, **changes))

    def add_repo(self, tag, arches=None, state=koji.REPO_READY,
                 task_id=None) -> int:
        """Create a repo of a tag (READY by default) and its directory,
        ``<topdir>/repos/<tag>/<repo_id>/<arch>/repodata``, for the given
        arches or the tag's; returns the repo id."""
        def run(ctx):
            return repos.repo_init(ctx, tag, arches=arches, state=state,
                                   task_id=task_id)
        return self._run(run)

    def set_repo_state(self, repo_id, state) -> None:
        """Move a repo to a state (a koji.REPO_STATES name or number)."""
        self._run(lambda ctx: repos.set_repo_state(ctx, repo_id, state))

    def repo(self, repo_id) -> dict | None:
        """The repoInfo row of a repo, or None."""
        return self._run(lambda ctx: repos.repo_info(ctx, repo_id))

    def buildroot_rpms(self, buildroot_id) -> list[dict]:
        """listRPMs(componentBuildrootID=buildroot_id)."""
        def run(ctx):
            return buildroot_rpms.listRPMs(
                ctx, componentBuildrootID=buildroot_id)
        return self._run(run)
