"""One framed TCP connection (`Conn`), the peers' addresses, and a rate limit for the warnings
a peer could repeat: what the peer links and the clients of Raft's shell both stand on."""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, Callable

from .codec import MAX_FRAME_BYTES, CodecError, FrameDecoder, FrameKind
from ..messages import NodeId

log = logging.getLogger("swarmlab.raft.shell.transport")

Address = tuple[str, int]


class LogLimiter:
    """At most one log line per key every `interval` seconds; the next one says how many
    were held back. For what a peer (or a stuck follower) could repeat many times a second."""

    def __init__(self, logger: logging.Logger, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger, self.interval, self.clock = logger, interval, clock
        self._last: dict[Any, float] = {}
        self._held: dict[Any, int] = {}

    def log(self, level: int, key: Any, msg: str, *args: Any) -> bool:
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) > 1000:  # keys are few (peers x kinds); never grow without bound
            self._last.clear()
            self._held.clear()
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            msg += " (and %d more like it in %.0f s)"
            args += (held, now - last if last is not None else 0.0)
        self.logger.log(level, msg, *args)
        return True


def parse_peers(spec: str) -> dict[NodeId, Address]:
    """'1=127.0.0.1:7001,2=127.0.0.2:7002' -> {1: ('127.0.0.1', 7001), ...}"""
    peers = {}
    for part in spec.split(","):
        nid, _, addr = part.strip().partition("=")
        host, _, port = addr.rpartition(":")
        peers[int(nid)] = (host, int(port))
    return peers


class Conn(asyncio.Protocol):
    """One TCP connection carrying frames; calls `on_frame(conn, kind, body)`."""

    def __init__(self, on_frame: Callable[["Conn", FrameKind, bytes], None],
                 on_lost: Callable[["Conn"], None] | None = None,
                 max_frame: int = MAX_FRAME_BYTES) -> None:
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.decoder = FrameDecoder(max_frame)
        self.transport: asyncio.Transport | None = None
        self.peer_id: NodeId | None = None  # set by HELLO
        self.closed = asyncio.get_running_loop().create_future()
        self._writable: asyncio.Future | None = None  # pending while the transport is paused

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except CodecError as e:
            log.warning("closing connection from %s: %s", self.peername(), e)
            self.close()
            return
        for kind, body in frames:
            if self.transport is None or self.transport.is_closing():
                return
            self.on_frame(self, kind, body)
        if self.decoder.error is not None:
            log.warning("closing connection from %s: %s", self.peername(), self.decoder.error)
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.resume_writing()
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_lost:
            self.on_lost(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None:
            if not self._writable.done():
                self._writable.set_result(None)
            self._writable = None

    async def drain(self) -> None:
        """Wait until the transport's buffer is below its low-water mark (or it is gone)."""
        if self._writable is not None:
            await self._writable

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def peername(self) -> Any:
        return self.transport.get_extra_info("peername") if self.transport else None
