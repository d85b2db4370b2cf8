"""TCP between managers (and their clients) on asyncio: framed, validated, coalesced.

Theory of operation:
- Every manager listens on one address. A connection's first frame says who
  is calling: HELLO (a peer, with its node id) or CLIENT_REQ (a client).
- Raft traffic flows one way per connection, as etcd's streams do: each node
  dials each peer and only writes to that connection; what peers send
  arrives on the connections they dialed to us.
- Sending never blocks the core: `send()` queues frames per peer and `flush()`
  writes each queue with one ``writelines`` (many messages, one syscall). A
  peer that is down or too slow loses messages; Raft retries them.
- A frame that does not parse is logged and dropped; a broken header closes
  the connection (the stream cannot be resynced; the peer redials).
"""
from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Callable

from .codec import (
    CodecError, FrameDecoder, FrameKind, decode_message, decode_value, encode_value, frame,
    message_frame,
)
from ..messages import Message, NodeId

log = logging.getLogger("swarmlab.raft.shell.transport")

Address = tuple[str, int]
#: a peer whose socket buffer holds more than this is slow: drop what we would add
MAX_BUFFERED_BYTES = 16 << 20
BACKOFF_S = (0.02, 0.5)  # first and longest wait between redials


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
                 on_lost: Callable[["Conn"], None] | None = None) -> None:
        self.on_frame = on_frame
        self.on_lost = on_lost
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.peer_id: NodeId | None = None  # set by HELLO
        self.closed = asyncio.get_running_loop().create_future()

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
        if not self.closed.done():
            self.closed.set_result(None)
        if self.on_lost:
            self.on_lost(self)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def buffered(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport else 0

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def peername(self) -> Any:
        return self.transport.get_extra_info("peername") if self.transport else None


class PeerLink:
    """Our dialed connection to one peer: a send queue and a redial loop with backoff."""

    def __init__(self, my_id: NodeId, peer: NodeId, addr: Address, local_host: str) -> None:
        self.my_id, self.peer, self.addr, self.local_host = my_id, peer, addr, local_host
        self.conn: Conn | None = None
        self.queue: list[bytes] = []
        self.dropped = 0
        self.task: asyncio.Task | None = None

    def send(self, data: bytes) -> None:
        if self.conn is None or self.conn.buffered() > MAX_BUFFERED_BYTES:
            self.dropped += 1
            return
        self.queue.append(data)

    def flush(self) -> None:
        # the connection may have died since send(): its transport is then None
        transport = self.conn.transport if self.conn is not None else None
        if self.queue and transport is not None:
            transport.writelines(self.queue)
        self.queue.clear()

    async def _connect(self, **options: Any) -> Conn:
        """Dial the peer, or raise OSError (ssl.SSLError is one). A link that needs more
        (TLS) overrides this and passes its options on to `loop.create_connection`."""
        _, conn = await asyncio.get_running_loop().create_connection(
            lambda: Conn(_ignore_frames), *self.addr, local_addr=(self.local_host, 0),
            **options)
        return conn

    async def run(self) -> None:
        backoff = BACKOFF_S[0]
        while True:
            try:
                conn = await self._connect()
            except OSError as e:
                log.debug("node %d: cannot reach peer %d: %s", self.my_id, self.peer, e)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])
                continue
            conn.write(frame(FrameKind.HELLO, encode_value(self.my_id)))
            self.conn, backoff = conn, BACKOFF_S[0]
            log.debug("node %d: connected to peer %d at %s", self.my_id, self.peer, self.addr)
            await conn.closed
            self.conn = None
            self.queue.clear()


def _ignore_frames(conn: Conn, kind: FrameKind, body: bytes) -> None:
    pass  # peers never answer on the connection we dialed


