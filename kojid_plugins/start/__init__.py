"""``koji-worker start``: the worker container's entrypoint, in small steps.

==================  ===========================================================
:mod:`.environment` read and check every variable (one line naming a bad one)
:mod:`.places`      check the files and directories the variables name
:mod:`.keytab`      read the principals in a keytab file, pick the expected one
:mod:`.registration` wait until the hub knows the principal as a build host
:mod:`.render`      write kojid.conf from the template, checked as kojid would
:mod:`.ca`          install orch's CA certificate when a URL is https
:mod:`.releases`    give leases and the worker keytab back to orch, in parallel
:mod:`.supervise`   run kojid, forward signals, drain on SIGTERM
:mod:`.command`     the steps in order, and the subcommand's entry point
==================  ===========================================================
"""
