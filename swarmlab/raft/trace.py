"""Structured trace of what a Raft node does, for tests, logs and the notebooks' animations."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One thing that happened.

    kind is one of: state, vote, send, recv, append, commit, apply, snapshot,
    conf, transfer, timer. `tick` is the node's own tick counter; shells may stamp
    `time` (seconds, virtual or real) when they record it.

    `timer` (field `timeout`, in ticks) is traced when a node draws a new randomized
    election timeout (a term or role change); the other resets of the election timer
    follow from events already traced: a leader's append, heartbeat or snapshot
    received by a non-leader (`recv` with `msg_term` >= its term), a vote granted
    (`vote`, not pre), a pre-candidacy (`state`). The simulator adds `crash`, and its
    scenarios `net` events (`partition` groups, `heal`, `disconnect`, `connect`).
    """

    kind: str
    node: int
    term: int
    tick: int
    fields: dict[str, Any] = field(default_factory=dict)
    time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, "node": self.node, "term": self.term, "tick": self.tick}
        if self.time is not None:
            d["time"] = self.time
        d.update(self.fields)
        return d


Tracer = Callable[[TraceEvent], None]


class TraceRecorder:
    """Keeps events in memory (bounded), stamping them with a clock's time."""

    def __init__(self, now: Callable[[], float] | None = None, limit: int = 200_000) -> None:
        self.events: list[TraceEvent] = []
        self._now = now
        self._limit = limit

    def __call__(self, ev: TraceEvent) -> None:
        if self._now is not None:
            ev = TraceEvent(ev.kind, ev.node, ev.term, ev.tick, ev.fields, self._now())
        self.events.append(ev)
        if len(self.events) > self._limit:
            del self.events[: self._limit // 10]

    def of_kind(self, *kinds: str) -> list[TraceEvent]:
        return [e for e in self.events if e.kind in kinds]
