"""The words of Raft: entries, messages, persistent state, and the Ready batch.

These are plain data. The core (`swarmlab.raft.core`) consumes `Message`s and
produces `Ready` batches; shells (the simulator, the asyncio TCP shell) move
them around and persist them. Names follow the Raft paper and etcd-io/raft.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

NodeId = int

#: "no vote" / "no leader"
NONE: NodeId = 0


class MessageType(enum.IntEnum):
    """Raft RPCs (paper §5) plus pre-vote (thesis §9.6) and leadership transfer (§3.10)."""

    VOTE = 1  # RequestVote
    VOTE_RESP = 2
    PRE_VOTE = 3
    PRE_VOTE_RESP = 4
    APP = 5  # AppendEntries carrying entries (may be empty = probe)
    APP_RESP = 6
    HEARTBEAT = 7  # AppendEntries without entries, carries commit
    HEARTBEAT_RESP = 8
    SNAP = 9  # InstallSnapshot
    TIMEOUT_NOW = 10  # leadership transfer: campaign now


class EntryType(enum.IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class ConfChangeType(enum.IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    data: bytes = b""
    type: EntryType = EntryType.NORMAL


@dataclass(frozen=True, slots=True)
class ConfChange:
    """One server added or removed (thesis §4.1: one change at a time)."""

    type: ConfChangeType
    node_id: NodeId

    def encode(self) -> bytes:
        return b"%d:%d" % (int(self.type), self.node_id)

    @classmethod
    def decode(cls, data: bytes) -> "ConfChange":
        t, n = data.split(b":")
        return cls(ConfChangeType(int(t)), int(n))


@dataclass(frozen=True, slots=True)
class Snapshot:
    """State machine image up to `index` (inclusive), with the membership then."""

    index: int = 0
    term: int = 0
    voters: tuple[NodeId, ...] = ()
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on stable storage before answering any RPC (paper Figure 2)."""

    term: int = 0
    vote: NodeId = NONE
    commit: int = 0


@dataclass(slots=True)
class Message:
    type: MessageType
    src: NodeId
    dst: NodeId
    term: int
    log_term: int = 0  # APP: prevLogTerm; VOTE: lastLogTerm; APP_RESP reject: term at hint
    index: int = 0  # APP: prevLogIndex; VOTE: lastLogIndex; APP_RESP: match / rejected index
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0  # fast back-off: follower's last index (or conflict index)
    snapshot: Snapshot | None = None
    transfer: bool = False  # VOTE caused by leadership transfer: bypasses the lease


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth showing (not persisted)."""

    leader: NodeId
    role: Role


@dataclass(slots=True)
class Ready:
    """One batch of effects. The shell must, in order:

    1. persist `snapshot` (if any), then `entries` (replacing any stored
       entries from `entries[0].index` on), then `hard_state` (if any);
    2. send `messages`;
    3. apply `snapshot` (if any) and then `committed_entries` to the state machine;
    4. call `advance(ready)`.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    messages: list[Message] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)

    def empty(self) -> bool:
        return not (
            self.soft_state
            or self.hard_state
            or self.entries
            or self.snapshot
            or self.messages
            or self.committed_entries
        )
