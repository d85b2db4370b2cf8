"""The manager: node operations, join tokens, and the leader's reconcile loop (`Manager`)."""
from ._manager import Manager, TickReport
from .cluster import ServiceStatus, cluster_spec_for, service_status
from .membership import LocalMembership, RaftMembership, quorum_after_removal
from .nodes import LAST_MANAGER, LOSS_OF_QUORUM, reconcile_roles, remove_node, update_node
from .tokens import INVALID_TOKEN, new_digest, new_token, role_for

__all__ = [
    "Manager", "TickReport", "ServiceStatus", "cluster_spec_for", "service_status", "LocalMembership", "RaftMembership", "quorum_after_removal",
    "LAST_MANAGER", "LOSS_OF_QUORUM", "reconcile_roles", "remove_node", "update_node",
    "INVALID_TOKEN", "new_digest", "new_token", "role_for",
]
