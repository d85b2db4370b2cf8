"""How node operations reach Raft: a narrow, injected membership interface.

The control plane never touches Raft itself. Promoting a node asks `add_manager`,
demoting asks `remove_manager` (after `transfer_leadership` if the node leads), and
the demote/remove checks ask `can_remove` (swarmkit's quorum safeguard). The lead wires
a Raft-backed implementation to `RaftNode.propose_conf_change` / `transfer_leadership`
(mapping swarm node IDs to Raft IDs); `LocalMembership` keeps a set, for tests and a
single manager. A call may raise (e.g. a conf change already pending); the role
reconciler then simply tries again on a later tick.
"""
from __future__ import annotations

from typing import Protocol


class RaftMembership(Protocol):
    def add_manager(self, node_id: str) -> None: ...

    def remove_manager(self, node_id: str) -> None: ...

    def transfer_leadership(self, to_node_id: str) -> None: ...

    def can_remove(self, node_id: str, reachable: set[str]) -> bool:
        """Would the managers still have a quorum of reachable members without this one?"""
        ...


def quorum_after_removal(members: set[str], reachable: set[str], node_id: str) -> bool:
    """swarmkit's `CanRemoveMember`: the remaining members keep a reachable majority."""
    remaining = members - {node_id}
    if not remaining:
        return False
    return len(reachable & remaining) >= len(remaining) // 2 + 1


class LocalMembership:
    """Membership as a plain set (no Raft): what a single manager and the tests use."""

    def __init__(self, members: set[str] | None = None) -> None:
        self.members: set[str] = set(members or ())
        self.leader: str | None = None
        self.log: list[tuple[str, str]] = []

    def add_manager(self, node_id: str) -> None:
        self.members.add(node_id)
        self.log.append(("add", node_id))

    def remove_manager(self, node_id: str) -> None:
        self.members.discard(node_id)
        self.log.append(("remove", node_id))

    def transfer_leadership(self, to_node_id: str) -> None:
        self.leader = to_node_id
        self.log.append(("transfer", to_node_id))

    def can_remove(self, node_id: str, reachable: set[str]) -> bool:
        return quorum_after_removal(self.members, reachable, node_id)
