"""The application Raft replicates: one state machine interface for every driver.

As etcd's and hashicorp's FSM: the driver (the real server, `raft.shell.server`, and the
simulator, `sim.cluster`) hands the machine every committed entry in log order, installs
a snapshot when the leader sends one (or on a restart from storage), and asks after each
`Ready` whether the machine wants the log compacted. The machine decides when: it answers
the index its image covers, never beyond what it applied, and the driver drops the log up
to there (§7). The driver calls in one thread; a machine that applies elsewhere (a
manager's control thread) hands the work over and compacts from there instead.
"""
from __future__ import annotations

from typing import Protocol

from .messages import Entry, Snapshot


class StateMachine(Protocol):
    def apply(self, entry: Entry) -> None:
        """A committed entry, in log order: every type (a machine skips what it ignores)."""
        ...

    def snapshot(self) -> tuple[int, bytes] | None:
        """(index, image of everything applied up to index) to compact the log now, or None."""
        ...

    def restore(self, snapshot: Snapshot) -> None:
        """Start over from `snapshot` (its image and the index it covers)."""
        ...
