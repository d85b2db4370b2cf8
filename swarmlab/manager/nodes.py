"""Node operations with Docker's rules and messages, as functions of a write transaction.

- `update_node` (labels, availability, role): a stale version is refused; demoting the
  last manager, or a manager whose removal would lose the Raft quorum, is refused with
  swarmkit's texts.
- `remove_node`: a manager that is still a Raft member, or a node that is not down
  (without force), is refused; otherwise its tasks are orphaned, the node deleted and its
  ID added to the cluster's `BlacklistedCertificates` in the same write (swarmkit's
  `RemoveNode`): its certificate is refused by every manager from then on.
- `reconcile_roles` (on the leader's tick) carries a role change to Raft through the
  injected membership: add or remove the member, moving leadership off a demoted leader
  first, then records the result in `Node.ManagerStatus`.
"""
from __future__ import annotations

from ..objects import (
    FailedPrecondition, ManagerStatus, Node, NodeRole, NodeSpec, NodeState, Reachability,
    SequenceError, Task, TaskState, TaskStatus,
)
from ..store import ReadTx, WriteTx
from .membership import RaftMembership, quorum_after_removal

LAST_MANAGER = "attempting to demote the last manager of the swarm"
LOSS_OF_QUORUM = "can't remove member from the raft: this would result in a loss of quorum"
ORPHANED_MESSAGE = "Task belonged to a node that has been deleted"


def managers(tx: ReadTx) -> list[Node]:
    return [n for n in tx.nodes() if n.spec.role == NodeRole.MANAGER]


def raft_members(tx: ReadTx) -> set[str]:
    return {n.id for n in tx.nodes() if n.manager_status is not None}


def reachable_managers(tx: ReadTx) -> set[str]:
    return {n.id for n in tx.nodes() if n.manager_status is not None
            and n.status.state == NodeState.READY
            and n.manager_status.reachability != Reachability.UNREACHABLE}


def can_remove(tx: ReadTx, node_id: str, membership: RaftMembership | None) -> bool:
    reachable = reachable_managers(tx)
    if membership is not None:
        return membership.can_remove(node_id, reachable)
    return quorum_after_removal(raft_members(tx), reachable, node_id)


def update_node(tx: WriteTx, ref: str, version: int, spec: NodeSpec,
                membership: RaftMembership | None = None) -> Node:
    node: Node = tx.lookup("node", ref)  # type: ignore[assignment]
    if node.version.index != version:
        raise SequenceError()
    if node.spec.role == NodeRole.MANAGER and spec.role == NodeRole.WORKER:
        mgrs = managers(tx)
        if len(mgrs) == 1 and mgrs[0].id == node.id:
            raise FailedPrecondition(LAST_MANAGER)
        if node.manager_status is not None and not can_remove(tx, node.id, membership):
            raise FailedPrecondition(LOSS_OF_QUORUM)
    return tx.update(node.replace(spec=spec))  # type: ignore[return-value]


def remove_node(tx: WriteTx, ref: str, force: bool, now_ns: int) -> Node:
    node: Node = tx.lookup("node", ref)  # type: ignore[assignment]
    if node.spec.role == NodeRole.MANAGER and node.manager_status is not None:
        raise FailedPrecondition(
            f"node {node.id} is a cluster manager and is a member of the raft cluster. "
            "It must be demoted to worker before removal")
    if not force and node.status.state == NodeState.READY:
        raise FailedPrecondition(f"node {node.id} is not down and can't be removed")
    for task in tx.tasks(node_id=node.id):
        if task.status.state < TaskState.COMPLETE:
            tx.update(_orphaned(task, now_ns))
    tx.remove(node)
    cluster = tx.cluster()
    if cluster is not None:
        # until its certificate would have expired (swarmkit prunes the list after that;
        # swarmlab keeps every entry)
        expiry = now_ns + cluster.spec.ca_config.node_cert_expiry
        tx.update(cluster.replace(blacklisted_certificates=dict(
            cluster.blacklisted_certificates, **{node.id: {"Expiry": expiry}})))
    return node


def _orphaned(task: Task, now_ns: int) -> Task:
    return task.replace(status=TaskStatus(timestamp=now_ns, state=TaskState.ORPHANED,
                                          message=ORPHANED_MESSAGE))


def reconcile_roles(tx: ReadTx, membership: RaftMembership | None,
                    self_id: str) -> list[Node]:
    """Carry desired roles to Raft; returns the node writes recording what was done.

    Raises nothing: a membership call that fails is retried on the next tick."""
    writes: list[Node] = []
    for node in tx.nodes():
        want_manager = node.spec.role == NodeRole.MANAGER
        if want_manager and node.manager_status is None:
            if _call(membership, "add_manager", node.id):
                writes.append(node.replace(manager_status=ManagerStatus(
                    reachability=Reachability.REACHABLE, addr=node.status.addr)))
        elif not want_manager and node.manager_status is not None:
            if node.id == self_id:
                # leadership moves off a demoted leader first; the next leader removes it
                others = sorted(reachable_managers(tx) - {self_id})
                if others:
                    _call(membership, "transfer_leadership", others[0])
                continue
            if _call(membership, "remove_manager", node.id):
                writes.append(node.replace(manager_status=None))
        elif node.manager_status is not None:
            status = ManagerStatus(
                leader=node.id == self_id, addr=node.manager_status.addr,
                reachability=(Reachability.REACHABLE if node.id == self_id
                              or node.status.state == NodeState.READY
                              else Reachability.UNREACHABLE))
            if node.manager_status != status:
                writes.append(node.replace(manager_status=status))
    return writes


def _call(membership: RaftMembership | None, method: str, node_id: str) -> bool:
    if membership is None:
        return True
    try:
        getattr(membership, method)(node_id)
    except Exception:  # noqa: BLE001 - Raft refused for now (e.g. a change is pending)
        return False
    return True
