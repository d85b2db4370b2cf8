"""What the runtime and the routing mesh both stand on: addresses and forwarding.

Addresses (the nodes' and tasks' loopback addresses, the services' VIPs) are swarmkit's
allocator concept; the TCP `Forwarder` and its `Balancer` carry the connections of a
published port or a VIP to tasks (the mesh), or those of a host-mode port to its one task
(the runtime).
"""
from .addresses import AddressPool, node_network, task_port, task_range, vip_range
from .balancer import Backend, Balancer
from .forward import Forwarder

__all__ = ["AddressPool", "Backend", "Balancer", "Forwarder", "node_network", "task_port",
           "task_range", "vip_range"]
