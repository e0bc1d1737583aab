#!/bin/sh
# Container health check for a koji worker (Boxed Koji's koji-worker service).
# Exit 0 when kojid runs and reported recently, 1 with one line of reason otherwise.
# Set HEALTH_DEEP=1 to also ask the hub and orch live.
if [ "${HEALTH_DEEP:-0}" = "1" ]; then
    exec koji-worker health --deep
fi
exec koji-worker health
