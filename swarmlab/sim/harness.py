"""A test harness shaped like MIT 6.5840's Raft tester (`config.go`), on virtual time.

Servers are numbered 0..n-1 (Raft ids 1..n). Commands are plain Python values,
stored as JSON. Indices seen by tests are *command* indices: our leaders append
an empty entry when elected (Raft §5.4.2, as etcd and Swarm do), which 6.5840's
tests do not expect, so the harness counts only command entries. With
`snapshots=True` each server compacts its log every 10 applied commands, with
the applied values as the snapshot, as 6.5840's `applierSnap` does.
"""
from __future__ import annotations

import json
from typing import Any

from ..raft.core import NotLeader, ProposalDropped
from ..raft.messages import Entry, EntryType, Role, Snapshot
from .cluster import RaftSimCluster, SimConfig

SNAPSHOT_INTERVAL = 10


class HarnessError(AssertionError):
    pass


class CommandLog:
    """One server's applied commands, indexed by command index (1-based)."""

    def __init__(self, harness: "RaftHarness", server: int) -> None:
        self.h = harness
        self.server = server
        self.values: list[Any] = []  # values[k-1] is command k
        self.raft_index = 0
        self.snapshot_due: tuple[int, bytes] | None = None

    def restore(self, snap: Snapshot) -> None:
        if snap.data:
            doc = json.loads(snap.data)
            self.values = doc["values"]
        else:
            self.values = []
        self.raft_index = snap.index

    def apply(self, e: Entry) -> None:
        self.raft_index = e.index
        if e.type is not EntryType.NORMAL or not e.data:
            return
        value = json.loads(e.data)
        self.values.append(value)
        self.h._applied(self.server, len(self.values), value)
        if self.h.snapshots and len(self.values) % SNAPSHOT_INTERVAL == 0:
            # entries are applied in batches: remember the point, compact after the batch
            self.snapshot_due = (e.index, json.dumps({"values": self.values}).encode())

    def snapshot(self) -> tuple[int, bytes] | None:
        due, self.snapshot_due = self.snapshot_due, None
        return due


