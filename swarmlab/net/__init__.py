"""Addresses: the nodes' and tasks' loopback addresses and the services' VIPs.

swarmkit's allocator concept. The runtime and the routing mesh both stand on it.
"""
from .addresses import AddressPool, node_network, task_port, task_range, vip_range

__all__ = ["AddressPool", "node_network", "task_port", "task_range", "vip_range"]
