"""The Raft shell of a manager node: `RaftServer` plus what a swarm needs of it.

Adds to the plain server (`swarmlab.raft.shell.server`): in-process proposals,
membership that grows as managers join (peers learned at run time), compaction
driven by the control thread, leadership transfer, the lab's firewall (a
partitioned node's Raft traffic is dropped both ways), and mutual TLS: managers
dial and accept only with certificates of the swarm's CA, the peer's must be a
manager's, and the Raft id in its HELLO must be the one of the certificate's node
ID (a manager cannot speak for another).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from typing import Any, Callable

from ..raft.shell.codec import CodecError, FrameKind, decode_value
from ..raft.core import RaftNode
from ..raft.messages import ConfChange, Message, NodeId
from ..raft.shell.server import RaftServer
from ..raft.trace import TraceRecorder
from ..ca import PermissionDenied, peer_identity, require_manager, role_hostname
from ..raft.shell.conn import Address, Conn
from ..raft.shell.transport import PeerLink, Transport
from .security import NOT_A_MANAGER, RAFT_REMOVED

log = logging.getLogger("swarmlab.node.raft")

TRACE_LIMIT = 20_000  # events kept per manager for `lab.trace()` and the notebooks


def raft_id_of(node_id: str) -> int:
    """A stable, non-zero Raft id for a swarm node id (31 bits: the wire format's range)."""
    return (int(hashlib.sha256(node_id.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF) or 1


class TLSPeerLink(PeerLink):
    """A dialed Raft link over mutual TLS; the peer must present a manager certificate
    (it is dialed by the name `swarm-manager`, a SAN of manager certificates only)."""

    client_context: Callable[[], ssl.SSLContext]

    async def _connect(self, **options: Any) -> Conn:
        return await super()._connect(ssl=self.client_context(),
                                      server_hostname=role_hostname("manager"), **options)


class SwarmTransport(Transport):
    blocked: Callable[[str], bool] | None = None
    security: Any = None  # NodeSecurity: certificates and TLS contexts

    def use_tls(self, security: Any) -> None:
        self.security = security
        for peer, link in list(self.links.items()):
            self.links[peer] = self._link(peer, link.addr)

    def _link(self, peer: NodeId, addr: Address) -> PeerLink:
        if self.security is None:
            return self._configure(PeerLink(self.id, peer, addr, self.addr[0]))
        link = TLSPeerLink(self.id, peer, addr, self.addr[0])
        link.client_context = self.security.client_context
        return self._configure(link)

    async def start(self) -> None:
        if self.security is None:
            return await super().start()
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self._accept, *self.addr, reuse_address=True,
            ssl=self.security.raft_server_context())
        for link in self.links.values():
            link.task = asyncio.create_task(link.run())

    async def reload_tls(self) -> None:
        """A renewed certificate: listen again with it (open connections stay up)."""
        if self.security is None or self.server is None:
            return
        self.server.close()
        self.server = await asyncio.get_running_loop().create_server(
            self._accept, *self.addr, reuse_address=True,
            ssl=self.security.raft_server_context())

    def _authorize(self, conn: Conn, hello: Any) -> bool:
        """The peer's certificate must be a manager's of this swarm, and (for a HELLO)
        its node ID the one whose Raft id the HELLO claims."""
        if self.security is None:
            return True
        try:
            ident = peer_identity(conn.transport, organization=self.security.cluster_id)
            node_id = require_manager(ident)
            if hello is None:  # a client request: a manager of the store's only
                self.security.check_manager(node_id)
            elif raft_id_of(node_id) != hello:
                raise PermissionDenied(f"Permission denied: the remote certificate is node "
                                       f"{node_id}'s, not Raft member {hello}'s")
            self._check_member(node_id)
            conn.swarm_node_id = node_id  # type: ignore[attr-defined]
        except PermissionDenied as e:
            log.warning("node %d: refused %s: %s", self.id, conn.peername(), e)
            self.bad_frames += 1
            conn.close()
            return False
        return True

    def _check_member(self, node_id: str) -> None:
        """A removed node (swarmkit's ErrIDRemoved), or one demoted and out of the Raft
        membership, may not speak Raft, whatever its certificate says."""
        if not self.security.may_speak_raft(node_id):
            roster = self.security.roster
            raise PermissionDenied(RAFT_REMOVED if node_id in roster.removed
                                   else NOT_A_MANAGER.format(node_id))

    def _is_blocked(self, host: str | None) -> bool:
        return bool(host and self.blocked and self.blocked(host))

    def add_peer(self, peer: NodeId, addr: Address) -> None:
        if peer == self.id or (peer in self.links and self.links[peer].addr == addr):
            return
        old = self.links.pop(peer, None)
        if old:
            old.cancel()
        link = self._link(peer, addr)
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
        if conn.peer_id is None and kind is not FrameKind.HELLO \
                and not self._authorize(conn, None):
            return  # a client request: from managers only
        node_id = getattr(conn, "swarm_node_id", None)
        if conn.peer_id is not None and node_id is not None and self.security is not None \
                and not self.security.may_speak_raft(node_id):
            # removed (or demoted out of Raft) since it said HELLO: hang up on it
            log.warning("node %d: refused %s: %s", self.id, conn.peername(), RAFT_REMOVED
                        if node_id in self.security.roster.removed else "not a manager")
            self.bad_frames += 1
            conn.close()
            return
        if kind is FrameKind.HELLO and conn.peer_id is None:
            try:
                peer = decode_value(body)
            except CodecError:
                peer = None
            if not self._authorize(conn, peer):
                return
            if type(peer) is int and peer != self.id and peer not in self.links:
                conn.peer_id = peer  # a manager that joined before we learned its address
                return
        super()._on_frame(conn, kind, body)


class SwarmRaftServer(RaftServer):
    def __init__(self, *args: Any, security: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        t = self.transport
        self.transport = SwarmTransport(t.id, dict(self.peers), self._on_message, self._on_client,
                                        **self.transport_options)
        if security is not None:
            self.transport.use_tls(security)

    async def start(self, bootstrap: bool = False) -> None:  # type: ignore[override]
        """Like RaftServer.start, but a fresh node bootstraps alone (`swarm init`) or
        with no voters at all (`swarm join`: it learns them from the leader's log)."""
        loop = asyncio.get_running_loop()
        state = await loop.run_in_executor(self._io, self.storage.load)
        if state is not None:
            self._saved_tv = (state.hard_state.term, state.hard_state.vote)
            if state.snapshot.data:
                self.sm.restore(state.snapshot)
        cfg = self.config()
        voters = (self.id,) if bootstrap else ()
        self.trace = TraceRecorder(time.time, limit=TRACE_LIMIT)
        self.node = RaftNode(cfg, self.rng, state, peers=voters, tracer=self.trace)
        await self.transport.start()
        self._tasks = [asyncio.create_task(self._ticker()), asyncio.create_task(self._run())]

    def campaign(self) -> None:
        self.node.campaign()
        self._wake.set()

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
