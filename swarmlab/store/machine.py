"""The store as Raft's state machine: `apply`, `snapshot`, `restore` over a `MemoryStore`.

It has the shape of `swarmlab.raft.fsm.StateMachine` without importing Raft (the store
stands below it): entries and snapshots are read by their fields, and an entry carries a
store command when its type is `COMMAND` (Raft's `EntryType.NORMAL`; the other type holds
a membership change, which the store never sees).

Two ways to apply, one per driver:
- inline (the simulator, one thread): a command is applied to the store as it comes,
  and `snapshot()` offers the store's image every `snapshot_every` applied commands;
- on the store's own thread (a manager: its control thread is the only one that touches
  the store): entries and snapshots are handed over in log order, and that thread takes
  its snapshots itself between two applied entries, so an image always matches its index
  exactly; `snapshot()` offers none here (the manager compacts Raft's log from there).
"""
from __future__ import annotations

from typing import Any, Protocol

from ._store import MemoryStore

COMMAND = 0  # Raft's EntryType.NORMAL


class RaftEntry(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def type(self) -> int: ...
    @property
    def data(self) -> bytes: ...


class RaftSnapshot(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def data(self) -> bytes: ...


class StoreThread(Protocol):
    """The thread that owns a store and applies what it is handed, in order."""

    def deliver(self, entries: list[Any]) -> None: ...
    def restore(self, data: bytes, index: int) -> None: ...


class StoreMachine:
    def __init__(self, store: MemoryStore, snapshot_every: int = 0,
                 thread: StoreThread | None = None) -> None:
        self.store = store
        self.snapshot_every = snapshot_every
        self.thread = thread
        self.index = 0  # the last entry applied inline
        self._since = 0  # commands applied since the last snapshot

    def apply(self, entry: RaftEntry) -> None:
        if self.thread is not None:
            self.thread.deliver([entry])
            return
        self.index = entry.index
        if entry.type == COMMAND and entry.data:
            self.store.apply(entry.data)
            self._since += 1

    def snapshot(self) -> tuple[int, bytes] | None:
        if self.thread is not None or not self.snapshot_every \
                or self._since < self.snapshot_every:
            return None
        self._since = 0
        return self.index, self.store.snapshot()

    def restore(self, snapshot: RaftSnapshot) -> None:
        if self.thread is not None:
            self.thread.restore(snapshot.data, snapshot.index)
            return
        if snapshot.data:
            self.store.restore(snapshot.data)
        self.index = snapshot.index
