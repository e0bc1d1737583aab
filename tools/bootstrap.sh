#!/usr/bin/env bash
# Make a virtualenv with this project, koji and the test tools in it.
#
#   tools/bootstrap.sh VENV [KOJI_SPEC]
#
# Installs the Debian packages koji's gssapi dependency builds against, and
# the MIT KDC the tests run throwaway realms with, when they are missing
# (root only, through tools/install-debs.sh), then the venv.  A stamp file makes a second
# run with the same inputs a no-op.
set -euo pipefail

venv=${1:?usage: tools/bootstrap.sh VENV [KOJI_SPEC]}
koji_spec=${2:-koji>=1.36,<1.37}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)

need_debs=()
for deb in libkrb5-dev gcc python3-dev python3-venv krb5-user krb5-kdc krb5-admin-server \
        openssl; do
    dpkg-query -W -f='${Status}' "$deb" 2>/dev/null | grep -q "ok installed" \
        || need_debs+=("$deb")
done
if [ ${#need_debs[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing Debian packages ${need_debs[*]}; install them as root" >&2
        exit 1
    fi
    echo "bootstrap: installing ${need_debs[*]}"
    "$here/tools/install-debs.sh" "${need_debs[@]}"
fi

stamp="$venv/.bootstrap-stamp"
want="$koji_spec $(sha256sum "$here/setup.cfg" | cut -c1-16)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi

echo "bootstrap: making $venv with $koji_spec"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip setuptools wheel 2>&1 | grep -v '^WARNING: Location' || true
"${pip[@]}" install "$koji_spec" -e "${here}[test]" 2>&1 | grep -v '^WARNING: Location' || true
"$venv/bin/python" -c "import koji, kojid_plugins, orch_bridge, pluggy" || {
    echo "bootstrap: $venv is incomplete" >&2
    exit 1
}
echo "$want" > "$stamp"
