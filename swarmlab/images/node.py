"""What goes into the node image: packages, the entrypoint, the agent's code location.

A node is a Docker-in-Docker container: Debian's dockerd, iptables for partitions,
and python3 with the agent's dependencies from Debian (no PyPI in the image). The
entrypoint makes the cgroup v1 hierarchies writable before dockerd starts: inside a
non-privileged container they are mounted read-only, and dockerd then cannot
create a cgroup for any container (``mkdir /sys/fs/cgroup/cpuset/docker: read-only
file system``).
"""
from __future__ import annotations

NODE_PACKAGES = (
    "python3", "docker.io", "iptables", "iproute2", "ca-certificates", "procps",
    # debootstrap does not resolve virtual packages: python3-cffi-backend provides
    # the python3-cffi-backend-api-* that python3-cryptography depends on.
    "python3-aiohttp", "python3-cryptography", "python3-cffi-backend", "python3-yaml", "python3-msgpack",
    "python3-docker", "python3-prometheus-client", "python3-jsonschema",
)
# tini is the workloads' PID 1 (Docker's `--init`, baked in): it forwards `docker stop`'s
# SIGTERM to the workload, which a signal ends even while it starts, where a PID 1 drops
# a signal it has no handler for and `docker stop` waits the whole grace period.
WORKLOAD_PACKAGES = ("python3", "tini")
WORKLOAD_ENTRYPOINT = ["/usr/bin/tini", "--"]

CODE_ROOT = "/opt/swarmlab"          # on PYTHONPATH; the package is CODE_ROOT/swarmlab
# The node's own dockerd, reachable on the lab network. Not 2375: that is the agent's
# Engine API (swarmlab engine); with the docker-swarm engine the lab sets
# SWARMLAB_DOCKERD_PORT=2375, so the real dockerd is the node's API, as on a real machine.
DOCKERD_TCP_PORT = 2385
ENTRYPOINT_PATH = "/usr/local/bin/swarmlab-node"

ENTRYPOINT = r"""#!/bin/sh
# swarmlab node entrypoint: make cgroups writable, start dockerd, then run "$@" (or wait).
# "$@" is the node's agent; it runs again whenever the node container starts again.
set -u
log() { echo "swarmlab-node: $*"; }

fix_cgroup_v1() {
    mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true
    # fields: device mountpoint type options
    grep ' /sys/fs/cgroup/[^ ]* cgroup ' /proc/self/mounts | while read -r _ dir _ opts _; do
        case ",$opts," in *,rw,*) continue ;; esac
        subsys=$(echo "$opts" | tr ',' '\n' \
            | grep -vE '^(ro|rw|nosuid|nodev|noexec|relatime|noatime)$' | paste -sd, -)
        umount "$dir" && mount -t cgroup -o "rw,nosuid,nodev,noexec,relatime,$subsys" cgroup "$dir" \
            || log "could not remount $dir read-write"
    done
}

fix_cgroup_v2() {
    # Move ourselves out of the root cgroup so controllers can be delegated (as docker:dind does).
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || true
    sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers \
        > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
}

if [ -f /sys/fs/cgroup/cgroup.controllers ]; then fix_cgroup_v2; else fix_cgroup_v1; fi

# A node container started again after `docker kill` still has the old pid files: with
# a new pid namespace their pids may belong to anything, and dockerd would refuse to start.
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
log "starting dockerd"
# --tls=false says the plain TCP API is intended (a lab-only bridge network); without it
# dockerd 20.10+ sleeps 15 s at startup to warn about it.
dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:${SWARMLAB_DOCKERD_PORT:-%(port)d} \
    --tls=false \
    ${SWARMLAB_DOCKERD_ARGS:-} >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
trap 'kill -TERM $dockerd_pid 2>/dev/null; wait $dockerd_pid; exit 0' TERM INT

if [ "$#" -gt 0 ]; then
    "$@" &
    wait $!
    log "command exited with $?"
fi
wait $dockerd_pid
log "dockerd exited with $?"
""" % {"port": DOCKERD_TCP_PORT}


NODE_ENV = {"PYTHONPATH": CODE_ROOT, "PYTHONUNBUFFERED": "1"}
