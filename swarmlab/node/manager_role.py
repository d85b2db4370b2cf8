"""A node's manager role: Raft + the replicated store + the control plane.

Theory of operation: the Raft shell (`swarmlab.raft.shell.server.RaftServer`) runs on
the node's event loop and hands committed entries to the control thread, which
applies them to the `MemoryStore`; the `Manager` (API operations and, on the
leader, the reconcile loop) runs on the control thread and writes through a
`RaftProposer`. Raft peers are the managers' swarm addresses, learned from the
store (every Node object carries its address) and, for a joining manager, from
the join answer. Membership changes requested by the control plane (promote,
demote) become Raft conf changes here, one at a time.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import random
import time
from typing import Any, Callable

from ..clock import WallClock
from ..objects import NodeRole
from ..manager import Manager, quorum_after_removal
from ..raft.core import NotLeader
from ..crypto import KeyManager, open_encrypted
from ..raft.shell.file_storage import FileStorage
from ..raft.messages import ConfChange, ConfChangeType, Role
from ..raft.trace import TraceEvent
from ..profiles import TimingProfile
from ..store import MemoryStore, StoreMachine
from .control import ControlThread, RaftProposer
from .manager_raft import SwarmRaftServer, raft_id_of
from .security import roster_of

log = logging.getLogger("swarmlab.node.manager")

SNAPSHOT_EVERY = 500  # applied entries between store snapshots (log compaction)
# The leader's reconcile loop, whatever the Raft profile: swarmkit's orchestrators,
# scheduler and dispatcher react to store events within ~100 ms (its batching intervals),
# not on Raft ticks (1 s with Docker's timings). A tick that wrote (or had to wait for its
# own write) runs again as soon as that write is applied: the next reconciler in a chain
# (orchestrator -> scheduler, a stopped task -> its replacement started) goes on at once.
# Agents' status reports are queued by the dispatcher and committed by the next tick; a
# report wakes the loop, so a stopped or running task reaches the store at once rather
# than up to a period later.
RECONCILE_PERIOD_S = 0.1
MEMBERSHIP_WAIT_S = 5.0


class Pulse:
    """Wakes every waiter at the next `fire()`. A waiter takes `current()` before it reads
    what it waits on, so a change in between is never missed (at worst it wakes once
    for nothing)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()


