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

Each node's election timer is followed too: a `timer` event (a new randomized
timeout, in ticks), a pre-candidacy, a granted vote, or a leader's message
received restarts it; a frame shows what is left of it at the frame's end, in
seconds (`tick_s` per tick). A silence gets quiet frames every `frame_s`, so
the timers are seen running down. The simulator's `net` events (a partition, a
node disconnected, a message dropped) give each frame its cut, and a message
sent across it, or to a node that is down, is marked dropped. Every frame has
a caption: what happened in it and why, or, in a quiet frame, what is about to.
Pure: no I/O, deterministic for a given trace.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from ..raft.trace import TraceEvent
from . import captions
from .events import event_from_dict
from .frames import Arrow, Frame, NodeView, node_name

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
    vote: int = 0  # whom it voted for in its term (0: nobody yet, as far as the trace says)
    reset_t: float | None = None  # when its election timer last restarted
    timeout: int = 0  # its randomized election timeout, in ticks

    def view(self, at: float | None = None, tick_s: float = 0.05) -> NodeView:
        timer = timer_s = None
        if at is not None and self.reset_t is not None and self.timeout > 0 and \
                self.state not in ("leader", "down"):
            total = self.timeout * tick_s
            timer_s = round(max(0.0, total - (at - self.reset_t)), 4)
            timer = round(timer_s / total, 4)
        return NodeView(self.id, self.state, self.term, self.leader, tuple(self.log),
                        self.commit, self.applied, timer, timer_s)


