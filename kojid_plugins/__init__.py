"""Drop-in kojid plugins: pluggy hooks around every task stock kojid runs.

The hook API is :mod:`kojid_plugins.hookspec`; :mod:`kojid_plugins.wiring`
puts the hooks into ``koji.daemon.TaskManager``; the plugins kojid loads
by name live in :mod:`kojid_plugins.dropins`.
"""

import logging

from .hookspec import TaskRefused, hookimpl

__all__ = ("hookimpl", "TaskRefused")

logging.getLogger("koji.plugin").addHandler(logging.NullHandler())
