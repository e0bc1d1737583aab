"""``make chaos``: fault injection and load against a worker, on loopback.

Faults from issue "Reliability" are injected into a live world (hub and
orch simulators, kojid runners with the plugins), then the invariants
are checked from outside records: orch's holder table, the hub's task
states and call log, the file system.  A load run follows.  The figures
go to ``docs/reliability.md``.

Modules: :mod:`.world` (the simulators and workers), :mod:`.scenarios`
(the faults), :mod:`.mounts` (a tmpfs of its own for the journal),
:mod:`.invariants` (the checks), :mod:`.runner`, :mod:`.load` and
:mod:`.report`.
"""
