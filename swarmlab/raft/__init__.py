"""Raft consensus: a pure core (`RaftNode`), its data, storage, and timing profiles."""
from .core import Config, InitialState, NotLeader, ProposalDropped, RaftNode
from .log import CompactedError
from .messages import (
    NONE, ConfChange, ConfChangeType, Entry, EntryType, HardState, Message, MessageType,
    NodeId, Ready, Role, Snapshot, SoftState,
)
from .profiles import PROFILES, TimingProfile, profile
from .storage import MemoryStorage, Storage
from .trace import TraceEvent, TraceRecorder, Tracer

__all__ = [
    "Config", "InitialState", "NotLeader", "ProposalDropped", "RaftNode", "CompactedError",
    "NONE", "ConfChange", "ConfChangeType", "Entry", "EntryType", "HardState", "Message",
    "MessageType", "NodeId", "Ready", "Role", "Snapshot", "SoftState", "PROFILES",
    "TimingProfile", "profile", "MemoryStorage", "Storage", "TraceEvent", "TraceRecorder",
    "Tracer",
]