class _Model:
    def __init__(self, tick_s: float = 0.05) -> None:
        self.nodes: dict[int, _Node] = {}
        self.tick_s = tick_s
        self.groups: dict[int, int] = {}  # node -> partition group (absent: group 0)
        self.disconnected: set[int] = set()
        self.said: list[str] = []  # what the events of the current frame mean
        self.votes: dict[tuple[int, bool], list[tuple[int, bool, str]]] = {}
        self.drops: list[tuple[int, int, str]] = []  # messages dropped on purpose
        self.old_term = 0  # the term of the node of the event applied, before it

    def get(self, i: int) -> _Node:
        if i not in self.nodes:
            self.nodes[i] = _Node(i)
        return self.nodes[i]

    def views(self, at: float | None = None) -> tuple[NodeView, ...]:
        return tuple(self.nodes[i].view(at, self.tick_s) for i in sorted(self.nodes))

    def cut(self) -> tuple[tuple[int, ...], ...]:
        if not self.groups and not self.disconnected:
            return ()
        by: dict[int, list[int]] = {}
        for i in sorted(self.nodes):
            g = -i if i in self.disconnected else self.groups.get(i, 0)
            by.setdefault(g, []).append(i)
        groups = tuple(tuple(v) for _, v in sorted(by.items(), key=lambda kv: kv[1][0]))
        return groups if len(groups) > 1 else ()

    def blocked(self, a: int, b: int) -> bool:
        dst = self.nodes.get(b)
        return (a in self.disconnected or b in self.disconnected
                or self.groups.get(a, 0) != self.groups.get(b, 0)
                or (dst is not None and dst.state == "down"))

    def say(self, text: str) -> None:
        if text not in self.said:
            self.said.append(text)

    def apply(self, ev: TraceEvent) -> None:
        if ev.kind == "net":
            return self._on_net(ev)
        n = self.get(ev.node)
        if ev.kind == "crash":
            if n.state != "down":
                self.say(f"{node_name(n.id)} is down: it neither sends nor answers" + (
                    " — no more heartbeats, so the followers' election timers run down"
                    if n.state == "leader" else ""))
            n.state, n.leader, n.reset_t = "down", 0, None
            return
        if ev.term != n.term:
            n.vote = 0
        self.old_term, n.term = n.term, ev.term
        getattr(self, f"_on_{ev.kind}", _ignore)(n, ev)

    def _on_net(self, ev: TraceEvent) -> None:
        f = ev.fields
        action = f.get("action")
        if action == "partition":
            groups = [list(g) for g in f.get("groups", [])]
            self.groups = {i: k + 1 for k, g in enumerate(groups) for i in g}
            self.say("the network is cut: " + " | ".join(
                ", ".join(node_name(i) for i in g) for g in self.cut()) +
                "; messages across the cut are lost")
        elif action == "heal":
            self.groups, self.disconnected = {}, set()
            self.say("the network heals: messages pass again")
        elif action == "disconnect":
            self.disconnected.add(f["node"])
            self.say(f"{node_name(f['node'])} is disconnected: the network cuts it off")
        elif action == "connect":
            self.disconnected.discard(f["node"])
            self.say(f"{node_name(f['node'])} is reconnected")
        elif action == "drop":
            self.drops.append((f["src"], f["dst"], f["type"]))

    def _on_timer(self, n: _Node, ev: TraceEvent) -> None:
        n.reset_t, n.timeout = _t(ev), int(ev.fields.get("timeout", 0))
        if ev.fields.get("reason") == "aligned":
            self.say(f"{node_name(n.id)}'s timer is set to {n.timeout} ticks "
                     f"({n.timeout * self.tick_s:.2f} s), as everybody's")

    def _on_state(self, n: _Node, ev: TraceEvent) -> None:
        before = n.state
        n.state = ev.fields.get("state", n.state)
        n.leader = n.id if n.state == "leader" else ev.fields.get("leader", 0) or 0
        name, term = node_name(n.id), ev.term
        running = [m for m in self.nodes.values()
                   if m.id != n.id and m.state in ("pre-candidate", "candidate")]
        first = "" if running else " first"
        if n.state == "pre-candidate":
            n.reset_t = _t(ev)
            self.say(f"{name}'s election timer ran out{first} (no leader heard for "
                     f"{n.timeout * self.tick_s:.2f} s): it asks whether it could win term "
                     f"{term + 1} (pre-vote)")
        elif n.state == "candidate":
            n.vote = n.id
            if before == "pre-candidate":
                self.say(f"{name} won the pre-vote: it starts term {term}, votes for itself "
                         f"and asks for votes")
            else:
                self.say(f"{name}'s election timer ran out{first}: it starts term {term}, "
                         f"votes for itself and asks for votes")
        elif n.state == "leader":
            got = 1 + len({v for v, ok, _ in self.votes.get((n.id, False), []) if ok})
            got = max(got, sum(1 for m in self.nodes.values()
                               if m.vote == n.id and m.term == term))
            self.say(f"{name} has the votes of a majority ({got} of {len(self.nodes)}): "
                     f"it leads term {term} and sends heartbeats")
        elif n.state == "follower":
            if ev.fields.get("reason") == "check-quorum failed":
                self.say(f"{name} has not heard from a majority for an election timeout: "
                         f"it steps down (check-quorum)")
            elif before == "down":
                self.say(f"{name} restarts as a follower, with the term and log it saved")
            elif before in ("pre-candidate", "candidate"):
                why = (f"it hears node{n.leader}, leader of term {term}" if n.leader
                       else f"it sees term {term}" if term > self.old_term
                       else f"no majority for it in term {term}")
                self.say(f"{name} gives up its candidacy: {why}")
            elif before == "leader":
                self.say(f"{name} sees term {term}: it is no longer the leader")

    def _on_vote(self, n: _Node, ev: TraceEvent) -> None:
        f = ev.fields
        cand, ok, pre = f.get("to", 0), bool(f.get("granted")), bool(f.get("pre"))
        why = ""
        if not ok:
            if n.vote and n.vote != cand:
                why = f"it already voted for {node_name(n.vote)} in term {ev.term}"
            elif n.leader and n.state != "leader":
                why = f"it follows {node_name(n.leader)}"
            else:
                why = "its log is more up to date"
        self.votes.setdefault((cand, pre), []).append((n.id, ok, why))
        if ok and not pre:
            n.vote = cand
            n.reset_t = _t(ev)

    def _on_recv(self, n: _Node, ev: TraceEvent) -> None:
        n.last_src = ev.fields.get("src", 0)
        if ev.fields.get("type") in ("APP", "HEARTBEAT", "SNAP") and \
                ev.fields.get("msg_term", 0) >= n.term and n.state != "leader":
            n.leader = n.last_src
            n.reset_t = _t(ev)  # a leader's message restarts the election timer

    def _on_append(self, n: _Node, ev: TraceEvent) -> None:
        first, last = ev.fields["first"], ev.fields["last"]
        src = None if n.state == "leader" else self.nodes.get(n.last_src)
        span = f"entry {first}" if first == last else f"entries {first}-{last}"
        if src is None:
            self.say(f"{node_name(n.id)} appends {span} (term {ev.term}) to its log and "
                     f"sends it to the followers")
        else:
            self.say(f"{node_name(n.id)} stores {span} from the leader")
        for idx in range(first, last + 1):
            term = src.log[idx - 1] if src is not None and idx <= len(src.log) else ev.term
            if idx <= len(n.log) and n.log[idx - 1] == term:
                continue
            del n.log[idx - 1:]  # a conflict: the leader's log wins (§5.3)
            n.log.append(term)

    def _on_commit(self, n: _Node, ev: TraceEvent) -> None:
        if ev.fields["index"] > n.commit:
            self.say(f"entry {ev.fields['index']} is on a majority: {node_name(n.id)} "
                     f"commits it")
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
        self.say(f"{node_name(n.id)} installs a snapshot up to entry {idx}")


