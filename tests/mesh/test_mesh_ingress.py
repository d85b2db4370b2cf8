"""The routing mesh and VIPs forward real TCP connections on loopback."""
from __future__ import annotations

import asyncio
import collections
import time

import pytest

from swarmlab.mesh import RoutingMesh
from swarmlab.mesh.discovery import ServiceDiscovery


def arun(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# Test-only addresses: nodes at 127.0.250.x, backends at 127.99.0.x (outside every
# node's 127.(100+i) range), ports above 20000.
NODE = "127.0.250.1"
PORT = 20081


class EchoBackend:
    """Answers each connection with its name, then echoes, like a tiny task."""

    def __init__(self, name: str, host: str, port: int = PORT) -> None:
        self.name, self.host, self.port = name, host, port
        self.server: asyncio.base_events.Server | None = None
        self.open = 0
        self.peak = 0

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.host, self.port

    async def start(self) -> "EchoBackend":
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        return self

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            writer.write(self.name.encode() + b"\n")
            await writer.drain()
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            self.open -= 1
            writer.close()


async def ask(host: str, port: int, payload: bytes = b"ping") -> tuple[str, bytes]:
    """Connect, read who answered, send and read back `payload`, half-close."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 3)
    try:
        name = (await asyncio.wait_for(reader.readline(), 3)).decode().strip()
        if not name:
            return "", b""
        writer.write(payload)
        writer.write_eof()
        echoed = await asyncio.wait_for(reader.read(), 3)
        return name, echoed
    finally:
        writer.close()


async def three_backends() -> list[EchoBackend]:
    return [await EchoBackend(f"task{i}", f"127.99.0.{i}").start() for i in (1, 2, 3)]


def test_connections_spread_over_three_backends_round_robin():
    async def scenario():
        backends = await three_backends()
        mesh = RoutingMesh("n1", NODE)
        mesh.set_backends(PORT, [b.endpoint for b in backends])
        await mesh.publish(PORT)
        answers = [await ask(NODE, PORT, b"x" * 100_000) for _ in range(30)]
        assert collections.Counter(n for n, _ in answers) == {"task1": 10, "task2": 10, "task3": 10}
        assert all(echo == b"x" * 100_000 for _, echo in answers)  # bytes both ways, half-close
        stats = mesh.stats(PORT)
        assert {s["total"] for s in stats.values()} == {10} and all(s["active"] == 0 for s in stats.values())
        text = mesh.metrics.text().decode()
        assert 'swarmlab_mesh_connections_total{backend="127.99.0.2:20081",listener="ingress:20081",node="n1"} 10.0' in text
        await mesh.close()
        for b in backends:
            await b.stop()

    arun(scenario())


def test_a_backend_that_dies_is_skipped_at_once():
    async def scenario():
        backends = await three_backends()
        mesh = RoutingMesh("n1", NODE, cooldown_s=2.0)
        mesh.set_backends(PORT, [b.endpoint for b in backends])
        await mesh.publish(PORT)
        await backends[1].stop()  # task2 dies; the control plane has not noticed yet
        t0 = time.monotonic()
        answers = [(await ask(NODE, PORT))[0] for _ in range(20)]
        assert time.monotonic() - t0 < 3
        assert "" not in answers and "task2" not in answers  # no connection lost
        assert collections.Counter(answers) == {"task1": 10, "task3": 10}
        assert mesh.stats(PORT)["127.99.0.2:20081"]["failures"] == 1  # then skipped for the cooldown
        mesh.set_backends(PORT, [backends[0].endpoint, backends[2].endpoint])  # control plane catches up
        assert mesh.backends(PORT) == [backends[0].endpoint, backends[2].endpoint]
        await mesh.close()
        for b in (backends[0], backends[2]):
            await b.stop()

    arun(scenario())


def test_no_backend_closes_the_connection_and_the_port_stays_published():
    async def scenario():
        mesh = RoutingMesh("n1", NODE)
        mesh.set_backends(PORT, [])
        await mesh.publish(PORT)
        assert await ask(NODE, PORT) == ("", b"")
        backend = await EchoBackend("late", "127.99.0.9").start()
        mesh.set_backends(PORT, [backend.endpoint])
        assert (await ask(NODE, PORT))[0] == "late"
        await mesh.unpublish(PORT)
        with pytest.raises(OSError):
            await ask(NODE, PORT)
        await backend.stop()

    arun(scenario())


def test_open_connections_are_bounded_and_counted_back_to_zero():
    async def scenario():
        backends = await three_backends()
        mesh = RoutingMesh("n1", NODE, max_connections=6, strategy="least-connections")
        mesh.set_backends(PORT, [b.endpoint for b in backends])
        await mesh.publish(PORT)
        held = [await asyncio.open_connection(NODE, PORT) for _ in range(9)]
        names = [(await asyncio.wait_for(r.readline(), 3)).decode().strip() for r, _ in held]
        assert sum(1 for n in names if n) == 6  # three over the bound were closed at once
        assert collections.Counter(n for n in names if n) == {"task1": 2, "task2": 2, "task3": 2}
        assert max(b.peak for b in backends) == 2 and mesh.forwarder(PORT).rejected == 3
        for _, w in held:
            w.close()
        deadline = time.monotonic() + 3
        while mesh.forwarder(PORT).active and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert mesh.forwarder(PORT).active == 0
        assert all(s["active"] == 0 for s in mesh.stats(PORT).values())
        await mesh.close()
        for b in backends:
            await b.stop()

    arun(scenario())


def test_set_backends_publishes_a_new_port_in_the_background():
    async def scenario():
        backend = await EchoBackend("solo", "127.99.0.7").start()
        mesh = RoutingMesh("n2", "127.0.250.2")
        mesh.set_backends(PORT, [backend.endpoint])  # sync, as a store watch would call it
        for _ in range(100):
            if mesh.forwarder(PORT).listening:
                break
            await asyncio.sleep(0.01)
        assert (await ask("127.0.250.2", PORT))[0] == "solo"
        await mesh.close()
        await backend.stop()

    arun(scenario())


def test_vip_spreads_over_tasks_and_names_resolve_per_endpoint_mode():
    async def scenario():
        backends = await three_backends()
        published = []
        disco = ServiceDiscovery("n1", 150, on_names=published.append)
        entry = await disco.set_service("kv", ports={PORT: [b.endpoint for b in backends]},
                                        aliases=("store",))
        assert entry.vip == "127.250.0.1"  # the first of node 150's VIP range
        names = disco.names()
        assert names["kv"] == names["store"] == [entry.vip]
        assert names["tasks.kv"] == ["127.99.0.1", "127.99.0.2", "127.99.0.3"]
        answers = collections.Counter([(await ask(entry.vip, PORT))[0] for _ in range(9)])
        assert answers == {"task1": 3, "task2": 3, "task3": 3}
        await disco.set_service("kv", mode="dnsrr", ports={PORT: [b.endpoint for b in backends[:2]]})
        assert disco.names()["kv"] == ["127.99.0.1", "127.99.0.2"]
        with pytest.raises(OSError):
            await ask(entry.vip, PORT)  # dnsrr has no VIP
        await disco.remove_service("kv")
        assert published[-1] == {} and len(disco.vips) == 0
        await disco.close()
        for b in backends:
            await b.stop()

    arun(scenario())


def test_plan_and_apply_reconcile_a_nodes_mesh_with_the_cluster():
    from swarmlab.mesh.plan import PublishedPort, ServiceEndpoint, TaskEndpoint, apply, plan

    async def scenario():
        backends = await three_backends()
        services = [ServiceEndpoint("web", ports=(PublishedPort(PORT, PORT),), aliases=("w",)),
                    ServiceEndpoint("db", endpoint_mode="dnsrr", target_ports=(5432,)),
                    ServiceEndpoint("h", ports=(PublishedPort(80, 20099, "host"),))]
        tasks = [TaskEndpoint("web", b.host, ready=(b.name != "task2")) for b in backends]
        tasks.append(TaskEndpoint("db", "127.99.0.20", ready=True, low_ports_remapped=True))
        target = plan(services, tasks)
        assert target.ingress == {PORT: [backends[0].endpoint, backends[2].endpoint]}  # not ready: out
        assert target.discovery["db"].addresses == ["127.99.0.20"]
        assert target.discovery["db"].ports == {5432: [("127.99.0.20", 5432)]}
        assert target.discovery["h"].ports == {80: []}
        mesh, disco = RoutingMesh("n1", NODE), ServiceDiscovery("n1", 152)
        assert await apply(target, mesh, disco) == []
        assert mesh.published_ports == [PORT] and sorted(disco.services) == ["db", "h", "web"]
        assert collections.Counter([(await ask(NODE, PORT))[0] for _ in range(4)]) == {"task1": 2, "task3": 2}
        vip = disco.entry("web").vip
        assert (await ask(vip, PORT))[0] in ("task1", "task3")
        assert disco.names()["w"] == [vip] and disco.names()["db"] == ["127.99.0.20"]
        await apply(plan(services[1:], tasks), mesh, disco)  # web removed
        assert mesh.published_ports == [] and "web" not in disco.services
        with pytest.raises(OSError):
            await ask(NODE, PORT)
        await mesh.close()
        await disco.close()
        for b in backends:
            await b.stop()

    arun(scenario())


def test_a_backend_that_does_not_answer_is_skipped_after_the_connect_timeout():
    import socket

    async def scenario():
        # a black hole: a full accept queue drops SYNs, as a cut-off node would
        hole = socket.socket()
        hole.bind(("127.99.0.50", PORT))
        hole.listen(0)
        filler = socket.create_connection(("127.99.0.50", PORT), timeout=1)
        good = await EchoBackend("good", "127.99.0.51").start()
        mesh = RoutingMesh("n1", NODE, connect_timeout_s=0.3, cooldown_s=5.0)
        mesh.set_backends(PORT, [("127.99.0.50", PORT), good.endpoint])
        await mesh.publish(PORT)
        t0 = time.monotonic()
        answers = [(await ask(NODE, PORT))[0] for _ in range(6)]
        took = time.monotonic() - t0
        assert answers == ["good"] * 6
        assert 0.3 <= took < 2.0, took  # one connect timeout, then the hole is skipped
        assert mesh.stats(PORT)["127.99.0.50:20081"]["failures"] == 1
        await mesh.close()
        await good.stop()
        filler.close()
        hole.close()

    arun(scenario())
