"""Prometheus metrics over HTTP, as dockerd serves them with `--metrics-addr`.

dockerd started with `--metrics-addr 127.0.0.1:9323` serves `GET /metrics` in
Prometheus' text exposition format; each node agent does the same on its own
address, port 9323 (Docker's documented example). What it exposes:

- the routing mesh's counters (`swarmlab.mesh.metrics`: connections forwarded,
  open, failed, per listener and backend);
- a few gauges read when scraped (nothing is kept up to date in between):
  `swarm_node_manager` and `swarm_manager_leader` (dockerd's names and meaning),
  `swarmlab_raft_term`, `swarmlab_raft_commit_index`, `swarmlab_raft_applied_index`
  (managers only) and `swarmlab_node_tasks_running` (this node's running tasks).

    curl http://NODE:9323/metrics
"""
from __future__ import annotations

import logging
from typing import Any, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ..runtime import TaskState
from .gateway import Gateway, ManagerSeat
from .node_view import NodeFacts

log = logging.getLogger("swarmlab.node.metrics")

METRICS_PORT = 9323  # Docker's documented example: dockerd --metrics-addr 127.0.0.1:9323


class NodeCollector:
    """Node and Raft gauges, computed from the node at scrape time."""

    def __init__(self, node: NodeFacts, gw: Gateway[ManagerSeat]) -> None:
        self.node, self.gw = node, gw

    def _gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        g = GaugeMetricFamily(name, doc, labels=["node"])
        g.add_metric([self.node.name], value)
        return g

    def collect(self) -> Iterator[GaugeMetricFamily]:
        m = self.gw.manager
        manager = m is not None and self.node.role == "manager"
        yield self._gauge("swarm_node_manager", "Whether this node is a manager or not",
                          1 if manager else 0)
        yield self._gauge("swarmlab_node_tasks_running", "Tasks running on this node",
                          _running_tasks(self.node.worker))
        if m is None or not manager:
            return
        try:
            st = m.status()
        except Exception:  # noqa: BLE001 - Raft not started yet (or stopping): no Raft gauges
            return
        yield self._gauge("swarm_manager_leader", "Indicates if this manager node is a leader",
                          1 if st["State"] == "leader" else 0)
        yield self._gauge("swarmlab_raft_term", "This manager's current Raft term", st["Term"])
        yield self._gauge("swarmlab_raft_commit_index", "Highest Raft log index known committed",
                          st["Commit"])
        yield self._gauge("swarmlab_raft_applied_index",
                          "Highest Raft log index applied to the store", st["Applied"])


def _running_tasks(worker: Any) -> int:
    if worker is None:
        return 0
    return sum(1 for c in list(worker.controllers.values())
               if c.status.state == TaskState.RUNNING)


async def serve_metrics(node: NodeFacts, gw: Gateway[ManagerSeat], registry: CollectorRegistry,
                        port: int = METRICS_PORT) -> web.AppRunner | None:
    """Serve `GET /metrics` on the node's address: `registry` (the mesh's counters) plus
    the node collector. None (and a warning) if the port is taken: metrics are worth less
    than a node that starts."""
    registry.register(NodeCollector(node, gw))

    async def metrics(_: web.Request) -> web.Response:
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, node.addr, port, reuse_address=True).start()
    except OSError as e:
        log.warning("%s: no metrics endpoint on %s:%d (%s)", node.name, node.addr, port, e)
        await runner.cleanup()
        return None
    return runner


def metrics_url(addr: str, port: int = METRICS_PORT) -> str:
    return f"http://{addr}:{port}/metrics"
