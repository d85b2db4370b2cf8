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
  the connection (the stream cannot be resynced; the peer redials). Warnings that
  a peer could repeat are rate-limited (`LogLimiter`): one line per kind per
  interval, with a count of what was held back.
- Snapshots travel in chunks (codec `snapshot_frames`), written by one task per
  peer that waits for the socket buffer to drain between chunks, so appends and
  heartbeats keep flowing in between. The core asks for a snapshot again every
  heartbeat while the follower has not caught up; the link paces that: while a
  transfer is under way no other starts, and the same snapshot is sent to the
  same peer again only after a back-off (`SNAP_RETRY_S`, doubling), or, once the
  peer said it has it all (a SNAP_ACK frame on its own link to us), only after
  `SNAP_INSTALL_S` or when the peer reconnects. The receiver reassembles per
  peer (`SnapshotAssembler`, capped at `max_snapshot_bytes`), drops an incomplete
  transfer when a new one starts, when the connection is lost or after
  `SNAP_IDLE_S` without a chunk, and steps one SNAP message.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
import zlib
from typing import Any, Callable

from .codec import (
    MAX_FRAME_BYTES, MAX_SNAPSHOT_BYTES, SNAP_CHUNK_BYTES, CodecError, FrameKind,
    SnapshotAssembler, decode_message, decode_value, encode_value, frame, message_frame,
    snapshot_frames,
)
from ..messages import Message, MessageType, NodeId
from .conn import Address, Conn, LogLimiter

log = logging.getLogger("swarmlab.raft.shell.transport")
#: a peer whose socket buffer holds more than this is slow: drop what we would add
MAX_BUFFERED_BYTES = 16 << 20
BACKOFF_S = (0.02, 0.5)  # first and longest wait between redials
#: first and longest wait before the same snapshot goes to the same peer again
SNAP_RETRY_S = (1.0, 16.0)
#: once the peer said it has the whole snapshot (SNAP_ACK), its install (a big write and
#: fsync) is given this long before the snapshot is sent again (unless the peer reconnects)
SNAP_INSTALL_S = 30.0
#: an incomplete incoming snapshot with no chunk for this long is dropped
SNAP_IDLE_S = 10.0


