"""Everything a Docker lab creates on the host, named and labelled so it can be found.

Containers, networks and volumes all carry ``swarmlab.lab=<lab>``; ``prune(lab)``
removes exactly those, whatever process created them (a crashed notebook kernel
leaves them behind; the next ``prune`` finds them by label). ``register_atexit``
prunes a lab when the interpreter that started it exits.
"""
from __future__ import annotations

import atexit
import threading

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


def create_network(lab: str, client: docker.DockerClient | None = None) -> str:
    """The lab's bridge network (created once; reused if it exists)."""
    client = client or docker.from_env()
    name = network_name(lab)
    with _lock:
        if not client.networks.list(names=[name]):
            client.networks.create(name, driver="bridge", labels=labels(lab), check_duplicate=True)
    return name


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
