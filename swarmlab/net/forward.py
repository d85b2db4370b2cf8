"""A TCP forwarder: one listening address, connections spread over backends.

This is the I/O shell around `Balancer`. Each accepted connection gets a backend;
if the backend refuses (or does not answer within `connect_timeout_s`, as a
paused node does), the next one is tried at once and the failed one is skipped
for the balancer's cooldown. Bytes are then copied both ways, half-closes
included, until both sides are done. `max_connections` bounds the open
connections of one listener; beyond it a new connection is closed at once.

Used for the ingress routing mesh (one per published port per node), the
service VIPs (one per service port per node) and host-mode ports (one backend).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from .balancer import Backend, Balancer, Endpoint

log = logging.getLogger("swarmlab.mesh")
_CHUNK = 64 * 1024


class ConnectionObserver(Protocol):
    def on_connect(self, listener: "Forwarder", backend: Backend) -> None: ...
    def on_close(self, listener: "Forwarder", backend: Backend) -> None: ...
    def on_failure(self, listener: "Forwarder", backend: Backend) -> None: ...


class Forwarder:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        strategy: str = "round-robin",
        cooldown_s: float = 2.0,
        connect_timeout_s: float = 1.0,
        max_connections: int = 1024,
        observer: ConnectionObserver | None = None,
        name: str = "",
    ) -> None:
        self.host, self.port = host, port
        self.name = name or f"{host}:{port}"
        self.balancer = Balancer(strategy, cooldown_s)
        self.connect_timeout_s = connect_timeout_s
        self.max_connections = max_connections
        self.observer = observer
        self.active = 0
        self.rejected = 0  # connections closed because no backend or over the bound
        self._server: asyncio.base_events.Server | None = None
        self._conns: set[asyncio.Task] = set()
        self._starting = asyncio.Lock()

    async def start(self) -> None:
        """Listen (idempotent, also when called twice at once)."""
        async with self._starting:
            if self._server is None:
                self._server = await asyncio.start_server(self._handle, self.host, self.port)
                if self.port == 0:
                    self.port = self._server.sockets[0].getsockname()[1]

    @property
    def listening(self) -> bool:
        return self._server is not None

    def set_backends(self, endpoints: list[Endpoint]) -> None:
        self.balancer.set_backends(endpoints)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.gather(*self._conns, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        try:
            if self.active >= self.max_connections:
                self.rejected += 1
                return
            self.active += 1
            try:
                await self._serve(reader, writer)
            finally:
                self.active -= 1
        except asyncio.CancelledError:
            pass
        finally:
            self._conns.discard(task)
            writer.close()
            # never end cancelled: asyncio's server callback would log it as an error
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        found = await self._connect()
        if found is None:
            self.rejected += 1
            return
        backend, (up_reader, up_writer) = found
        self.balancer.connected(backend)
        if self.observer:
            self.observer.on_connect(self, backend)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            self.balancer.closed(backend)
            if self.observer:
                self.observer.on_close(self, backend)
            up_writer.close()
            with contextlib.suppress(Exception):
                await up_writer.wait_closed()

    async def _connect(self) -> tuple[Backend, tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None:
        """Try backends until one accepts; each failure is skipped for the cooldown."""
        tried: set[Endpoint] = set()
        while (backend := self.balancer.pick(time.monotonic(), tried)) is not None:
            tried.add(backend.endpoint)
            try:
                streams = await asyncio.wait_for(
                    asyncio.open_connection(*backend.endpoint), self.connect_timeout_s)
                return backend, streams
            except (OSError, asyncio.TimeoutError) as exc:
                log.info("mesh %s: backend %s failed (%s), trying the next", self.name, backend.label, exc)
                self.balancer.refused(backend, time.monotonic())
                if self.observer:
                    self.observer.on_failure(self, backend)
        return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the half-close on."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        writer.close()
