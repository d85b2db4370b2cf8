"""Docker-in-Docker nodes: one testcontainers ``DockerContainer`` per lab node.

Each node container has the node's name as hostname, the label
``swarmlab.lab=<lab>``, its own volume on ``/var/lib/docker`` (without one the
inner dockerd falls back to the slow ``vfs`` driver) and sits on the lab's own
bridge network. Its entrypoint makes the cgroups writable and starts dockerd;
the node counts as started when ``docker info`` answers inside it. Nodes start
in parallel. testcontainers' reaper (Ryuk) cannot be pulled here, so it is
disabled and ``resources.prune`` cleans up by label instead.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

import docker  # noqa: E402
from testcontainers.core.config import testcontainers_config  # noqa: E402
from testcontainers.core.container import DockerContainer  # noqa: E402
from testcontainers.core.wait_strategies import ExecWaitStrategy  # noqa: E402

from ...images import CODE_ROOT, DOCKERD_TCP_PORT, NODE_IMAGE, NODE_RUNTIME_IMAGE  # noqa: E402
from . import resources  # noqa: E402
from .security import SecurityMode, probe  # noqa: E402

# Also when testcontainers was imported (and its config read) before this module.
testcontainers_config.ryuk_disabled = True

PACKAGE_DIR = Path(__file__).resolve().parents[2]            # .../swarmlab
START_TIMEOUT_S = 90


@dataclass
class DindNode:
    """A running node container and how to reach its dockerd."""
    lab: str
    name: str
    container: DockerContainer
    address: str                      # on the lab network, reachable from the host
    security: SecurityMode
    start_s: float

    @property
    def docker_url(self) -> str:
        return f"tcp://{self.address}:{DOCKERD_TCP_PORT}"

    def client(self, timeout: int = 120) -> docker.DockerClient:
        """docker-py client of the node's own dockerd (for tasks, image loading)."""
        return docker.DockerClient(base_url=self.docker_url, timeout=timeout)

    def exec(self, *cmd: str) -> tuple[int, str]:
        result = self.container.exec(list(cmd))
        return result.exit_code, result.output.decode(errors="replace")

    def remove(self) -> None:
        """Remove the node container and its /var/lib/docker volume (node gone for good)."""
        self.container.stop(force=True, delete_volume=True)
        volume = resources.volume_name(self.lab, self.name)
        try:
            docker.from_env().volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass


def node_container(lab: str, name: str, network: str, security: SecurityMode,
                   dev_code: bool) -> DockerContainer:
    """The testcontainers description of one node (not started)."""
    image = NODE_RUNTIME_IMAGE if dev_code else NODE_IMAGE
    volume = resources.create_volume(lab, name)
    container = (DockerContainer(image)
                 .with_name(resources.container_name(lab, name))
                 .with_volume_mapping(volume, "/var/lib/docker", "rw")
                 .with_kwargs(hostname=name, network=network,
                              labels=resources.labels(lab, node=name), **security.kwargs)
                 .waiting_for(ExecWaitStrategy(["docker", "info"])
                              .with_startup_timeout(START_TIMEOUT_S).with_poll_interval(0.2)))
    if dev_code:
        # The host's package replaces the image's: a code change needs no rebuild.
        container.with_volume_mapping(str(PACKAGE_DIR), f"{CODE_ROOT}/swarmlab", "ro")
    return container


def start_node(lab: str, name: str, network: str, security: SecurityMode,
               dev_code: bool = False) -> DindNode:
    started = time.monotonic()
    container = node_container(lab, name, network, security, dev_code).start()
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    address = wrapped.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return DindNode(lab, name, container, address, security, time.monotonic() - started)


def start_nodes(lab: str, names: list[str], dev_code: bool = False,
                progress=lambda line: None) -> list[DindNode]:
    """Start the lab's network and nodes, all nodes at once; clean up on failure."""
    resources.register_atexit(lab)
    image = NODE_RUNTIME_IMAGE if dev_code else NODE_IMAGE
    security = probe(image, resources.labels(lab, probe="true"))
    progress(f"lab {lab}: node containers run {security.describe()}")
    network = resources.create_network(lab)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = [pool.submit(start_node, lab, name, network, security, dev_code)
                   for name in names]
        nodes, errors = [], []
        for future in futures:
            try:
                nodes.append(future.result())
                progress(f"lab {lab}: {nodes[-1].name} up at {nodes[-1].address} "
                         f"in {nodes[-1].start_s:.1f}s")
            except Exception as exc:  # noqa: BLE001 - collected, cleaned up, re-raised
                errors.append(exc)
    if errors:
        resources.prune(lab)
        raise errors[0]
    return nodes
