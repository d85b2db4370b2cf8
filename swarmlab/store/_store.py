"""The replicated store: the state machine that Raft replicates among the managers.

Theory of operation (as swarmkit's `manager/state/store`):

- Reads go through `view()`, a `ReadTx` over an immutable snapshot of the tables (the
  objects are frozen dataclasses, so a snapshot is a cheap copy of the dict of references).
- Writes go through `update(fn)`: `fn(tx)` runs against a `WriteTx` that sees its own
  writes; at the end the writes become one *command* (bytes, see `_command.py`), which is
  handed to the injected `Proposer`. Nothing changes in the tables until the command is
  applied with `apply(command)`, and every manager applies the same commands in the same
  (Raft log) order, so every replica holds the same state.
- `apply()` checks every write again (each `update` names the `Version.Index` it read; a
  stale one refuses the whole command with Docker's "update out of sequence"), then bumps
  the store's index, stamps every written object with `Version.Index` = that index and
  emits watch events. `apply()` never raises for a refused command (a Raft shell must be
  able to apply any committed entry); it records the outcome, and `update()` on the
  proposing manager raises it.

The Raft interface is deliberately narrow:

    class Proposer(Protocol):
        def propose(self, command: bytes) -> None

`propose` must have `store.apply(command)` called on this store before it returns
(`LocalProposer` calls it at once; a Raft-backed proposer appends the entry, drives Raft
until it is committed and applied by the Raft shell, which calls `store.apply(entry.data)`
for every committed entry), or raise (e.g. `NotLeader`), in which case nothing changed.
A proposer with `asynchronous = True` may instead return at once (a simulator that must
not re-enter its own event loop): the command is then *in flight* until the Raft shell
applies it; `update()` returns without its outcome, `in_flight` counts such commands (the
manager does not reconcile while any is in flight, so it never acts twice on one view), a
refusal at apply time lands in `refused`, and `forget_in_flight()` is for lost leadership.
Raft snapshots are `store.snapshot()` bytes; a follower that installs one calls
`store.restore(data)`.
"""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol, TypeVar

from ..clock import Clock
from ..objects import (
    KINDS, InvalidArgument, NotFound, SequenceError, StoreObject, SwarmError, Version,
)
from ..objects._errors import AlreadyExists
from ._command import Action, Command, decode_command, encode_command
from ._tx import ReadTx, WriteTx, backward

R = TypeVar("R")


class Proposer(Protocol):
    def propose(self, command: bytes) -> None:
        """Get `command` applied on this store (through Raft or at once), or raise."""
        ...


class LocalProposer:
    """A single manager without Raft (and the unit tests): apply at once."""

    def __init__(self, store: "MemoryStore | None" = None) -> None:
        self.store = store

    def propose(self, command: bytes) -> None:
        assert self.store is not None, "LocalProposer is not bound to a store"
        self.store.apply(command)


class ProposalNotApplied(SwarmError):
    """The proposer returned but the command was not applied here (lost leadership)."""


@dataclass(frozen=True)
class Event:
    """One change, as the watch stream reports it (`action`: create, update, remove)."""

    action: str
    kind: str
    object: StoreObject
    old: StoreObject | None = None
    index: int = 0


