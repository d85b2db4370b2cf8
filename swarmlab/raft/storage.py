"""Where a Raft node keeps what must survive a crash.

The core never touches storage: the shell hands each `Ready` to `save()`
before it sends the Ready's messages, and `load()` gives a restarting node
its `InitialState`. `save()` returns only once the data is durable.
"""
from __future__ import annotations

from typing import Protocol

from .core import InitialState
from .messages import Entry, HardState, Snapshot


class Storage(Protocol):
    def load(self) -> InitialState | None:
        """What was saved, or None if this storage was never written."""

    def save(self, hard_state: HardState | None, entries: list[Entry],
             snapshot: Snapshot | None) -> None:
        """Persist, in this order: `snapshot` (dropping the log it covers), `entries`
        (replacing stored entries from `entries[0].index` on), `hard_state`."""

    def compact(self, snapshot: Snapshot) -> None:
        """The application took `snapshot`: keep it, drop entries up to its index."""

    def close(self) -> None: ...


class MemoryStorage:
    """Storage in memory: survives a simulated crash as long as the object lives."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.snapshot = Snapshot()
        self.entries: list[Entry] = []
        self.written = False
        self.bytes_written = 0

    def load(self) -> InitialState | None:
        if not self.written:
            return None
        return InitialState(self.hard_state, self.snapshot, list(self.entries))

    def save(self, hard_state: HardState | None, entries: list[Entry],
             snapshot: Snapshot | None) -> None:
        self.written = True
        if snapshot is not None:
            self._install(snapshot)
        if entries:
            first = entries[0].index
            keep = first - self.snapshot.index - 1
            if keep < 0:
                entries = entries[-keep:]
                keep = 0
            del self.entries[keep:]
            self.entries.extend(entries)
            self.bytes_written += sum(len(e.data) for e in entries)
        if hard_state is not None:
            self.hard_state = hard_state

    def compact(self, snapshot: Snapshot) -> None:
        self.written = True
        self._install(snapshot)

    def _install(self, snap: Snapshot) -> None:
        if snap.index < self.snapshot.index:
            return
        drop = snap.index - self.snapshot.index
        # keep later entries only if they continue from the snapshot
        if 0 < drop <= len(self.entries) and self.entries[drop - 1].term == snap.term:
            self.entries = self.entries[drop:]
        elif drop:
            self.entries = []
        self.snapshot = snap
        self.bytes_written += len(snap.data)

    def close(self) -> None:
        pass
