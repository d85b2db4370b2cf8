"""A manager process: one RaftNode driven by real time, TCP and a disk.

Theory of operation (the thin shell around the pure core, as etcd's `raft.Node`):
- A ticker calls `node.tick()` every `profile.tick_ms`; frames from peers are
  stepped into the node as they arrive; client writes are proposed at once.
- One loop drains `node.ready()`: persist (in a single storage thread, so the
  event loop keeps stepping messages and taking proposals while the disk
  syncs; they all go out in the next Ready, one fsync for many entries), send,
  apply, `advance()`. A commit-index-only change is not synced on its own: it
  rides along with the next write (the commit index is volatile state in the
  paper; a restarted node relearns it).
- A client write is answered only after its entry is applied, with its index,
  and only if the applied entry has the term it was proposed in (otherwise a
  new leader overwrote it and the client must retry).
- The state machine is pluggable (`raft.fsm.StateMachine`); after each Ready the
  server asks it for a snapshot and compacts the log to the index it answers (the
  default `AppendLog` offers one every `snapshot_every` applied entries).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import random
import time
from typing import Any

from .codec import MAX_FRAME_BYTES, MAX_SNAPSHOT_BYTES, FrameKind, decode_value, encode_value, frame
from ..core import Config, NotLeader, ProposalDropped, RaftNode
from ..fsm import StateMachine
from ..messages import Entry, EntryType, HardState, Message, MessageType, NodeId, Ready, Snapshot
from ...profiles import LAB, TimingProfile, profile as get_profile
from ..storage import MemoryStorage, Storage
from .conn import Address, Conn, LogLimiter
from .transport import Transport

log = logging.getLogger("swarmlab.raft.shell.server")


class AppendLog:
    """The simplest state machine: every applied command, by index; a snapshot every
    `snapshot_every` applied entries (0: never)."""

    def __init__(self, snapshot_every: int = 0) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.snapshot_every = snapshot_every
        self.index = 0  # the last entry applied
        self._snapshot_index = 0  # what the last snapshot covers

    def apply(self, entry: Entry) -> None:
        self.index = entry.index
        if entry.type is EntryType.NORMAL and entry.data:
            self.items.append((entry.index, entry.data))

    def snapshot(self) -> tuple[int, bytes] | None:
        if not self.snapshot_every or self.index - self._snapshot_index < self.snapshot_every:
            return None
        self._snapshot_index = self.index
        return self.index, encode_value([[i, d] for i, d in self.items])

    def restore(self, snapshot: Snapshot) -> None:
        data = snapshot.data
        self.items = [(i, d) for i, d in decode_value(data)] if data else []
        self.index = self._snapshot_index = snapshot.index

    def read(self, lo: int, hi: int) -> list[list[Any]]:
        import bisect
        start = bisect.bisect_left(self.items, (lo, b""))
        out = []
        for i, d in self.items[start:]:
            if i > hi:
                break
            out.append([i, d])
        return out


class RaftServer:
    def __init__(self, node_id: NodeId, peers: dict[NodeId, Address], storage: Storage,
                 profile: TimingProfile = LAB, state_machine: StateMachine | None = None,
                 snapshot_every: int = 0, seed: int | None = None,
                 max_frame_bytes: int = MAX_FRAME_BYTES,
                 max_snapshot_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self.id = node_id
        self.peers = peers
        self.storage = storage
        self.profile = profile
        if state_machine is not None and snapshot_every:
            raise ValueError("snapshot_every is the default AppendLog's: a state machine "
                             "of one's own decides when to snapshot")
        self.sm = state_machine if state_machine is not None else AppendLog(snapshot_every)
        self.rng = random.Random(seed)
        self.pending: dict[int, tuple[Conn, int, int]] = {}  # index -> (conn, req id, term)
        self._answers: dict[Conn, list] = {}
        self._unsaved_hs: HardState | None = None
        self._saved_tv = (0, 0)  # term and vote as last made durable
        self._persisting = False
        self._wake = asyncio.Event()
        self._inline_storage = not getattr(storage, "sync", True) or isinstance(storage, MemoryStorage)
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"raft{node_id}-disk")
        self._tasks: list[asyncio.Task] = []
        #: what the transport is made with (a subclass that makes its own passes them on)
        self.transport_options = dict(max_frame_bytes=max_frame_bytes,
                                      max_snapshot_bytes=max_snapshot_bytes)
        self.transport = Transport(node_id, peers, self._on_message, self._on_client,
                                   **self.transport_options)
        self._limiter = LogLimiter(log)
        self.node: RaftNode | None = None
        #: since when this node has known no leader (monotonic); None while it knows one
        self.leaderless_since: float | None = time.monotonic()

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        state = await loop.run_in_executor(self._io, self.storage.load)
        if state is not None:
            self._saved_tv = (state.hard_state.term, state.hard_state.vote)
            if state.snapshot.data:
                self.sm.restore(state.snapshot)
        p = self.profile
        self.node = RaftNode(self.config(), self.rng, state, peers=tuple(sorted(self.peers)))
        await self.transport.start()
        self._tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._run())]
        log.info("node %d: listening on %s:%d (%s profile, %s)", self.id, *self.transport.addr,
                 p.name, "restarted" if state else "fresh")

    def config(self) -> Config:
        """The core's configuration: the profile's timing, and appends that fit a frame
        (a quarter of it, room for the entries' framing; 1 MiB at most, as etcd's)."""
        p = self.profile
        cfg = Config(self.id, election_tick=p.election_tick, heartbeat_tick=p.heartbeat_tick)
        return dataclasses.replace(cfg, max_msg_bytes=min(
            cfg.max_msg_bytes, self.transport_options["max_frame_bytes"] // 4))

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.transport.close()
        await asyncio.get_running_loop().run_in_executor(self._io, self.storage.close)
        self._io.shutdown(wait=True)

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.close()

    # -- input ------------------------------------------------------------------------
    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.profile.tick_ms / 1000
        due = loop.time()
        while True:
            due += period
            late = loop.time() - due
            if late > period:
                # The process was starved (a loaded machine): drop the missed ticks rather
                # than burst them, which would time out elections before the peers' messages
                # that are waiting in the socket buffers are read.
                due += late
            await asyncio.sleep(max(0.0, due - loop.time()))
            self.node.tick()
            self._wake.set()
            if self._persisting:
                self._send_heartbeats_now()

    def _on_message(self, m: Message) -> None:
        self.node.step(m)
        self._wake.set()
        if self._persisting and m.type is MessageType.HEARTBEAT:
            self._send_heartbeats_now()

    def _send_heartbeats_now(self) -> None:
        """While the disk holds the Ready loop, let heartbeats and their answers through,
        or a slow fsync would look like a dead leader (and a leader would think its
        followers dead). They carry only the term (and a commit index every follower
        already has), so they may leave as soon as the term and vote are durable."""
        node = self.node
        if (node.term, node.vote) != self._saved_tv:
            return
        urgent = [m for m in node.msgs if m.type in _URGENT]
        if urgent:
            node.msgs = [m for m in node.msgs if m.type not in _URGENT]
            self.transport.send(urgent)
            self.transport.flush()

    def _on_client(self, conn: Conn, reqs: Any) -> None:
        if type(reqs) is not list:
            return self._answer(conn, [[0, False, {"error": "requests must be an array"}]])
        out = []
        propose, pending = self.node.propose, self.pending
        for req in reqs:
            if type(req) is not list or len(req) != 3 or type(req[0]) is not int:
                out.append([0, False, {"error": "malformed request"}])
                continue
            rid, op, arg = req
            if op == "put" and type(arg) is bytes:  # the hot path, inline
                try:
                    index, term = propose(arg)
                except (NotLeader, ProposalDropped) as e:
                    out.append([rid, False, self._refusal(e)])
                    continue
                if index in pending:  # proposed in an earlier term, overwritten since
                    old_conn, old_rid, _ = pending[index]
                    self._answer(old_conn, [[old_rid, False, {"error": _LOST}]])
                pending[index] = (conn, rid, term)
                continue
            handler = _OPS.get(op)
            if handler is None:
                out.append([rid, False, {"error": f"unknown op {op!r}"}])
            else:
                out.append(handler(self, conn, rid, arg))
        if out:
            self._answer(conn, out)
        self._wake.set()

    def _refusal(self, e: Exception) -> dict:
        if isinstance(e, NotLeader):
            return {"error": "not leader", "leader": e.leader,
                    "leader_address": self._address(e.leader)}
        return {"error": str(e)}

    def _op_put(self, conn: Conn, rid: int, data: Any) -> list:
        return [rid, False, {"error": "put takes bytes"}]  # bytes take the hot path

    def _op_status(self, conn: Conn, rid: int, arg: Any) -> list:
        st = self.node.status()
        st["address"] = "%s:%d" % self.transport.addr
        st["leader_address"] = self._address(st["leader"])
        st["pending"] = len(self.pending)
        return [rid, True, st]

    def _op_read(self, conn: Conn, rid: int, arg: Any) -> list:
        if not (type(arg) is list and len(arg) == 2 and all(type(x) is int for x in arg)):
            return [rid, False, {"error": "read takes [lo, hi]"}]
        if not hasattr(self.sm, "read"):
            return [rid, False, {"error": "this state machine cannot be read"}]
        return [rid, True, self.sm.read(arg[0], arg[1])]

    def _address(self, nid: NodeId) -> str | None:
        return "%s:%d" % self.peers[nid] if nid in self.peers else None

    def _answer(self, conn: Conn, answers: list) -> None:
        conn.write(frame(FrameKind.CLIENT_RESP, encode_value(answers)))

    # -- the Ready loop ---------------------------------------------------------------
    async def _run(self) -> None:
        node = self.node
        while True:
            await self._wake.wait()
            self._wake.clear()
            while node.has_ready():
                await self._handle_ready(node.ready())

    async def _handle_ready(self, rd: Ready) -> None:
        if rd.entries and self.pending:
            self._fail_overwritten(rd.entries[0].index)
        await self._persist(rd)
        self.transport.send(rd.messages)
        self.transport.flush()
        if rd.snapshot is not None and rd.snapshot.index > 0:
            self.sm.restore(rd.snapshot)
        self._apply(rd.committed_entries)
        self.node.advance(rd)
        if rd.soft_state is not None:
            log.info("node %d: %s, term %d, leader %d", self.id, rd.soft_state.role.value,
                     self.node.term, rd.soft_state.leader)
            self.leaderless_since = None if rd.soft_state.leader else \
                self.leaderless_since or time.monotonic()
        await self._maybe_snapshot()

    async def _persist(self, rd: Ready) -> None:
        hs = rd.hard_state
        if hs is not None:
            self._unsaved_hs = hs
        tv_changed = hs is not None and (hs.term, hs.vote) != self._saved_tv
        if not (rd.entries or rd.snapshot is not None or tv_changed):
            return  # only the commit index moved: it rides with the next write
        hs, self._unsaved_hs = self._unsaved_hs, None
        t0 = time.perf_counter()
        self._persisting = True
        try:
            await self._disk(self.storage.save, hs, rd.entries, rd.snapshot)
        finally:
            self._persisting = False
        took = time.perf_counter() - t0
        if took > self.profile.tick_ms / 1000:
            self._limiter.log(logging.WARNING, "slow disk", "node %d: slow disk: saving %d "
                              "entries took %.0f ms", self.id, len(rd.entries), took * 1000)
        if hs is not None:
            self._saved_tv = (hs.term, hs.vote)

    def _fail_overwritten(self, first: int) -> None:
        """A new leader replaced our log from `first` on: the writes we proposed there
        are gone (their index now holds another entry, or nothing yet). Say so now,
        rather than when (if ever) the new log grows that far."""
        log_, lost = self.node.log, {}
        for index in [i for i in self.pending if i >= first]:
            conn, rid, term = self.pending[index]
            if not log_.match_term(index, term):
                del self.pending[index]
                lost.setdefault(conn, []).append([rid, False, {"error": _LOST}])
        for conn, answers in lost.items():
            self._answer(conn, answers)

    def _apply(self, entries: list[Entry]) -> None:
        on_apply, pending = self.sm.apply, self.pending
        if not pending:
            for e in entries:
                on_apply(e)
            return
        answers = self._answers
        for e in entries:
            on_apply(e)
            waiter = pending.pop(e.index, None)
            if waiter is not None:
                conn, rid, term = waiter
                answers.setdefault(conn, []).append(
                    [rid, True, e.index] if e.term == term else
                    [rid, False, {"error": _LOST, "index": e.index}])
        for conn, out in answers.items():
            self._answer(conn, out)
        answers.clear()

    async def _maybe_snapshot(self) -> None:
        snap = self.sm.snapshot()
        if snap is None:
            return
        self.node.compact(*snap)
        await self._disk(self.storage.compact, self.node.log.snapshot)

    async def _disk(self, fn: Any, *args: Any) -> None:
        """Storage that never blocks (memory, or files without fsync) runs inline: a
        thread round trip costs more than the work. Otherwise the disk thread does it."""
        if self._inline_storage:
            fn(*args)
        else:
            await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)


_URGENT = (MessageType.HEARTBEAT, MessageType.HEARTBEAT_RESP)
_LOST = "entry lost to a new leader; retry"
_OPS = {"put": RaftServer._op_put, "status": RaftServer._op_status, "read": RaftServer._op_read}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import os
    import sys
    from .file_storage import FileStorage
    from .conn import parse_peers

    ap = argparse.ArgumentParser(prog="python -m swarmlab.raft.shell.server",
                                 description="Run one Raft manager process.")
    ap.add_argument("--id", type=int, required=True)
    ap.add_argument("--peers", required=True, help="1=127.0.0.1:7001,2=127.0.0.2:7002,...")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--storage", choices=("file", "memory"), default="file")
    ap.add_argument("--no-fsync", action="store_true",
                    help="file storage survives kill -9 but not power loss (no fsync)")
    ap.add_argument("--profile", choices=("lab", "swarm"), default="lab")
    ap.add_argument("--snapshot-every", type=int, default=0, metavar="N")
    ap.add_argument("--max-frame-bytes", type=int, default=MAX_FRAME_BYTES, metavar="N",
                    help="the wire's frame limit (the same on every manager); snapshots "
                         "travel in chunks of 1 MiB or half of it, the smaller")
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format=f"%(asctime)s n{args.id} %(name)s %(levelname)s %(message)s")
    peers = parse_peers(args.peers)
    if args.storage == "file":
        storage: Storage = FileStorage(args.data_dir or os.path.join("raft-data", str(args.id)),
                                       sync=not args.no_fsync)
    else:
        storage = MemoryStorage()
    # The disk thread needs the GIL briefly around each fsync; the default 5 ms
    # switch interval would add up to 10 ms to every write while the loop is busy.
    sys.setswitchinterval(0.0005)
    server = RaftServer(args.id, peers, storage, get_profile(args.profile),
                        snapshot_every=args.snapshot_every, max_frame_bytes=args.max_frame_bytes)
    try:
        asyncio.run(server.serve_forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
