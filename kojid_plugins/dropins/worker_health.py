"""kojid drop-in: readiness checks, status file, metrics (kojid_plugins.worker_health).

kojid loads this file by name from ``pluginpath``; all the code lives in
the ``kojid_plugins`` package.
"""


def _install():
    from kojid_plugins import worker_health

    worker_health.install()


_install()
del _install
