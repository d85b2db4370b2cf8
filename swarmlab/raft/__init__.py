"""Raft consensus: a pure core (`RaftNode`), its data and storage."""
from .core import Config, InitialState, NotLeader, ProposalDropped, RaftNode
from .fsm import StateMachine
from .log import CompactedError
from .messages import (
    NONE, ConfChange, ConfChangeType, Entry, EntryType, HardState, Message, MessageType,
    NodeId, Ready, Role, Snapshot, SoftState,
)
from .storage import MemoryStorage, Storage
from .trace import TraceEvent, TraceRecorder, Tracer

__all__ = [
    "Config", "InitialState", "NotLeader", "ProposalDropped", "RaftNode", "CompactedError",
    "NONE", "ConfChange", "ConfChangeType", "Entry", "EntryType", "HardState", "Message",
    "MessageType", "NodeId", "Ready", "Role", "Snapshot", "SoftState",
    "MemoryStorage", "Storage", "StateMachine", "TraceEvent", "TraceRecorder",
    "Tracer",
]
