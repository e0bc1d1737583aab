#!/usr/bin/env bash
# podman-env.sh: a private podman service for container build-root tests.
#
#   tools/podman-env.sh [--state DIR] up     install, configure, build the
#                                            test image, start the service
#   tools/podman-env.sh [--state DIR] down   stop the service `up` started
#
# Everything lives under the state directory (default
# /var/tmp/koji-worker-podman, or $KOJI_PODMAN_STATE): containers.conf,
# storage.conf, image storage, run state, the cached rootfs tarball, the
# service's socket, pid file and log.  The global files in /etc/containers
# are never written, and podman is pointed at this directory through
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF.
#
# `up` prints KEY=VALUE lines on stdout (PODMAN_SOCKET, CONTAINERS_CONF,
# CONTAINERS_STORAGE_CONF, PODMAN_IMAGE, PODMAN_PID, PODMAN_STARTED);
# progress and the time each step took go to stderr.
#
# Settings from the environment:
#   KOJI_PODMAN_STATE   state directory
#   KOJI_PODMAN_IMAGE   test image name (localhost/koji-buildroot-test:latest)
#   KOJI_PODMAN_MIRROR  Debian mirror for debootstrap
#   KOJI_PODMAN_SUITE   Debian suite of the test image (bookworm)
#   KOJI_PODMAN_DRIVER  storage driver (overlay)

set -euo pipefail

STATE=${KOJI_PODMAN_STATE:-/var/tmp/koji-worker-podman}
IMAGE=${KOJI_PODMAN_IMAGE:-localhost/koji-buildroot-test:latest}
MIRROR=${KOJI_PODMAN_MIRROR:-http://deb.debian.org/debian}
SUITE=${KOJI_PODMAN_SUITE:-bookworm}
DRIVER=${KOJI_PODMAN_DRIVER:-overlay}
# rpm and dnf are both packaged in bookworm (rpm 4.18, dnf 4.14)
ROOTFS_PACKAGES=rpm,dnf

usage() {
    echo "usage: $0 [--state DIR] up|down" >&2
    exit 2
}

log() {
    echo "podman-env: $*" >&2
}

# step NAME COMMAND...: run one step and report how long it took
step() {
    local name=$1 start end ms
    shift
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    ms=$(((end - start) / 1000000))
    log "$(printf 'step %-12s %4d.%03d s' \
        "$name" $((ms / 1000)) $((ms % 1000)))"
}

set_paths() {
    CONF=$STATE/containers.conf
    STORAGE_CONF=$STATE/storage.conf
    SOCKET=$STATE/podman.sock
    PIDFILE=$STATE/podman.pid
    URL=unix://$SOCKET
    TARBALL=$STATE/cache/rootfs-$SUITE-minbase-${ROOTFS_PACKAGES//,/-}.tar
    export CONTAINERS_CONF=$CONF
    export CONTAINERS_STORAGE_CONF=$STORAGE_CONF
}

install_packages() {
    local missing=() pkg
    # command:package; createrepo_c makes the rpm repos of the runroot tests
    for pkg in podman:podman runc:runc debootstrap:debootstrap createrepo_c:createrepo-c; do
        if ! command -v "${pkg%%:*}" >/dev/null 2>&1; then
            missing+=("${pkg#*:}")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        log "missing ${missing[*]} and not root: cannot install"
        exit 1
    fi
    log "installing ${missing[*]}"
    if apt_install "${missing[@]}"; then
        return 0
    fi

    # stale or missing package lists: refresh them once and retry
    if ! apt-get update -q >>"$STATE/apt.log" 2>&1 \
        || ! apt_install "${missing[@]}"; then
        log "apt-get failed, see $STATE/apt.log"
        exit 1
    fi
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" \
        >>"$STATE/apt.log" 2>&1
}

# The highest per-process limits a container may be given: podman raises
# nothing it cannot, and it lowers its own nproc to kernel.pid_max before
# starting containers, so nproc is also held to pid_max.
hard_limits() {
    NOFILE=$(ulimit -Hn)
    NPROC=$(ulimit -Hu)
    local pid_max
    pid_max=$(cat /proc/sys/kernel/pid_max)
    if [ "$NPROC" = unlimited ] || [ "$NPROC" -gt "$pid_max" ]; then
        NPROC=$pid_max
    fi
    if [ "$NOFILE" = unlimited ]; then
        NOFILE=1048576
    fi
}

write_config() {
    hard_limits
    mkdir -p "$STATE/cache" "$STATE/tmp" "$STATE/networks"
    cat >"$CONF.new" <<EOF
# written by tools/podman-env.sh; rewritten on every \`up\`
[containers]
netns = "none"
log_driver = "k8s-file"
default_ulimits = [
  "nofile=$NOFILE:$NOFILE",
  "nproc=$NPROC:$NPROC",
]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$STATE/events.log"
tmp_dir = "$STATE/tmp"
image_copy_tmp_dir = "$STATE/tmp"

[network]
network_config_dir = "$STATE/networks"
EOF
    cat >"$STORAGE_CONF.new" <<EOF
# written by tools/podman-env.sh; rewritten on every \`up\`
[storage]
driver = "$DRIVER"
graphroot = "$STATE/storage"
runroot = "$STATE/run"
EOF
    mv "$CONF.new" "$CONF"
    mv "$STORAGE_CONF.new" "$STORAGE_CONF"
}

build_rootfs() {
    local dir=$STATE/cache/rootfs.tmp
    rm -rf "$dir"
    log "debootstrap $SUITE (+$ROOTFS_PACKAGES) from $MIRROR"
    debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" \
        "$SUITE" "$dir" "$MIRROR" >"$STATE/debootstrap.log" 2>&1 || {
        log "debootstrap failed, see $STATE/debootstrap.log"
        exit 1
    }
    rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*_*
    tar -C "$dir" -cf "$TARBALL.new" .
    mv "$TARBALL.new" "$TARBALL"
    rm -rf "$dir"
}

import_image() {
    podman import -q "$TARBALL" "$IMAGE" >/dev/null
}

image_exists() {
    podman image exists "$IMAGE"
}

# service_pid: the pid of the service this script started, if it runs
service_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "system service" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$URL" || return 1
    echo "$pid"
}

