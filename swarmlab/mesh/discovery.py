"""Service discovery for tasks: names, virtual IPs and dnsrr, per node.

Docker gives every service a virtual IP on each of its networks; a task asks the
embedded DNS server (127.0.0.11) for a service name and gets the VIP, and IPVS in
the task's namespace spreads connections to the VIP over the running tasks.
With `endpoint_mode: dnsrr` the name resolves to the task addresses instead, and
`tasks.<name>` always does.

The process runtime's equivalent (docs/mesh.md):
- each node keeps a VIP per service from its own VIP range (127.(100+i).0.x,
  see swarmlab.net.addresses), so node agents sharing one loopback never
  collide, and a `Forwarder` on VIP:port per service port spreads connections
  over the task endpoints on all nodes: the IPVS part, in the agent;
- names reach the tasks through their hosts file (`names()` ->
  `ProcessExecutor.set_names()`), which the runtime binds over `/etc/hosts` in the
  task's mount namespace, so plain libc lookups (`getaddrinfo("kv")`) work;
  `vip` names map to the VIP, `dnsrr` names and `tasks.<name>` to the task
  addresses.

The Docker runtime's equivalent: a container has its own loopback, so a VIP on the
node's loopback is out of its reach. There each node's VIPs come from
`10.202.<i>.0/24` instead, declared local on the node (`ip route replace local ...
dev lo`): a container sends to its gateway, its node, which takes the connection
itself; the `Forwarder` and the hosts file work as above.
"""
from __future__ import annotations

import ipaddress
import logging
import os
import subprocess
from dataclasses import dataclass, field
from typing import Callable

from ..net.addresses import AddressPool

from ..net.balancer import Endpoint
from .metrics import MeshMetrics
from ..net.forward import Forwarder

log = logging.getLogger("swarmlab.mesh")
ENDPOINT_MODES = ("vip", "dnsrr")
DOCKER_VIP_SUPERNET = "10.202.0.0/16"  # tasks are on 10.200/16, lab networks on 10.201/16


def default_vips(node_index: int, runtime: str | None = None) -> AddressPool:
    """Where this node's VIPs live: its loopback for the process runtime; for the
    Docker runtime (`SWARMLAB_RUNTIME=docker`, the agent's choice of executor)
    `10.202.<i>.1-254`, which its containers reach through their gateway."""
    runtime = os.environ.get("SWARMLAB_RUNTIME", "") if runtime is None else runtime
    if runtime != "docker":
        return AddressPool.for_vips(node_index)
    net = ipaddress.IPv4Network(DOCKER_VIP_SUPERNET)
    if not 0 <= node_index <= 255:
        raise ValueError(f"node index {node_index} out of range 0..255")
    first = net.network_address + node_index * 256 + 1
    return AddressPool(first, first + 253)


