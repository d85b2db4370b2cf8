"""The scheduler: filters that explain themselves, Docker's ranking, spread preferences."""
from ._scheduler import (
    ASSIGNED_MESSAGE, PENDING_MESSAGE, node_infos, occupies_node, pick, schedule,
    waiting_for_node,
)
from .constraint import Constraint, matches_all, node_value, parse, parse_all
from .filters import NodeInfo, Pipeline, default_filters

__all__ = [
    "ASSIGNED_MESSAGE", "PENDING_MESSAGE", "node_infos", "occupies_node", "pick", "schedule",
    "waiting_for_node", "Constraint", "matches_all", "node_value", "parse", "parse_all",
    "NodeInfo", "Pipeline", "default_filters",
]
