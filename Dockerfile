# The koji worker image: stock kojid (koji-builder) with this project's plugins,
# started by `koji-worker start`.  Build with a Fedora or AlmaLinux base:
#
#   podman build --build-arg BASE_IMAGE=registry.fedoraproject.org/fedora:41 -t koji-worker .
#   podman build --build-arg BASE_IMAGE=quay.io/almalinux/almalinux:9 -t koji-worker .
#
# No secret is baked in: the worker keytab comes from orch at start and is
# given back when the container stops.
ARG BASE_IMAGE=registry.fedoraproject.org/fedora:41
FROM ${BASE_IMAGE}

# Distribution packages first (they change least): stock kojid, the koji CLI,
# podman-remote for container build roots, the Kerberos client tools.
# AlmaLinux takes koji from EPEL.
RUN if grep -qi '^ID=.*almalinux' /etc/os-release; then \
        dnf install -y epel-release && dnf config-manager --set-enabled crb; \
    fi \
    && dnf install -y --setopt=install_weak_deps=False \
        koji koji-builder python3-koji python3-pip python3-requests \
        podman-remote krb5-workstation procps-ng \
    && dnf clean all \
    && rm -rf /var/cache/dnf

# Python dependencies not taken from the distribution, pinned.
RUN python3 -m pip install --no-cache-dir \
        "pluggy==1.5.0" "prometheus-client==0.21.1" "podman==5.2.0"

# This package (koji itself stays the distribution's).
WORKDIR /usr/src/koji-worker-plugins
COPY setup.cfg pyproject.toml README.md ./
COPY kojid_plugins ./kojid_plugins
COPY orch_bridge ./orch_bridge
RUN python3 -m pip install --no-cache-dir --no-deps . \
    && koji-worker --help >/dev/null

# Configuration: the kojid.conf template and the plugins' sample files
# (every key commented: the defaults apply).
COPY etc/koji-worker/kojid.conf.in /etc/koji-worker/kojid.conf.in
COPY etc/kojid/plugins/ /etc/kojid/plugins/
COPY etc/health-check.sh /usr/local/bin/koji-worker-health-check

# kojid runs unprivileged: its own user (uid 1001, numeric below so that any
# runtime can check it is not root) owns only what kojid writes.
RUN useradd --uid 1001 --user-group --create-home --home-dir /home/kojid \
        --shell /bin/bash kojid \
    && mkdir -p /var/lib/kojid-plugins /var/tmp/koji /var/lib/mock /mnt/koji \
        /etc/mock/koji \
    && chown -R kojid:kojid /etc/kojid /var/lib/kojid-plugins /var/tmp/koji /var/lib/mock \
    && chmod 0750 /etc/kojid /var/lib/kojid-plugins

ENV KOJID_PLUGINS_CONFDIR=/etc/kojid/plugins \
    KRB5_CONFIG=/var/lib/kojid-plugins/krb5.conf:/etc/krb5.conf \
    CONTAINER_HOST=unix:///run/podman/podman.sock

USER 1001:1001
WORKDIR /home/kojid
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["koji-worker", "health"]
ENTRYPOINT ["koji-worker", "start"]
