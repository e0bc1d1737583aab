"""A kojid plugin for tests only: wires the hooks with no implementation."""


def _wire():
    from kojid_plugins import wiring

    wiring.install()


_wire()
del _wire
