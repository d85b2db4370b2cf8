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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

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
    dockerd_port: int = DOCKERD_TCP_PORT

    @property
    def docker_url(self) -> str:
        return f"tcp://{self.address}:{self.dockerd_port}"

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


@dataclass(frozen=True)
class NodeOptions:
    """What differs between node containers beyond their name (all optional)."""
    address: str | None = None               # a fixed IP on the lab network (needs a subnet)
    command: list[str] = field(default_factory=list)   # run by the entrypoint after dockerd
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    dockerd_port: int = DOCKERD_TCP_PORT


def node_container(lab: str, name: str, network: str, security: SecurityMode,
                   dev_code: bool, options: NodeOptions = NodeOptions()) -> DockerContainer:
    """The testcontainers description of one node (not started)."""
    image = NODE_RUNTIME_IMAGE if dev_code else NODE_IMAGE
    volume = resources.create_volume(lab, name)
    kwargs = dict(hostname=name, network=network, **security.kwargs,
                  labels={**resources.labels(lab, node=name), **options.labels})
    if options.address:
        kwargs["networking_config"] = {network: docker.types.EndpointConfig(
            docker.constants.DEFAULT_DOCKER_API_VERSION, ipv4_address=options.address)}
    container = (DockerContainer(image)
                 .with_name(resources.container_name(lab, name))
                 .with_volume_mapping(volume, "/var/lib/docker", "rw")
                 .with_kwargs(**kwargs)
                 .waiting_for(ExecWaitStrategy(["docker", "info"])
                              .with_startup_timeout(START_TIMEOUT_S).with_poll_interval(0.2)))
    env = {**options.env, "SWARMLAB_DOCKERD_PORT": str(options.dockerd_port)}
    for key, value in env.items():
        container.with_env(key, value)
    if options.command:
        container.with_command(options.command)
    if dev_code:
        # The host's package replaces the image's: a code change needs no rebuild.
        container.with_volume_mapping(str(PACKAGE_DIR), f"{CODE_ROOT}/swarmlab", "ro")
    return container


def start_node(lab: str, name: str, network: str, security: SecurityMode,
               dev_code: bool = False, options: NodeOptions = NodeOptions()) -> DindNode:
    started = time.monotonic()
    container = node_container(lab, name, network, security, dev_code, options).start()
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    address = wrapped.attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
    return DindNode(lab, name, container, address, security, time.monotonic() - started,
                    options.dockerd_port)


def start_nodes(lab: str, names: list[str], dev_code: bool = False,
                progress=lambda line: None, *,
                options: Callable[[str], NodeOptions] = lambda name: NodeOptions(),
                subnet: str | None = None) -> list[DindNode]:
    """Start the lab's network and nodes, all nodes at once; clean up on failure.

    ``options(name)`` gives each node's address, command, env; fixed addresses need
    the network's ``subnet`` (Docker refuses them on a network without one)."""
    resources.register_atexit(lab)
    image = NODE_RUNTIME_IMAGE if dev_code else NODE_IMAGE
    security = probe(image, resources.labels(lab, probe="true"))
    progress(f"lab {lab}: node containers run {security.describe()}")
    network = resources.create_network(lab, subnet=subnet)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = [pool.submit(start_node, lab, name, network, security, dev_code,
                               options(name)) for name in names]
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
