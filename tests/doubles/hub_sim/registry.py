"""The table of exported hub calls and the argument check around them.

Every handler is ``func(ctx, *args, **kwargs)``.  :func:`call` binds the
decoded XML-RPC parameters to the handler's signature first, so that a
call with wrong arguments answers koji.ParameterError, as
``koji.util.call_with_argcheck`` makes the hub do.
"""

from __future__ import annotations

import inspect

import koji

from . import (buildroot_rpms, buildroots, events, host_calls, hosts, repos,
               runroot_calls, scheduler_calls, sessions, tags, task_calls,
               uploads, users)


def hello(ctx, *args):
    """Simple testing call returning a string."""
    return 'Hello World'


def echo(ctx, *args):
    """Answer the arguments."""
    return args


def getKojiVersion(ctx):
    """Version of the koji library the simulator runs with."""
    return koji.__version__


def getAPIVersion(ctx):
    """koji.API_VERSION."""
    return koji.API_VERSION


def error(ctx):
    """Debugging: raise a GenericError."""
    raise koji.GenericError('test error')


def fault(ctx):
    """Debugging: raise a plain exception."""
    raise Exception('test exception')


def list_methods(ctx):
    """system.listMethods."""
    return sorted(HANDLERS)


HANDLERS = {
    'hello': hello,
    'echo': echo,
    'getKojiVersion': getKojiVersion,
    'getAPIVersion': getAPIVersion,
    'error': error,
    'fault': fault,
    'system.listMethods': list_methods,
}
for _module in (sessions, users, hosts, host_calls, task_calls,
                scheduler_calls, buildroots, buildroot_rpms, uploads, events,
                tags, repos, runroot_calls):
    HANDLERS.update(_module.EXPORTS)


def get_handler(name: str):
    """The handler of a method name; GenericError if there is none."""
    func = HANDLERS.get(name)
    if func is None:
        raise koji.GenericError('Invalid method: %s' % name)
    return func


def call(func, ctx, args, kwargs):
    """Run a handler after checking its arguments (ParameterError)."""
    try:
        inspect.signature(func).bind(ctx, *args, **kwargs)
    except TypeError as e:
        raise koji.ParameterError(str(e))
    return func(ctx, *args, **kwargs)
