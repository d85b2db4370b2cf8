"""Replay a Raft trace into frames: what every manager looked like, moment by moment.

Theory of operation: `replay(events)` folds the `TraceEvent`s (from the
simulator or a live lab) into a small model of each node (state, term, known
leader, the term of every log entry, commit and applied index) and cuts the
stream into `Frame`s. A frame closes when `frame_s` seconds have passed since
it opened, or when a node changes state after messages were already sent in
it, so an election shows as separate steps (pre-vote, vote, leader). A silence
longer than `frame_s` (no heartbeats: the leader is gone) gets one quiet frame.

What the trace does not say is derived: an entry's term is the leader's term
when the leader appended it, and a follower copies the terms of the leader it
last heard from; a follower's commit index is not traced, so it is shown as
its applied index (in the simulator both move in the same step).
Pure: no I/O, deterministic for a given trace.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..raft.trace import TraceEvent

STATES = ("follower", "pre-candidate", "candidate", "leader", "down")


@dataclass(frozen=True, slots=True)
class NodeView:
    id: int
    state: str
    term: int
    leader: int
    log: tuple[int, ...]  # term of the entry at index 1, 2, ...
    commit: int
    applied: int

    @property
    def last_index(self) -> int:
        return len(self.log)


@dataclass(frozen=True, slots=True)
class Arrow:
    """A message sent during the frame."""

    src: int
    dst: int
    type: str  # MessageType name: VOTE, PRE_VOTE_RESP, APP, HEARTBEAT...
    reject: bool = False
    entries: int = 0


@dataclass(frozen=True, slots=True)
class Frame:
    time: float  # when the frame opened (virtual or real seconds)
    nodes: tuple[NodeView, ...]
    arrows: tuple[Arrow, ...] = ()
    notes: tuple[str, ...] = ()  # the scenario's marks that fall in this frame

    def node(self, i: int) -> NodeView:
        return next(n for n in self.nodes if n.id == i)

    @property
    def leaders(self) -> list[int]:
        return [n.id for n in self.nodes if n.state == "leader"]

    @property
    def term(self) -> int:
        return max((n.term for n in self.nodes), default=0)


@dataclass
class _Node:
    id: int
    state: str = "follower"
    term: int = 0
    leader: int = 0
    log: list[int] = field(default_factory=list)
    commit: int = 0
    applied: int = 0
    last_src: int = 0

    def view(self) -> NodeView:
        return NodeView(self.id, self.state, self.term, self.leader, tuple(self.log),
                        self.commit, self.applied)


class _Model:
    def __init__(self) -> None:
        self.nodes: dict[int, _Node] = {}

    def get(self, i: int) -> _Node:
        if i not in self.nodes:
            self.nodes[i] = _Node(i)
        return self.nodes[i]

    def views(self) -> tuple[NodeView, ...]:
        return tuple(self.nodes[i].view() for i in sorted(self.nodes))

    def apply(self, ev: TraceEvent) -> None:
        n = self.get(ev.node)
        if ev.kind == "crash":
            n.state, n.leader = "down", 0
            return
        n.term = ev.term
        getattr(self, f"_on_{ev.kind}", _ignore)(n, ev)

    def _on_state(self, n: _Node, ev: TraceEvent) -> None:
        n.state = ev.fields.get("state", n.state)
        n.leader = n.id if n.state == "leader" else ev.fields.get("leader", 0) or 0

    def _on_recv(self, n: _Node, ev: TraceEvent) -> None:
        n.last_src = ev.fields.get("src", 0)
        if ev.fields.get("type") in ("APP", "HEARTBEAT", "SNAP") and \
                ev.fields.get("msg_term", 0) >= n.term and n.state != "leader":
            n.leader = n.last_src

    def _on_append(self, n: _Node, ev: TraceEvent) -> None:
        first, last = ev.fields["first"], ev.fields["last"]
        src = None if n.state == "leader" else self.nodes.get(n.last_src)
        for idx in range(first, last + 1):
            term = src.log[idx - 1] if src is not None and idx <= len(src.log) else ev.term
            if idx <= len(n.log) and n.log[idx - 1] == term:
                continue
            del n.log[idx - 1:]  # a conflict: the leader's log wins (§5.3)
            n.log.append(term)

    def _on_commit(self, n: _Node, ev: TraceEvent) -> None:
        n.commit = max(n.commit, ev.fields["index"])

    def _on_apply(self, n: _Node, ev: TraceEvent) -> None:
        n.applied = max(n.applied, ev.fields["last"])
        n.commit = max(n.commit, n.applied)

    def _on_snapshot(self, n: _Node, ev: TraceEvent) -> None:
        if ev.fields.get("reason") != "installed":
            return  # compaction hides no entry from the picture
        idx, src = ev.fields["index"], self.nodes.get(ev.fields.get("src", 0))
        terms = list(src.log[:idx]) if src is not None else []
        n.log = terms + [ev.term] * (idx - len(terms))
        n.commit = n.applied = max(n.applied, idx)


def _ignore(n: _Node, ev: TraceEvent) -> None:
    return None


def _arrow(ev: TraceEvent) -> Arrow:
    f = ev.fields
    return Arrow(ev.node, f["dst"], f["type"], bool(f.get("reject")), int(f.get("n", 0)))


_KEYS = ("kind", "node", "term", "tick", "time")


def event_from_dict(d: dict) -> TraceEvent:
    """The inverse of `TraceEvent.to_dict()`, for traces recorded as JSON (a live lab's)."""
    fields = {k: v for k, v in d.items() if k not in _KEYS}
    return TraceEvent(d["kind"], int(d["node"]), int(d["term"]), int(d.get("tick", 0)),
                      fields, d.get("time"))


_PEERS = ("src", "dst", "to", "leader")


def live_trace(events: Iterable[dict], since: float | None = None) -> list[TraceEvent]:
    """A live lab's trace (`Lab.trace()`: nodes by hostname, wall-clock times) as the
    simulator's: `nodeN` becomes N (another name a number from 1001 up), times count
    from the first event kept (`since`: drop what came before that wall-clock time)."""
    docs = [d for d in events if since is None or d.get("time", since) >= since]
    ids: dict[str, int] = {}

    def num(v: Any) -> Any:
        text = str(v)
        if text.isdigit():
            return int(text)
        m = re.fullmatch(r"node(\d+)", text)
        return int(m.group(1)) if m else ids.setdefault(text, 1001 + len(ids))

    t0 = min((d["time"] for d in docs if d.get("time") is not None), default=0.0)
    out = []
    for d in docs:
        fields = {k: (num(v) if k in _PEERS else v) for k, v in d.items() if k not in _KEYS}
        time = d.get("time")
        out.append(TraceEvent(d["kind"], num(d["node"]), int(d["term"]), int(d.get("tick", 0)),
                              fields, None if time is None else round(time - t0, 4)))
    return out


def replay(events: Iterable[TraceEvent | dict], frame_s: float = 0.05,
           marks: Sequence = ()) -> list[Frame]:
    """Cut a trace into frames (see the module docstring). Events may be `TraceEvent`s
    or their `to_dict()` form. `marks` are objects with
    `time` and `text` (a scenario's `Mark`s); a mark opens a new frame and is
    shown as one of its notes."""
    b = _Builder(frame_s, sorted(marks, key=lambda m: m.time))
    evs = [e if isinstance(e, TraceEvent) else event_from_dict(e) for e in events]
    order = sorted(range(len(evs)), key=lambda k: (_t(evs[k]), k))  # ties keep trace order
    for k in order:
        b.add(evs[k])
    return b.finish()


def _t(ev: TraceEvent) -> float:
    return ev.time if ev.time is not None else float(ev.tick)


class _Builder:
    def __init__(self, frame_s: float, marks: list) -> None:
        self.frame_s, self.marks = frame_s, marks
        self.model, self.frames = _Model(), []
        self.start: float | None = None
        self.arrows: list[Arrow] = []
        self.notes: list[str] = []
        self.last_t = 0.0

    def add(self, ev: TraceEvent) -> None:
        t = _t(ev)
        due = bool(self.marks) and self.marks[0].time <= t + 1e-9
        cut_state = ev.kind in ("state", "crash") and bool(self.arrows)
        if self.start is not None and (t - self.start >= self.frame_s or cut_state or due):
            self._close()
            if t - self.last_t > self.frame_s:  # silence: nobody sent anything for a while
                self.frames.append(Frame(self.last_t + self.frame_s, self.model.views()))
        if self.start is None:
            self.start = t
        while self.marks and self.marks[0].time <= t + 1e-9:
            self.notes.append(self.marks.pop(0).text)
        self.model.apply(ev)
        if ev.kind == "send":
            self.arrows.append(_arrow(ev))
        self.last_t = t

    def _close(self) -> None:
        assert self.start is not None
        self.frames.append(Frame(self.start, self.model.views(), tuple(self.arrows),
                                 tuple(self.notes)))
        self.start, self.arrows, self.notes = None, [], []

    def finish(self) -> list[Frame]:
        if self.start is not None:
            self.notes.extend(m.text for m in self.marks)
            self._close()
        return self.frames


def changes_only(frames: Sequence[Frame]) -> list[Frame]:
    """Drop frames where no node's state, term, log, commit or applied index moved
    (heartbeats only), keeping frames that carry a note."""
    out: list[Frame] = []
    for f in frames:
        if out and f.nodes == out[-1].nodes and not f.notes:
            continue
        out.append(f)
    return out


def node_name(i: int) -> str:
    return f"node{i}" if i else ""


def status_rows(frame: Frame) -> list[dict]:
    """The frame as `swarmlab raft status --format json` rows (issue 4's shape)."""
    return [{"Node": node_name(n.id), "State": n.state, "Term": n.term, "Commit": n.commit,
             "Applied": n.applied, "LastIndex": n.last_index, "Leader": node_name(n.leader)}
            for n in frame.nodes]
