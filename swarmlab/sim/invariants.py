"""Raft safety properties (paper Figure 3), checked after every simulated step.

- Election safety: at most one leader per term.
- Log matching: same index and term means same entry (checked incrementally for
  every appended entry) and the same prefix (checked in full by `check_logs`).
- Leader completeness: a new leader holds every entry committed before it.
- State machine safety: no two nodes apply different entries at one index.
- Commit index never moves back on a node, also across restarts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..raft.core import RaftNode
from ..raft.log import CompactedError
from ..raft.messages import Entry


class InvariantViolation(AssertionError):
    pass


@dataclass
class RaftChecker:
    leaders: dict[int, int] = field(default_factory=dict)  # term -> leader
    entries: dict[tuple[int, int], bytes] = field(default_factory=dict)  # (index, term) -> data
    applied: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # index -> (term, data)
    commit_of: dict[int, int] = field(default_factory=dict)  # node -> highest commit seen
    max_committed: int = 0

    def fail(self, what: str) -> None:
        raise InvariantViolation(what)

    def on_leader(self, node: RaftNode) -> None:
        prev = self.leaders.setdefault(node.term, node.id)
        if prev != node.id:
            self.fail(f"election safety: two leaders in term {node.term}: {prev} and {node.id}")
        for index, (term, data) in self.applied.items():
            if index <= node.log.snapshot.index:
                continue
            if index > node.log.last_index() or node.log.term(index) != term:
                self.fail(f"leader completeness: leader {node.id} of term {node.term} lacks "
                          f"committed entry {index} (term {term})")

    def on_entries(self, node_id: int, entries: list[Entry]) -> None:
        for e in entries:
            prev = self.entries.setdefault((e.index, e.term), e.data)
            if prev != e.data:
                self.fail(f"log matching: node {node_id} has a different entry at index "
                          f"{e.index} term {e.term}")

    def on_apply(self, node_id: int, entries: list[Entry]) -> None:
        for e in entries:
            prev = self.applied.setdefault(e.index, (e.term, e.data))
            if prev != (e.term, e.data):
                self.fail(f"state machine safety: node {node_id} applied term {e.term} at index "
                          f"{e.index}, another node applied term {prev[0]}")
            if e.index > self.max_committed:
                self.max_committed = e.index

    def on_commit(self, node_id: int, commit: int) -> None:
        prev = self.commit_of.get(node_id, 0)
        if commit < prev:
            self.fail(f"commit index moved back on node {node_id}: {prev} -> {commit}")
        self.commit_of[node_id] = commit

    def check_logs(self, nodes: list[RaftNode]) -> None:
        """Full log matching over every pair of logs (for the end of a run)."""
        for i, a in enumerate(nodes):
            for b in nodes[i + 1:]:
                lo = max(a.log.first_index(), b.log.first_index())
                hi = min(a.log.last_index(), b.log.last_index())
                match = 0
                for idx in range(hi, lo - 1, -1):
                    if _term(a, idx) == _term(b, idx):
                        match = idx
                        break
                for idx in range(lo, match + 1):
                    ea, eb = a.log.slice(idx, idx + 1)[0], b.log.slice(idx, idx + 1)[0]
                    if ea != eb:
                        self.fail(f"log matching: nodes {a.id} and {b.id} agree at {match} "
                                  f"but differ at {idx}")


def _term(n: RaftNode, idx: int) -> int:
    try:
        return n.log.term(idx)
    except CompactedError:
        return -1
