"""The routing mesh and service discovery, in the agent, without IPVS."""
from .balancer import Backend, Balancer
from .ingress import RoutingMesh
from .metrics import MeshMetrics
from .proxy import Forwarder

__all__ = ["Backend", "Balancer", "Forwarder", "MeshMetrics", "RoutingMesh"]
