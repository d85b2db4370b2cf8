"""What the leader knows of each follower: nextIndex, matchIndex (Figure 2), and
how to send to it.

A follower is in one of three states (as in etcd-io/raft):
- PROBE: we do not know where its log matches; one append at a time.
- REPLICATE: logs match; appends are pipelined, up to `max_inflight` in flight.
- SNAPSHOT: it is behind our compacted log; we sent a snapshot and wait.
"""
from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class ProgressState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    match: int = 0
    next: int = 1
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False  # PROBE: an append is out, wait for its answer or a heartbeat
    pending_snapshot: int = 0
    hb_match: int = -1  # match at the previous heartbeat answer (stall detection)
    recent_active: bool = False  # heard from it since the last check-quorum round
    inflight: deque[int] = field(default_factory=deque)  # last index of each append in flight

    def become_probe(self) -> None:
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.inflight.clear()

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflight.clear()

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.inflight.clear()

    def maybe_update(self, index: int) -> bool:
        """A successful append response up to `index`. True if it moved match."""
        updated = False
        if index > self.match:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        while self.inflight and self.inflight[0] <= index:
            self.inflight.popleft()
        return updated

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        """A rejected append for prevLogIndex `rejected`. False if the answer is stale."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), 1)
        self.probe_sent = False
        return True

    def sent(self, last: int, n_entries: int) -> None:
        if self.state is ProgressState.REPLICATE:
            if n_entries:
                self.next = last + 1
                self.inflight.append(last)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def is_paused(self, max_inflight: int) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return len(self.inflight) >= max_inflight
        return True