class Transport:
    """Listens for peers and clients; sends Raft messages to peers."""

    def __init__(self, node_id: NodeId, peers: dict[NodeId, Address],
                 on_message: Callable[[Message], None],
                 on_client: Callable[[Conn, Any], None]) -> None:
        self.id = node_id
        self.addr = peers[node_id]
        self.on_message = on_message
        self.on_client = on_client
        self.links = {p: PeerLink(node_id, p, a, self.addr[0])
                      for p, a in peers.items() if p != node_id}
        self.server: asyncio.AbstractServer | None = None
        self.accepted: set[Conn] = set()
        self.bad_frames = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self._accept, *self.addr, reuse_address=True)
        for link in self.links.values():
            link.task = asyncio.create_task(link.run())

    async def close(self) -> None:
        for link in self.links.values():
            if link.task:
                link.task.cancel()
            if link.conn:
                link.conn.close()
        if self.server:
            self.server.close()
        for c in list(self.accepted):
            c.close()

    def _accept(self) -> Conn:
        conn = Conn(self._on_frame, self.accepted.discard)
        self.accepted.add(conn)
        return conn

    def send(self, msgs: list[Message]) -> None:
        for m in msgs:
            link = self.links.get(m.dst)
            if link is None:
                continue
            try:
                link.send(message_frame(m))
            except CodecError as e:
                log.error("node %d: cannot encode %s for %d: %s", self.id, m.type.name, m.dst, e)

    def flush(self) -> None:
        for link in self.links.values():
            link.flush()

    def _on_frame(self, conn: Conn, kind: FrameKind, body: bytes) -> None:
        if kind is FrameKind.RAFT and conn.peer_id is not None:
            try:
                m = decode_message(body)
            except CodecError as e:
                return self._bad(conn, f"malformed message: {e}")
            if m.src != conn.peer_id or m.dst != self.id:
                return self._bad(conn, f"message {m.src}->{m.dst} on the link from {conn.peer_id}")
            self.on_message(m)
        elif kind is FrameKind.HELLO and conn.peer_id is None:
            try:
                peer = decode_value(body)
            except CodecError as e:
                return self._bad(conn, f"malformed hello: {e}")
            if type(peer) is not int or peer not in self.links:
                return self._bad(conn, f"hello from unknown node {peer!r}")
            conn.peer_id = peer
        elif kind is FrameKind.CLIENT_REQ and conn.peer_id is None:
            try:
                reqs = decode_value(body)
            except CodecError as e:
                return self._bad(conn, f"malformed client request: {e}")
            self.on_client(conn, reqs)
        else:
            self._bad(conn, f"unexpected {kind.name} frame")

    def _bad(self, conn: Conn, why: str) -> None:
        self.bad_frames += 1
        log.warning("node %d: dropped a frame from %s: %s", self.id, conn.peername(), why)


# -- the client side ------------------------------------------------------------------
class ClientError(Exception):
    def __init__(self, info: Any) -> None:
        super().__init__(info.get("error") if isinstance(info, dict) else str(info))
        self.info = info


class NotLeaderError(ClientError):
    @property
    def leader_address(self) -> Address | None:
        addr = self.info.get("leader_address")
        if not addr:
            return None
        host, _, port = addr.rpartition(":")
        return host, int(port)


class RaftClient:
    """One connection to one manager. Requests are pipelined: every request made in
    one event-loop turn travels in one frame; answers are matched by request id."""

    def __init__(self) -> None:
        self.conn: Conn | None = None
        self._next_id = 1
        self._waiting: dict[int, asyncio.Future] = {}
        self._batch: list[list] = []

    @classmethod
    async def connect(cls, addr: Address, timeout: float = 2.0) -> "RaftClient":
        self = cls()
        loop = asyncio.get_running_loop()
        _, self.conn = await asyncio.wait_for(
            loop.create_connection(lambda: Conn(self._on_frame, self._on_lost), *addr), timeout)
        return self

    def request(self, op: str, arg: Any = None) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.conn is None or self.conn.transport is None:
            fut.set_exception(ConnectionError("not connected"))
            return fut
        rid, self._next_id = self._next_id, self._next_id + 1
        self._waiting[rid] = fut
        if not self._batch:
            asyncio.get_running_loop().call_soon(self._flush)
        self._batch.append([rid, op, arg])
        return fut

    async def put(self, data: bytes) -> int:
        return await self.request("put", data)

    async def status(self) -> dict:
        return await self.request("status")

    async def read(self, lo: int, hi: int) -> list[tuple[int, bytes]]:
        return [(i, d) for i, d in await self.request("read", [lo, hi])]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def _flush(self) -> None:
        if self.conn is not None and self._batch:
            self.conn.write(frame(FrameKind.CLIENT_REQ, encode_value(self._batch)))
        self._batch = []

    def _on_frame(self, conn: Conn, kind: FrameKind, body: bytes) -> None:
        try:
            answers = decode_value(body)
        except CodecError as e:
            log.warning("client: dropped a malformed answer: %s", e)
            return
        for rid, ok, value in answers:
            fut = self._waiting.pop(rid, None)
            if fut is None or fut.done():
                continue
            if ok:
                fut.set_result(value)
            elif isinstance(value, dict) and value.get("error") == "not leader":
                fut.set_exception(NotLeaderError(value))
            else:
                fut.set_exception(ClientError(value))

    def _on_lost(self, conn: Conn) -> None:
        self.conn = None
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("connection to the manager lost"))
        self._waiting.clear()