class ManagerRole:
    def __init__(self, node_id: str, hostname: str, swarm_addr: tuple[str, int],
                 state_dir: pathlib.Path, profile: TimingProfile,
                 peers: dict[int, tuple[str, int]] | None = None,
                 blocked: Callable[[str], bool] | None = None,
                 keys: KeyManager | None = None, security: Any = None) -> None:
        """`keys` opens the encrypted Raft log; raises SwarmLocked while it is locked.
        `security` (NodeSecurity) puts Raft on mutual TLS."""
        self.node_id = node_id
        self.security = security
        self.hostname = hostname
        self.raft_id = raft_id_of(node_id)
        self.swarm_addr = swarm_addr
        self.profile = profile
        self.loop = asyncio.get_running_loop()
        self.store = MemoryStore(proposer=None, clock=WallClock(), name=hostname)
        self.control = ControlThread(self.store, name=f"control-{hostname}")
        self.store.proposer = RaftProposer(self.control, self.loop, self._propose)
        self.control.on_applied = self._after_apply
        self._kicked = asyncio.Event()
        self.changes = Pulse()  # the store changed (every applied batch; loop thread)
        self.control_plane = Manager(self.store, WallClock(), random.SystemRandom(),
                                     node_id=node_id, membership=_Membership(self),
                                     profile=profile, is_leader=self.is_leader)
        self.control_plane.dispatcher.batch_status = True  # heartbeats never wait for Raft
        all_peers = dict(peers or {})
        all_peers[self.raft_id] = swarm_addr
        # The Raft log and snapshots are encrypted at rest (docs/security.md)
        self.keys = keys or KeyManager(state_dir)
        if not self.keys.exists():
            self.keys.create(autolock=False)
        storage = open_encrypted(FileStorage(str(state_dir / "raft")), self.keys)
        self.raft = SwarmRaftServer(self.raft_id, all_peers, storage, profile,
                               state_machine=StoreMachine(self.store, thread=self.control),
                               security=security)
        self.raft.transport.blocked = blocked
        self.addresses: dict[int, tuple[str, int]] = dict(all_peers)  # raft id -> swarm addr
        self.ready_members: dict[int, tuple[str, int]] = {}  # asked to join Raft (leader)
        self._last_snapshot = 0
        self._tick_task: asyncio.Task | None = None
        self._join_task: asyncio.Task | None = None
        # swarmkit's lostQuorumTimeout: a manager without a leader for longer than the
        # longest election timeout (at least 2 s: a new manager learns the leader within
        # about 0.5 s on a loaded machine) answers "no leader" at once; before, it waits
        self.lost_quorum_s = max(2.0, profile.election_timeout_ms[1] / 1000)
        self.confirmed_member = False  # the leader's store has listed it as a Raft member

    async def start(self, bootstrap: bool, join_via: Callable[[], list[str]] | None = None) -> None:
        """Start Raft. A bootstrapping manager is the only voter; a joining one asks the
        leader (through `join_via()`'s manager API URLs) to add it, and learns the voters
        from the leader's log."""
        await self.raft.start(bootstrap=bootstrap)
        self._tick_task = asyncio.create_task(self._reconcile_loop())
        if not bootstrap and join_via is not None:
            self._join_task = asyncio.create_task(self._join_loop(join_via))

    async def _join_loop(self, urls: Callable[[], list[str]]) -> None:
        from aiohttp import ClientSession, ClientTimeout
        body = {"RaftID": self.raft_id, "NodeID": self.node_id,
                "Addr": f"{self.swarm_addr[0]}:{self.swarm_addr[1]}"}
        async with ClientSession(timeout=ClientTimeout(total=3)) as http:
            while self.raft.node is not None and self.raft_id not in self.raft.node.voters:
                for url in urls():
                    try:
                        async with http.post(url + "/swarmlab/raft/join", json=body,
                                             **self._tls()) as r:
                            if r.status == 200 and (await r.json()).get("Voter"):
                                break
                    except Exception:  # noqa: BLE001 - try the next manager
                        continue
                await asyncio.sleep(0.2)

    def _tls(self) -> dict[str, Any]:
        """aiohttp arguments to call another manager's internal API over mutual TLS."""
        if self.security is None:
            return {}
        return {"ssl": self.security.client_context(), "server_hostname": "swarm-manager"}

    async def close(self) -> None:
        for t in (self._tick_task, self._join_task):
            if t:
                t.cancel()
        await self.raft.close()
        self.control.close()

    # -- raft --------------------------------------------------------------------------
    def is_leader(self) -> bool:
        node = self.raft.node
        return node is not None and node.role is Role.LEADER

    async def lead_alone(self, timeout: float) -> bool:
        """The only voter campaigns at once (no election timeout to wait): whether it leads
        within `timeout`."""
        self.raft.campaign()
        deadline = time.monotonic() + timeout
        while not self.is_leader():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def leader_raft_id(self) -> int:
        return self.raft.node.leader if self.raft.node else 0

    async def wait_for_leader(self, known: Callable[[], bool]) -> None:
        """Wait until `known()` (the leader and its address are known), as swarmkit's
        LeaderConn does: a manager just promoted, or one during an election, has no leader
        for a moment (a new manager starts without one). Gives up once it has been without
        a leader for `lost_quorum_s`, or after that long if the leader's address is unknown."""
        deadline = (self.raft.leaderless_since or time.monotonic()) + self.lost_quorum_s
        while not known():
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)

    def _propose(self, data: bytes) -> tuple[int, int]:
        return self.raft.propose(data)

    def status(self) -> dict[str, Any]:
        n = self.raft.node
        assert n is not None
        return {"State": {"pre-candidate": "candidate"}.get(n.role.value, n.role.value),
                "Term": n.term, "Commit": n.log.committed, "Applied": self.control.applied_index,
                "LastIndex": n.log.last_index(), "LeaderRaftID": n.leader,
                "Voters": list(n.voters)}

    @staticmethod
    def raft_id_of(node_id: str) -> int:
        """A swarm node's Raft id (the Engine API names Raft's members by their nodes)."""
        return raft_id_of(node_id)

    def trace_events(self) -> list[TraceEvent]:
        """This manager's recorded Raft events, oldest first."""
        return list(self.raft.trace.events)

    def reachable(self) -> set[int]:
        """Raft ids the leader heard from recently (all voters when not leading)."""
        n = self.raft.node
        if n is None or n.role is not Role.LEADER:
            return set(n.voters) if n else set()
        return {v for v, pr in n.prs.items() if v == n.id or pr.recent_active
                or pr.match >= n.log.committed}

    # -- after each applied batch (control thread) --------------------------------------
    def _after_apply(self) -> None:
        view = self.store.view()
        if self.security is not None:  # who is removed, who is a manager: for every port
            self.security.roster = roster_of(view)
        for node in view.nodes():
            rid = raft_id_of(node.id)
            addr = node.status.addr or (node.manager_status.addr if node.manager_status else "")
            if node.spec.role == NodeRole.MANAGER or node.manager_status is not None:
                if addr and rid not in self.addresses:
                    host, _, port = addr.rpartition(":")
                    a = (host, int(port))
                    self.addresses[rid] = a
                    self.loop.call_soon_threadsafe(self.raft.add_peer, rid, a)
        self.loop.call_soon_threadsafe(self.changes.fire)
        applied = self.control.applied_index
        if applied - self._last_snapshot >= SNAPSHOT_EVERY:
            data = self.store.snapshot()
            self._last_snapshot = applied
            self.loop.call_soon_threadsafe(self.raft.compact, applied, data)

    # -- the leader's reconcile loop ----------------------------------------------------
    def kick(self) -> None:
        """Reports were queued: tick now (flush them) instead of at the next period."""
        self._kicked.set()

    async def _reconcile_loop(self) -> None:
        more = False  # the last tick wrote: its follow-up may be due once that is applied
        applied = self.changes.current()
        while True:
            wake = applied if more else self._kicked
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), RECONCILE_PERIOD_S)
            applied = self.changes.current()  # what is applied from now on wakes the next
            self._kicked.clear()
            more = False
            if not self.is_leader():
                continue
            try:
                report = await self.control.call(self.control_plane.tick)
                more = bool(report.waiting or report.writes)
            except Exception:  # noqa: BLE001 - the loop must survive any one tick
                log.exception("reconcile tick failed")