class Watch:
    """A queue of events; `poll()` takes what arrived since the last poll."""

    def __init__(self, kinds: Iterable[str] | None) -> None:
        self.kinds = frozenset(kinds) if kinds else None
        self._events: deque[Event] = deque()

    def _offer(self, ev: Event) -> None:
        if self.kinds is None or ev.kind in self.kinds:
            self._events.append(ev)

    def poll(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out


class MemoryStore:
    def __init__(self, proposer: Proposer | None = None, clock: Clock | None = None,
                 name: str = "store") -> None:
        if proposer is None:
            proposer = LocalProposer()
        if isinstance(proposer, LocalProposer) and proposer.store is None:
            proposer.store = self
        self.proposer = proposer
        self.clock = clock
        self.name = name
        self.index = 0  # bumped once per applied command: the objects' Version.Index
        self._tables: dict[str, dict[str, StoreObject]] = {k: {} for k in KINDS}
        self._watches: list[Watch] = []
        self._subscribers: list[Callable[[Event], None]] = []
        self._seq = itertools.count(1)
        self._pending: dict[str, SwarmError | None | bool] = {}
        self._in_flight: set[str] = set()
        #: asynchronous commands refused at apply time (most recent last, bounded)
        self.refused: deque[tuple[str, SwarmError]] = deque(maxlen=100)

    # -- reads ---------------------------------------------------------------------------

    def view(self) -> ReadTx:
        return ReadTx({k: dict(t) for k, t in self._tables.items()})

    def get(self, kind: str, obj_id: str) -> StoreObject | None:
        return self._tables[kind].get(obj_id)

    # -- writes --------------------------------------------------------------------------

    def update(self, fn: Callable[[WriteTx], R]) -> R:
        """Run `fn` in a write transaction and commit its writes as one command."""
        tx = WriteTx({k: dict(t) for k, t in self._tables.items()})
        result = fn(tx)
        if tx.actions:
            self.commit(tx.actions)
        return result

    def commit(self, actions: list[Action]) -> int:
        """Propose these writes as one command; return the index it was applied at
        (0 when an asynchronous proposer took it and it is still in flight)."""
        cmd_id = f"{self.name}-{next(self._seq)}"
        now = self.clock.now_ns() if self.clock is not None else 0
        data = encode_command(Command(cmd_id, now, tuple(actions)))
        self._pending[cmd_id] = False  # False: not applied yet
        try:
            self.proposer.propose(data)
            outcome = self._pending.get(cmd_id, False)
        finally:
            self._pending.pop(cmd_id, None)
        if outcome is False:
            if getattr(self.proposer, "asynchronous", False):
                self._in_flight.add(cmd_id)
                return 0
            raise ProposalNotApplied("the write was not applied (leadership changed?)")
        if isinstance(outcome, SwarmError):
            raise outcome
        return self.index

    @property
    def in_flight(self) -> int:
        """Commands an asynchronous proposer took that are not applied here yet."""
        return len(self._in_flight)

    def forget_in_flight(self) -> None:
        """Leadership lost: what was in flight may never be applied; stop waiting."""
        self._in_flight.clear()

    # -- the state machine ---------------------------------------------------------------

    def apply(self, data: bytes) -> SwarmError | None:
        """Apply one committed command (all of it, or none of it if any write is stale)."""
        cmd = decode_command(data)
        error = self._check(cmd.actions)
        if error is None:
            self.index += 1
            events = [self._apply_action(a, cmd.at_ns) for a in cmd.actions]
            for ev in events:
                self._emit(ev)
        if cmd.id in self._pending:
            self._pending[cmd.id] = error
        if cmd.id in self._in_flight:
            self._in_flight.discard(cmd.id)
            if error is not None:
                self.refused.append((cmd.id, error))
        return error

    def _check(self, actions: tuple[Action, ...]) -> SwarmError | None:
        seen: dict[tuple[str, str], StoreObject | None] = {}
        for a in actions:
            key = (a.kind, a.id)
            current = seen[key] if key in seen else self._tables[a.kind].get(a.id)
            if a.op == "create":
                if current is not None:
                    return AlreadyExists(f"{a.kind} {a.id} already exists")
                seen[key] = a.object
                continue
            if current is None:
                return NotFound(f"{a.kind} {a.id} not found")
            if a.version is not None and key not in seen and current.version.index != a.version:
                return SequenceError()
            if a.op == "update" and (why := backward(current, a.object)):
                return InvalidArgument(why)
            seen[key] = a.object if a.op == "update" else None
        return None

    def _apply_action(self, a: Action, at_ns: int) -> Event:
        table = self._tables[a.kind]
        old = table.get(a.id)
        if a.op == "remove":
            del table[a.id]
            return Event("remove", a.kind, old, old, self.index)  # type: ignore[arg-type]
        obj = a.object
        assert obj is not None
        created = at_ns if old is None else old.created_at
        obj = obj.replace(version=Version(self.index), created_at=created, updated_at=at_ns)
        table[a.id] = obj
        return Event(a.op, a.kind, obj, old, self.index)

    def _emit(self, ev: Event) -> None:
        for w in self._watches:
            w._offer(ev)
        for cb in self._subscribers:
            cb(ev)

    # -- watches -------------------------------------------------------------------------

    def watch(self, kinds: Iterable[str] | None = None) -> Watch:
        w = Watch(kinds)
        self._watches.append(w)
        return w

    def unwatch(self, w: Watch) -> None:
        self._watches.remove(w)

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` on every applied change; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        from ._command import encode_snapshot
        return encode_snapshot(self.index, self._tables)

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot (a follower catching up from Raft)."""
        from ._command import decode_snapshot
        self.index, tables = decode_snapshot(data)
        self._tables = {k: tables.get(k, {}) for k in KINDS}
        for w in self._watches:
            w._offer(Event("restore", "store", None, None, self.index))  # type: ignore[arg-type]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}s={len(t)}" for k, t in self._tables.items() if t)
        return f"MemoryStore({self.name}, index={self.index}, {sizes})"