class PeerLink:
    """Our dialed connection to one peer: a send queue and a redial loop with backoff."""

    #: the frame limit and snapshot chunk size (set by the Transport that owns the link)
    max_frame = MAX_FRAME_BYTES
    chunk_bytes = SNAP_CHUNK_BYTES

    def __init__(self, my_id: NodeId, peer: NodeId, addr: Address, local_host: str) -> None:
        self.my_id, self.peer, self.addr, self.local_host = my_id, peer, addr, local_host
        self.conn: Conn | None = None
        self.queue: list[bytes] = []
        self.dropped = 0
        self.task: asyncio.Task | None = None
        # snapshot streaming, one transfer at a time, paced
        self.snap_task: asyncio.Task | None = None
        self.snap_last: tuple[int, int] | None = None  # (index, term) last streamed
        self.snap_not_before = 0.0  # monotonic: no resend of snap_last before this
        self.snap_retry = SNAP_RETRY_S[0]
        self.snaps_sent = 0  # transfers completed
        self.snaps_acked = 0  # transfers the peer said it received whole
        self.snaps_paced = 0  # SNAP messages dropped by the pacing
        self._transfers = itertools.count(1)

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

    def send_snapshot(self, m: Message) -> None:
        """Stream the SNAP message `m` in chunks, unless one is under way or this same
        snapshot went to this peer less than a back-off ago (the core asks again every
        heartbeat until the follower has caught up)."""
        assert m.snapshot is not None
        key = (m.snapshot.index, m.snapshot.term)
        if self.snap_task is not None and not self.snap_task.done():
            self.snaps_paced += 1
            return
        now = time.monotonic()
        if key == self.snap_last and now < self.snap_not_before:
            self.snaps_paced += 1
            return
        if self.conn is None or self.conn.transport is None:
            self.dropped += 1
            return
        if key != self.snap_last:
            self.snap_retry = SNAP_RETRY_S[0]
        self.snap_task = asyncio.get_running_loop().create_task(
            self._stream_snapshot(self.conn, m, key))

    def snapshot_received(self, key: tuple[int, int]) -> None:
        """The peer has the whole of snapshot `key` and is installing it: hold it back
        for longer (its answer comes once the snapshot is on its disk)."""
        if key == self.snap_last:
            self.snaps_acked += 1
            self.snap_not_before = max(self.snap_not_before, time.monotonic() + SNAP_INSTALL_S)

    async def _stream_snapshot(self, conn: Conn, m: Message, key: tuple[int, int]) -> None:
        t0 = time.monotonic()
        data = m.snapshot.data  # type: ignore[union-attr]
        sent, ok, why = 0, False, "connection lost"
        log.info("node %d: sending snapshot %d (term %d, %d bytes) to %d", self.my_id,
                 key[0], key[1], len(data), self.peer)
        try:
            # zlib lets go of the GIL: a 48 MB CRC does not stall the event loop
            crc = await asyncio.get_running_loop().run_in_executor(None, zlib.crc32, data)
            for f in snapshot_frames(m, self.chunk_bytes, next(self._transfers),
                                     self.max_frame, crc):
                await conn.drain()
                if conn.transport is None or conn.transport.is_closing():
                    break
                self.flush()  # what the core queued before this chunk goes first
                conn.write(f)
                sent += 1
            else:
                ok = True
        except CodecError as e:
            why = str(e)
        took = time.monotonic() - t0
        if ok:
            self.snaps_sent += 1
            if key == self.snap_last:
                self.snap_retry = min(self.snap_retry * 2, SNAP_RETRY_S[1])
            log.info("node %d: sent snapshot %d to %d in %d chunks, %.2f s", self.my_id,
                     key[0], self.peer, sent, took)
        else:
            log.warning("node %d: snapshot %d to %d not sent (%d chunks went): %s",
                        self.my_id, key[0], self.peer, sent, why)
        self.snap_last = key
        # a long transfer waits at least as long again before it is repeated
        self.snap_not_before = time.monotonic() + max(self.snap_retry, took)

    async def _connect(self, **options: Any) -> Conn:
        """Dial the peer, or raise OSError (ssl.SSLError is one). A link that needs more
        (TLS) overrides this and passes its options on to `loop.create_connection`."""
        _, conn = await asyncio.get_running_loop().create_connection(
            lambda: Conn(_ignore_frames, max_frame=self.max_frame), *self.addr,
            local_addr=(self.local_host, 0),
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
            # a peer that restarted lost what it was installing: no install hold-off now
            self.snap_not_before = min(self.snap_not_before,
                                       time.monotonic() + self.snap_retry)
            log.debug("node %d: connected to peer %d at %s", self.my_id, self.peer, self.addr)
            await conn.closed
            self.conn = None
            self.queue.clear()

    def cancel(self) -> None:
        for t in (self.task, self.snap_task):
            if t is not None:
                t.cancel()
        if self.conn:
            self.conn.close()


def _ignore_frames(conn: Conn, kind: FrameKind, body: bytes) -> None:
    pass  # peers never answer on the connection we dialed


class Transport:
    """Listens for peers and clients; sends Raft messages to peers."""

    def __init__(self, node_id: NodeId, peers: dict[NodeId, Address],
                 on_message: Callable[[Message], None],
                 on_client: Callable[[Conn, Any], None], *,
                 max_frame_bytes: int = MAX_FRAME_BYTES, chunk_bytes: int | None = None,
                 max_snapshot_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self.id = node_id
        self.addr = peers[node_id]
        self.on_message = on_message
        self.on_client = on_client
        self.max_frame_bytes = max_frame_bytes
        #: snapshot data per chunk: small enough that a chunk is a short wait for the
        #: heartbeats queued behind it, and always well inside a frame
        self.chunk_bytes = chunk_bytes or min(SNAP_CHUNK_BYTES, max_frame_bytes // 2)
        self.max_snapshot_bytes = max_snapshot_bytes
        self.links: dict[NodeId, PeerLink] = {}
        for p, a in peers.items():
            if p != node_id:
                self.links[p] = self._configure(PeerLink(node_id, p, a, self.addr[0]))
        self.server: asyncio.AbstractServer | None = None
        self.accepted: set[Conn] = set()
        self.bad_frames = 0
        self.limiter = LogLimiter(log)
        #: incoming snapshots: per peer, the connection, its assembler and idle timer
        self.incoming: dict[NodeId, _Incoming] = {}
        self.snaps_received = 0

    def _configure(self, link: PeerLink) -> PeerLink:
        link.max_frame, link.chunk_bytes = self.max_frame_bytes, self.chunk_bytes
        return link

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self._accept, *self.addr, reuse_address=True)
        for link in self.links.values():
            link.task = asyncio.create_task(link.run())

    async def close(self) -> None:
        for link in self.links.values():
            link.cancel()
        for peer in list(self.incoming):
            self._drop_incoming(peer)
        if self.server:
            self.server.close()
        for c in list(self.accepted):
            c.close()

    def _accept(self) -> Conn:
        conn = Conn(self._on_frame, self._lost, max_frame=self.max_frame_bytes)
        self.accepted.add(conn)
        return conn

    def _lost(self, conn: Conn) -> None:
        self.accepted.discard(conn)
        if conn.peer_id is not None and conn.peer_id in self.incoming \
                and self.incoming[conn.peer_id].conn is conn:
            self._drop_incoming(conn.peer_id, "connection lost")

    def send(self, msgs: list[Message]) -> None:
        for m in msgs:
            link = self.links.get(m.dst)
            if link is None:
                continue
            if m.type is MessageType.SNAP:
                link.send_snapshot(m)
                continue
            try:
                link.send(message_frame(m, self.max_frame_bytes))
            except CodecError as e:
                self.limiter.log(logging.ERROR, ("encode", m.type, m.dst),
                                 "node %d: cannot encode %s for %d: %s",
                                 self.id, m.type.name, m.dst, e)

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
        elif kind is FrameKind.SNAP_CHUNK and conn.peer_id is not None:
            self._on_chunk(conn, conn.peer_id, body)
        elif kind is FrameKind.SNAP_ACK and conn.peer_id is not None:
            try:
                key = decode_value(body)
            except CodecError as e:
                return self._bad(conn, f"malformed snapshot ack: {e}")
            if not (type(key) is list and len(key) == 2 and all(type(v) is int for v in key)):
                return self._bad(conn, "malformed snapshot ack")
            link = self.links.get(conn.peer_id)
            if link is not None:
                link.snapshot_received((key[0], key[1]))
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
        self.limiter.log(logging.WARNING, ("bad", conn.peer_id), "node %d: dropped a frame "
                         "from %s: %s", self.id, conn.peername(), why)

    # -- incoming snapshots -----------------------------------------------------------
    def _on_chunk(self, conn: Conn, peer: NodeId, body: bytes) -> None:
        cur = self.incoming.get(peer)
        if cur is not None and cur.conn is not conn:
            self._drop_incoming(peer, "the peer reconnected")  # a new stream
            cur = None
        if cur is None:
            cur = _Incoming(conn, SnapshotAssembler(self.max_snapshot_bytes))
        if cur.timer is not None:
            cur.timer.cancel()
            cur.timer = None
        asm = cur.asm
        try:
            m = asm.feed(body)
        except CodecError as e:
            self.incoming.pop(peer, None)
            return self._bad(conn, f"snapshot refused: {e}")
        if asm.chunks == 1:
            cur.started = time.monotonic()
        if m is None:
            cur.timer = asyncio.get_running_loop().call_later(
                SNAP_IDLE_S, self._drop_incoming, peer, "no chunk for %.0f s" % SNAP_IDLE_S)
            self.incoming[peer] = cur
            return
        self.incoming.pop(peer, None)
        if m.src != peer or m.dst != self.id:
            return self._bad(conn, f"snapshot {m.src}->{m.dst} on the link from {peer}")
        self.snaps_received += 1
        assert m.snapshot is not None
        link = self.links.get(peer)
        if link is not None:  # "I have it all": the sender holds back its resends
            link.send(frame(FrameKind.SNAP_ACK, encode_value([m.snapshot.index, m.snapshot.term])))
            link.flush()
        log.info("node %d: received snapshot %d (%d bytes) from %d in %.2f s", self.id,
                 m.snapshot.index, len(m.snapshot.data), peer, time.monotonic() - cur.started)
        self.on_message(m)

    def _drop_incoming(self, peer: NodeId, why: str = "closing") -> None:
        cur = self.incoming.pop(peer, None)
        if cur is None:
            return
        if cur.timer is not None:
            cur.timer.cancel()
        if cur.asm.active and why != "closing":
            self.limiter.log(logging.WARNING, ("drop-snap", peer), "node %d: dropped an "
                             "incomplete snapshot from %d (%d of %d bytes): %s", self.id,
                             peer, cur.asm.received, cur.asm.total, why)
        cur.asm.reset()


class _Incoming:
    """A snapshot on its way in from one peer."""

    __slots__ = ("conn", "asm", "timer", "started")

    def __init__(self, conn: Conn, asm: SnapshotAssembler) -> None:
        self.conn, self.asm = conn, asm
        self.timer: asyncio.TimerHandle | None = None
        self.started = time.monotonic()
