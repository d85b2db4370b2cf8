"""The Raft shell of a manager node: `RaftServer` plus what a swarm needs of it.

Adds to the plain server (`swarmlab.raft.server`): in-process proposals,
membership that grows as managers join (peers learned at run time), compaction
driven by the control thread, leadership transfer, and the lab's firewall (a
partitioned node's Raft traffic is dropped both ways).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

from ..raft.codec import CodecError, FrameKind, decode_value
from ..raft.core import Config, RaftNode
from ..raft.messages import ConfChange, Message, NodeId
from ..raft.server import RaftServer
from ..raft.trace import TraceRecorder
from ..raft.transport import Address, Conn, PeerLink, Transport

log = logging.getLogger("swarmlab.agent.raft")

TRACE_LIMIT = 20_000  # events kept per manager for `lab.trace()` and the notebooks


class SwarmTransport(Transport):
    blocked: Callable[[str], bool] | None = None

    def _is_blocked(self, host: str | None) -> bool:
        return bool(host and self.blocked and self.blocked(host))

    def add_peer(self, peer: NodeId, addr: Address) -> None:
        if peer == self.id or (peer in self.links and self.links[peer].addr == addr):
            return
        old = self.links.pop(peer, None)
        if old and old.task:
            old.task.cancel()
        link = PeerLink(self.id, peer, addr, self.addr[0])
        self.links[peer] = link
        if self.server is not None:
            link.task = asyncio.create_task(link.run())

    def send(self, msgs: list[Message]) -> None:
        if self.blocked:
            msgs = [m for m in msgs if m.dst not in self.links
                    or not self._is_blocked(self.links[m.dst].addr[0])]
        super().send(msgs)

    def _on_frame(self, conn: Conn, kind: FrameKind, body: bytes) -> None:
        peer_host = (conn.peername() or ("",))[0]
        if self._is_blocked(peer_host):
            return  # partitioned: as if the packet never arrived
        if kind is FrameKind.HELLO and conn.peer_id is None:
            try:
                peer = decode_value(body)
            except CodecError:
                peer = None
            if type(peer) is int and peer != self.id and peer not in self.links:
                conn.peer_id = peer  # a manager that joined before we learned its address
                return
        super()._on_frame(conn, kind, body)


class SwarmRaftServer(RaftServer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        t = self.transport
        self.transport = SwarmTransport(t.id, dict(self.peers), self._on_message, self._on_client)

    async def start(self, bootstrap: bool = False) -> None:  # type: ignore[override]
        """Like RaftServer.start, but a fresh node bootstraps alone (`swarm init`) or
        with no voters at all (`swarm join`: it learns them from the leader's log)."""
        loop = asyncio.get_running_loop()
        state = await loop.run_in_executor(self._io, self.storage.load)
        if state is not None:
            self._saved_tv = (state.hard_state.term, state.hard_state.vote)
            if state.snapshot.data:
                self.sm.restore(state.snapshot.data, state.snapshot.index)
        p = self.profile
        cfg = Config(self.id, election_tick=p.election_tick, heartbeat_tick=p.heartbeat_tick)
        voters = (self.id,) if bootstrap else ()
        self.trace = TraceRecorder(time.time, limit=TRACE_LIMIT)
        self.node = RaftNode(cfg, self.rng, state, peers=voters, tracer=self.trace)
        await self.transport.start()
        self._tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._run())]

    def propose(self, data: bytes) -> tuple[int, int]:
        r = self.node.propose(data)
        self._wake.set()
        return r

    def propose_conf_change(self, cc: ConfChange) -> tuple[int, int]:
        r = self.node.propose_conf_change(cc)
        self._wake.set()
        return r

    def transfer_leadership(self, target: NodeId) -> None:
        self.node.transfer_leadership(target)
        self._wake.set()

    def add_peer(self, peer: NodeId, addr: Address) -> None:
        self.peers[peer] = addr
        self.transport.add_peer(peer, addr)

    def compact(self, index: int, data: bytes) -> None:
        node = self.node
        if node is None or index <= node.log.snapshot.index or index > node.log.applied:
            return
        node.compact(index, data)
        asyncio.get_running_loop().run_in_executor(self._io, self.storage.compact,
                                                   node.log.snapshot)
