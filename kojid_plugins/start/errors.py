"""Why ``koji-worker start`` stopped, and the exit status that says so."""

from __future__ import annotations

__all__ = ("StartError", "ConfigProblem", "Stopped", "EXIT_CONFIG", "EXIT_FAILED")

#: a variable, the template or a plugin's configuration is wrong (sysexits EX_CONFIG)
EXIT_CONFIG = 78
#: a step failed: orch, the keytab, the hub, or kojid itself
EXIT_FAILED = 1


class StartError(Exception):
    """A step of ``koji-worker start`` failed; the text is the one line shown.

    :param message: what went wrong, naming the thing at fault
    :param status: the exit status
    """

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


class ConfigProblem(StartError):
    """A variable, the template or a plugin configuration is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_CONFIG)


class Stopped(StartError):
    """SIGTERM or SIGINT came before kojid started: a clean stop (status 0)."""

    def __init__(self, signame: str) -> None:
        super().__init__("stopped by %s before kojid started" % signame, 0)