socket_answers() {
    podman --url "$URL" info >/dev/null 2>&1
}

start_service() {
    rm -f "$SOCKET"
    # fd 9 holds the state lock: the service must not inherit it.  It runs
    # from /: a service left in the caller's directory breaks every later
    # container start ("write child: broken pipe") once that directory is
    # removed, as a test checkout's is.
    (cd / && exec setsid podman system service --time=0 "$URL" \
        >>"$STATE/podman.log" 2>&1 </dev/null 9>&-) &
    echo $! >"$PIDFILE"
}

wait_socket() {
    local pid deadline=$((SECONDS + 30))
    pid=$(cat "$PIDFILE")
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -S "$SOCKET" ] && socket_answers; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "service exited, see $STATE/podman.log"
            exit 1
        fi
        sleep 0.1
    done
    log "socket $URL did not answer in 30 s"
    exit 1
}

cmd_up() {
    local pid started=no
    step install install_packages
    step config write_config
    if image_exists; then
        log "image $IMAGE present"
    else
        if [ ! -s "$TARBALL" ]; then
            step debootstrap build_rootfs
        fi
        step import import_image
    fi
    if pid=$(service_pid) && socket_answers; then
        log "service already running (pid $pid)"
    else
        step service start_service
        step socket wait_socket
        pid=$(cat "$PIDFILE")
        started=yes
    fi
    echo "PODMAN_SOCKET=$URL"
    echo "CONTAINERS_CONF=$CONF"
    echo "CONTAINERS_STORAGE_CONF=$STORAGE_CONF"
    echo "PODMAN_IMAGE=$IMAGE"
    echo "PODMAN_PID=$pid"
    echo "PODMAN_STARTED=$started"
}

stop_service() {
    local pid=$1 deadline=$((SECONDS + 10))
    kill -TERM "$pid"
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    log "service pid $pid ignored SIGTERM for 10 s, sending SIGKILL"
    kill -KILL "$pid"
}

cmd_down() {
    local pid
    if pid=$(service_pid); then
        step stop stop_service "$pid"
        log "stopped service pid $pid"
    else
        log "no service of ours running"
    fi
    rm -f "$PIDFILE" "$SOCKET"
}

main() {
    local cmd=""
    while [ $# -gt 0 ]; do
        case $1 in
            --state) [ $# -ge 2 ] || usage; STATE=$2; shift 2 ;;
            --state=*) STATE=${1#--state=}; shift ;;
            up|down) [ -z "$cmd" ] || usage; cmd=$1; shift ;;
            *) usage ;;
        esac
    done
    [ -n "$cmd" ] || usage
    case $STATE in
        /*) ;;
        *) STATE=$(pwd)/$STATE ;;
    esac
    set_paths
    mkdir -p "$STATE"

    # one `up` or `down` at a time per state directory
    exec 9>"$STATE/lock"
    flock 9
    "cmd_$cmd"
}

main "$@"