class _Membership:
    """The control plane's membership requests as Raft conf changes (control thread)."""

    def __init__(self, role: ManagerRole) -> None:
        self.role = role

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()
        return asyncio.run_coroutine_threadsafe(run(), self.role.loop).result(MEMBERSHIP_WAIT_S)

    def _change(self, kind: ConfChangeType, node_id: str) -> None:
        rid = raft_id_of(node_id)
        node = self.role.raft.node
        want_in = kind is ConfChangeType.ADD_NODE
        if node is None or (rid in node.voters) == want_in:
            return
        if node.role is not Role.LEADER:
            raise NotLeader(node.leader)
        self._on_loop(lambda: self.role.raft.propose_conf_change(ConfChange(kind, rid)))
        deadline = time.monotonic() + MEMBERSHIP_WAIT_S
        while (rid in node.voters) != want_in:  # committed changes take effect at commit
            if time.monotonic() > deadline:
                raise TimeoutError(f"membership change for {node_id} not committed")
            time.sleep(0.01)

    def add_manager(self, node_id: str) -> None:
        if raft_id_of(node_id) not in self.role.ready_members:
            # not running Raft yet: adding it now would count a voter that cannot vote
            raise RuntimeError(f"{node_id} has not asked to join Raft yet")
        self._change(ConfChangeType.ADD_NODE, node_id)

    def remove_manager(self, node_id: str) -> None:
        self._change(ConfChangeType.REMOVE_NODE, node_id)
        # promoted again, it is added back only once it asks again, with a fresh log
        self.role.ready_members.pop(raft_id_of(node_id), None)

    def transfer_leadership(self, to_node_id: str) -> None:
        rid = raft_id_of(to_node_id)
        self._on_loop(lambda: self.role.raft.transfer_leadership(rid))

    def can_remove(self, node_id: str, reachable: set[str]) -> bool:
        node = self.role.raft.node
        if node is None:
            return False
        by_rid = {raft_id_of(n): n for n in reachable}
        members = {str(v) for v in node.voters}
        live = {str(v) for v in self.role.reachable()} | {str(r) for r in by_rid}
        return quorum_after_removal(members, live & members, str(raft_id_of(node_id)))
