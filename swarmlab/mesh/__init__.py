"""The routing mesh and service discovery, in the agent, without IPVS (docs/mesh.md)."""
from ..net.balancer import Backend, Balancer
from ..net.forward import Forwarder
from .discovery import ServiceDiscovery
from .ingress import RoutingMesh
from .metrics import MeshMetrics
from .plan import MeshPlan, PublishedPort, ServiceEndpoint, TaskEndpoint, apply, plan

__all__ = [
    "Backend", "Balancer", "Forwarder", "MeshMetrics", "MeshPlan", "PublishedPort",
    "RoutingMesh", "ServiceDiscovery", "ServiceEndpoint", "TaskEndpoint", "apply", "plan",
]
