"""The process-wide pluggy plugin manager and its safety net.

There is one manager per kojid process.  Drop-in modules register their
hook implementations with :func:`register`; packages that declare an
entry point in the ``kojid_plugins`` group are loaded the first time the
manager is built.

Every implementation is wrapped so that an exception is logged with the
plugin's name, counted in :data:`FAILURES`, and skipped: one broken plugin
never takes kojid down.  Only the exceptions in :data:`PASS_THROUGH`
(a soft task refusal, and kojid's own exit signals) travel on.

Set ``KOJID_PLUGINS_TRACE=1`` in kojid's environment to log every hook
call at debug level under ``koji.plugin.trace``.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple, Type

import pluggy

from . import hookspec
from .hookspec import PROJECT, TaskRefused

__all__ = ("get_manager", "register", "has_impls", "FAILURES", "LAST_FAILURE", "reset")

logger = logging.getLogger("koji.plugin.kojid_plugins")

_lock = threading.Lock()
_manager: Optional[pluggy.PluginManager] = None

#: plugin name -> {hook name: number of times it raised}
FAILURES: Dict[str, Dict[str, int]] = {}
#: plugin name -> {hook name: time.time() of its latest failure}
LAST_FAILURE: Dict[str, Dict[str, float]] = {}


def _pass_through() -> Tuple[Type[BaseException], ...]:
    import koji.tasks

    kinds: list = [TaskRefused, SystemExit, KeyboardInterrupt, koji.tasks.ServerExit]
    refuse = getattr(koji.tasks, "RefuseTask", None)
    if refuse is not None:
        kinds.append(refuse)
    return tuple(kinds)


PASS_THROUGH = _pass_through()


def _guard(function: Callable, plugin_name: str, hook_name: str) -> Callable:
    """Wrap one hook implementation so that its errors are contained."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except PASS_THROUGH:
            raise
        except Exception:
            per_plugin = FAILURES.setdefault(plugin_name, {})
            per_plugin[hook_name] = per_plugin.get(hook_name, 0) + 1
            LAST_FAILURE.setdefault(plugin_name, {})[hook_name] = time.time()
            logger.exception("plugin %s failed in %s; skipped", plugin_name, hook_name)
            return None

    guarded.__kojid_plugins_guarded__ = True  # type: ignore[attr-defined]
    return guarded


def _guard_plugin(manager: pluggy.PluginManager, plugin: object) -> None:
    """Guard every non-wrapper implementation ``plugin`` registered."""
    for caller in manager.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin or impl.wrapper or impl.hookwrapper:
                continue
            if getattr(impl.function, "__kojid_plugins_guarded__", False):
                continue
            impl.function = _guard(impl.function, impl.plugin_name, caller.name)


def _build() -> pluggy.PluginManager:
    manager = pluggy.PluginManager(PROJECT)
    manager.add_hookspecs(hookspec)

    # Third-party implementations: each entry point is guarded like ours.
    try:
        manager.load_setuptools_entrypoints(PROJECT)
    except Exception:
        logger.exception("could not load entry points of group %s", PROJECT)
    for plugin in manager.get_plugins():
        _guard_plugin(manager, plugin)

    if os.environ.get("KOJID_PLUGINS_TRACE"):
        tracer = logging.getLogger("koji.plugin.trace")
        manager.trace.root.setwriter(lambda text: tracer.debug("%s", text.rstrip()))
        manager.enable_tracing()

    manager.check_pending()
    return manager


def get_manager() -> pluggy.PluginManager:
    """The manager of this process, built on first use."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = _build()
        return _manager


def register(plugin: object, name: str) -> bool:
    """Register ``plugin``'s hook implementations under ``name``.

    Registering the same name twice is a no-op, so a drop-in module that
    kojid loads again (after a graceful restart, for example) does not
    run its hooks twice.

    :param plugin: a module or object with ``@hookimpl`` functions
    :param name: the plugin name used in logs
    :return: True if it was registered now
    """
    manager = get_manager()
    if manager.has_plugin(name):
        return False
    manager.register(plugin, name=name)
    _guard_plugin(manager, plugin)
    manager.check_pending()
    logger.info("registered kojid plugin %s", name)
    return True


def has_impls(hook_name: str) -> bool:
    """True when at least one plugin implements ``hook_name``."""
    manager = _manager
    if manager is None:
        return False
    return bool(getattr(manager.hook, hook_name).get_hookimpls())


def reset() -> None:
    """Forget the manager and failure counts (for tests)."""
    global _manager
    with _lock:
        _manager = None
    FAILURES.clear()
    LAST_FAILURE.clear()