def _ignore(n: _Node, ev: TraceEvent) -> None:
    return None


def _arrow(ev: TraceEvent) -> Arrow:
    f = ev.fields
    return Arrow(ev.node, f["dst"], f["type"], bool(f.get("reject")), int(f.get("n", 0)))


def replay(events: Iterable[TraceEvent | dict], frame_s: float = 0.05,
           marks: Sequence = (), tick_s: float = 0.05) -> list[Frame]:
    """Cut a trace into frames (see the module docstring). Events may be `TraceEvent`s
    or their `to_dict()` form. `marks` are objects with
    `time` and `text` (a scenario's `Mark`s); a mark opens a new frame and is
    shown as one of its notes. `tick_s` is the length of a tick in seconds."""
    b = _Builder(frame_s, sorted(marks, key=lambda m: m.time), tick_s)
    evs = [e if isinstance(e, TraceEvent) else event_from_dict(e) for e in events]
    order = sorted(range(len(evs)), key=lambda k: (_t(evs[k]), k))  # ties keep trace order
    for k in order:
        b.add(evs[k])
    return b.finish()


def _t(ev: TraceEvent) -> float:
    return ev.time if ev.time is not None else float(ev.tick)


#: a silence gets at most this many quiet frames
_QUIET_MAX = 40


class _Builder:
    def __init__(self, frame_s: float, marks: list, tick_s: float = 0.05) -> None:
        self.frame_s, self.marks = frame_s, marks
        self.model, self.frames = _Model(tick_s), []
        self.start: float | None = None
        self.arrows: list[Arrow] = []
        self.notes: list[str] = []
        self.last_t = 0.0

    def add(self, ev: TraceEvent) -> None:
        t = _t(ev)
        due = bool(self.marks) and self.marks[0].time <= t + 1e-9
        cut_state = bool(self.arrows) and (ev.kind in ("state", "crash", "timer") or (
            ev.kind == "net" and ev.fields.get("action") != "drop"))
        if self.start is not None and (t - self.start >= self.frame_s or cut_state or due):
            self._close(min(t, self.start + self.frame_s))
            q = self.last_t + self.frame_s
            for _ in range(_QUIET_MAX):  # silence: nobody sent anything for a while
                if t - q <= 1e-9:
                    break
                self.frames.append(self._frame(q, min(t, q + self.frame_s)))
                q += self.frame_s
        if self.start is None:
            self.start = t
        while self.marks and self.marks[0].time <= t + 1e-9:
            self.notes.append(self.marks.pop(0).text)
        self.model.apply(ev)
        if ev.kind == "send":
            a = _arrow(ev)
            if self.model.blocked(a.src, a.dst):
                a = replace(a, dropped=True)
            self.arrows.append(a)
        elif ev.kind == "net" and ev.fields.get("action") == "drop":
            key = (ev.fields["src"], ev.fields["dst"], ev.fields["type"])
            for k in range(len(self.arrows) - 1, -1, -1):
                a = self.arrows[k]
                if (a.src, a.dst, a.type) == key and not a.dropped:
                    self.arrows[k] = replace(a, dropped=True)
                    break
        self.last_t = t

    def _frame(self, start: float, end: float, arrows: tuple[Arrow, ...] = (),
               notes: tuple[str, ...] = ()) -> Frame:
        m = self.model
        views = m.views(end)
        caption = captions.caption(m, views, arrows, notes)
        m.said, m.votes, m.drops = [], {}, []
        return Frame(start, views, arrows, notes, caption, m.cut())

    def _close(self, end: float) -> None:
        assert self.start is not None
        self.frames.append(self._frame(self.start, end, tuple(self.arrows), tuple(self.notes)))
        self.start, self.arrows, self.notes = None, [], []

    def finish(self) -> list[Frame]:
        if self.start is not None:
            self.notes.extend(m.text for m in self.marks)
            self._close(self.start + self.frame_s)
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


def status_rows(frame: Frame) -> list[dict]:
    """The frame as `swarmlab raft status --format json` rows (issue 4's shape)."""
    return [{"Node": node_name(n.id), "State": n.state, "Term": n.term, "Commit": n.commit,
             "Applied": n.applied, "LastIndex": n.last_index, "Leader": node_name(n.leader)}
            for n in frame.nodes]
