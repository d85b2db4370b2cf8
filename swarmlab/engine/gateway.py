"""The control plane as an Engine API handler sees it (`app["gateway"]`).

Theory of operation: a handler never holds the node. It asks the gateway to `read` the
store or `call` the control plane (`Manager`); the gateway refuses as Docker does (a
locked swarm, no swarm, a worker) or runs the work on the manager's control thread. On
a manager that is not the leader it raises ForwardToLeader, and `forward` sends the
request on to the leader's API, as swarmkit's managers proxy every control call. The
gateway reads its node through `GatewayHost`, a Protocol the node satisfies: the
manager role comes and goes (promotion, demotion, leave), the gateway stays.
"""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Generic, Protocol, TypeVar

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from ..crypto import SWARM_LOCKED
from ..manager import Manager
from ..raft.trace import TraceEvent
from ..store import MemoryStore, ReadTx, WriteTx
from .errors import (
    NO_LEADER, NOT_IN_SWARM, WORKER_REFUSAL, APIError, ForwardToLeader, error_response,
)
from .tls import EngineTLS


def internal_url_of(swarm_addr: str) -> str:
    """A node's internal API (joins, dispatcher, renewal): HTTPS on its swarm port + 1."""
    host, _, port = swarm_addr.rpartition(":")
    return f"https://{host}:{int(port) + 1}"


class ControlCalls(Protocol):
    async def call(self, fn: Callable[[], Any]) -> Any: ...


class ManagerSeat(Protocol):
    """What the Engine API uses of a node's manager role."""

    @property
    def raft_id(self) -> int: ...
    @property
    def addresses(self) -> dict[int, tuple[str, int]]: ...
    @property
    def store(self) -> MemoryStore: ...
    @property
    def control(self) -> ControlCalls: ...
    @property
    def control_plane(self) -> Manager: ...
    def is_leader(self) -> bool: ...
    def leader_raft_id(self) -> int: ...
    def reachable(self) -> set[int]: ...
    def status(self) -> dict[str, Any]: ...
    def raft_id_of(self, node_id: str) -> int: ...
    def trace_events(self) -> list[TraceEvent]: ...
    async def wait_for_leader(self, known: Callable[[], bool]) -> None: ...


M = TypeVar("M", bound=ManagerSeat, covariant=True)


class GatewayHost(Protocol[M]):
    """What the gateway reads of its node, each time: these change as the node lives."""

    @property
    def name(self) -> str: ...
    @property
    def locked(self) -> bool: ...
    @property
    def role(self) -> str | None: ...
    @property
    def manager(self) -> M | None: ...
    @property
    def api_scheme(self) -> str: ...
    @property
    def api_port(self) -> int: ...
    @property
    def engine_tls(self) -> EngineTLS | None: ...


class Gateway(Generic[M]):
    def __init__(self, host: GatewayHost[M]) -> None:
        self.host = host

    @property
    def name(self) -> str:
        return self.host.name

    @property
    def manager(self) -> M | None:
        """This node's manager role, or None: for what a worker answers too."""
        return self.host.manager

    def require_manager(self) -> M:
        if self.host.locked:
            raise APIError(503, SWARM_LOCKED)
        if self.host.role is None:
            raise APIError(503, NOT_IN_SWARM)
        m = self.host.manager
        if m is None:
            raise APIError(503, WORKER_REFUSAL)
        return m

    def leading(self) -> M:
        """The manager role, if it leads: else the request belongs to the leader."""
        m = self.require_manager()
        if not m.is_leader():
            raise ForwardToLeader()
        return m

    async def read(self, fn: Callable[[ReadTx], Any], local: bool = False) -> Any:
        """Cluster state as the leader has it: a follower forwards the request, so a read
        that follows a write (forwarded too) always sees it. `local` reads this manager's
        own copy."""
        m = self.require_manager() if local else self.leading()
        return await m.control.call(lambda: fn(m.store.view()))

    async def call(self, fn: Callable[[Manager], Any]) -> Any:
        m = self.leading()
        return await m.control.call(lambda: fn(m.control_plane))

    async def update(self, fn: Callable[[WriteTx], Any]) -> Any:
        """A store write on this manager's control thread (Raft refuses a follower's)."""
        m = self.require_manager()
        return await m.control.call(lambda: m.store.update(fn))

    def api_url_of(self, host: str) -> str:
        return f"{self.host.api_scheme}://{host}:{self.host.api_port}"

    def leader_api_url(self) -> str | None:
        m = self.host.manager
        if m is None:
            return None
        rid = m.leader_raft_id()
        if not rid or rid == m.raft_id:
            return None
        addr = m.addresses.get(rid)
        return self.api_url_of(addr[0]) if addr is not None else None

    def leader_internal_url(self) -> str | None:
        """The leader's internal API (HTTPS, swarm port + 1), if this manager knows it."""
        m = self.host.manager
        if m is None:
            return None
        addr = m.addresses.get(m.leader_raft_id())
        return internal_url_of(f"{addr[0]}:{addr[1]}") if addr else None

    async def forward(self, request: web.Request,
                      retry: Callable[[], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """The request, answered by the leader's Engine API (`retry` if this manager won
        the election it waited for)."""
        if request.headers.get("X-Swarmlab-Forwarded"):
            return error_response(503, NO_LEADER)
        m = self.host.manager
        if self.leader_api_url() is None and m is not None:
            # no leader known yet (just promoted, or an election): wait for one, as swarmkit
            await m.wait_for_leader(lambda: m.is_leader() or self.leader_api_url() is not None)
            if m.is_leader() and not request.get("swarmlab.retried"):
                request["swarmlab.retried"] = True  # this manager won: it answers itself, once
                return await retry()
        url = self.leader_api_url()
        if url is None:
            return error_response(503, NO_LEADER)
        return await self._proxy(request, url)

    async def _proxy(self, request: web.Request, url: str) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": request.headers.get("Content-Type", "application/json"),
                   "X-Swarmlab-Forwarded": self.host.name}
        tls = self.host.engine_tls
        try:
            # a leader whose node was just killed never answers the connect: give up in 2 s
            # with Docker's no-leader error (the client retries) instead of holding the call
            async with ClientSession(timeout=ClientTimeout(total=30, sock_connect=2)) as s:
                async with s.request(request.method, url + request.path_qs, data=body,
                                     headers=headers,
                                     ssl=tls.client_context() if tls else True) as r:
                    data = await r.read()
                    return web.Response(status=r.status, body=data,
                                        content_type=r.content_type or "application/json")
        except (ClientError, OSError, asyncio.TimeoutError):
            # the leader we knew is gone and no new one is elected: as Docker answers
            return error_response(503, NO_LEADER)


__all__ = ["ControlCalls", "Gateway", "GatewayHost", "ManagerSeat", "internal_url_of"]
