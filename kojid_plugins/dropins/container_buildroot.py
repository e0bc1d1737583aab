"""kojid drop-in: podman build roots and a ``runroot`` handler (kojid_plugins).

kojid loads this file by name from ``pluginpath`` and registers the one
task handler left in it, ``RunRootTask`` (method ``runroot``), in place
of koji's own runroot plugin: load one or the other, not both.
"""


def _install():
    from kojid_plugins import container_buildroot

    container_buildroot.install()


_install()
del _install

from kojid_plugins.runroot_task import RunRootTask  # noqa: E402,F401 - kojid registers it

__all__ = ("RunRootTask",)
