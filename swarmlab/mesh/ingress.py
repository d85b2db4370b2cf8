"""The ingress routing mesh of one node, without IPVS.

Theory of operation (docs/mesh.md):
- Docker publishes an ingress port on every node and lets IPVS spread the
  connections over the service's tasks on all nodes. This kernel has no IPVS, so
  the agent does it in user space: for each published port, one `Forwarder`
  listens on the node's address and forwards each TCP connection to a task
  endpoint, on this node or any other.
- The endpoint list comes from the control plane: the agent calls
  `set_backends(published_port, [(addr, port), ...])` with the tasks that are
  running and healthy, whenever the store changes. An empty list keeps the port
  published (connections are closed, as Docker resets them).
- The mesh is the same for every backend (processes, Docker nodes).
"""
from __future__ import annotations

import asyncio
import logging

from prometheus_client import CollectorRegistry

from ..net.balancer import Endpoint
from .metrics import MeshMetrics
from ..net.forward import Forwarder

log = logging.getLogger("swarmlab.mesh")


class RoutingMesh:
    def __init__(
        self,
        node_name: str,
        node_address: str,
        *,
        strategy: str = "round-robin",
        cooldown_s: float = 2.0,
        connect_timeout_s: float = 1.0,
        max_connections: int = 1024,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.node_name = node_name
        self.node_address = node_address
        self.metrics = MeshMetrics(node_name, registry)
        self._options = dict(strategy=strategy, cooldown_s=cooldown_s,
                             connect_timeout_s=connect_timeout_s,
                             max_connections=max_connections)
        self._ports: dict[int, Forwarder] = {}
        self._opening: dict[int, asyncio.Task] = {}

    def set_backends(self, published_port: int, endpoints: list[Endpoint]) -> None:
        """Point a published port at these endpoints; publishes the port if new.

        Synchronous so a store watch callback can call it; the listener is
        opened in the background (await `publish()` to know it is open)."""
        forwarder = self._forwarder(published_port)
        forwarder.set_backends(endpoints)
        if not forwarder.listening and published_port not in self._opening:
            task = asyncio.get_running_loop().create_task(self.publish(published_port))
            task.add_done_callback(self._report_publish)
            self._opening[published_port] = task

    async def publish(self, published_port: int) -> None:
        """Listen on node_address:published_port (idempotent)."""
        forwarder = self._forwarder(published_port)
        try:
            await forwarder.start()
        finally:
            self._opening.pop(published_port, None)

    def _report_publish(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("mesh %s: cannot publish: %s", self.node_name, task.exception())

    async def unpublish(self, published_port: int) -> None:
        forwarder = self._ports.pop(published_port, None)
        task = self._opening.pop(published_port, None)
        if task is not None:
            task.cancel()
        if forwarder is not None:
            await forwarder.close()

    def backends(self, published_port: int) -> list[Endpoint]:
        forwarder = self._ports.get(published_port)
        return [] if forwarder is None else [b.endpoint for b in forwarder.balancer.backends]

    def stats(self, published_port: int) -> dict[str, dict[str, int]]:
        """Per backend: active and total connections, failures (for labs and tests)."""
        forwarder = self._ports.get(published_port)
        if forwarder is None:
            return {}
        return {b.label: {"active": b.active, "total": b.total, "failures": b.failures}
                for b in forwarder.balancer.backends}

    def forwarder(self, published_port: int) -> Forwarder | None:
        return self._ports.get(published_port)

    @property
    def published_ports(self) -> list[int]:
        return sorted(self._ports)

    async def close(self) -> None:
        for port in list(self._ports):
            await self.unpublish(port)

    def _forwarder(self, port: int) -> Forwarder:
        if port not in self._ports:
            self._ports[port] = Forwarder(
                self.node_address, port, observer=self.metrics,
                name=f"ingress:{port}", **self._options)
        return self._ports[port]
