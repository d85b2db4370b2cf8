"""Loopback address plan for the process runtime (pure: no sockets here).

Linux routes the whole 127.0.0.0/8 to `lo`, so any 127.x.y.z can be bound
without configuring anything. That gives each task its own address, the way each
container has its own network namespace: N replicas on one node can all bind
port 80.

The plan (docs/runtime.md):
- nodes live at 127.0.x.y (the local backend's choice);
- node number i (0..154) owns 127.(100+i).0.0/16:
  - 127.(100+i).0.1-254: the service VIPs that tasks on node i see
    (the mesh's per-node virtual IPs, see swarmlab.mesh.discovery);
  - 127.(100+i).1.1 upwards: task addresses, one per task.
- without the right to bind ports below 1024, a target port p < 1024 is
  remapped to p + 10000 (80 -> 10080) and the task is told via `PORT`.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

NODE_BASE_OCTET = 100
MAX_NODES = 155
UNPRIVILEGED_PORT_OFFSET = 10000


class AddressPoolExhausted(Exception):
    pass


def node_network(node_index: int) -> ipaddress.IPv4Network:
    """The /16 that node number `node_index` owns."""
    if not 0 <= node_index < MAX_NODES:
        raise ValueError(f"node index {node_index} outside 0..{MAX_NODES - 1}")
    return ipaddress.IPv4Network(f"127.{NODE_BASE_OCTET + node_index}.0.0/16")


def task_range(node_index: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    net = node_network(node_index)
    return net.network_address + 256 + 1, net.broadcast_address - 1


def vip_range(node_index: int) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    net = node_network(node_index)
    return net.network_address + 1, net.network_address + 254


@dataclass
class AddressPool:
    """Hands out addresses from [first, last], one per key.

    Allocation walks forward from the last one handed out, so an address just
    released is not reused at once: a stale mesh entry or a TIME_WAIT socket
    for the old task never lands on the new one."""

    first: ipaddress.IPv4Address
    last: ipaddress.IPv4Address
    _by_key: dict[str, ipaddress.IPv4Address] = field(default_factory=dict)
    _used: set[ipaddress.IPv4Address] = field(default_factory=set)
    _cursor: int = -1

    @classmethod
    def for_tasks(cls, node_index: int) -> "AddressPool":
        return cls(*task_range(node_index))

    @classmethod
    def for_vips(cls, node_index: int) -> "AddressPool":
        return cls(*vip_range(node_index))

    def allocate(self, key: str) -> str:
        if key in self._by_key:
            return str(self._by_key[key])
        size = int(self.last) - int(self.first) + 1
        for step in range(1, size + 1):
            offset = (self._cursor + step) % size
            addr = self.first + offset
            if addr.packed[-1] in (0, 255) or addr in self._used:
                continue
            self._cursor = offset
            self._used.add(addr)
            self._by_key[key] = addr
            return str(addr)
        raise AddressPoolExhausted(f"no free address in {self.first}-{self.last}")

    def release(self, key: str) -> None:
        addr = self._by_key.pop(key, None)
        if addr is not None:
            self._used.discard(addr)

    def get(self, key: str) -> str | None:
        addr = self._by_key.get(key)
        return None if addr is None else str(addr)

    def __len__(self) -> int:
        return len(self._by_key)


def task_port(target_port: int, privileged: bool) -> int:
    """The port a task really binds for `target_port` (docs/runtime.md)."""
    if privileged or target_port >= 1024:
        return target_port
    return target_port + UNPRIVILEGED_PORT_OFFSET
