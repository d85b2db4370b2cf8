"""Prometheus counters for the mesh, for the monitoring lab.

Each mesh gets its own `CollectorRegistry` unless it is given one, so several
node agents (or tests) in one process do not collide on metric names. Each node
agent serves that registry (and a few node gauges) on `http://ADDR:9323/metrics`
(`swarmlab.engine.metrics_http`); `scrape` and `total` read it from the outside.
"""
from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ..net.balancer import Backend


class MeshMetrics:
    """Implements the forwarder's `ConnectionObserver`."""

    def __init__(self, node: str, registry: CollectorRegistry | None = None) -> None:
        self.node = node
        self.registry = registry if registry is not None else CollectorRegistry()
        labels = ["node", "listener", "backend"]
        self.connections = Counter(
            "swarmlab_mesh_connections", "Connections forwarded to a backend",
            labels, registry=self.registry)
        self.active = Gauge(
            "swarmlab_mesh_active_connections", "Connections open to a backend now",
            labels, registry=self.registry)
        self.failures = Counter(
            "swarmlab_mesh_backend_failures", "Connects to a backend that failed",
            labels, registry=self.registry)

    def _labels(self, listener, backend: Backend) -> dict[str, str]:
        return {"node": self.node, "listener": listener.name, "backend": backend.label}

    def on_connect(self, listener, backend: Backend) -> None:
        self.connections.labels(**self._labels(listener, backend)).inc()
        self.active.labels(**self._labels(listener, backend)).inc()

    def on_close(self, listener, backend: Backend) -> None:
        self.active.labels(**self._labels(listener, backend)).dec()

    def on_failure(self, listener, backend: Backend) -> None:
        self.failures.labels(**self._labels(listener, backend)).inc()

    def text(self) -> bytes:
        """The exposition format, for a `/metrics` endpoint."""
        return generate_latest(self.registry)


def scrape(addr: str, port: int = 9323, timeout: float = 5.0) -> list[Sample]:
    """`curl http://ADDR:PORT/metrics`, parsed into samples."""
    with urllib.request.urlopen(f"http://{addr}:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`
    (e.g. `total(s, "swarmlab_mesh_connections_total", listener="ingress:8080")`)."""
    return sum(s.value for s in samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
