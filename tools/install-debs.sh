#!/usr/bin/env bash
# Install Debian packages non-interactively, never leaving a service running.
#
#   tools/install-debs.sh PACKAGE...
#
# krb5-kdc and krb5-admin-server ship daemons that Debian starts on install;
# the tests run their own throwaway realms, so no service may start.  Unless
# the machine already has a /usr/sbin/policy-rc.d (container images do), one
# that refuses every start is put in place for the install and removed after,
# and the two Kerberos services are disabled at boot.
set -euo pipefail

if [ $# -eq 0 ]; then
    echo "usage: tools/install-debs.sh PACKAGE..." >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-debs: installing $* needs root" >&2
    exit 1
fi

policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# tools/install-debs.sh: no service starts during install\nexit 101\n' \
        > "$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null

for service in krb5-kdc krb5-admin-server; do
    if [ -e "/etc/init.d/$service" ]; then
        update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
done
