"""Everything a Docker lab creates on the host, named and labelled so it can be found.

Containers, networks and volumes all carry ``swarmlab.lab=<lab>``; ``prune(lab)``
removes exactly those, whatever process created them (a crashed notebook kernel
leaves them behind; the next ``prune`` finds them by label). ``register_atexit``
prunes a lab when the interpreter that started it exits.
"""
from __future__ import annotations

import atexit
import ipaddress
import socket
import struct
import threading
from pathlib import Path

import docker

LAB_LABEL = "swarmlab.lab"
NODE_LABEL = "swarmlab.node"

_registered: set[str] = set()
_lock = threading.Lock()


def labels(lab: str, **extra: str) -> dict[str, str]:
    return {LAB_LABEL: lab, **{f"swarmlab.{k}": v for k, v in extra.items()}}


def container_name(lab: str, node: str) -> str:
    return f"swarmlab-{lab}-{node}"


def volume_name(lab: str, node: str) -> str:
    return f"{container_name(lab, node)}-docker"


def network_name(lab: str) -> str:
    return f"swarmlab-{lab}"


def create_network(lab: str, client: docker.DockerClient | None = None,
                   subnet: str | None = None) -> str:
    """The lab's bridge network (created once; reused if it exists). With ``subnet``,
    nodes may have fixed addresses there (they keep them across restarts)."""
    client = client or docker.from_env()
    name = network_name(lab)
    ipam = None
    if subnet:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
    with _lock:
        if not client.networks.list(names=[name]):
            client.networks.create(name, driver="bridge", labels=labels(lab), ipam=ipam,
                                   check_duplicate=True)
    return name


def used_subnets(client: docker.DockerClient | None = None) -> list[ipaddress.IPv4Network]:
    """Subnets of the host's Docker networks and routes: a new lab network avoids them."""
    client = client or docker.from_env()
    nets = []
    for net in client.networks.list():
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            if ":" not in cfg.get("Subnet", ":"):
                nets.append(ipaddress.IPv4Network(cfg["Subnet"], strict=False))
    try:
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] != "00000000":  # not the default route
                dest, mask = (socket.inet_ntoa(struct.pack("<I", int(f, 16))) for f in
                              (fields[1], fields[7]))
                nets.append(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False))
    except OSError:
        pass
    return nets


def free_subnet(client: docker.DockerClient | None = None, base: str = "10.201.0.0/16",
                prefix: int = 24) -> str:
    """A /24 of ``base`` that no Docker network or host route uses."""
    used = used_subnets(client)
    with _lock:
        for candidate in ipaddress.IPv4Network(base).subnets(new_prefix=prefix):
            if not any(candidate.overlaps(u) for u in used):
                return str(candidate)
    raise RuntimeError(f"no free /{prefix} left in {base} for a lab network")


def create_volume(lab: str, node: str, client: docker.DockerClient | None = None) -> str:
    """A node's own volume for ``/var/lib/docker``."""
    client = client or docker.from_env()
    name = volume_name(lab, node)
    client.volumes.create(name, labels=labels(lab, node=node))
    return name


def leftovers(lab: str | None = None,
              client: docker.DockerClient | None = None) -> dict[str, list[str]]:
    """Names of what carries the lab label (any lab if ``lab`` is None)."""
    client = client or docker.from_env()
    flt = {"label": f"{LAB_LABEL}={lab}" if lab else LAB_LABEL}
    return {"containers": [c.name for c in client.containers.list(all=True, filters=flt)],
            "networks": [n.name for n in client.networks.list(filters=flt)],
            "volumes": [v.name for v in client.volumes.list(filters=flt)]}


def prune(lab: str | None = None, client: docker.DockerClient | None = None) -> dict[str, int]:
    """Remove the lab's containers (with their volumes), networks and volumes."""
    client = client or docker.from_env()
    flt = {"label": f"{LAB_LABEL}={lab}" if lab else LAB_LABEL}
    removed = {"containers": 0, "networks": 0, "volumes": 0}
    for container in client.containers.list(all=True, filters=flt):
        _ignore_gone(lambda: container.remove(force=True, v=True))
        removed["containers"] += 1
    for network in client.networks.list(filters=flt):
        _ignore_gone(network.remove)
        removed["networks"] += 1
    for volume in client.volumes.list(filters=flt):
        _ignore_gone(lambda: volume.remove(force=True))
        removed["volumes"] += 1
    return removed


def _ignore_gone(remove) -> None:
    try:
        remove()
    except docker.errors.NotFound:
        pass  # removed meanwhile (auto-remove, another prune): what we wanted


def register_atexit(lab: str) -> None:
    """Prune ``lab`` when this interpreter exits (once per lab)."""
    with _lock:
        if lab in _registered:
            return
        _registered.add(lab)
    atexit.register(_prune_quietly, lab)


def _prune_quietly(lab: str) -> None:
    try:
        prune(lab)
    except Exception:  # noqa: BLE001 - at exit the daemon may be gone; nothing to report to
        pass


def forget_atexit(lab: str) -> None:
    """The lab was brought down on purpose: no need to prune it at exit."""
    with _lock:
        if lab in _registered:
            _registered.discard(lab)
            atexit.unregister(_prune_quietly)
            for other in _registered:
                atexit.register(_prune_quietly, other)
