"""kojid drop-in: take no task while draining (kojid_plugins.drain).

kojid loads this file by name from ``pluginpath``; all the code lives in
the ``kojid_plugins`` package.
"""


def _install():
    from kojid_plugins import drain

    drain.install()


_install()
del _install
