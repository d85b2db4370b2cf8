"""What a replayed Raft trace is made of: each frame's nodes (`NodeView`), messages (`Arrow`)
and the `Frame` itself; a leaf the replay, its captions and the figures stand on."""
from __future__ import annotations

from dataclasses import dataclass, field

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
    #: the election timer at the frame's end: the fraction of the timeout left (1: just
    #: reset, 0: runs out now) and the seconds left; None for a leader, a node down, or a
    #: node whose timer the trace never showed. Not compared: a frame where only timers
    #: moved shows no change (`changes_only`).
    timer: float | None = field(default=None, compare=False)
    timer_s: float | None = field(default=None, compare=False)

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
    #: lost: sent across the network's cut, to a node that is down, or dropped on purpose
    dropped: bool = False


@dataclass(frozen=True, slots=True)
class Frame:
    time: float  # when the frame opened (virtual or real seconds)
    nodes: tuple[NodeView, ...]
    arrows: tuple[Arrow, ...] = ()
    notes: tuple[str, ...] = ()  # the scenario's marks that fall in this frame
    #: what happens in this frame and why, in a sentence or three (never empty)
    caption: str = ""
    #: the network's groups when it is cut (each a sorted tuple of node ids), else ()
    cut: tuple[tuple[int, ...], ...] = ()

    def node(self, i: int) -> NodeView:
        return next(n for n in self.nodes if n.id == i)

    @property
    def leaders(self) -> list[int]:
        return [n.id for n in self.nodes if n.state == "leader"]

    @property
    def term(self) -> int:
        return max((n.term for n in self.nodes), default=0)


def node_name(i: int) -> str:
    return f"node{i}" if i else ""
