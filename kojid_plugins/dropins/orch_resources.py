"""kojid drop-in: orch leases around every task (kojid_plugins.orch_resources).

kojid loads this file by name from ``pluginpath``; all the code lives in
the ``kojid_plugins`` package, so nothing here is left for kojid to
register but the wiring it triggers.
"""


def _install():
    from kojid_plugins import orch_resources

    orch_resources.install()


_install()
del _install
