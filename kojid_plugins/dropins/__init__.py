"""The files kojid loads by name from ``pluginpath``; see :func:`path`."""

import os


def path():
    """This directory: put it on kojid's ``pluginpath``."""
    return os.path.dirname(os.path.abspath(__file__))
