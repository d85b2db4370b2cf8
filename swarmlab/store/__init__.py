"""The replicated store (the Raft state machine): transactions, commands, watches, snapshots.

See `_store.py` for the theory of operation and the `Proposer` interface Raft plugs into.
"""
from ._command import Action, Command, decode_command, encode_command
from ._store import Event, LocalProposer, MemoryStore, ProposalNotApplied, Proposer, Watch
from ._tx import ReadTx, WriteTx
from .machine import COMMAND, StoreMachine

#: the name the design notes use: `Store(proposer)`
Store = MemoryStore

__all__ = [
    "Action", "Command", "decode_command", "encode_command", "Event", "LocalProposer",
    "MemoryStore", "ProposalNotApplied", "Proposer", "Watch", "ReadTx", "WriteTx", "Store",
    "COMMAND", "StoreMachine",
]