def _make_local(pool: AddressPool) -> None:
    """Let the agent bind every address of `pool` (loopback ones need nothing)."""
    prefix = 32 - (int(pool.first) ^ int(pool.last)).bit_length()
    net = ipaddress.IPv4Network((int(pool.first), prefix), strict=False)  # the covering block
    if net.is_loopback:
        return
    # First the whole VIP block unreachable: a VIP of no node must not leave the lab
    # by the default route; then our own block local (the more specific route wins).
    for route in (["unreachable", DOCKER_VIP_SUPERNET], ["local", str(net), "dev", "lo"]):
        try:
            done = subprocess.run(["ip", "route", "replace", *route], capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("discovery: no route %s: %s", " ".join(route), exc)
            continue
        if done.returncode:
            log.warning("discovery: no route %s: %s", " ".join(route), done.stderr.strip())


@dataclass
class ServiceEntry:
    name: str
    mode: str = "vip"
    aliases: tuple[str, ...] = ()
    addresses: list[str] = field(default_factory=list)  # running, healthy tasks
    ports: dict[int, list[Endpoint]] = field(default_factory=dict)  # target port -> endpoints
    vip: str = ""


class ServiceDiscovery:
    def __init__(
        self,
        node_name: str,
        node_index: int,
        *,
        metrics: MeshMetrics | None = None,
        on_names: Callable[[dict[str, list[str]]], None] | None = None,
        strategy: str = "round-robin",
        cooldown_s: float = 2.0,
        connect_timeout_s: float = 1.0,
        vips: AddressPool | None = None,
    ) -> None:
        self.node_name = node_name
        self.vips = vips if vips is not None else default_vips(node_index)
        self._vips_local = False
        self.metrics = metrics or MeshMetrics(node_name)
        self.on_names = on_names
        self._options = dict(strategy=strategy, cooldown_s=cooldown_s,
                             connect_timeout_s=connect_timeout_s)
        self._services: dict[str, ServiceEntry] = {}
        self._forwarders: dict[tuple[str, int], Forwarder] = {}

    async def set_service(
        self,
        name: str,
        *,
        mode: str = "vip",
        ports: dict[int, list[Endpoint]] | None = None,
        addresses: list[str] | None = None,
        aliases: tuple[str, ...] = (),
    ) -> ServiceEntry:
        """Create or update a service's entry. `ports` maps each target port to
        the task endpoints serving it; `addresses` defaults to their hosts."""
        if mode not in ENDPOINT_MODES:
            raise ValueError(f"invalid endpoint mode {mode!r}, expected one of {ENDPOINT_MODES}")
        ports = {int(p): list(eps) for p, eps in (ports or {}).items()}
        if addresses is None:
            addresses = list(dict.fromkeys(a for eps in ports.values() for a, _ in eps))
        entry = ServiceEntry(name, mode, tuple(aliases), list(addresses), ports)
        old = self._services.get(name)
        if old is not None and _same(old, entry) and self._serving(old):
            return old  # nothing changed: no hosts files rewritten
        if old is not None and (old.mode != mode or set(old.ports) != set(ports)):
            await self._close_forwarders(name)
        if mode == "vip":
            entry.vip = self.vips.allocate(name)
            await self._sync_forwarders(entry)
        else:
            self.vips.release(name)
        self._services[name] = entry
        self._publish_names()
        return entry

    async def remove_service(self, name: str) -> None:
        if self._services.pop(name, None) is None:
            return
        await self._close_forwarders(name)
        self.vips.release(name)
        self._publish_names()

    def _serving(self, entry: ServiceEntry) -> bool:
        """Every VIP port has its forwarder (one that failed to bind is retried)."""
        return entry.mode != "vip" or all((entry.name, p) in self._forwarders for p in entry.ports)

    async def _sync_forwarders(self, entry: ServiceEntry) -> None:
        if not self._vips_local:
            _make_local(self.vips)
            self._vips_local = True
        for port, endpoints in entry.ports.items():
            fwd = self._forwarders.get((entry.name, port))
            if fwd is None:
                fwd = Forwarder(entry.vip, port, observer=self.metrics,
                                name=f"vip:{entry.name}:{port}", **self._options)
                try:
                    await fwd.start()
                except OSError as exc:  # e.g. port 80 without the right to bind it
                    log.warning("discovery %s: VIP %s:%s not served: %s", self.node_name,
                                entry.vip, port, exc)
                    continue
                self._forwarders[(entry.name, port)] = fwd
            fwd.set_backends(endpoints)

    async def _close_forwarders(self, name: str) -> None:
        for key in [k for k in self._forwarders if k[0] == name]:
            await self._forwarders.pop(key).close()

    def names(self) -> dict[str, list[str]]:
        """What each name resolves to for tasks on this node."""
        table: dict[str, list[str]] = {}
        for entry in self._services.values():
            resolved = [entry.vip] if entry.mode == "vip" else list(entry.addresses)
            for name in (entry.name, *entry.aliases):
                table[name] = resolved
            table[f"tasks.{entry.name}"] = list(entry.addresses)
        return table

    def _publish_names(self) -> None:
        if self.on_names is not None:
            self.on_names(self.names())

    @property
    def services(self) -> list[str]:
        return list(self._services)

    def entry(self, name: str) -> ServiceEntry | None:
        return self._services.get(name)

    def forwarder(self, name: str, port: int) -> Forwarder | None:
        return self._forwarders.get((name, port))

    async def close(self) -> None:
        for name in list(self._services):
            await self.remove_service(name)


def _same(a: ServiceEntry, b: ServiceEntry) -> bool:
    return (a.mode, a.aliases, a.addresses, a.ports) == (b.mode, b.aliases, b.addresses, b.ports)