class RaftHarness:
    election_timeout = 1.0  # 6.5840's RaftElectionTimeout

    def __init__(self, n: int, seed: int, reliable: bool = True, snapshots: bool = False,
                 trace: bool = False) -> None:
        self.n = n
        self.seed = seed
        self.snapshots = snapshots
        self.logs: dict[int, CommandLog] = {}
        cfg = SimConfig(tick_s=0.05, heartbeat_tick=2, election_tick=10, trace=trace)
        self.cluster = RaftSimCluster(n, seed, cfg, make_sm=self._make_log)
        self.cluster.net.reliable = reliable
        self.connected = [True] * n
        self.max_index = 0

    def _make_log(self, raft_id: int) -> CommandLog:
        log = CommandLog(self, raft_id - 1)
        self.logs[raft_id - 1] = log
        return log

    def _applied(self, server: int, index: int, value: Any) -> None:
        for j, log in self.logs.items():
            if j != server and index <= len(log.values) and log.values[index - 1] != value:
                raise HarnessError(
                    f"seed {self.seed}: commit index={index} server={server} {value!r} != "
                    f"server={j} {log.values[index - 1]!r}")
        self.max_index = max(self.max_index, index)

    # -- 6.5840's config API ----------------------------------------------------------
    def start(self, i: int, command: Any) -> tuple[int, int, bool]:
        s = self.cluster.servers[i + 1]
        node = s.node
        if node is None:
            return -1, -1, False
        try:
            raft_index, term = node.propose(json.dumps(command).encode())
        except (NotLeader, ProposalDropped):
            return -1, node.term, False
        index = self._command_index(i, raft_index)
        self.cluster._process(s)
        return index, term, True

    def _command_index(self, i: int, raft_index: int) -> int:
        """How many command entries the server's log has up to raft_index."""
        node = self.cluster.servers[i + 1].node
        assert node is not None
        snap = node.log.snapshot
        count = len(json.loads(snap.data)["values"]) if snap.data else 0
        for e in node.log.slice(snap.index + 1, raft_index + 1):
            if e.type is EntryType.NORMAL and e.data:
                count += 1
        return count

    def state(self, i: int) -> tuple[int, bool]:
        node = self.cluster.servers[i + 1].node
        if node is None:
            return 0, False
        return node.term, node.role is Role.LEADER

    def run_for(self, seconds: float) -> None:
        self.cluster.run_for(seconds)

    def disconnect(self, i: int) -> None:
        self.connected[i] = False
        self.cluster.net.disconnect(i + 1)

    def connect(self, i: int) -> None:
        self.connected[i] = True
        self.cluster.net.connect(i + 1)

    def crash(self, i: int) -> None:
        self.cluster.crash(i + 1)  # its applied log stays visible until it restarts

    def restart(self, i: int) -> None:
        if self.cluster.servers[i + 1].alive:
            self.crash(i)
        self.cluster.start(i + 1)

    def set_reliable(self, flag: bool) -> None:
        self.cluster.net.reliable = flag

    def set_long_reordering(self, flag: bool) -> None:
        self.cluster.net.long_reordering = flag

    def n_committed(self, index: int) -> tuple[int, Any]:
        count, value = 0, None
        for j, log in self.logs.items():
            if index <= len(log.values):
                v = log.values[index - 1]
                if count > 0 and v != value:
                    raise HarnessError(f"seed {self.seed}: committed values do not match: "
                                       f"index {index}, {value!r}, {v!r}")
                count += 1
                value = v
        return count, value

    def rpc_count(self, i: int) -> int:
        return self.cluster.net.stats.requests_to.get(i + 1, 0)

    def rpc_total(self) -> int:
        return sum(self.cluster.net.stats.requests_to.values())

    def bytes_total(self) -> int:
        return self.cluster.net.stats.bytes

    def log_size(self) -> int:
        """Largest persisted Raft log (entries' bytes, not the snapshot) among servers."""
        return max(sum(len(e.data) + 16 for e in s.storage.entries) + 24
                   for s in self.cluster.servers.values())

    def is_alive(self, i: int) -> bool:
        return self.cluster.servers[i + 1].alive

    # -- conveniences in the tester's words -------------------------------------------
    def check_one_leader(self) -> int:
        for _ in range(10):
            self.run_for(0.5)
            by_term: dict[int, list[int]] = {}
            for i in range(self.n):
                if self.connected[i] and self.is_alive(i):
                    term, lead = self.state(i)
                    if lead:
                        by_term.setdefault(term, []).append(i)
            if by_term:
                last = max(by_term)
                for term, ls in by_term.items():
                    if len(ls) > 1:
                        raise HarnessError(f"seed {self.seed}: term {term} has {len(ls)} leaders")
                return by_term[last][0]
        raise HarnessError(f"seed {self.seed}: expected one leader, got none")

    def one(self, cmd: Any, expected: int, retry: bool) -> int:
        """Submit cmd to a leader and wait until `expected` servers applied it (10 s)."""
        t0 = self.cluster.clock.now()
        starts = 0
        while self.cluster.clock.now() - t0 < 10.0:
            index = -1
            for _ in range(self.n):
                starts = (starts + 1) % self.n
                if self.connected[starts] and self.is_alive(starts):
                    idx, _, ok = self.start(starts, cmd)
                    if ok:
                        index = idx
                        break
            if index != -1:
                t1 = self.cluster.clock.now()
                while self.cluster.clock.now() - t1 < 2.0:
                    nd, v = self.n_committed(index)
                    if nd > 0 and nd >= expected and v == cmd:
                        return index
                    self.run_for(0.02)
                if not retry:
                    raise HarnessError(f"seed {self.seed}: one({cmd!r}) failed to reach agreement")
            else:
                self.run_for(0.05)
        raise HarnessError(f"seed {self.seed}: one({cmd!r}) failed to reach agreement")
